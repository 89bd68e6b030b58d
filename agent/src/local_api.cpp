#include "local_api.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <functional>
#include <set>

#include "fogmesh/common/log.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

auto logger() {
  static auto l = log::get("agent.localapi");
  return l;
}

constexpr uint8_t op_ack = 0x0B;
constexpr uint8_t op_config_changed = 0x0C;
constexpr uint8_t op_message = 0x0D;
constexpr uint8_t op_receipt = 0x0E;
constexpr uint8_t op_edge_resources = 0x0F;
constexpr uint8_t op_ping = 0x09;
constexpr uint8_t op_pong = 0x0A;
constexpr int max_signal_tries = 10;
// A publish whose receivers on other agents would exceed what the agent holds for the router
// (agent.json routerHeldMessages) is refused as a whole: back-pressure the publisher sees,
// rather than a message lost later.
constexpr const char* router_full_error =
    "Too many messages are waiting for the router to deliver them to other agents; "
    "not published, send it again later";

using response = http::response<http::string_body>;
using request = http::request<http::string_body>;

response json_reply(unsigned status, const json::value& body, unsigned version, bool keep_alive) {
  response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

json::object failure(const std::string& message) {
  return json::object{{"status", "failed"}, {"errormessage", message}};
}

struct ws_session : std::enable_shared_from_this<ws_session> {
  enum class kind { control, message };
  ws_session(beast::tcp_stream&& stream, kind k, std::string id)
      : ws(std::move(stream)), type(k), microservice(std::move(id)) {}

  websocket::stream<beast::tcp_stream> ws;
  kind type;
  std::string microservice;
  std::deque<std::pair<std::string, bool>> outbox;  // payload, binary
  bool writing = false;
  bool closed = false;
  uint8_t unacked_signal = 0;
  int signal_tries = 0;
  uint64_t acks = 0;
  // Message socket: frames sent and not yet acknowledged (0xB acks the oldest), with their
  // send count and last send. A frame unacknowledged for 2 s is resent (only those: resending
  // every frame in flight duplicated thousands per tick at 12k msg/s); a frame sent 10 times
  // without an ack ends real-time delivery on this socket (as upstream): messages then wait in
  // the queue for /v2/messages/next.
  struct unacked_frame {
    std::string frame;
    int tries = 1;
    std::chrono::steady_clock::time_point last_sent;
  };
  std::deque<unacked_frame> unacked_messages;
  bool resend_running = false;
  std::function<void(std::vector<std::string>)> on_realtime_disabled;

  void send_message(std::string frame) {
    unacked_messages.push_back({frame, 1, std::chrono::steady_clock::now()});
    send(std::move(frame));
    if (!resend_running) {
      resend_running = true;
      asio::co_spawn(ws.get_executor(), message_resend_loop(shared_from_this()), asio::detached);
    }
  }

  void on_ack() {
    ++acks;
    if (type == kind::control) {
      unacked_signal = 0;
    } else if (!unacked_messages.empty()) {
      unacked_messages.pop_front();
    }
  }

  static asio::awaitable<void> message_resend_loop(std::shared_ptr<ws_session> self) {
    asio::steady_timer timer(self->ws.get_executor());
    while (!self->closed && !self->unacked_messages.empty()) {
      timer.expires_after(std::chrono::seconds(2));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (self->closed) break;
      auto due = std::chrono::steady_clock::now() - std::chrono::seconds(2);
      for (auto& [frame, tries, last_sent] : self->unacked_messages) {
        if (last_sent > due) continue;
        if (tries >= max_signal_tries) {
          logger()->warn(
              "microservice {} did not acknowledge a message after {} sends: real-time "
              "delivery off for this socket, messages go to /v2/messages/next",
              self->microservice, tries);
          std::vector<std::string> frames;
          for (auto& f : self->unacked_messages) frames.push_back(std::move(f.frame));
          self->unacked_messages.clear();
          if (self->on_realtime_disabled) self->on_realtime_disabled(std::move(frames));
          break;
        }
        ++tries;
        last_sent = std::chrono::steady_clock::now();
        self->send(frame);
      }
    }
    self->resend_running = false;
  }

  void send(std::string payload, bool binary = true) {
    if (closed) return;
    outbox.emplace_back(std::move(payload), binary);
    if (!writing) {
      writing = true;
      asio::co_spawn(ws.get_executor(), write_loop(shared_from_this()), asio::detached);
    }
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<ws_session> self) {
    try {
      while (!self->outbox.empty() && !self->closed) {
        auto [payload, binary] = std::move(self->outbox.front());
        self->outbox.pop_front();
        self->ws.binary(binary);
        co_await self->ws.async_write(asio::buffer(payload), asio::use_awaitable);
      }
    } catch (const std::exception& e) {
      logger()->debug("websocket write for {} failed: {}", self->microservice, e.what());
      self->closed = true;
    }
    self->writing = false;
  }

  // Sends a one-byte signal and resends it every 2 s until acknowledged, at most 10 times
  // (as upstream, which then gives up on that socket's real-time signals).
  void signal(uint8_t opcode) {
    unacked_signal = opcode;
    signal_tries = 0;
    asio::co_spawn(ws.get_executor(), resend_loop(shared_from_this(), opcode), asio::detached);
  }

  static asio::awaitable<void> resend_loop(std::shared_ptr<ws_session> self, uint8_t opcode) {
    asio::steady_timer timer(self->ws.get_executor());
    while (!self->closed && self->unacked_signal == opcode &&
           self->signal_tries < max_signal_tries) {
      ++self->signal_tries;
      self->send(std::string(1, static_cast<char>(opcode)));
      timer.expires_after(std::chrono::seconds(2));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!self->closed && self->unacked_signal == opcode) {
      logger()->warn("microservice {} did not acknowledge signal 0x{:x} after {} tries",
                     self->microservice, opcode, max_signal_tries);
    }
  }
};

}  // namespace

