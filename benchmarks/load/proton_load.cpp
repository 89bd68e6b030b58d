// fogmesh-bench: end-to-end AMQP 1.0 throughput/latency load tool.
//
// One thread drives both the sending and the receiving connection through one Proton proactor,
// so one-way latency is measured with a single CLOCK_MONOTONIC and the tool costs at most one
// core (the other core is left to the router under test on a 2-vCPU box).
//
// Modes:
//   --url HOST:PORT      sender and receiver connect to a router at HOST:PORT.
//   --direct             no router: the tool listens on a free loopback port and its sender
//                        connects to it; the accepted side is the receiver (client ceiling).
//   --idle-connections N open N connections to --url, hold them open (router RSS tests).
//
// Each message is one Data section of --size bytes: [0..8) send timestamp (ns), [8..16)
// sequence number (top bit = warm-up). The encoded message is built once and only those 16
// bytes are patched per send, so encoding never limits the rate.
#include <getopt.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/listener.h>
#include <proton/netaddr.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace fogmesh::bench {
namespace {

constexpr uint64_t kWarmupFlag = uint64_t{1} << 63;
constexpr size_t kStampBytes = 16;  // timestamp + sequence at the start of the body
constexpr int64_t kNsPerSec = 1'000'000'000;

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

// Nanoseconds this thread has spent on a CPU (scheduler accounting, not tick-sampled).
uint64_t thread_cpu_ns() {
  FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long long ns = 0;
  if (std::fscanf(f, "%llu", &ns) != 1) {
    ns = 0;
  }
  std::fclose(f);
  return ns;
}

double rusage_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void put_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, sizeof v);
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Log-linear histogram (HDR-like): 128 linear sub-buckets per power of two, so any recorded
// value is reported within 1/128 (<0.8%) of its true value, at a fixed 60 KiB and O(1) record.
class histogram {
 public:
  void record(uint64_t v) {
    ++counts_[index_of(v)];
    ++count_;
    max_ = std::max(max_, v);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // Highest value equivalent to the bucket holding the q-quantile (never above max).
  uint64_t percentile(double q) const {
    if (count_ == 0) {
      return 0;
    }
    auto rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::min(upper_of(i), max_);
      }
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static size_t index_of(uint64_t v) {
    if (v < kSub) {
      return static_cast<size_t>(v);
    }
    const int e = 63 - std::countl_zero(v);  // e >= kSubBits
    const uint64_t sub = (v >> (e - kSubBits)) & (kSub - 1);
    return static_cast<size_t>(kSub + static_cast<uint64_t>(e - kSubBits) * kSub + sub);
  }
  static uint64_t upper_of(size_t i) {
    if (i < kSub) {
      return i;
    }
    const uint64_t e = (i - kSub) / kSub + kSubBits;
    const uint64_t sub = (i - kSub) % kSub;
    const uint64_t shift = e - kSubBits;
    return ((kSub + sub + 1) << shift) - 1;
  }
  std::array<uint64_t, kSub + (64 - kSubBits) * kSub> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// Bitmap of received sequence numbers: detects duplicates, and loss by difference.
class seq_set {
 public:
  // Returns false if seq was already present.
  bool insert(uint64_t seq) {
    const size_t word = seq / 64;
    if (word >= bits_.size()) {
      bits_.resize(std::max(word + 1, bits_.size() * 2), 0);
    }
    const uint64_t mask = uint64_t{1} << (seq % 64);
    if ((bits_[word] & mask) != 0) {
      return false;
    }
    bits_[word] |= mask;
    return true;
  }
  void reserve(uint64_t n) { bits_.reserve(n / 64 + 1); }

 private:
  std::vector<uint64_t> bits_;
};

enum class settle_mode { unsettled, presettled };

struct options {
  std::string url;
  std::string send_url;  // sender's router when it differs from the receiver's (mesh runs)
  bool direct = false;
  std::string address = "bench";
  size_t size = 100;
  int credit = 1000;
  settle_mode settle = settle_mode::unsettled;
  uint64_t count = 0;
  double duration_s = 0;
  double rate = 0;
  double warmup_s = 0;
  bool json = false;
  bool sasl = false;
  int idle_connections = 0;
  double hold_s = 10;
  double stall_timeout_s = 10;
};

// Encoded AMQP message: one Data section, vbin32, so the body offset is fixed (8 bytes).
class message_template {
 public:
  explicit message_template(size_t body_size) : bytes_(kPrefix + body_size, 'x') {
    const auto n = static_cast<uint32_t>(body_size);
    const unsigned char prefix[kPrefix] = {0x00,
                                           0x53,
                                           0x75,
                                           0xb0,
                                           static_cast<unsigned char>(n >> 24),
                                           static_cast<unsigned char>(n >> 16),
                                           static_cast<unsigned char>(n >> 8),
                                           static_cast<unsigned char>(n)};
    std::memcpy(bytes_.data(), prefix, kPrefix);
  }
  void stamp(uint64_t ts, uint64_t seq) {
    put_u64(bytes_.data() + kPrefix, ts);
    put_u64(bytes_.data() + kPrefix + 8, seq);
  }
  const char* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  static constexpr size_t kPrefix = 8;

 private:
  std::vector<char> bytes_;
};

// Size in bytes of the AMQP value whose constructor starts at p (format code rules, AMQP
// 1.0 section 1.6: the high nibble fixes the width class). Returns 0 if malformed/short.
size_t amqp_value_size(const unsigned char* p, size_t n) {
  if (n < 1) {
    return 0;
  }
  const unsigned code = p[0];
  if (code == 0x00) {  // described: descriptor value then the value itself
    const size_t d = amqp_value_size(p + 1, n - 1);
    if (d == 0) {
      return 0;
    }
    const size_t v = amqp_value_size(p + 1 + d, n - 1 - d);
    return v == 0 ? 0 : 1 + d + v;
  }
  size_t total = 0;
  switch (code >> 4) {
    case 0x4:
      total = 1;
      break;
    case 0x5:
      total = 2;
      break;
    case 0x6:
      total = 3;
      break;
    case 0x7:
      total = 5;
      break;
    case 0x8:
      total = 9;
      break;
    case 0x9:
      total = 17;
      break;
    case 0xa:
    case 0xc:
    case 0xe:
      if (n < 2) {
        return 0;
      }
      total = 2 + p[1];
      break;
    case 0xb:
    case 0xd:
    case 0xf:
      if (n < 5) {
        return 0;
      }
      total = 5 + ((size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4]);
      break;
    default:
      return 0;
  }
  return total <= n ? total : 0;
}

// Finds the payload of the first Data section, skipping any sections an intermediary may
// have added (header, message-annotations, ...). Fast path: our own unmodified encoding.
const char* find_data_body(const char* data, size_t n, size_t* body_len) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  if (n >= message_template::kPrefix && p[0] == 0x00 && p[1] == 0x53 && p[2] == 0x75 &&
      p[3] == 0xb0) {
    *body_len = n - message_template::kPrefix;
    return data + message_template::kPrefix;
  }
  size_t off = 0;
  while (off + 3 <= n) {
    if (p[off] != 0x00) {
      return nullptr;
    }
    const bool data_section =
        (p[off + 1] == 0x53 && p[off + 2] == 0x75) ||
        (p[off + 1] == 0x80 && off + 10 <= n && p[off + 9] == 0x75 &&
         std::all_of(p + off + 2, p + off + 9, [](auto b) { return b == 0; }));
    if (data_section) {
      const size_t desc = p[off + 1] == 0x53 ? 2 : 9;
      const size_t vstart = off + 1 + desc;
      if (vstart + 2 > n) {
        return nullptr;
      }
      if (p[vstart] == 0xa0) {
        *body_len = std::min<size_t>(p[vstart + 1], n - vstart - 2);
        return data + vstart + 2;
      }
      if (p[vstart] == 0xb0 && vstart + 5 <= n) {
        *body_len = n - vstart - 5;
        return data + vstart + 5;
      }
      return nullptr;
    }
    const size_t s = amqp_value_size(p + off, n - off);
    if (s == 0) {
      return nullptr;
    }
    off += s;
  }
  return nullptr;
}

std::string condition_text(pn_condition_t* c) {
  if (c == nullptr || !pn_condition_is_set(c)) {
    return "";
  }
  std::string s = pn_condition_get_name(c) ? pn_condition_get_name(c) : "error";
  if (const char* d = pn_condition_get_description(c); d != nullptr && *d != '\0') {
    s += ": ";
    s += d;
  }
  return s;
}

// Splits HOST:PORT (the last colon separates the port, so IPv6 literals in [] also work).
bool split_host_port(const std::string& url, std::string* host, std::string* port) {
  std::string u = url;
  if (auto pos = u.find("://"); pos != std::string::npos) {
    u = u.substr(pos + 3);
  }
  const auto colon = u.rfind(':');
  if (colon == std::string::npos || colon + 1 == u.size()) {
    return false;
  }
  *host = u.substr(0, colon);
  *port = u.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return true;
}

pn_transport_t* client_transport(const options& opt) {
  pn_transport_t* t = pn_transport();
  if (opt.sasl) {
    pn_sasl_allowed_mechs(pn_sasl(t), "ANONYMOUS");
  }
  return t;
}

class load_run {
 public:
  explicit load_run(const options& opt) : opt_(opt), message_(opt.size) {
    if (opt_.count > 0) {
      received_seqs_.reserve(opt_.count);
    }
  }
  ~load_run() {
    if (proactor_ != nullptr) {
      pn_proactor_free(proactor_);
    }
  }
  load_run(const load_run&) = delete;
  load_run& operator=(const load_run&) = delete;

