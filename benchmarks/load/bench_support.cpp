#include "bench_support.hpp"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>

namespace fogmesh::bench {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

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

message_template::message_template(size_t body_size) : bytes_(kPrefix + body_size, 'x') {
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

namespace {

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

}  // namespace

const char* find_data_body(const char* data, size_t n, size_t* body_len) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  // Fast path: our own unmodified encoding.
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

void histogram::record(uint64_t v) {
  ++counts_[index_of(v)];
  ++count_;
  max_ = std::max(max_, v);
}

uint64_t histogram::percentile(double q) const {
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

size_t histogram::index_of(uint64_t v) {
  if (v < kSub) {
    return static_cast<size_t>(v);
  }
  const int e = 63 - std::countl_zero(v);  // e >= kSubBits
  const uint64_t sub = (v >> (e - kSubBits)) & (kSub - 1);
  return static_cast<size_t>(kSub + static_cast<uint64_t>(e - kSubBits) * kSub + sub);
}

uint64_t histogram::upper_of(size_t i) {
  if (i < kSub) {
    return i;
  }
  const uint64_t e = (i - kSub) / kSub + kSubBits;
  const uint64_t sub = (i - kSub) % kSub;
  const uint64_t shift = e - kSubBits;
  return ((kSub + sub + 1) << shift) - 1;
}

bool seq_set::insert(uint64_t seq) {
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

load_state::load_state(const options& opt) : opt_(opt), last_progress_ns_(now_ns()) {
  if (opt_.count > 0) {
    received_seqs_.reserve(opt_.count);
  }
}

void load_state::begin_measuring(uint64_t now) {
  phase_ = phase::measuring;
  measure_start_ns_ = now;
  if (opt_.duration_s > 0) {
    send_end_ns_ = now + static_cast<uint64_t>(opt_.duration_s * kNsPerSec);
  }
  cpu_start_ns_ = thread_cpu_ns();
  rusage_start_s_ = rusage_cpu_s();
}

void load_state::start_sending(uint64_t now) {
  if (phase_ != phase::connecting) {
    return;
  }
  last_progress_ns_ = now;
  if (opt_.warmup_s > 0) {
    phase_ = phase::warmup;
    warmup_end_ns_ = now + static_cast<uint64_t>(opt_.warmup_s * kNsPerSec);
    measure_start_ns_ = warmup_end_ns_;
  } else {
    begin_measuring(now);
  }
}

uint64_t load_state::rate_budget(uint64_t now) const {
  if (opt_.rate <= 0) {
    return UINT64_MAX;
  }
  // The number of messages due by now since the measured start (or the warm-up's).
  const uint64_t origin = phase_ == phase::warmup
                              ? warmup_end_ns_ - static_cast<uint64_t>(opt_.warmup_s * kNsPerSec)
                              : measure_start_ns_;
  const uint64_t done = phase_ == phase::warmup ? warmup_sent_ : sent_;
  const auto due = static_cast<uint64_t>(static_cast<double>(now - origin) * opt_.rate / 1e9) + 1;
  return due > done ? due - done : 0;
}

std::optional<uint64_t> load_state::next_seq(uint64_t now) {
  if (phase_ == phase::warmup && now >= warmup_end_ns_) {
    begin_measuring(now);
    if (opt_.rate > 0) {
      return std::nullopt;
    }
  }
  if (phase_ == phase::warmup) {
    return warmup_sent_++ | kWarmupFlag;
  }
  if (phase_ != phase::measuring) {
    return std::nullopt;
  }
  if ((opt_.count > 0 && sent_ >= opt_.count) || (send_end_ns_ != 0 && now >= send_end_ns_)) {
    phase_ = phase::draining;
    last_progress_ns_ = now;
    return std::nullopt;
  }
  last_progress_ns_ = now;
  return sent_++;
}

void load_state::after_sends(uint64_t now) {
  if (phase_ == phase::measuring && opt_.count > 0 && sent_ >= opt_.count) {
    phase_ = phase::draining;
    last_progress_ns_ = now;
  }
}

void load_state::on_outcome(uint64_t seq, outcome o) {
  if (is_warmup_seq(seq)) {
    return;
  }
  switch (o) {
    case outcome::accepted:
      ++accepted_;
      break;
    case outcome::released:
      ++released_;
      break;
    case outcome::rejected:
      ++rejected_;
      break;
    case outcome::modified:
      ++modified_;
      break;
  }
}

void load_state::on_message(const char* body, size_t body_len, size_t message_bytes, uint64_t now) {
  if (body == nullptr || body_len < kStampBytes) {
    ++malformed_;
  } else {
    const uint64_t ts = get_u64(body);
    const uint64_t seq = get_u64(body + 8);
    if (is_warmup_seq(seq)) {
      ++warmup_received_;
    } else if (received_seqs_.insert(seq)) {
      ++received_;
      bytes_ += message_bytes;
      latency_.record(now >= ts ? now - ts : 0);
      last_receive_ns_ = now;
    } else {
      ++duplicates_;
    }
  }
  last_progress_ns_ = now;
}

void load_state::on_aborted(uint64_t now) {
  ++aborted_;
  last_progress_ns_ = now;
}

bool load_state::complete() const {
  if (phase_ != phase::draining) {
    return false;
  }
  // Unsettled: the receiver settles before the sender sees the outcome, so once every sent
  // message has an outcome nothing more can arrive. Pre-settled: wait for all (or a quiet
  // period, see tick).
  return presettled() ? received_ >= sent_ : accepted_ + released_ + rejected_ + modified_ >= sent_;
}

bool load_state::tick(uint64_t now) {
  if (phase_ == phase::finishing) {
    return false;
  }
  if (phase_ == phase::measuring && send_end_ns_ != 0 && now >= send_end_ns_) {
    phase_ = phase::draining;
    last_progress_ns_ = now;
  }
  if (complete()) {
    return true;
  }
  if (phase_ == phase::draining && presettled() && now - last_progress_ns_ > 2 * kNsPerSec) {
    return true;  // pre-settled losses are expected from routers; they are reported, not fatal
  }
  // Progress is any message sent or received: a router that withholds credit, stops
  // forwarding, or loses messages makes the run fail instead of hanging.
  const auto stall_ns = static_cast<uint64_t>(opt_.stall_timeout_s * kNsPerSec);
  if (now - last_progress_ns_ > stall_ns) {
    const std::string secs = std::to_string(static_cast<int>(opt_.stall_timeout_s));
    fail(phase_ == phase::connecting ? "timed out after " + secs + " s connecting/attaching links"
         : phase_ == phase::draining
             ? "nothing received for " + secs + " s after the last send (messages lost?)"
             : "no credit and nothing received for " + secs + " s (stalled)");
    return true;
  }
  return false;
}

void load_state::fail(const std::string& what) {
  if (error_.empty()) {
    error_ = what;
  }
}

void load_state::finish(uint64_t now) {
  if (phase_ == phase::finishing) {
    return;
  }
  if (end_ns_ == 0) {
    end_ns_ = now;
    cpu_end_ns_ = thread_cpu_ns();
    rusage_end_s_ = rusage_cpu_s();
  }
  phase_ = phase::finishing;
}

int load_state::report(const char* engine_name) const {
  const bool settled = presettled();
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
    } else if (!settled && received_ != sent_) {
      problem = "received " + std::to_string(received_) + " of " + std::to_string(sent_) +
                " sent (released " + std::to_string(released_) + ", rejected " +
                std::to_string(rejected_) + ", modified " + std::to_string(modified_) + ")";
    } else if (!settled && accepted_ != sent_) {
      problem = "only " + std::to_string(accepted_) + " of " + std::to_string(sent_) +
                " sent messages were accepted";
    } else if (malformed_ > 0) {
      problem = std::to_string(malformed_) + " messages without a readable timestamp body";
    } else if (sent_ == 0) {
      problem = "no message was sent";
    }
  }
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  const char* mode = opt_.direct ? "direct" : "router";
  if (opt_.json) {
    std::printf(
        "{\"mode\":\"%s\",\"engine\":\"%s\",\"url\":\"%s\",\"address\":\"%s\",\"size\":%zu,"
        "\"credit\":%d,\"settle\":\"%s\",\"count\":%" PRIu64
        ",\"duration_setting_s\":%g,\"rate_setting\":%g,"
        "\"warmup_s\":%g,"
        "\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"accepted\":%" PRIu64
        ",\"released\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"modified\":%" PRIu64
        ",\"lost\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"aborted\":%" PRIu64
        ",\"malformed\":%" PRIu64 ",\"warmup_sent\":%" PRIu64 ",\"warmup_received\":%" PRIu64
        ",\"duration_s\":%.6f,\"rate_msgs_per_s\":%.1f,\"bytes\":%" PRIu64
        ",\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},"
        "\"client_cpu_s\":%.6f,\"client_cpu_us_per_msg\":%.3f,\"ok\":%s,\"error\":\"%s\"}\n",
        mode, engine_name, opt_.direct ? "" : opt_.url.c_str(), opt_.address.c_str(), opt_.size,
        opt_.credit, settled ? "presettled" : "unsettled", opt_.count, opt_.duration_s, opt_.rate,
        opt_.warmup_s, sent_, received_, accepted_, released_, rejected_, modified_, lost,
        duplicates_, aborted_, malformed_, warmup_sent_, warmup_received_, duration, rate, bytes_,
        us(latency_.percentile(0.5)), us(latency_.percentile(0.9)), us(latency_.percentile(0.99)),
        us(latency_.percentile(0.999)), us(latency_.max()), cpu_s,
        received_ > 0 ? cpu_s * 1e6 / static_cast<double>(received_) : 0.0,
        problem.empty() ? "true" : "false", problem.c_str());
  } else {
    std::printf("%s (%s engine) %s size=%zu credit=%d: sent %" PRIu64 " received %" PRIu64
                " accepted %" PRIu64 " released %" PRIu64 " rejected %" PRIu64 " modified %" PRIu64
                " lost %" PRIu64
                "\n"
                "  %.3f s, %.0f msg/s, %.1f MB/s; latency us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f "
                "max %.1f; client cpu %.3f s (%.0f%% of a core)\n",
                mode, engine_name, settled ? "presettled" : "unsettled", opt_.size, opt_.credit,
                sent_, received_, accepted_, released_, rejected_, modified_, lost, duration, rate,
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

}  // namespace fogmesh::bench