struct local_api::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, local_api_options o, message_bus& b)
      : io(io), options(std::move(o)), bus(b) {}

  asio::io_context& io;
  local_api_options options;
  message_bus& bus;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  int bound_port = 0;
  bool stopped = false;
  std::map<std::string, std::pair<std::string, std::string>> microservices;  // uuid → config, token
  std::map<std::string, std::string> token_owner;                            // token → uuid
  json::array edge_resources;  // linked to this node, as the controller sent them
  std::map<std::string, std::set<std::shared_ptr<ws_session>>> control_sockets;
  std::map<std::string, std::shared_ptr<ws_session>> message_sockets;

  void listen(const std::string& address) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("local API: '" + address + "' is not an IP address");
    auto acceptor = std::make_unique<tcp::acceptor>(io);
    tcp::endpoint ep(addr, static_cast<uint16_t>(bound_port ? bound_port : options.port));
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("local API: cannot listen on " + address + ":" +
                               std::to_string(ep.port()) + ": " + ec.message());
    }
    if (bound_port == 0) bound_port = acceptor->local_endpoint().port();
    logger()->info("local API listening on {}:{}", address, bound_port);
    asio::co_spawn(io, accept_loop(shared_from_this(), acceptor.get()), asio::detached);
    acceptors.push_back(std::move(acceptor));
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self, tcp::acceptor* acceptor) {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (self->stopped || ec == asio::error::operation_aborted) co_return;
        logger()->warn("local API accept failed: {}", ec.message());
        continue;
      }
      asio::co_spawn(self->io, session(self, std::move(socket)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          logger()->debug("local API connection ended: {}", ex.what());
        }
      });
    }
  }

  // Which microservice a request may act for; empty with *error set when refused.
  std::string authenticate(const request& req, const std::string& query_token,
                           const std::string& id, unsigned& status, std::string& error) {
    if (!options.require_token) return id;
    std::string token(req[http::field::authorization]);
    if (token.rfind("Bearer ", 0) == 0) token.erase(0, 7);
    if (token.empty()) token = query_token;
    if (token.empty()) {
      status = 401;
      error = "Authorization token required (FOGMESH_LOCAL_API_TOKEN)";
      return "";
    }
    auto it = token_owner.find(token);
    if (it == token_owner.end()) {
      status = 401;
      error = "Invalid token";
      return "";
    }
    if (!id.empty() && it->second != id) {
      status = 403;
      error = "This token does not belong to microservice '" + id + "'";
      return "";
    }
    return it->second;
  }

  bool admin_ok(const request& req) const {
    std::string token(req[http::field::authorization]);
    if (token.rfind("Bearer ", 0) == 0) token.erase(0, 7);
    return !options.admin_token.empty() && token == options.admin_token;
  }

  response handle(const request& req, const std::string& path, const std::string& query_token) {
    unsigned v = req.version();
    bool ka = req.keep_alive();
    auto fail = [&](unsigned status, const std::string& message) {
      return json_reply(status, failure(message), v, ka);
    };
    static const std::set<std::string> post_json = {"/v2/config/get", "/v2/messages/next",
                                                    "/v2/messages/new", "/v2/messages/query"};
    if (post_json.count(path)) {
      if (req.method() != http::verb::post) return fail(405, "Method not allowed: use POST");
      std::string type(req[http::field::content_type]);
      if (type.find("application/json") == std::string::npos) {
        return fail(400, "Incorrect content type: expected application/json");
      }
      unsigned status = 0;
      std::string error;
      // The token before the body: a caller without a valid one learns nothing from the
      // body's validation. Which microservice it may act for is checked below, once known.
      if (options.require_token && authenticate(req, query_token, "", status, error).empty()) {
        return fail(status, error);
      }
      boost::system::error_code ec;
      auto body = json::parse(req.body(), ec);
      if (ec) return fail(400, "Request body is not JSON: " + ec.message());
      if (!body.is_object()) return fail(400, "Request body must be a JSON object");
      const auto& o = body.get_object();

      if (path == "/v2/messages/new") {
        auto decoded = decode_json(req.body());
        if (!decoded) return fail(400, "Invalid ioMessage: " + decoded.error->message);
        for (const char* key : {"publisher", "version", "infotype", "infoformat", "contentdata"}) {
          if (!o.contains(key))
            return fail(400, std::string("Required field '") + key + "' is missing");
        }
        if (decoded.message.publisher.empty()) return fail(400, "Field 'publisher' is empty");
        std::string caller =
            authenticate(req, query_token, decoded.message.publisher, status, error);
        if (caller.empty()) return fail(status, error);
        if (!microservices.count(decoded.message.publisher)) {
          return fail(400, "Unknown publisher '" + decoded.message.publisher + "'");
        }
        if (!bus.can_publish(decoded.message.publisher)) return fail(503, router_full_error);
        auto sent = bus.publish(std::move(decoded.message));
        commit_archive();  // acknowledged = archived (survives kill -9 of the agent)
        return json_reply(
            200, json::object{{"status", "okay"}, {"timestamp", sent.timestamp}, {"id", sent.id}},
            v, ka);
      }

      auto* idv = o.if_contains("id");
      if (!idv || !idv->is_string() || idv->get_string().empty()) {
        return fail(400, "Required field 'id' is missing");
      }
      std::string id(idv->get_string());
      if (authenticate(req, query_token, id, status, error).empty()) return fail(status, error);
      auto ms = microservices.find(id);
      if (ms == microservices.end()) return fail(400, "Unknown microservice id '" + id + "'");

      if (path == "/v2/config/get") {
        return json_reply(200, json::object{{"status", "okay"}, {"config", ms->second.first}}, v,
                          ka);
      }
      if (path == "/v2/messages/next") {
        json::array list;
        for (const auto& m : bus.take_queued(id)) list.push_back(json::parse(encode_json(m)));
        auto count = list.size();
        return json_reply(
            200, json::object{{"status", "okay"}, {"count", count}, {"messages", std::move(list)}},
            v, ka);
      }
      // /v2/messages/query
      auto num = [&](const char* key, int64_t& out) {
        auto* x = o.if_contains(key);
        if (!x || !x->is_number()) return false;
        out = x->to_number<int64_t>();
        return true;
      };
      int64_t start = 0, end = 0;
      if (!num("timeframestart", start))
        return fail(400, "Required field 'timeframestart' is missing or not a number");
      if (!num("timeframeend", end))
        return fail(400, "Required field 'timeframeend' is missing or not a number");
      auto* pubs = o.if_contains("publishers");
      if (!pubs || !pubs->is_array())
        return fail(400, "Required field 'publishers' is missing or not an array");
      std::vector<std::string> publishers;
      for (const auto& p : pubs->get_array()) {
        if (!p.is_string()) return fail(400, "Field 'publishers' must hold strings");
        publishers.emplace_back(p.get_string());
      }
      auto found = bus.query(id, start, end, publishers);
      json::array list;
      for (const auto& m : found.messages) list.push_back(json::parse(encode_json(m)));
      auto count = list.size();
      json::object answer{{"status", "okay"},
                          {"count", count},
                          {"timeframestart", start},
                          {"timeframeend", end},
                          {"messages", std::move(list)}};
      // Not upstream's: more matched than one answer holds; ask again from the last timestamp.
      if (found.truncated) answer["truncated"] = true;
      return json_reply(200, answer, v, ka);
    }
    if (path == "/v2/edgeResources") {
      if (req.method() != http::verb::get) return fail(405, "Method not allowed: use GET");
      unsigned status = 0;
      std::string error;
      if (authenticate(req, query_token, "", status, error).empty() && options.require_token) {
        return fail(status, error);
      }
      return json_reply(200, edge_resources, v, ka);
    }
    if (path == "/v2/status" || path == "/v2/info") {
      if (req.method() != http::verb::get && req.method() != http::verb::post) {
        return fail(405, "Method not allowed");
      }
      if (!admin_ok(req)) return fail(401, "Local API admin token required");
      auto& provider = path == "/v2/status" ? options.status : options.info;
      return json_reply(200, provider ? provider() : json::object{}, v, ka);
    }
    return fail(404, "Not found: " + path);
  }

  static asio::awaitable<void> session(std::shared_ptr<impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(16 * 1024 * 1024);
      stream.expires_after(std::chrono::seconds(120));
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == beast::error::timeout) {
        co_return;
      }
      if (ec) {
        // Malformed HTTP: say so and close; the listener keeps serving others.
        auto res = json_reply(400, failure("Malformed HTTP request: " + ec.message()), 11, false);
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      request req = parser.release();
      std::string target(req.target());
      std::string path = target.substr(0, target.find('?'));
      std::string query_token;
      if (auto q = target.find('?'); q != std::string::npos) {
        auto parsed = boost::urls::parse_origin_form(target);
        if (parsed) {
          auto params = parsed->params();
          if (auto it = params.find("token"); it != params.end()) query_token = (*it).value;
        }
      }
      if (websocket::is_upgrade(req)) {
        co_await self->websocket_session(std::move(stream), std::move(req), path, query_token);
        co_return;
      }
      auto res = self->handle(req, path, query_token);
      bool keep = res.keep_alive();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep) co_return;
    }
  }

  asio::awaitable<void> websocket_session(beast::tcp_stream stream, request req,
                                          const std::string& path, const std::string& query_token) {
    static const std::string control_prefix = "/v2/control/socket/id/";
    static const std::string message_prefix = "/v2/message/socket/id/";
    ws_session::kind kind;
    std::string id;
    if (path.rfind(control_prefix, 0) == 0) {
      kind = ws_session::kind::control;
      id = path.substr(control_prefix.size());
    } else if (path.rfind(message_prefix, 0) == 0) {
      kind = ws_session::kind::message;
      id = path.substr(message_prefix.size());
    } else {
      auto res = json_reply(404, failure("No WebSocket at " + path), req.version(), false);
      co_await http::async_write(stream, res, asio::use_awaitable);
      co_return;
    }
    unsigned status = 0;
    std::string error;
    if (id.empty() || !microservices.count(id)) {
      status = 400;
      error = "Unknown microservice id '" + id + "'";
    } else {
      authenticate(req, query_token, id, status, error);
    }
    if (status != 0) {
      auto res = json_reply(status, failure(error), req.version(), false);
      co_await http::async_write(stream, res, asio::use_awaitable);
      co_return;
    }
    stream.expires_never();
    auto s = std::make_shared<ws_session>(std::move(stream), kind, id);
    s->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    s->ws.read_message_max(64 * 1024 * 1024);
    co_await s->ws.async_accept(req, asio::use_awaitable);
    std::weak_ptr<ws_session> weak = s;
    if (kind == ws_session::kind::control) {
      control_sockets[id].insert(s);
    } else {
      // One real-time consumer per microservice: a new socket replaces the old one.
      if (auto old = message_sockets[id]) old->closed = true;
      message_sockets[id] = s;
      bus.attach_listener(id, [weak](const io_message& m) {
        auto session = weak.lock();
        if (!session || session->closed) return;
        auto encoded = encode_binary(m);
        if (!encoded) {
          logger()->warn("message {} does not fit the binary form; not sent on the socket", m.id);
          return;
        }
        std::string frame(5, '\0');
        frame[0] = static_cast<char>(op_message);
        uint32_t len = static_cast<uint32_t>(encoded->size());
        for (int i = 0; i < 4; ++i) frame[1 + i] = static_cast<char>(len >> (8 * (3 - i)));
        frame.append(encoded->begin(), encoded->end());
        session->send_message(std::move(frame));
      });
      s->on_realtime_disabled = [this, id, weak](std::vector<std::string> frames) {
        auto session = weak.lock();
        if (session && message_sockets[id] == session) bus.detach_listener(id);
        // What was never acknowledged is not lost: it waits for /v2/messages/next.
        for (const auto& f : frames) {
          auto m = decode_binary(
              std::span(reinterpret_cast<const uint8_t*>(f.data()) + 5, f.size() - 5));
          if (m) bus.deliver_again(id, m.message);
        }
      };
    }
    logger()->info("{} socket opened for {}",
                   kind == ws_session::kind::control ? "control" : "message", id);
    try {
      for (;;) {
        beast::flat_buffer b;
        co_await s->ws.async_read(b, asio::use_awaitable);
        std::string data = beast::buffers_to_string(b.data());
        on_frame(*s, data);
      }
    } catch (const std::exception& e) {
      logger()->debug("socket for {} closed: {}", id, e.what());
    }
    s->closed = true;
    if (kind == ws_session::kind::control) {
      control_sockets[id].erase(s);
    } else if (message_sockets[id] == s) {
      message_sockets.erase(id);
      bus.detach_listener(id);
    }
  }

  void reply_error(ws_session& s, const std::string& message) {
    logger()->info("bad frame on {}'s socket: {}", s.microservice, message);
    s.send(json::serialize(failure(message)), false);
  }

  void on_frame(ws_session& s, const std::string& data) {
    if (data.empty()) return reply_error(s, "empty frame");
    auto opcode = static_cast<uint8_t>(data[0]);
    if (opcode == op_ping) return s.send(std::string(1, static_cast<char>(op_pong)));
    if (opcode == op_ack) {
      s.on_ack();
      return;
    }
    if (s.type == ws_session::kind::control) {
      return reply_error(s, "unknown control opcode 0x" + to_hex(opcode));
    }
    if (opcode != op_message) return reply_error(s, "unknown message opcode 0x" + to_hex(opcode));
    if (data.size() < 5) return reply_error(s, "message frame shorter than its 5-byte header");
    uint32_t len = 0;
    for (int i = 1; i <= 4; ++i)
      len = (len << 8) | static_cast<uint8_t>(data[static_cast<size_t>(i)]);
    if (len != data.size() - 5) {
      return reply_error(s, "message frame says " + std::to_string(len) + " bytes but carries " +
                                std::to_string(data.size() - 5));
    }
    auto decoded = decode_binary(std::span(reinterpret_cast<const uint8_t*>(data.data()) + 5, len));
    if (!decoded) return reply_error(s, "invalid ioMessage: " + decoded.error->message);
    if (decoded.message.publisher.empty()) decoded.message.publisher = s.microservice;
    if (decoded.message.publisher != s.microservice && options.require_token) {
      return reply_error(
          s, "publisher '" + decoded.message.publisher + "' is not this socket's microservice");
    }
    if (!bus.can_publish(decoded.message.publisher)) return reply_error(s, router_full_error);
    auto sent = bus.publish(std::move(decoded.message));
    hold_receipt(s, receipt_frame(sent));
  }

  // --- receipts wait for the archive write ---
  //
  // A receipt acknowledges a message, so it leaves only after the message's archive record was
  // written (kill -9 of the agent must not lose an acknowledged message). Instead of one write
  // per message, the records published in a burst are written together: the first staged
  // message schedules a commit pass on the loop; the pass re-queues itself behind the frames
  // already read as long as each pass finds new staged messages (the sockets still deliver
  // frames without waiting for I/O), then writes them all with one write(2) and sends the held
  // receipts in order. A burst is capped at max_batch_messages so receipts do not wait long.
  static constexpr size_t max_batch_messages = 256;
  std::vector<std::pair<std::shared_ptr<ws_session>, std::string>> held_receipts;
  bool commit_scheduled = false;

  static std::string receipt_frame(const io_message& sent) {
    std::string receipt;
    receipt += static_cast<char>(op_receipt);
    receipt += static_cast<char>(sent.id.size());
    receipt += static_cast<char>(8);
    receipt += sent.id;
    for (int i = 7; i >= 0; --i)
      receipt += static_cast<char>(static_cast<uint64_t>(sent.timestamp) >> (8 * i));
    return receipt;
  }

  void hold_receipt(ws_session& s, std::string receipt) {
    // Nothing staged (archive off, message not archivable) and nothing held before it: the
    // receipt may go at once. Otherwise it keeps its place behind the held ones.
    if (held_receipts.empty() && bus.archive_staged() == 0) {
      s.send(std::move(receipt));
      return;
    }
    held_receipts.emplace_back(s.shared_from_this(), std::move(receipt));
    if (held_receipts.size() >= max_batch_messages) {
      commit_archive();
    } else if (!commit_scheduled) {
      commit_scheduled = true;
      // seen = 0: the first pass always waits one more round (the frame that staged this
      // message has just asked for the next one).
      asio::post(io, [self = shared_from_this()] { self->commit_pass(0); });
    }
  }

  void commit_pass(size_t seen) {
    if (!commit_scheduled) return;  // a commit ran in between
    size_t staged = bus.archive_staged();
    if (staged > seen && staged < max_batch_messages && !stopped) {
      asio::post(io, [self = shared_from_this(), staged] { self->commit_pass(staged); });
      return;
    }
    commit_archive();
  }

  // Writes what is staged and sends the receipts that waited for it.
  void commit_archive() {
    commit_scheduled = false;
    bus.commit_archive();  // a failed write is logged and counted; the messages were delivered
    auto receipts = std::move(held_receipts);
    held_receipts.clear();
    for (auto& [session, receipt] : receipts) session->send(std::move(receipt));
  }

  static std::string to_hex(uint8_t b) {
    static constexpr char hex[] = "0123456789abcdef";
    return {hex[b >> 4], hex[b & 15]};
  }
};

