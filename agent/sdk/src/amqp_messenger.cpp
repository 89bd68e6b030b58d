#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
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
#include <proton/sender.hpp>
#include <proton/source.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>
#include <thread>

#include "fogmesh/sdk/microservice.hpp"
#include "sdk_detail.hpp"

namespace fogmesh::sdk {

// Runs on the Proton container's thread except where noted (send, wait_*, the destructor).
// Callers hand messages over under mutex_; the container thread is woken through the
// connection's work queue, at most one pending wake-up at a time so a fast sender does not
// flood it with work items.
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
    space_.wait(lock, [&] { return stopping_ || pending_ < options_.tuning.max_pending; });
    if (stopping_) return;
    outbox_[address].push_back(std::move(body));
    ++pending_;
    wake_locked();
  }

  bool wait_ready(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return state_.wait_for(lock, timeout,
                           [&] { return open_ && (!options_.on_message || receiver_attached_); });
  }

  bool wait_flushed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return state_.wait_for(lock, timeout, [&] { return pending_ == 0 && unsettled_ == 0; });
  }

  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};

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

  void on_tracker_settle(proton::tracker&) override {
    std::lock_guard lock(mutex_);
    if (unsettled_ > 0) --unsettled_;
    if (unsettled_ == 0) state_.notify_all();
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

  void on_transport_error(proton::transport&) override { lost(); }
  void on_transport_close(proton::transport&) override { lost(); }

 private:
  void connect() {
    proton::connection_options o;
    o.idle_timeout(proton::duration(16000));
    o.sasl_allowed_mechs("ANONYMOUS");
    connection_ = container_->connect(options_.router_url, o);
  }

  // The connection is gone: forget its links and retry in a second. Messages still queued stay;
  // those on the wire unsettled are counted as settled (ioMessages are not persistent).
  void lost() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      open_ = false;
      receiver_attached_ = false;
      work_queue_ = nullptr;
      unsettled_ = 0;
      state_.notify_all();
    }
    senders_.clear();
    container_->schedule(proton::duration(1000), [this] {
      std::lock_guard lock(mutex_);
      if (!stopping_) connect();
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
    size_t freed = 0;
    for (auto& [address, queue] : outbox_) {
      if (queue.empty()) continue;
      auto it = senders_.find(address);
      if (it == senders_.end()) {
        // Credit arrives once the mesh has a consumer for the address.
        it = senders_.emplace(address, connection_.open_sender(address)).first;
      }
      proton::sender& s = it->second;
      while (!queue.empty() && s.active() && s.credit() > 0) {
        message_.clear();
        message_.to(address);
        message_.content_type("application/json");
        message_.body(std::move(queue.front()));
        queue.pop_front();
        s.send(message_);
        ++unsettled_;
        ++freed;
        ++sent;
      }
    }
    pending_ -= freed;
    lock.unlock();
    if (freed > 0) space_.notify_all();
  }

  options options_;
  std::unique_ptr<proton::container> container_;
  std::thread thread_;
  proton::connection connection_;
  std::map<std::string, proton::sender> senders_;
  proton::message message_;  // reused: saves an allocation per send

  std::mutex mutex_;
  std::condition_variable space_;  // pending_ dropped below max_pending
  std::condition_variable state_;  // connected / attached / settled
  bool stopping_ = false;
  bool open_ = false;
  bool receiver_attached_ = false;
  bool wake_scheduled_ = false;
  proton::work_queue* work_queue_ = nullptr;
  std::map<std::string, std::deque<std::string>> outbox_;  // address → JSON bodies
  size_t pending_ = 0;
  size_t unsettled_ = 0;
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

}  // namespace fogmesh::sdk
