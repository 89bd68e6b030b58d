#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/duration.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/source.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>
#include <thread>
#include <unordered_map>

#include "fogmesh/sdk/microservice.hpp"
#include "sdk_detail.hpp"

namespace fogmesh::sdk {

// Runs on the Proton container's thread except where noted (send, wait_*, the destructor).
// Callers hand messages over under mutex_; the container thread is woken through the
// connection's work queue, at most one pending wake-up at a time so a fast sender does not
// flood it with work items.
//
// Every message is kept until the router settles it. The router settles `released` (no consumer,
// e.g. one that detached while the sender still had credit) or `modified` (its path broke): the
// message was not consumed, so it goes back to the front of its address's queue, in its
// original order, and is sent again after a back-off (10 ms doubling to 1 s while the address
// keeps releasing; the router may still grant credit for a consumer that is gone). `accepted`
// and `rejected` end it (a rejected message would be rejected again). What is held — queued or
// unsettled — counts against max_pending, so memory stays bounded and send() blocks.
class amqp_messenger::proton_handler : public proton::messaging_handler {
 public:
  explicit proton_handler(options o) : options_(std::move(o)) {}

  void start() {
    container_ = std::make_unique<proton::container>(*this);
    thread_ = std::thread([this] { container_->run(); });
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    space_.notify_all();
    container_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // --- any thread ---
  void enqueue(const std::string& address, io_message message) {
    detail::stamp_if_missing(message);
    std::string body = agent::encode_json(message);
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return stopping_ || held_ < options_.tuning.max_pending; });
    if (stopping_) return;
    addresses_[address].queue.push_back({next_seq_++, std::move(body)});
    ++held_;
    wake_locked();
  }

  bool wait_ready(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return state_.wait_for(lock, timeout,
                           [&] { return open_ && (!options_.on_message || receiver_attached_); });
  }