local_api::local_api(asio::io_context& io, local_api_options options, message_bus& bus)
    : impl_(std::make_shared<impl>(io, std::move(options), bus)) {}

local_api::~local_api() {
  stop();
}

void local_api::start() {
  for (const auto& address : impl_->options.bind) impl_->listen(address);
}

void local_api::listen_also(const std::string& address) {
  impl_->listen(address);
}

void local_api::stop() {
  impl_->stopped = true;
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ec;
    a->close(ec);
  }
  for (auto& [_, set] : impl_->control_sockets) {
    for (auto& s : set) {
      s->closed = true;
      beast::get_lowest_layer(s->ws).close();
    }
  }
  for (auto& [_, s] : impl_->message_sockets) {
    s->closed = true;
    beast::get_lowest_layer(s->ws).close();
  }
}

int local_api::port() const {
  return impl_->bound_port;
}

void local_api::set_microservices(
    std::map<std::string, std::pair<std::string, std::string>> configs) {
  impl_->token_owner.clear();
  for (const auto& [uuid, ct] : configs) impl_->token_owner[ct.second] = uuid;
  impl_->microservices = std::move(configs);
}

void local_api::set_edge_resources(json::array resources) {
  impl_->edge_resources = std::move(resources);
}

void local_api::notify_config_changed(const std::string& uuid) {
  auto it = impl_->control_sockets.find(uuid);
  if (it == impl_->control_sockets.end()) return;
  for (const auto& s : it->second) s->signal(op_config_changed);
}

void local_api::notify_edge_resources_changed() {
  for (auto& [_, set] : impl_->control_sockets) {
    for (const auto& s : set) s->signal(op_edge_resources);
  }
}

}  // namespace fogmesh::agent
