// What both engines of fogmesh-bench share: options, the message layout, the run's phases and
// counters (load_state), latency histogram, loss/duplicate detection and the report. An engine
// only moves bytes: it asks load_state what to send next and tells it what arrived, so the
// Proton and the native engine measure exactly the same thing.
//
// Each message is one Data section of --size bytes: [0..8) send timestamp (ns), [8..16)
// sequence number (top bit = warm-up). The encoded message is built once and only those 16
// bytes are patched per send, so encoding never limits the rate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace fogmesh::bench {

inline constexpr uint64_t kWarmupFlag = uint64_t{1} << 63;
inline constexpr size_t kStampBytes = 16;  // timestamp + sequence at the start of the body
inline constexpr int64_t kNsPerSec = 1'000'000'000;

uint64_t now_ns();
// Nanoseconds this thread has spent on a CPU (scheduler accounting, not tick-sampled).
uint64_t thread_cpu_ns();
double rusage_cpu_s();

inline void put_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, sizeof v);
}
inline uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

enum class settle_mode { unsettled, presettled };
enum class engine_kind { native, proton };

struct options {
  std::string url;
  std::string send_url;  // sender's router when it differs from the receiver's (mesh runs)
  // --url and --send-url split by parse_options (send_* = the receiver's without --send-url).
  std::string host, port, send_host, send_port;
  bool direct = false;
  engine_kind engine = engine_kind::native;
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

// Splits HOST:PORT (the last colon separates the port, so IPv6 literals in [] also work).
bool split_host_port(const std::string& url, std::string* host, std::string* port);

// Encoded AMQP message: one Data section, vbin32, so the body offset is fixed (8 bytes).
class message_template {
 public:
  explicit message_template(size_t body_size);
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

// Finds the payload of the first Data section of an encoded message (or of its first n bytes),
// skipping any sections an intermediary may have added (header, message-annotations, ...).
// Returns nullptr when there is none in those bytes.
const char* find_data_body(const char* data, size_t n, size_t* body_len);

// Log-linear histogram (HDR-like): 128 linear sub-buckets per power of two, so any recorded
// value is reported within 1/128 (<0.8%) of its true value, at a fixed 60 KiB and O(1) record.
class histogram {
 public:
  void record(uint64_t v);
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // Highest value equivalent to the bucket holding the q-quantile (never above max).
  uint64_t percentile(double q) const;

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static size_t index_of(uint64_t v);
  static uint64_t upper_of(size_t i);
  std::array<uint64_t, kSub + (64 - kSubBits) * kSub> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// Bitmap of received sequence numbers: detects duplicates, and loss by difference.
class seq_set {
 public:
  // Returns false if seq was already present.
  bool insert(uint64_t seq);
  void reserve(uint64_t n) { bits_.reserve(n / 64 + 1); }

 private:
  std::vector<uint64_t> bits_;
};

enum class outcome { accepted, released, rejected, modified };

// The run as both engines see it: phases, pacing, counters, the stall watchdog, the report.
class load_state {
 public:
  enum class phase { connecting, warmup, measuring, draining, finishing };

  explicit load_state(const options& opt);

  const options& opt() const { return opt_; }
  phase current() const { return phase_; }
  bool sending() const { return phase_ == phase::warmup || phase_ == phase::measuring; }
  bool finishing() const { return phase_ == phase::finishing; }
  bool presettled() const { return opt_.settle == settle_mode::presettled; }

  // The sending link is attached and has been given credit: the clock starts.
  void start_sending(uint64_t now);
  // How many more messages the --rate pacing allows now (UINT64_MAX without --rate).
  uint64_t rate_budget(uint64_t now) const;
  // The sequence number of the next message to send, or nullopt when no message is to be sent
  // now: the count or duration is reached (the run drains), or the measured period begins
  // under --rate (pacing restarts from the new origin on the next call).
  std::optional<uint64_t> next_seq(uint64_t now);
  // After a burst of sends: the count may be reached exactly on the last credit, so the run
  // drains without waiting for credit that would never come.
  void after_sends(uint64_t now);
  bool is_warmup_seq(uint64_t seq) const { return (seq & kWarmupFlag) != 0; }

  // The sender learnt the outcome of a delivery it sent.
  void on_outcome(uint64_t seq, outcome o);
  // The receiver got a whole message. body = its Data payload (nullptr when none was found),
  // message_bytes = the encoded message's size; now = the arrival time of its socket read.
  void on_message(const char* body, size_t body_len, size_t message_bytes, uint64_t now);
  void on_aborted(uint64_t now);
  void progress(uint64_t now) { last_progress_ns_ = now; }

  // Every sent message is accounted for (see the definition for what that means per mode).
  bool complete() const;
  // Called every few ms: ends a duration run, a quiet pre-settled drain, or a stalled run.
  // Returns true when the run should finish now.
  bool tick(uint64_t now);
  // Records the first error; the run then finishes.
  void fail(const std::string& what);
  const std::string& error() const { return error_; }
  // Stops the clocks and enters the finishing phase (idempotent).
  void finish(uint64_t now);

  // Prints the results (JSON with --json) and returns the exit status.
  int report(const char* engine_name) const;

 private:
  options opt_;
  phase phase_ = phase::connecting;
  uint64_t warmup_end_ns_ = 0;
  uint64_t measure_start_ns_ = 0;
  uint64_t send_end_ns_ = 0;  // duration mode: stop sending at this time
  uint64_t last_progress_ns_ = 0;
  uint64_t last_receive_ns_ = 0;
  uint64_t cpu_start_ns_ = 0, cpu_end_ns_ = 0;
  double rusage_start_s_ = 0, rusage_end_s_ = 0;
  uint64_t end_ns_ = 0;
  std::string error_;

  // Counters for the measured period (warm-up traffic is counted separately).
  uint64_t sent_ = 0, warmup_sent_ = 0, warmup_received_ = 0;
  uint64_t received_ = 0, duplicates_ = 0, aborted_ = 0, malformed_ = 0;
  uint64_t accepted_ = 0, released_ = 0, rejected_ = 0, modified_ = 0;
  uint64_t bytes_ = 0;
  histogram latency_;
  seq_set received_seqs_;

  void begin_measuring(uint64_t now);
};

// The engines. Each returns the process exit status.
int run_proton_load(const options& opt);
int run_native_load(const options& opt);
// Opens --idle-connections connections and holds them (Proton; router memory tests).
int run_idle_connections(const options& opt);

}  // namespace fogmesh::bench