  int run();

 private:
  enum class phase { connecting, warmup, measuring, draining, finishing };

  void handle(pn_event_t* e);
  void on_link_remote_open(pn_link_t* l);
  void on_sender_delivery(pn_delivery_t* d);
  void on_receiver_delivery(pn_delivery_t* d);
  void start_sending();
  void pump_sender();
  void after_batch();
  void on_tick();
  void check_complete();
  void fail(const std::string& what);
  void finish();
  void connect_receiver();
  void connect_sender();
  void schedule_tick();
  int report();

  options opt_;
  message_template message_;
  pn_proactor_t* proactor_ = nullptr;
  pn_listener_t* listener_ = nullptr;
  std::string host_, port_;
  std::string send_host_, send_port_;
  pn_connection_t* sender_conn_ = nullptr;
  pn_connection_t* receiver_conn_ = nullptr;
  pn_link_t* sender_ = nullptr;
  pn_link_t* receiver_ = nullptr;
  int open_transports_ = 0;
  bool quit_ = false;
  std::string error_;

  phase phase_ = phase::connecting;
  bool receiver_touched_ = false;  // receiver batch needs a credit top-up
  uint64_t batch_now_ns_ = 0;      // receive time of the current batch, 0 = not read yet
  bool sender_ready_ = false;
  uint64_t warmup_end_ns_ = 0;
  uint64_t measure_start_ns_ = 0;
  uint64_t send_end_ns_ = 0;  // duration mode: stop sending at this time
  uint64_t last_progress_ns_ = 0;
  uint64_t last_receive_ns_ = 0;
  uint64_t finish_deadline_ns_ = 0;
  uint64_t cpu_start_ns_ = 0, cpu_end_ns_ = 0;
  double rusage_start_s_ = 0, rusage_end_s_ = 0;
  uint64_t end_ns_ = 0;

