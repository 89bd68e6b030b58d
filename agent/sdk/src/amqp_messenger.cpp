#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
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
#include <proton/source.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>
#include <thread>

#include "fogmesh/agent/amqp_outbox.hpp"
#include "fogmesh/agent/recent_ids.hpp"
#include "fogmesh/sdk/microservice.hpp"
#include "sdk_detail.hpp"

namespace fogmesh::sdk {

// Runs on the Proton container's thread except where noted (send, wait_*, the destructor).
// The sending side — every message kept until the router settles it, released/modified ones
// sent again, at most max_pending held so send() blocks — is the agent's amqp_outbox, the same
// code the agent's own router transport sends with; this adds the connection (reconnecting
// every second) and the receiving link.
class amqp_messenger::proton_handler : public proton::messaging_handler {
 public:
  explicit proton_handler(options o)
      : options_(std::move(o)), outbox_(options_.tuning.max_pending) {}

  void start() {
    container_ = std::make_unique<proton::container>(*this);
    thread_ = std::thread([this] { container_->run(); });
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    outbox_.close();
    container_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // --- any thread ---
  void enqueue(const std::string& address, io_message message) {
    detail::stamp_if_missing(message);
    outbox_.push_wait(address, agent::encode_json(message));  // false only while stopping
  }

  bool wait_ready(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return state_.wait_for(lock, timeout,
                           [&] { return open_ && (!options_.on_message || receiver_attached_); });
  }

  bool wait_flushed(std::chrono::milliseconds timeout) { return outbox_.wait_empty(timeout); }

  agent::amqp_outbox& outbox() { return outbox_; }
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> duplicates{0};

  // --- container thread ---
  void on_container_start(proton::container&) override { connect(); }

  void on_connection_open(proton::connection& c) override {
    if (options_.on_message) {
      c.open_receiver(options_.self_name,
                      proton::receiver_options().credit_window(options_.tuning.credit_window));
    }
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    state_.notify_all();
    outbox_.attach(c);
  }

  void on_receiver_open(proton::receiver&) override {
    {
      std::lock_guard lock(mutex_);
      receiver_attached_ = true;
    }
    state_.notify_all();
  }

  void on_sendable(proton::sender&) override { outbox_.flush(); }
  void on_tracker_settle(proton::tracker& t) override { outbox_.on_tracker_settle(t); }
  void on_sender_error(proton::sender&) override {}  // the default throws: handled on close
  void on_sender_close(proton::sender& s) override { outbox_.on_sender_close(s); }

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
    // A copy of a recent message (sent again after a connection drop) is settled, not handed
    // on: the microservice sees each message once.
    if (!recent_.insert(decoded.message.id)) {
      ++duplicates;
      return;
    }
    ++received;
    options_.on_message(std::move(decoded.message));
  }

  // Proton calls on_transport_close after on_transport_error, so lost() runs once per
  // connection (twice would open two connections). The defaults of the *_error handlers throw
  // out of the container thread: the connection ends, and the close handles it.
  void on_transport_error(proton::transport&) override {}
  void on_connection_error(proton::connection&) override {}
  void on_receiver_error(proton::receiver&) override {}
  void on_transport_close(proton::transport&) override { lost(); }

 private:
  void connect() {
    proton::connection_options o;
    o.idle_timeout(proton::duration(16000));
    o.sasl_allowed_mechs("ANONYMOUS");
    container_->connect(options_.router_url, o);
  }

  // The connection is gone: the outbox keeps what it holds for the next one; retry in a second.
  void lost() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      open_ = false;
      receiver_attached_ = false;
    }
    outbox_.detach();
    container_->schedule(proton::duration(1000), [this] {
      std::lock_guard lock(mutex_);
      if (!stopping_) connect();
    });
  }

  options options_;
  agent::amqp_outbox outbox_;
  agent::recent_ids recent_;  // container thread only
  std::unique_ptr<proton::container> container_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable state_;  // connected / attached
  bool stopping_ = false;
  bool open_ = false;
  bool receiver_attached_ = false;
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
  return handler_->outbox().accepted();
}
uint64_t amqp_messenger::duplicates() const {
  return handler_->duplicates.load();
}

uint64_t amqp_messenger::received() const {
  return handler_->received.load();
}
uint64_t amqp_messenger::resent() const {
  return handler_->outbox().resent();
}
uint64_t amqp_messenger::rejected() const {
  return handler_->outbox().rejected();
}

}  // namespace fogmesh::sdk
