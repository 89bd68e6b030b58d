#include "router_transport.hpp"

#include <boost/asio/post.hpp>
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
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include "fogmesh/common/log.hpp"

namespace fogmesh::agent {

namespace {

auto logger() {
  static auto l = log::get("agent.transport");
  return l;
}

}  // namespace

// Everything in here runs on the container's thread.
class router_transport::handler : public proton::messaging_handler {
 public:
  explicit handler(router_transport& t) : t_(t) {}

  void on_container_start(proton::container& c) override {
    container_ = &c;
    tick();
  }

  // Every 100 ms: (re)connect when needed. Receivers and sends are handled when the connection
  // opens and at once through kick().
  void tick() {
    if (stopping_) return;
    sync(false);
    container_->schedule(proton::duration(100), [this] { tick(); });
  }

  void sync(bool work) {
    if (stopping_ || container_ == nullptr) return;
    std::string url;
    {
      std::lock_guard lock(t_.mutex_);
      url = t_.url_;
    }
    if (url != url_) {
      drop_connection(true);
      url_ = url;
      next_connect_ = {};
    }
    if (!have_connection_) {
      if (url_.empty() || std::chrono::steady_clock::now() < next_connect_) return;
      next_connect_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      proton::connection_options o;
      o.idle_timeout(proton::duration(16000));
      o.sasl_allowed_mechs("ANONYMOUS");
      connection_ = container_->connect(url_, o);
      have_connection_ = true;
      return;
    }
    if (!open_ || !work) return;
    // Work on the connection goes through its own work queue: changes made from a container
    // timer or work item are otherwise written out only at the connection's next event (its
    // heartbeat, seconds later).
    connection_.work_queue().add([this, generation = generation_] {
      if (generation == generation_ && open_) connection_work();
    });
  }

  void connection_work() {
    std::set<std::string> wanted;
    {
      std::lock_guard lock(t_.mutex_);
      wanted = t_.receivers_;
    }
    for (const auto& uuid : wanted) {
      if (!receivers_.count(uuid)) {
        receivers_[uuid] =
            connection_.open_receiver(uuid, proton::receiver_options().credit_window(250));
      }
    }
    for (auto it = receivers_.begin(); it != receivers_.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      it->second.close();
      it = receivers_.erase(it);
    }
    t_.outbox_.flush();
  }

  void on_connection_open(proton::connection& c) override {
    if (!(c == connection_)) return;
    open_ = true;
    t_.connected_ = true;
    logger()->info("message bus connected to the router at {}", url_);
    t_.outbox_.attach(c);
    connection_work();
  }
  void on_sendable(proton::sender&) override { t_.outbox_.flush(); }
  void on_tracker_settle(proton::tracker& t) override { t_.outbox_.on_tracker_settle(t); }
  void on_sender_error(proton::sender&) override {}  // the default throws: handled on close
  void on_sender_close(proton::sender& s) override { t_.outbox_.on_sender_close(s); }
  void on_receiver_error(proton::receiver&) override {}  // the default throws
  void on_receiver_open(proton::receiver&) override { ++t_.open_receivers_; }
  void on_receiver_close(proton::receiver&) override {
    if (t_.open_receivers_ > 0) --t_.open_receivers_;
  }
  void on_message(proton::delivery& d, proton::message& m) override {
    std::string receiver = d.receiver().source().address();
    std::string text;
    const proton::value& body = m.body();
    if (body.type() == proton::STRING) {
      text = proton::get<std::string>(body);
    } else if (body.type() == proton::BINARY) {
      auto b = proton::get<proton::binary>(body);
      text.assign(b.begin(), b.end());
    }
    auto decoded = decode_json(text);
    if (!decoded) {
      logger()->warn("message for {} from the router is not an ioMessage: {}", receiver,
                     decoded.error->message);
      return;
    }
    ++t_.received_;
    boost::asio::post(t_.io_,
                      [inbound = t_.inbound_, receiver, message = std::move(decoded.message)] {
                        inbound(receiver, message);
                      });
  }
  void on_transport_error(proton::transport& t) override {
    if (!(t.connection() == connection_)) return;
    if (!url_.empty())
      logger()->warn("message bus: router at {}: {} (reconnecting)", url_, t.error().what());
    drop_connection(false);
  }
  void on_transport_close(proton::transport& t) override {
    if (!(t.connection() == connection_)) return;
    drop_connection(false);
  }
  void on_connection_error(proton::connection& c) override {
    if (!(c == connection_)) return;
    logger()->warn("message bus: router at {} closed the connection: {}", url_, c.error().what());
  }

  void stop() { stopping_ = true; }

 private:
  void drop_connection(bool close) {
    if (have_connection_ && close) {
      try {
        connection_.close();
      } catch (const std::exception&) {
      }
    }
    if (open_) logger()->info("message bus disconnected from the router at {}", url_);
    have_connection_ = false;
    open_ = false;
    ++generation_;
    t_.connected_ = false;
    t_.open_receivers_ = 0;
    t_.outbox_.detach();  // keeps what it holds for the next connection
    receivers_.clear();
    connection_ = proton::connection();
  }

  router_transport& t_;
  proton::container* container_ = nullptr;
  bool stopping_ = false;
  std::string url_;
  proton::connection connection_;
  bool have_connection_ = false;
  bool open_ = false;
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point next_connect_{};
  std::map<std::string, proton::receiver> receivers_;
};

router_transport::router_transport(boost::asio::io_context& io, inbound_handler inbound,
                                   size_t max_held)
    : io_(io),
      inbound_(std::move(inbound)),
      outbox_(max_held),
      handler_(std::make_unique<handler>(*this)) {
  container_ = std::make_unique<proton::container>(*handler_, "fogmesh-agent-bus");
  work_ = std::make_unique<proton::work_queue>(*container_);
  thread_ = std::thread([c = container_.get()] {
    try {
      c->run();
    } catch (const std::exception& e) {
      logger()->error("message bus transport ended: {}", e.what());
    }
  });
}

router_transport::~router_transport() {
  work_->add([h = handler_.get()] { h->stop(); });
  container_->stop();
  if (thread_.joinable()) thread_.join();
}

void router_transport::kick() {
  // One pending wake-up at a time: a work item per published message capped the message socket
  // path; the item reads the latest state, so later changes need no item of their own.
  if (kick_pending_.exchange(true)) return;
  work_->add([this] {
    kick_pending_ = false;
    handler_->sync(true);
  });
}

void router_transport::set_url(const std::string& url) {
  {
    std::lock_guard lock(mutex_);
    if (url_ == url) return;
    url_ = url;  // what is held stays: the receivers' addresses are the same on any router
  }
  kick();
}

void router_transport::set_receivers(std::set<std::string> uuids) {
  {
    std::lock_guard lock(mutex_);
    if (receivers_ == uuids) return;
    receivers_ = std::move(uuids);
  }
  kick();
}

bool router_transport::send(const std::string& receiver_uuid, const io_message& message) {
  // Connected or not: while the router is away (restarting after a crash, not yet configured)
  // the outbox holds the message for the next connection, within the same bound. try_push wakes
  // the connection itself when there is one; no kick() needed.
  return outbox_.try_push(receiver_uuid, encode_json(message));
}

bool router_transport::has_room(size_t count) const {
  return outbox_.has_room(count);
}

}  // namespace fogmesh::agent