  // Counters for the measured period (warm-up traffic is counted separately).
  uint64_t sent_ = 0, warmup_sent_ = 0, warmup_received_ = 0;
  uint64_t received_ = 0, duplicates_ = 0, aborted_ = 0, malformed_ = 0, short_bodies_ = 0;
  uint64_t accepted_ = 0, released_ = 0, rejected_ = 0, modified_ = 0;
  uint64_t bytes_ = 0;
  histogram latency_;
  seq_set received_seqs_;
  std::vector<char> recv_buf_ = std::vector<char>(512);
};

void load_run::fail(const std::string& what) {
  if (error_.empty()) {
    error_ = what;
  }
  finish();
}

void load_run::finish() {
  if (phase_ == phase::finishing) {
    return;
  }
  if (end_ns_ == 0) {
    end_ns_ = now_ns();
    cpu_end_ns_ = thread_cpu_ns();
    rusage_end_s_ = rusage_cpu_s();
  }
  phase_ = phase::finishing;
  finish_deadline_ns_ = now_ns() + 2 * kNsPerSec;
  // Close gracefully so a router sees clean detaches; a timer bounds the wait.
  for (pn_connection_t* c : {sender_conn_, receiver_conn_}) {
    if (c != nullptr && !(pn_connection_state(c) & PN_LOCAL_CLOSED)) {
      pn_connection_close(c);
      pn_connection_wake(c);
    }
  }
  if (listener_ != nullptr) {
    pn_listener_close(listener_);
  }
  schedule_tick();
}

void load_run::schedule_tick() {
  // Rate mode needs ms pacing; otherwise the tick only detects stalls and the end of a
  // duration run, so 50 ms is plenty and costs nothing measurable.
  pn_proactor_set_timeout(proactor_, opt_.rate > 0 && phase_ != phase::finishing ? 1 : 50);
}

void load_run::connect_receiver() {
  receiver_conn_ = pn_connection();
  pn_connection_set_container(receiver_conn_, "fogmesh-bench-receiver");
  pn_connection_set_hostname(receiver_conn_, host_.c_str());
  pn_connection_open(receiver_conn_);
  pn_session_t* s = pn_session(receiver_conn_);
  pn_session_open(s);
  receiver_ = pn_receiver(s, "bench-receiver");
  pn_terminus_set_address(pn_link_source(receiver_), opt_.address.c_str());
  pn_terminus_set_address(pn_link_target(receiver_), opt_.address.c_str());
  pn_link_set_rcv_settle_mode(receiver_, PN_RCV_FIRST);
  pn_link_set_snd_settle_mode(
      receiver_, opt_.settle == settle_mode::presettled ? PN_SND_SETTLED : PN_SND_UNSETTLED);
  pn_link_open(receiver_);
  pn_link_flow(receiver_, opt_.credit);
  char addr[PN_MAX_ADDR];
  pn_proactor_addr(addr, sizeof addr, host_.c_str(), port_.c_str());
  pn_proactor_connect2(proactor_, receiver_conn_, client_transport(opt_), addr);
  ++open_transports_;
}

void load_run::connect_sender() {
  sender_conn_ = pn_connection();
  pn_connection_set_container(sender_conn_, "fogmesh-bench-sender");
  pn_connection_set_hostname(sender_conn_, send_host_.c_str());
  pn_connection_open(sender_conn_);
  pn_session_t* s = pn_session(sender_conn_);
  pn_session_open(s);
  sender_ = pn_sender(s, "bench-sender");
  pn_terminus_set_address(pn_link_target(sender_), opt_.address.c_str());
  pn_link_set_snd_settle_mode(
      sender_, opt_.settle == settle_mode::presettled ? PN_SND_SETTLED : PN_SND_UNSETTLED);
  pn_link_open(sender_);
  char addr[PN_MAX_ADDR];
  pn_proactor_addr(addr, sizeof addr, send_host_.c_str(), send_port_.c_str());
  pn_proactor_connect2(proactor_, sender_conn_,
                       opt_.direct ? pn_transport() : client_transport(opt_), addr);
  ++open_transports_;
}

void load_run::start_sending() {
  if (sender_ready_) {
    return;
  }
  sender_ready_ = true;
  const uint64_t now = now_ns();
  last_progress_ns_ = now;
  if (opt_.warmup_s > 0) {
    phase_ = phase::warmup;
    warmup_end_ns_ = now + static_cast<uint64_t>(opt_.warmup_s * kNsPerSec);
    measure_start_ns_ = warmup_end_ns_;
  } else {
    phase_ = phase::measuring;
    measure_start_ns_ = now;
    cpu_start_ns_ = thread_cpu_ns();
    rusage_start_s_ = rusage_cpu_s();
  }
  if (opt_.duration_s > 0) {
    send_end_ns_ = measure_start_ns_ + static_cast<uint64_t>(opt_.duration_s * kNsPerSec);
  }
  pump_sender();
}

// Sends while there is credit and the count/duration/rate budget allows. Runs inside the
// sender connection's batch (directly, or via pn_connection_wake from the timer).
void load_run::pump_sender() {
  if (sender_ == nullptr || (phase_ != phase::warmup && phase_ != phase::measuring)) {
    return;
  }
  int credit = pn_link_credit(sender_);
  const bool presettled = opt_.settle == settle_mode::presettled;
  uint64_t now = now_ns();
  // Rate pacing: the number of messages due by now since the measured start (or warm-up).
  uint64_t budget = UINT64_MAX;
  if (opt_.rate > 0) {
    const uint64_t origin = phase_ == phase::warmup
                                ? warmup_end_ns_ - static_cast<uint64_t>(opt_.warmup_s * kNsPerSec)
                                : measure_start_ns_;
    const uint64_t done = phase_ == phase::warmup ? warmup_sent_ : sent_;
    const auto due = static_cast<uint64_t>(static_cast<double>(now - origin) * opt_.rate / 1e9) + 1;
    budget = due > done ? due - done : 0;
  }
  while (credit > 0 && budget > 0) {
    if (phase_ == phase::warmup && now >= warmup_end_ns_) {
      phase_ = phase::measuring;
      measure_start_ns_ = now;
      if (opt_.duration_s > 0) {
        send_end_ns_ = now + static_cast<uint64_t>(opt_.duration_s * kNsPerSec);
      }
      cpu_start_ns_ = thread_cpu_ns();
      rusage_start_s_ = rusage_cpu_s();
      if (opt_.rate > 0) {
        return;  // restart pacing from the measured origin on the next tick
      }
    }
    uint64_t seq = 0;
    if (phase_ == phase::warmup) {
      seq = warmup_sent_++ | kWarmupFlag;
    } else {
      if ((opt_.count > 0 && sent_ >= opt_.count) || (send_end_ns_ != 0 && now >= send_end_ns_)) {
        phase_ = phase::draining;
        last_progress_ns_ = now;
        return;
      }
      seq = sent_++;
    }
    // The tag carries the sequence so dispositions of warm-up messages can be told apart.
    pn_delivery_t* d = pn_delivery(sender_, pn_dtag(reinterpret_cast<const char*>(&seq), 8));
    message_.stamp(now, seq);
    pn_link_send(sender_, message_.data(), message_.size());
    pn_link_advance(sender_);
    if (presettled) {
      pn_delivery_settle(d);
    }
    --credit;
    --budget;
    now = now_ns();
    last_progress_ns_ = now;
  }
  // The count may be reached exactly on the last credit: enter draining without waiting for
  // more credit that would never come.
  if (phase_ == phase::measuring && opt_.count > 0 && sent_ >= opt_.count) {
    phase_ = phase::draining;
    last_progress_ns_ = now;
  }
}

void load_run::on_sender_delivery(pn_delivery_t* d) {
  if (!pn_delivery_updated(d) && !pn_delivery_settled(d)) {
    return;
  }
  const pn_delivery_tag_t tag = pn_delivery_tag(d);
  const bool warm = tag.size == 8 && (get_u64(tag.start) & kWarmupFlag) != 0;
  if (!warm) {
    switch (pn_delivery_remote_state(d)) {
      case PN_ACCEPTED:
        ++accepted_;
        break;
      case PN_RELEASED:
        ++released_;
        break;
      case PN_REJECTED:
        ++rejected_;
        break;
      case PN_MODIFIED:
        ++modified_;
        break;
      default:
        if (!pn_delivery_settled(d)) {
          return;  // non-terminal state (e.g. received): wait for the outcome
        }
        break;
    }
  }
  pn_delivery_settle(d);
}

void load_run::on_receiver_delivery(pn_delivery_t* d) {
  if (pn_delivery_aborted(d)) {
    ++aborted_;
    pn_delivery_settle(d);
    receiver_touched_ = true;
    return;
  }
  if (!pn_delivery_readable(d) || pn_delivery_partial(d)) {
    return;  // wait for the complete message (large bodies span several frames)
  }
  // One receive timestamp per event batch: every message in a batch arrived in the same
  // socket read, so the batch start is their arrival time (and it halves clock reads).
  if (batch_now_ns_ == 0) {
    batch_now_ns_ = now_ns();
  }
  const uint64_t now = batch_now_ns_;
  const size_t pending = pn_delivery_pending(d);
  // Only the section headers and our 16 stamp bytes are needed; pn_link_advance (via settle)
  // drops the rest of the body without copying it.
  const size_t want = std::min(pending, recv_buf_.size());
  const ssize_t got = pn_link_recv(receiver_, recv_buf_.data(), want);
  size_t body_len = 0;
  const char* body =
      got > 0 ? find_data_body(recv_buf_.data(), static_cast<size_t>(got), &body_len) : nullptr;
  std::vector<char> whole;
  if (body == nullptr && got > 0 && pending > want) {
    // Rare: sections added by an intermediary pushed the body past the first bytes.
    whole.assign(recv_buf_.data(), recv_buf_.data() + got);
    whole.resize(pending);
    const ssize_t more = pn_link_recv(receiver_, whole.data() + got, pending - want);
    whole.resize(want + static_cast<size_t>(std::max<ssize_t>(more, 0)));
    body = find_data_body(whole.data(), whole.size(), &body_len);
  }
  if (body == nullptr || body_len < kStampBytes) {
    ++malformed_;
  } else {
    const uint64_t ts = get_u64(body);
    const uint64_t seq = get_u64(body + 8);
    if ((seq & kWarmupFlag) != 0) {
      ++warmup_received_;
    } else if (received_seqs_.insert(seq)) {
      ++received_;
      bytes_ += pending;
      latency_.record(now >= ts ? now - ts : 0);
      last_receive_ns_ = now;
    } else {
      ++duplicates_;
    }
  }
  if (!pn_delivery_settled(d)) {
    pn_delivery_update(d, PN_ACCEPTED);
  }
  pn_delivery_settle(d);  // also advances the link past this delivery
  last_progress_ns_ = now;
  receiver_touched_ = true;
}

void load_run::on_link_remote_open(pn_link_t* l) {
  if (pn_link_state(l) & PN_LOCAL_UNINIT) {
    // Direct mode: the accepted side answers the tool's own sender with a receiver.
    if (pn_link_is_receiver(l) && receiver_ == nullptr) {
      receiver_ = l;
      pn_terminus_copy(pn_link_target(l), pn_link_remote_target(l));
      pn_terminus_copy(pn_link_source(l), pn_link_remote_source(l));
      pn_link_set_rcv_settle_mode(l, PN_RCV_FIRST);
      pn_link_open(l);
      pn_link_flow(l, opt_.credit);
    } else {
      pn_condition_set_name(pn_link_condition(l), "amqp:not-allowed");
      pn_link_close(l);
    }
    return;
  }
  if (l == receiver_ && !opt_.direct && sender_conn_ == nullptr) {
    // Attach the sender only once the receiver is attached, so a router has a destination
    // for the address and does not release or hold the first messages.
    connect_sender();
  } else if (l == sender_) {
    start_sending();
  }
}

void load_run::handle(pn_event_t* e) {
  switch (pn_event_type(e)) {
    case PN_LISTENER_OPEN: {
      char host[256], port[32];
      pn_netaddr_host_port(pn_listener_addr(pn_event_listener(e)), host, sizeof host, port,
                           sizeof port);
      port_ = port;
      send_host_ = host_;
      send_port_ = port_;
      connect_sender();
      break;
    }
    case PN_LISTENER_ACCEPT: {
      if (receiver_conn_ != nullptr) {
        // One peer only: anything else connecting to our ephemeral port is refused.
        pn_listener_accept2(pn_event_listener(e), nullptr, nullptr);
        break;
      }
      receiver_conn_ = pn_connection();
      pn_connection_set_container(receiver_conn_, "fogmesh-bench-receiver");
      pn_listener_accept2(pn_event_listener(e), receiver_conn_, nullptr);
      ++open_transports_;
      break;
    }
    case PN_LISTENER_CLOSE: {
      if (auto msg = condition_text(pn_listener_condition(pn_event_listener(e))); !msg.empty()) {
        fail("listener on " + host_ + ": " + msg);
      }
      listener_ = nullptr;
      break;
    }
    case PN_CONNECTION_REMOTE_OPEN: {
      pn_connection_t* c = pn_event_connection(e);
      if (pn_connection_state(c) & PN_LOCAL_UNINIT) {
        pn_connection_open(c);
      }
      break;
    }
    case PN_SESSION_REMOTE_OPEN: {
      pn_session_t* s = pn_event_session(e);
      if (pn_session_state(s) & PN_LOCAL_UNINIT) {
        pn_session_open(s);
      }
      break;
    }
    case PN_LINK_REMOTE_OPEN:
      on_link_remote_open(pn_event_link(e));
      break;
    case PN_LINK_FLOW:
      if (pn_event_link(e) == sender_ && opt_.rate == 0) {
        pump_sender();
      }
      break;
    case PN_CONNECTION_WAKE:
      if (pn_event_connection(e) == sender_conn_) {
        pump_sender();
      }
      break;
    case PN_DELIVERY: {
      pn_delivery_t* d = pn_event_delivery(e);
      if (pn_delivery_link(d) == receiver_) {
        on_receiver_delivery(d);
      } else if (pn_delivery_link(d) == sender_) {
        on_sender_delivery(d);
      }
      break;
    }
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH: {
      pn_link_t* l = pn_event_link(e);
      if (phase_ != phase::finishing) {
        std::string msg = condition_text(pn_link_remote_condition(l));
        fail(std::string("peer closed link ") + pn_link_name(l) +
             (msg.empty() ? " unexpectedly" : ": " + msg));
      }
      pn_link_close(l);
      break;
    }
    case PN_SESSION_REMOTE_CLOSE: {
      pn_session_t* s = pn_event_session(e);
      if (phase_ != phase::finishing) {
        std::string msg = condition_text(pn_session_remote_condition(s));
        fail("peer closed session" + (msg.empty() ? " unexpectedly" : ": " + msg));
      }
      pn_session_close(s);
      break;
    }
    case PN_CONNECTION_REMOTE_CLOSE: {
      pn_connection_t* c = pn_event_connection(e);
      if (phase_ != phase::finishing) {
        std::string msg = condition_text(pn_connection_remote_condition(c));
        fail("peer closed connection" + (msg.empty() ? " unexpectedly" : ": " + msg));
      }
      pn_connection_close(c);
      break;
    }
    case PN_TRANSPORT_CLOSED: {
      pn_transport_t* t = pn_event_transport(e);
      if (phase_ != phase::finishing) {
        std::string msg = condition_text(pn_transport_condition(t));
        const char* who = opt_.direct ? "loopback peer " : "router at ";
        fail(std::string("connection to ") + who + host_ + ":" + port_ +
             " failed: " + (msg.empty() ? "closed" : msg));
      }
      --open_transports_;
      break;
    }
    case PN_PROACTOR_TIMEOUT:
      on_tick();
      break;
    case PN_PROACTOR_INACTIVE:
      quit_ = true;
      break;
    default:
      break;
  }
}

void load_run::on_tick() {
  const uint64_t now = now_ns();
  if (phase_ == phase::finishing) {
    if (now >= finish_deadline_ns_) {
      quit_ = true;  // the peer did not complete the close handshake; results are final
    } else {
      schedule_tick();
    }
    return;
  }
  if ((phase_ == phase::warmup || phase_ == phase::measuring) && sender_conn_ != nullptr) {
    pn_connection_wake(sender_conn_);  // pacing and duration end run in the sender's batch
    if (send_end_ns_ != 0 && now >= send_end_ns_ && phase_ == phase::measuring) {
      phase_ = phase::draining;
      last_progress_ns_ = now;
    }
  }
  check_complete();
  if (phase_ == phase::finishing) {
    return;
  }
  const auto stall_ns = static_cast<uint64_t>(opt_.stall_timeout_s * kNsPerSec);
  if (phase_ == phase::connecting && last_progress_ns_ == 0) {
    last_progress_ns_ = now;
  }
  if (phase_ == phase::draining && opt_.settle == settle_mode::presettled &&
      now - last_progress_ns_ > 2 * kNsPerSec) {
    finish();  // pre-settled losses are expected from routers; they are reported, not fatal
    return;
  }
  // Progress is any message sent or received: a router that withholds credit, stops
  // forwarding, or loses messages makes the run fail instead of hanging.
  if (now - last_progress_ns_ > stall_ns) {
    const std::string secs = std::to_string(static_cast<int>(opt_.stall_timeout_s));
    fail(phase_ == phase::connecting ? "timed out after " + secs + " s connecting/attaching links"
         : phase_ == phase::draining
             ? "nothing received for " + secs + " s after the last send (messages lost?)"
             : "no credit and nothing received for " + secs + " s (stalled)");
    return;
  }
  schedule_tick();
}

void load_run::check_complete() {
  if (phase_ != phase::draining) {
    return;
  }
  // Unsettled: the receiver settles before the sender sees the outcome, so once every sent
  // message has an outcome nothing more can arrive. Pre-settled: wait for all (or a quiet
  // period, see on_tick).
  const bool done = opt_.settle == settle_mode::presettled
                        ? received_ >= sent_
                        : accepted_ + released_ + rejected_ + modified_ >= sent_;
  if (done) {
    finish();
  }
}

void load_run::after_batch() {
  if (receiver_touched_ && receiver_ != nullptr) {
    // One flow frame per batch, not per message, restores the full window.
    const int deficit = opt_.credit - pn_link_credit(receiver_);
    if (deficit > 0 && phase_ != phase::finishing) {
      pn_link_flow(receiver_, deficit);
    }
    receiver_touched_ = false;
  }
  batch_now_ns_ = 0;
  check_complete();
}

int load_run::run() {
  proactor_ = pn_proactor();
  if (opt_.direct) {
    host_ = "127.0.0.1";
    listener_ = pn_listener();
    pn_proactor_listen(proactor_, listener_, "127.0.0.1:0", 16);
  } else {
    if (!split_host_port(opt_.url, &host_, &port_)) {
      std::fprintf(stderr, "fogmesh-bench: --url must be HOST:PORT, got '%s'\n", opt_.url.c_str());
      return 1;
    }
    send_host_ = host_;
    send_port_ = port_;
    if (!opt_.send_url.empty() && !split_host_port(opt_.send_url, &send_host_, &send_port_)) {
      std::fprintf(stderr, "fogmesh-bench: --send-url must be HOST:PORT, got '%s'\n",
                   opt_.send_url.c_str());
      return 1;
    }
    connect_receiver();
  }
  last_progress_ns_ = now_ns();
  schedule_tick();
  while (!quit_) {
    pn_event_batch_t* batch = pn_proactor_wait(proactor_);
    while (pn_event_t* e = pn_event_batch_next(batch)) {
      handle(e);
    }
    after_batch();
    pn_proactor_done(proactor_, batch);
    if (phase_ == phase::finishing && open_transports_ <= 0 && listener_ == nullptr) {
      quit_ = true;
    }
  }
  return report();
}

int load_run::report() {
  const bool presettled = opt_.settle == settle_mode::presettled;
  const uint64_t last = last_receive_ns_ != 0 ? last_receive_ns_ : end_ns_;
  const double duration = measure_start_ns_ != 0 && last > measure_start_ns_
                              ? static_cast<double>(last - measure_start_ns_) / 1e9
                              : 0.0;
  const double rate = duration > 0 ? static_cast<double>(received_) / duration : 0.0;
  const double cpu_s = cpu_end_ns_ > cpu_start_ns_ && cpu_start_ns_ != 0
                           ? static_cast<double>(cpu_end_ns_ - cpu_start_ns_) / 1e9
                           : rusage_end_s_ - rusage_start_s_;
  const uint64_t lost = sent_ > received_ ? sent_ - received_ : 0;

  std::string problem = error_;
  if (problem.empty()) {
    if (duplicates_ > 0) {
      problem = std::to_string(duplicates_) + " duplicate messages received";
    } else if (!presettled && received_ != sent_) {
      problem = "received " + std::to_string(received_) + " of " + std::to_string(sent_) +
                " sent (released " + std::to_string(released_) + ", rejected " +
                std::to_string(rejected_) + ", modified " + std::to_string(modified_) + ")";
    } else if (!presettled && accepted_ != sent_) {
      problem = "only " + std::to_string(accepted_) + " of " + std::to_string(sent_) +
                " sent messages were accepted";
    } else if (malformed_ > 0) {
      problem = std::to_string(malformed_) + " messages without a readable timestamp body";
    }
  }
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  const char* mode = opt_.direct ? "direct" : "router";
  if (opt_.json) {
    std::printf(
        "{\"mode\":\"%s\",\"url\":\"%s\",\"address\":\"%s\",\"size\":%zu,\"credit\":%d,"
        "\"settle\":\"%s\",\"count\":%" PRIu64
        ",\"duration_setting_s\":%g,\"rate_setting\":%g,"
        "\"warmup_s\":%g,"
        "\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"accepted\":%" PRIu64
        ",\"released\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"modified\":%" PRIu64
        ",\"lost\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"aborted\":%" PRIu64
        ",\"malformed\":%" PRIu64 ",\"warmup_sent\":%" PRIu64 ",\"warmup_received\":%" PRIu64
        ",\"duration_s\":%.6f,\"rate_msgs_per_s\":%.1f,\"bytes\":%" PRIu64
        ",\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
        "\"client_cpu_s\":%.6f,\"client_cpu_us_per_msg\":%.3f,\"ok\":%s,\"error\":\"%s\"}\n",
        mode, opt_.direct ? "" : opt_.url.c_str(), opt_.address.c_str(), opt_.size, opt_.credit,
        presettled ? "presettled" : "unsettled", opt_.count, opt_.duration_s, opt_.rate,
        opt_.warmup_s, sent_, received_, accepted_, released_, rejected_, modified_, lost,
        duplicates_, aborted_, malformed_, warmup_sent_, warmup_received_, duration, rate, bytes_,
        us(latency_.percentile(0.5)), us(latency_.percentile(0.9)), us(latency_.percentile(0.99)),
        us(latency_.percentile(0.999)), us(latency_.max()), cpu_s,
        received_ > 0 ? cpu_s * 1e6 / static_cast<double>(received_) : 0.0,
        problem.empty() ? "true" : "false", problem.c_str());
  } else {
    std::printf("%s %s size=%zu credit=%d: sent %" PRIu64 " received %" PRIu64 " accepted %" PRIu64
                " released %" PRIu64 " rejected %" PRIu64 " modified %" PRIu64 " lost %" PRIu64
                "\n"
                "  %.3f s, %.0f msg/s, %.1f MB/s; latency us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f "
                "max %.1f; client cpu %.3f s (%.0f%% of a core)\n",
                mode, presettled ? "presettled" : "unsettled", opt_.size, opt_.credit, sent_,
                received_, accepted_, released_, rejected_, modified_, lost, duration, rate,
                duration > 0 ? static_cast<double>(bytes_) / duration / 1e6 : 0.0,
                us(latency_.percentile(0.5)), us(latency_.percentile(0.9)),
                us(latency_.percentile(0.99)), us(latency_.percentile(0.999)), us(latency_.max()),
                cpu_s, duration > 0 ? 100 * cpu_s / duration : 0.0);
  }
  std::fflush(stdout);
  if (!problem.empty()) {
    std::fprintf(stderr, "fogmesh-bench: %s\n", problem.c_str());
    return 1;
  }
  return 0;
}

// Opens N connections, holds them for --hold seconds; used to measure per-connection router
// memory. Connects at most kInFlight at a time so the router's accept backlog never overflows.
int run_idle(const options& opt) {
  std::string host, port;
  if (!split_host_port(opt.url, &host, &port)) {
    std::fprintf(stderr, "fogmesh-bench: --idle-connections needs --url HOST:PORT\n");
    return 1;
  }
  // Each connection is one fd: raise the soft limit to the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  constexpr int kInFlight = 200;
  pn_proactor_t* p = pn_proactor();
  char addr[PN_MAX_ADDR];
  pn_proactor_addr(addr, sizeof addr, host.c_str(), port.c_str());
  int started = 0, opened = 0, failed = 0, dropped = 0;
  static int opened_marker = 0;  // connection context: non-null once the peer's open arrived
  std::string first_error;
  auto start_more = [&] {
    while (started < opt.idle_connections && started - opened - failed < kInFlight) {
      pn_connection_t* c = pn_connection();
      pn_connection_set_container(c, ("fogmesh-bench-idle-" + std::to_string(started)).c_str());
      pn_connection_set_hostname(c, host.c_str());
      pn_connection_open(c);
      pn_proactor_connect2(p, c, client_transport(opt), addr);
      ++started;
    }
  };
  const uint64_t t0 = now_ns();
  start_more();
  bool holding = false, quit = false, released = false;
  uint64_t opened_ns = 0;
  while (!quit) {
    pn_event_batch_t* batch = pn_proactor_wait(p);
    while (pn_event_t* e = pn_event_batch_next(batch)) {
      switch (pn_event_type(e)) {
        case PN_CONNECTION_REMOTE_OPEN:
          ++opened;
          pn_connection_set_context(pn_event_connection(e), &opened_marker);
          break;
        case PN_CONNECTION_REMOTE_CLOSE:
          pn_connection_close(pn_event_connection(e));
          break;
        case PN_TRANSPORT_CLOSED: {
          pn_connection_t* c = pn_event_connection(e);
          if (!released) {
            // Opened then closed before the hold ended: the router dropped an idle connection.
            if (c != nullptr && pn_connection_get_context(c) != nullptr) {
              ++dropped;
            } else {
              ++failed;
            }
            if (first_error.empty()) {
              first_error = condition_text(pn_transport_condition(pn_event_transport(e)));
              if (first_error.empty() && c != nullptr) {
                first_error = condition_text(pn_connection_remote_condition(c));
              }
            }
          }
          break;
        }
        case PN_PROACTOR_TIMEOUT:
          released = true;
          pn_proactor_disconnect(p, nullptr);
          break;
        case PN_PROACTOR_INACTIVE:
          quit = true;
          break;
        default:
          break;
      }
    }
    pn_proactor_done(p, batch);
    if (!holding && !released) {
      start_more();
      if (opened + failed >= opt.idle_connections) {
        holding = true;
        opened_ns = now_ns();
        std::printf(
            "{\"event\":\"idle_ready\",\"requested\":%d,\"opened\":%d,\"failed\":%d,"
            "\"connect_s\":%.3f}\n",
            opt.idle_connections, opened, failed, static_cast<double>(opened_ns - t0) / 1e9);
        std::fflush(stdout);
        pn_proactor_set_timeout(p, static_cast<pn_millis_t>(opt.hold_s * 1000));
      }
    }
  }
  pn_proactor_free(p);
  std::printf(
      "{\"event\":\"idle_done\",\"requested\":%d,\"opened\":%d,\"failed\":%d,"
      "\"dropped_while_held\":%d,\"held_s\":%.3f,\"error\":\"%s\"}\n",
      opt.idle_connections, opened, failed, dropped,
      opened_ns ? static_cast<double>(now_ns() - opened_ns) / 1e9 : 0.0, first_error.c_str());
  if (failed > 0 || opened < opt.idle_connections || dropped > 0) {
    std::fprintf(stderr,
                 "fogmesh-bench: %d of %d idle connections opened, %d dropped while held%s%s\n",
                 opened, opt.idle_connections, dropped, first_error.empty() ? "" : ": ",
                 first_error.c_str());
    return 1;
  }
  return 0;
}

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: fogmesh-bench (--url HOST:PORT | --direct) [options]\n"
      "       fogmesh-bench --url HOST:PORT --idle-connections N [--hold SECONDS]\n"
      "  --url HOST:PORT        router to use: sender and receiver both connect there\n"
      "  --send-url HOST:PORT   the sender connects here instead (e.g. another router of a mesh)\n"
      "  --direct               no router: sender connects to the tool's own loopback listener\n"
      "  --address ADDR         link address (default bench)\n"
      "  --size BYTES           Data body size, >= 16 (default 100)\n"
      "  --credit N             receiver credit window (default 1000)\n"
      "  --settle MODE          unsettled (receiver accepts) | presettled (default unsettled)\n"
      "  --count N              measured messages to send (default 1000000 if no --duration)\n"
      "  --duration SECONDS     send for this long instead of a count\n"
      "  --rate MSGS_PER_SEC    pace sending (0 = as fast as credit allows)\n"
      "  --warmup SECONDS       send (unmeasured) for this long first\n"
      "  --sasl none|anonymous  SASL layer on client connections (default none)\n"
      "  --stall-timeout SECS   fail if nothing arrives for this long (default 10)\n"
      "  --json                 print one JSON object with the results\n"
      "  --idle-connections N   open N idle connections to --url and hold them\n"
      "  --hold SECONDS         how long to hold idle connections (default 10)\n"
      "exit status: 0 ok, 1 error (connection failure, lost/duplicated messages)\n");
}