  bool wait_flushed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return state_.wait_for(lock, timeout, [&] { return held_ == 0; });
  }

  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> resent{0};
  std::atomic<uint64_t> rejected{0};

  // --- container thread ---
  void on_container_start(proton::container&) override { connect(); }

  void on_connection_open(proton::connection& c) override {
    if (options_.on_message) {
      c.open_receiver(options_.self_name,
                      proton::receiver_options().credit_window(options_.tuning.credit_window));
    }
    std::lock_guard lock(mutex_);
    open_ = true;
    work_queue_ = &c.work_queue();
    wake_scheduled_ = false;
    state_.notify_all();
    wake_locked();
  }

  void on_receiver_open(proton::receiver&) override {
    std::lock_guard lock(mutex_);
    receiver_attached_ = true;
    state_.notify_all();
  }

  void on_sendable(proton::sender&) override { flush(); }

  void on_tracker_settle(proton::tracker& t) override {
    const proton::binary tag = t.tag();
    if (tag.size() != sizeof(uint64_t)) return;
    uint64_t transfer = 0;
    std::memcpy(&transfer, tag.data(), sizeof transfer);
    const auto outcome = t.state();
    std::unique_lock lock(mutex_);
    auto it = in_flight_.find(transfer);
    if (it == in_flight_.end()) return;  // from a connection that is gone: already requeued
    address_state& a = *it->second.address;
    if (outcome == proton::transfer::RELEASED || outcome == proton::transfer::MODIFIED) {
      // Not consumed: back in order ahead of what was never sent, after a back-off.
      requeue_locked(a, std::move(it->second.message));
      in_flight_.erase(it);
      ++resent;
      hold_back_locked(a);
      const auto when = a.hold_until;
      lock.unlock();
      schedule_retry(when);
      return;
    }
    in_flight_.erase(it);
    if (outcome == proton::transfer::REJECTED) {
      ++rejected;
    } else {
      ++sent;
      a.backoff = std::chrono::milliseconds(0);
    }
    const bool was_full = held_ >= options_.tuning.max_pending;  // a send() may be waiting
    --held_;
    const bool drained = held_ == 0;
    lock.unlock();
    if (was_full) space_.notify_all();
    if (drained) state_.notify_all();
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    std::string text;
    const proton::value& body = m.body();
    if (body.type() == proton::STRING) {
      text = proton::get<std::string>(body);
    } else if (body.type() == proton::BINARY) {
      auto b = proton::get<proton::binary>(body);
      text.assign(b.begin(), b.end());
    }
    auto decoded = agent::decode_json(text);
    if (!decoded) {
      // Not ours to keep: reject, so the sender learns it was refused rather than lost.
      d.reject();
      return;
    }
    ++received;
    options_.on_message(std::move(decoded.message));
  }

  // The router detached a sending link (e.g. its address became unroutable): what was unsettled
  // on it goes back to its queue and a new link is opened after the back-off.
  void on_sender_error(proton::sender&) override {}  // the default throws: handled on close
  void on_sender_close(proton::sender& s) override {
    std::unique_lock lock(mutex_);
    if (!open_) return;  // the connection is going: lost() requeues everything
    for (auto& [address, a] : addresses_) {
      if (!(a.sender == s)) continue;
      a.sender = proton::sender();
      for (auto it = in_flight_.begin(); it != in_flight_.end();) {
        if (it->second.address != &a) {
          ++it;
          continue;
        }
        requeue_locked(a, std::move(it->second.message));
        ++resent;
        it = in_flight_.erase(it);
      }
      hold_back_locked(a);
      const auto when = a.hold_until;
      lock.unlock();
      schedule_retry(when);
      return;
    }
  }

  void on_transport_error(proton::transport&) override { lost(); }
  void on_transport_close(proton::transport&) override { lost(); }

 private:
  struct outgoing {
    uint64_t seq;  // enqueue order: resends go back to their place by it
    std::string body;
  };
  struct address_state {
    std::deque<outgoing> queue;  // waiting for credit (or for hold_until), oldest first
    proton::sender sender;       // empty until opened on the current connection
    std::chrono::steady_clock::time_point hold_until{};
    std::chrono::milliseconds backoff{0};
  };
  struct unsettled {
    address_state* address;  // std::map nodes do not move
    outgoing message;
  };

  void connect() {
    proton::connection_options o;
    o.idle_timeout(proton::duration(16000));
    o.sasl_allowed_mechs("ANONYMOUS");
    connection_ = container_->connect(options_.router_url, o);
  }

  // The connection is gone: forget its links and retry in a second. What was on the wire
  // unsettled is queued again (it may have arrived: at-least-once for those); queued stays.
  void lost() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      open_ = false;
      receiver_attached_ = false;
      work_queue_ = nullptr;
      for (auto& [transfer, u] : in_flight_) {
        requeue_locked(*u.address, std::move(u.message));
        ++resent;
      }
      in_flight_.clear();
      for (auto& [address, a] : addresses_) a.sender = proton::sender();
      state_.notify_all();
    }
    container_->schedule(proton::duration(1000), [this] {
      std::lock_guard lock(mutex_);
      if (!stopping_) connect();
    });
  }

  static void requeue_locked(address_state& a, outgoing m) {
    // Usually lands at or near the front: what comes back is older than what was never sent.
    auto pos = std::upper_bound(a.queue.begin(), a.queue.end(), m.seq,
                                [](uint64_t seq, const outgoing& o) { return seq < o.seq; });
    a.queue.insert(pos, std::move(m));
  }

  // Once per round of returns (not per message): 10 ms, doubling to 1 s until one is accepted.
  static void hold_back_locked(address_state& a) {
    const auto now = std::chrono::steady_clock::now();
    if (a.hold_until > now) return;
    a.backoff = a.backoff.count() == 0 ? std::chrono::milliseconds(10)
                                       : std::min(a.backoff * 2, std::chrono::milliseconds(1000));
    a.hold_until = now + a.backoff;
  }

  // Flushes again at `when` (the earliest hold_until); flush() re-arms it while an address is
  // still held back. Extra timers are harmless: each only flushes.
  void schedule_retry(std::chrono::steady_clock::time_point when) {
    if (retry_scheduled_ && retry_due_ <= when) return;
    retry_scheduled_ = true;
    retry_due_ = when;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        when - std::chrono::steady_clock::now());
    container_->schedule(proton::duration(std::max<int64_t>(1, wait.count() + 1)), [this] {
      retry_scheduled_ = false;
      flush();
    });
  }

  void wake_locked() {
    if (!open_ || wake_scheduled_ || work_queue_ == nullptr) return;
    wake_scheduled_ = true;
    work_queue_->add([this] { flush(); });
  }

  void flush() {
    std::unique_lock lock(mutex_);
    wake_scheduled_ = false;
    if (!open_) return;
    const auto now = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> retry_at;
    for (auto& [address, a] : addresses_) {
      if (a.queue.empty()) continue;
      if (a.hold_until > now) {
        if (!retry_at || a.hold_until < *retry_at) retry_at = a.hold_until;
        continue;
      }
      if (!a.sender) {
        // Credit arrives once the mesh has a consumer for the address.
        a.sender = connection_.open_sender(address);
      }
      proton::sender& s = a.sender;
      while (!a.queue.empty() && s.active() && s.credit() > 0) {
        outgoing& m = a.queue.front();
        const uint64_t transfer = next_transfer_++;
        proton::binary tag(sizeof transfer);
        std::memcpy(tag.data(), &transfer, sizeof transfer);
        message_.clear();
        message_.to(address);
        message_.content_type("application/json");
        message_.body(m.body);
        s.send(message_, tag);
        in_flight_.emplace(transfer, unsettled{&a, std::move(m)});
        a.queue.pop_front();
      }
    }
    lock.unlock();
    if (retry_at) schedule_retry(*retry_at);
  }

  options options_;
  std::unique_ptr<proton::container> container_;
  std::thread thread_;
  proton::connection connection_;
  proton::message message_;       // reused: saves an allocation per send
  bool retry_scheduled_ = false;  // container thread only
  std::chrono::steady_clock::time_point retry_due_{};

  std::mutex mutex_;
  std::condition_variable space_;  // held_ dropped below max_pending
  std::condition_variable state_;  // connected / attached / everything settled
  bool stopping_ = false;
  bool open_ = false;
  bool receiver_attached_ = false;
  bool wake_scheduled_ = false;
  proton::work_queue* work_queue_ = nullptr;
  std::map<std::string, address_state> addresses_;
  std::unordered_map<uint64_t, unsettled> in_flight_;  // delivery tag → message
  uint64_t next_seq_ = 0;
  uint64_t next_transfer_ = 0;
  size_t held_ = 0;  // queued + unsettled
};

amqp_messenger::amqp_messenger(options o) {
  if (o.router_url.empty())
    throw sdk_error(0, "amqp_messenger: no router URL (FOGMESH_ROUTER_URL)");
  if (o.on_message && o.self_name.empty())
    throw sdk_error(0, "amqp_messenger: receiving needs self_name");
  handler_ = std::make_unique<proton_handler>(std::move(o));
  handler_->start();
}

amqp_messenger::~amqp_messenger() {
  handler_->stop();
}

void amqp_messenger::send(const std::string& receiver_uuid, io_message message) {
  handler_->enqueue(receiver_uuid, std::move(message));
}

bool amqp_messenger::wait_ready(std::chrono::milliseconds timeout) {
  return handler_->wait_ready(timeout);
}
bool amqp_messenger::flush(std::chrono::milliseconds timeout) {
  return handler_->wait_flushed(timeout);
}
uint64_t amqp_messenger::sent() const {
  return handler_->sent.load();
}
uint64_t amqp_messenger::received() const {
  return handler_->received.load();
}
uint64_t amqp_messenger::resent() const {
  return handler_->resent.load();
}
uint64_t amqp_messenger::rejected() const {
  return handler_->rejected.load();
}

}  // namespace fogmesh::sdk
