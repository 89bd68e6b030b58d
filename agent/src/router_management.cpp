#include "router_management.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
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
#include <proton/source_options.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/value.hpp>
#include <proton/work_queue.hpp>

namespace fogmesh::agent {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

constexpr const char* type_prefix = "org.apache.qpid.dispatch.";

proton::value to_proton(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return std::string(v.get_string());
    case json::kind::int64: return v.get_int64();
    case json::kind::uint64: return v.get_uint64();
    case json::kind::double_: return v.get_double();
    case json::kind::bool_: return v.get_bool();
    case json::kind::array: {
      std::vector<proton::value> list;
      for (const auto& item : v.get_array()) list.push_back(to_proton(item));
      return list;
    }
    case json::kind::object: {
      std::map<std::string, proton::value> map;
      for (const auto& [k, item] : v.get_object()) map[std::string(k)] = to_proton(item);
      return map;
    }
    case json::kind::null: return proton::value();
  }
  return proton::value();
}

class batch_client : public proton::messaging_handler {
 public:
  batch_client(std::string url, const std::vector<management_op>& ops, std::chrono::milliseconds timeout)
      : url_(std::move(url)), ops_(ops), timeout_(timeout) {}

  management_outcome outcome;

  void on_container_start(proton::container& c) override {
    c.connect(url_, proton::connection_options().idle_timeout(proton::duration(30000)));
    deadline_ = std::chrono::steady_clock::now() + timeout_;
    tick(c);
  }
  // A short tick rather than one timer for the whole timeout: the container's run() only returns
  // once no scheduled task is pending, so none may outlive the batch by long.
  void tick(proton::container& c) {
    if (finished_ || stopped_) return;
    if (std::chrono::steady_clock::now() >= deadline_) {
      fail("no answer from the router's management at " + url_ + " within " +
           std::to_string(timeout_.count()) + " ms");
      stopped_ = true;
      c.stop();
      return;
    }
    c.schedule(proton::duration(100), [this, &c] { tick(c); });
  }
  void on_connection_open(proton::connection& conn) override {
    conn.open_receiver("", proton::receiver_options().source(proton::source_options().dynamic(true)));
  }
  void on_receiver_open(proton::receiver& r) override {
    reply_to_ = r.source().address();
    r.connection().open_sender("$management");
  }
  void on_sendable(proton::sender& s) override {
    sender_ = s;
    if (!waiting_) send_next();
  }
  void on_message(proton::delivery& d, proton::message& m) override {
    if (finished_) return;
    management_result r;
    try {
      auto code = m.properties().get("statusCode");
      r.status = code.empty() ? 0 : static_cast<int>(proton::coerce<int64_t>(code));
      auto desc = m.properties().get("statusDescription");
      if (!desc.empty()) r.description = proton::coerce<std::string>(desc);
    } catch (const std::exception& e) {
      r.description = std::string("unreadable answer: ") + e.what();
    }
    outcome.results.push_back(std::move(r));
    waiting_ = false;
    if (outcome.results.size() == ops_.size()) {
      finish(d.connection());
    } else if (sender_ && sender_.credit() > 0) {
      send_next();
    }
  }
  void on_transport_error(proton::transport& t) override {
    if (!finished_) fail("router management at " + url_ + ": " + t.error().what());
    stopped_ = true;
    t.connection().container().stop();
  }
  void on_transport_close(proton::transport& t) override {
    stopped_ = true;
    t.connection().container().stop();
  }
  void on_sender_error(proton::sender& s) override {
    fail("router management: " + s.error().what());
    finish(s.connection());
  }
  void on_receiver_error(proton::receiver& r) override {
    fail("router management reply link: " + r.error().what());
    finish(r.connection());
  }
  void on_connection_error(proton::connection& c) override {
    fail("router management connection: " + c.error().what());
    stopped_ = true;
    c.container().stop();
  }

 private:
  void send_next() {
    if (finished_ || waiting_ || next_ >= ops_.size()) return;
    const auto& op = ops_[next_++];
    proton::message m;
    m.reply_to(reply_to_);
    m.correlation_id(std::string("agent-") + std::to_string(next_));
    m.properties().put("operation", op.operation);
    m.properties().put("type", std::string(type_prefix) + op.type);
    m.properties().put("name", op.name);
    if (op.operation == "CREATE") {
      std::map<std::string, proton::value> body;
      for (const auto& [k, v] : op.attributes) {
        if (!v.is_null()) body[std::string(k)] = to_proton(v);
      }
      m.body(body);
    }
    waiting_ = true;
    sender_.send(m);
  }
  void fail(std::string why) {
    if (outcome.error.empty()) outcome.error = std::move(why);
  }
  void finish(proton::connection c) {
    finished_ = true;
    c.close();
  }

  std::string url_;
  const std::vector<management_op>& ops_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_{};
  bool stopped_ = false;
  std::string reply_to_;
  proton::sender sender_;
  size_t next_ = 0;
  bool waiting_ = false;
  bool finished_ = false;
};

}  // namespace

bool management_outcome::ok() const {
  if (!error.empty()) return false;
  for (const auto& r : results) {
    if (r.status < 200 || r.status >= 300) return false;
  }
  return true;
}

management_outcome run_management_batch(const std::string& url, const std::vector<management_op>& ops,
                                        std::chrono::milliseconds timeout) {
  if (ops.empty()) return {};
  batch_client client(url, ops, timeout);
  try {
    proton::container(client, "fogmesh-agent-management").run();
  } catch (const std::exception& e) {
    client.outcome.error = std::string("router management: ") + e.what();
  }
  if (client.outcome.error.empty() && client.outcome.results.size() < ops.size()) {
    client.outcome.error = "router management at " + url + " closed before answering";
  }
  return client.outcome;
}

management_runner::~management_runner() {
  if (worker_.joinable()) worker_.join();
}

asio::awaitable<management_outcome> management_runner::run(std::string url, std::vector<management_op> ops,
                                                           std::chrono::milliseconds timeout) {
  if (worker_.joinable()) worker_.join();  // the previous batch's thread has posted already
  struct shared {
    explicit shared(asio::any_io_executor ex) : done(ex, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer done;
    management_outcome outcome;
    bool finished = false;
  };
  auto state = std::make_shared<shared>(ex_);
  worker_ = std::thread([state, url = std::move(url), ops = std::move(ops), timeout, ex = ex_] {
    auto outcome = run_management_batch(url, ops, timeout);
    asio::post(ex, [state, outcome = std::move(outcome)]() mutable {
      state->outcome = std::move(outcome);
      state->finished = true;
      state->done.cancel();
    });
  });
  while (!state->finished) {
    boost::system::error_code ec;
    co_await state->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  worker_.join();
  co_return std::move(state->outcome);
}

}  // namespace fogmesh::agent