bool parse_number(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end != s && *end == '\0' && *out >= 0;
}

int parse_options(int argc, char** argv, options* opt) {
  enum : int {
    kUrl = 1000,
    kSendUrl,
    kDirect,
    kAddress,
    kSize,
    kCredit,
    kSettle,
    kCount,
    kDuration,
    kRate,
    kWarmup,
    kJson,
    kSasl,
    kIdle,
    kHold,
    kStall,
    kHelp
  };
  static const option long_opts[] = {
      {"url", required_argument, nullptr, kUrl},
      {"send-url", required_argument, nullptr, kSendUrl},
      {"direct", no_argument, nullptr, kDirect},
      {"address", required_argument, nullptr, kAddress},
      {"size", required_argument, nullptr, kSize},
      {"credit", required_argument, nullptr, kCredit},
      {"settle", required_argument, nullptr, kSettle},
      {"count", required_argument, nullptr, kCount},
      {"duration", required_argument, nullptr, kDuration},
      {"rate", required_argument, nullptr, kRate},
      {"warmup", required_argument, nullptr, kWarmup},
      {"json", no_argument, nullptr, kJson},
      {"sasl", required_argument, nullptr, kSasl},
      {"idle-connections", required_argument, nullptr, kIdle},
      {"hold", required_argument, nullptr, kHold},
      {"stall-timeout", required_argument, nullptr, kStall},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  int c = 0;
  while ((c = getopt_long(argc, argv, "h", long_opts, nullptr)) != -1) {
    double v = 0;
    const bool numeric = c == kSize || c == kCredit || c == kCount || c == kDuration ||
                         c == kRate || c == kWarmup || c == kIdle || c == kHold || c == kStall;
    if (numeric && !parse_number(optarg, &v)) {
      std::fprintf(stderr, "fogmesh-bench: invalid number '%s'\n", optarg);
      return 1;
    }
    switch (c) {
      case kUrl:
        opt->url = optarg;
        break;
      case kSendUrl:
        opt->send_url = optarg;
        break;
      case kDirect:
        opt->direct = true;
        break;
      case kAddress:
        opt->address = optarg;
        break;
      case kSize:
        opt->size = static_cast<size_t>(v);
        break;
      case kCredit:
        opt->credit = static_cast<int>(v);
        break;
      case kCount:
        opt->count = static_cast<uint64_t>(v);
        break;
      case kDuration:
        opt->duration_s = v;
        break;
      case kRate:
        opt->rate = v;
        break;
      case kWarmup:
        opt->warmup_s = v;
        break;
      case kJson:
        opt->json = true;
        break;
      case kIdle:
        opt->idle_connections = static_cast<int>(v);
        break;
      case kHold:
        opt->hold_s = v;
        break;
      case kStall:
        opt->stall_timeout_s = v;
        break;
      case kSettle:
        if (std::strcmp(optarg, "unsettled") == 0) {
          opt->settle = settle_mode::unsettled;
        } else if (std::strcmp(optarg, "presettled") == 0) {
          opt->settle = settle_mode::presettled;
        } else {
          std::fprintf(stderr, "fogmesh-bench: --settle must be unsettled or presettled\n");
          return 1;
        }
        break;
      case kSasl:
        if (std::strcmp(optarg, "none") == 0 || std::strcmp(optarg, "anonymous") == 0) {
          opt->sasl = std::strcmp(optarg, "anonymous") == 0;
        } else {
          std::fprintf(stderr, "fogmesh-bench: --sasl must be none or anonymous\n");
          return 1;
        }
        break;
      case kHelp:
      case 'h':
        usage(stdout);
        std::exit(0);
      default:
        usage(stderr);
        return 1;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "fogmesh-bench: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (opt->direct == !opt->url.empty()) {
    std::fprintf(stderr, "fogmesh-bench: give exactly one of --url HOST:PORT or --direct\n");
    return 1;
  }
  if (opt->idle_connections > 0) {
    if (opt->direct) {
      std::fprintf(stderr, "fogmesh-bench: --idle-connections needs --url\n");
      return 1;
    }
    return 0;
  }
  if (opt->size < kStampBytes) {
    std::fprintf(stderr, "fogmesh-bench: --size must be at least %zu (timestamp + sequence)\n",
                 kStampBytes);
    return 1;
  }
  if (opt->credit < 1) {
    std::fprintf(stderr, "fogmesh-bench: --credit must be at least 1\n");
    return 1;
  }
  if (opt->count > 0 && opt->duration_s > 0) {
    std::fprintf(stderr, "fogmesh-bench: give --count or --duration, not both\n");
    return 1;
  }
  if (opt->count == 0 && opt->duration_s == 0) {
    opt->count = 1'000'000;
  }
  return 0;
}

}  // namespace
}  // namespace fogmesh::bench

int main(int argc, char** argv) {
  using namespace fogmesh::bench;
  options opt;
  if (int rc = parse_options(argc, argv, &opt); rc != 0) {
    return rc;
  }
  if (opt.idle_connections > 0) {
    return run_idle(opt);
  }
  load_run run(opt);
  return run.run();
}
