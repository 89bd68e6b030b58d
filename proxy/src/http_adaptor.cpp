// httpListener / httpConnector inside the router (README.md "HTTP mapping").
//
// Listener: one http_client per accepted connection drives an http_listener_connection (the
// transport-agnostic state machine) and gives it its AMQP side: a sender to the listener's
// address carrying the requests in order, and a dynamic receiver for the responses.
//
// Connector: a few receivers on the address take request deliveries; each becomes an exchange
// that is written (message_to_http) to a pooled keep-alive connection to the target, one
// request at a time per connection; the response is parsed and sent back to the request's
// reply-to on that connection's own anonymous sender (a response body streams, and a link
// carries one streaming delivery at a time). The adaptor answers 502 itself when the target
// cannot be reached and 504 when it does not answer in time.
//
// HTTP Upgrade (WebSocket) and CONNECT leave the HTTP mapping: once the answers owed before the
// upgrade request are written, the client socket becomes the listener side of a TCP bridge
// (tcp_bridge.hpp, kind http-upgrade/1) to the same address; the httpConnector recognises the
// bridge's connect request among its requests and opens a raw connection to its target, which
// then sees the upgrade request itself and everything after it, byte for byte.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "adaptor_io.hpp"
#include "adaptors_internal.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/proxy/http_listener_connection.hpp"
#include "fogmesh/proxy/http_mapping.hpp"
#include "fogmesh/proxy/http_parser.hpp"
#include "fogmesh/proxy/tcp_mapping.hpp"
#include "routing/local_endpoint.hpp"
#include "server/shard.hpp"
#include "tcp_bridge.hpp"

namespace fogmesh::proxy::adaptor {

namespace {

namespace amqp = fogmesh::router::amqp;
using router::link;
using router::local_endpoint;
using clock_type = std::chrono::steady_clock;

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.adaptor.http");
  return l;
}

constexpr std::size_t unsent_limit = 256 * 1024;
constexpr std::size_t request_buffer_limit = 256 * 1024;
// The connector answers 504 before the listener's own 60 s timeout would.
constexpr auto target_timeout = std::chrono::seconds(50);
constexpr std::size_t max_target_connections = 256;  // per connector, per shard
constexpr std::uint32_t request_links = 4;
constexpr std::uint32_t request_credit = 16;

amqp::delivery_state state_for(delivery_outcome o) {
  using kind = amqp::delivery_state::kind;
  switch (o) {
    case delivery_outcome::accepted: return make_state(kind::accepted);
    case delivery_outcome::rejected: return make_state(kind::rejected);
    case delivery_outcome::released: return make_state(kind::released);
    case delivery_outcome::modified: {
      auto s = make_state(kind::modified);
      s.delivery_failed = true;
      return s;
    }
  }
  return make_state(kind::released);
}

bytes_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct http_context {
  router::shard& shard;
  local_endpoint& ep;
  socket_graveyard graveyard;
  std::string name;
  std::string address;
  // HTTP Upgrade/CONNECT: the connection becomes a TCP stream of kind http-upgrade/1.
  bridge_set* tunnels = nullptr;
};

// ============================================================================================
// Listener side
// ============================================================================================

class http_client final : private http_listener_amqp_side,
                          private local_endpoint::handler,
                          private stream_socket::handler {
 public:
  http_client(http_context& ctx, int fd)
      : ctx_(ctx),
        sock_(std::make_unique<stream_socket>(ctx.shard.loop(), fd,
                                              static_cast<stream_socket::handler*>(this))) {
    amqp::error err;
    responses_ = ctx_.ep.open_receiver("", *this, 32, true, &err);
    if (responses_ != nullptr) requests_ = ctx_.ep.open_sender(ctx_.address, *this, &err);
    conn_ = std::make_unique<http_listener_connection>(
        static_cast<http_listener_amqp_side&>(*this), http_listener_options{}, clock_type::now());
    if (requests_ == nullptr) {
      logger()->warn("{}: cannot attach to '{}': {}", ctx_.name, ctx_.address, err.description);
      conn_->on_amqp_lost();
    }
    service();
  }
  ~http_client() {
    conn_.reset();  // settles/aborts through us, then connection_closed()
    close_links();
    if (sock_) {
      sock_->close(true);
      ctx_.graveyard.bury(std::move(sock_));
    }
  }

  bool dead() const noexcept { return dead_; }
  void tick() {
    if (dead_) return;
    conn_->on_tick(clock_type::now());
    service();
  }
  void stop() {
    if (dead_) return;
    finish(true);
  }

 private:
  struct piece {
    std::uint64_t request = 0;
    bool first = false, last = false;
    byte_buffer bytes;
  };

  // Moves output to the socket, applies back-pressure, ends the connection when it is done.
  void service() {
    if (dead_ || in_service_) return;
    in_service_ = true;
    pump_requests();
    pump_responses();
    auto out = conn_->pending_output();
    if (!out.empty() && sock_->unsent() < unsent_limit) {
      sock_->write(out);
      if (dead_) return;
      conn_->consume_output(out.size());
    }
    if (tunnel_bytes_) {
      in_service_ = false;
      return hand_over_to_tunnel();
    }
    if (conn_->should_close() && conn_->pending_output().empty() && sock_->unsent() == 0) {
      in_service_ = false;
      return finish(false);
    }
    sock_->set_reading(conn_->wants_input() && !sock_->eof());
    in_service_ = false;
  }

  // The upgrade request (and whatever the client sent after it) goes to the target as the
  // start of a TCP stream; the socket, with every answer owed before it, goes to the bridge.
  void hand_over_to_tunnel() {
    auto out = conn_->pending_output();
    if (!out.empty()) {
      sock_->write(out);
      conn_->consume_output(out.size());
    }
    dead_ = true;
    if (ctx_.tunnels == nullptr || !sock_) return finish(true);
    ctx_.tunnels->add_client(std::move(sock_), std::move(*tunnel_bytes_));
    tunnel_bytes_.reset();
  }

  void finish(bool reset) {
    if (dead_) return;
    dead_ = true;
    if (sock_) {
      sock_->close(reset);
      ctx_.graveyard.bury(std::move(sock_));
    }
  }

  void close_links() {
    if (requests_ != nullptr) ctx_.ep.close(*std::exchange(requests_, nullptr));
    if (responses_ != nullptr) ctx_.ep.close(*std::exchange(responses_, nullptr));
  }

  void pump_requests() {
    while (requests_ != nullptr && !queue_.empty()) {
      piece& p = queue_.front();
      if (p.first) {
        if (!ctx_.ep.can_start(*requests_)) return;
        const std::uint32_t id = ctx_.ep.send(*requests_, p.bytes, true, !p.last, false);
        by_delivery_[id] = p.request;
        if (!p.last) in_progress_ = p.request;
      } else {
        if (!ctx_.ep.window_open(*requests_)) return;
        ctx_.ep.send(*requests_, p.bytes, false, !p.last, false);
        if (p.last) in_progress_ = 0;
      }
      queued_bytes_ -= p.bytes.size();
      queue_.pop_front();
    }
    if (blocked_ && can_send_request_bytes()) {
      blocked_ = false;
      conn_->on_request_capacity(clock_type::now());
    }
  }

  void pump_responses() {
    if (responses_ == nullptr) return;
    auto& q = ctx_.ep.incoming(*responses_);
    while (!q.empty() && !dead_) {
      auto& d = q.front();
      const std::uint64_t token = d.id;
      if (d.aborted) {
        q.pop_front();
        conn_->on_response_aborted(token);
        continue;
      }
      if (!conn_->wants_response_data()) break;
      if (d.bytes.empty() && !d.complete) break;
      byte_buffer bytes = std::move(d.bytes);
      d.bytes.clear();
      const bool complete = d.complete;
      if (complete) q.pop_front();
      conn_->on_response(token, bytes, complete);
      if (!complete) break;
    }
    if (responses_ != nullptr) {
      ctx_.ep.consumed(*responses_);
      if (responses_->credit < 16) ctx_.ep.set_credit(*responses_, 32);
    }
  }

  // ---- http_listener_amqp_side -----------------------------------------------------------

  std::string_view reply_address() const override {
    return responses_ != nullptr ? std::string_view(responses_->address) : std::string_view();
  }
  std::uint64_t allocate_request_id() override { return ++next_request_; }
  void begin_request(std::uint64_t id, bytes_view bytes, bool last) override {
    queue_.push_back({id, true, last, byte_buffer(bytes.begin(), bytes.end())});
    queued_bytes_ += bytes.size();
    if (!can_send_request_bytes()) blocked_ = true;
  }
  void continue_request(std::uint64_t id, bytes_view bytes, bool last) override {
    queue_.push_back({id, false, last, byte_buffer(bytes.begin(), bytes.end())});
    queued_bytes_ += bytes.size();
    if (!can_send_request_bytes()) blocked_ = true;
  }
  void abort_request(std::uint64_t id) override {
    // Pieces not sent yet are dropped; a delivery already started is aborted.
    const bool started = in_progress_ == id;
    std::erase_if(queue_, [&](const piece& p) {
      if (p.request != id) return false;
      queued_bytes_ -= p.bytes.size();
      return true;
    });
    if (started && requests_ != nullptr) {
      ctx_.ep.abort(*requests_);
      in_progress_ = 0;
    }
  }
  bool can_send_request_bytes() const override {
    return requests_ != nullptr && queued_bytes_ < request_buffer_limit &&
           ctx_.ep.window_open(*requests_);
  }
  void settle_response(std::uint64_t token, delivery_outcome outcome) override {
    if (responses_ != nullptr) {
      ctx_.ep.settle(*responses_, static_cast<std::uint32_t>(token), state_for(outcome));
    }
  }
  // Upgrade / CONNECT: taken over by a bridge at the end of this service() turn, before the
  // socket reads anything more (so tunnel_data/end_tunnel never come: the bridge reads).
  void begin_tunnel(bytes_view initial) override {
    tunnel_bytes_.emplace(reinterpret_cast<const char*>(initial.data()), initial.size());
  }
  void tunnel_data(bytes_view) override {}
  void end_tunnel() override {}
  void connection_closed() override { close_links(); }

  // ---- local_endpoint::handler ---------------------------------------------------------------

  void on_readable(link&) override { service(); }
  void on_sendable(link&) override {
    blocked_ = true;  // re-check capacity in pump_requests
    service();
  }
  void on_outcome(link&, std::uint32_t id, const amqp::delivery_state& state,
                  bool settled) override {
    if (!settled || dead_) return;
    auto it = by_delivery_.find(id);
    if (it == by_delivery_.end()) return;
    const std::uint64_t request = it->second;
    by_delivery_.erase(it);
    using kind = amqp::delivery_state::kind;
    delivery_outcome o = delivery_outcome::accepted;
    switch (state.type) {
      case kind::rejected: o = delivery_outcome::rejected; break;
      case kind::released: o = delivery_outcome::released; break;
      case kind::modified: o = delivery_outcome::modified; break;
      default: break;
    }
    conn_->on_request_outcome(request, o);
    service();
  }
  void on_detached(link&, const amqp::error*) override {
    if (dead_) return;
    conn_->on_amqp_lost();
    service();
  }

  // ---- stream_socket::handler ----------------------------------------------------------------

  void on_socket_data(std::span<const std::uint8_t> data) override {
    conn_->on_client_data(data, clock_type::now());
    service();
  }
  void on_socket_eof() override {
    conn_->on_client_eof();
    service();
  }
  void on_socket_error(int, bool) override {
    conn_->on_client_eof();
    finish(true);
  }
  void on_socket_writable() override { service(); }

  http_context& ctx_;
  std::unique_ptr<stream_socket> sock_;
  link* requests_ = nullptr;
  link* responses_ = nullptr;
  std::deque<piece> queue_;
  std::size_t queued_bytes_ = 0;
  std::map<std::uint32_t, std::uint64_t> by_delivery_;  // request delivery id -> request id
  std::uint64_t in_progress_ = 0;
  std::uint64_t next_request_ = 0;
  bool blocked_ = false;
  std::optional<std::string> tunnel_bytes_;  // set by begin_tunnel
  bool in_service_ = false;
  bool dead_ = false;
  std::unique_ptr<http_listener_connection> conn_;  // last: destroyed first
};

class http_listener final : public router::adaptor_instance {
 public:
  http_listener(router::shard& s, const router::generic_entity& e)
      : ctx_{s, s.make_endpoint(attribute(e, "name")), {}, attribute(e, "name"),
             attribute(e, "address")},
        tunnels_(s, ctx_.ep, ctx_.name, ctx_.address, tcp::kind_http_upgrade) {
    ctx_.tunnels = &tunnels_;
    accept_ = std::make_unique<accept_socket>(
        s.loop(), "httpListener '" + ctx_.name + "'", attribute(e, "host"), attribute(e, "port"),
        [this](int fd) {
          if (stopped_) {
            ::close(fd);
            return;
          }
          clients_.push_back(std::make_unique<http_client>(ctx_, fd));
        });
    if (s.index() == 0) {
      logger()->info("httpListener '{}' accepting on {}:{} for address '{}'", ctx_.name,
                     attribute(e, "host", "*"), accept_->port(), ctx_.address);
    }
  }
  ~http_listener() override {
    accept_.reset();
    clients_.clear();
  }
  void tick() override {
    for (auto& c : clients_) c->tick();
    std::erase_if(clients_, [](const std::unique_ptr<http_client>& c) { return c->dead(); });
    ctx_.graveyard.reap();
    tunnels_.tick();
  }
  void stop() override {
    stopped_ = true;
    accept_->stop();
    for (auto& c : clients_) c->stop();
    tunnels_.stop();
  }

 private:
  http_context ctx_;
  bridge_set tunnels_;
  std::unique_ptr<accept_socket> accept_;
  std::list<std::unique_ptr<http_client>> clients_;
  bool stopped_ = false;
};

// ============================================================================================
// Connector side
// ============================================================================================

class http_connector;

// One request being served: from its delivery on a request link to its settlement.
struct exchange {
  link* request_link = nullptr;
  std::uint32_t delivery = 0;
  message_to_http converter;
  std::string http;           // request bytes not yet written to the target
  bool request_complete = false;  // every byte of the delivery was converted
  bool fed_complete = false;      // the converter saw the end of the message
  bool aborted = false;
  bool settled = false;
  std::string reply_to;
  message_id correlation;
  http::request_kind kind = http::request_kind::normal;
  bool has_properties = false;
  explicit exchange(http_output_options o)
      : converter(message_to_http::kind::request, std::move(o)) {}
};

class target_connection final : private stream_socket::handler,
                                private local_endpoint::handler,
                                private http::parser_handler {
 public:
  target_connection(http_connector& owner, const target_address& t, int fd);
  ~target_connection() override;

  bool idle() const noexcept { return !dead_ && ex_ == nullptr && ready_; }
  bool connecting() const noexcept { return !dead_ && !ready_; }
  bool dead() const noexcept { return dead_; }
  void assign(std::shared_ptr<exchange> ex);
  void pump();  // writes request bytes that became available
  void tick(clock_type::time_point now);
  void fail(const std::string& reason);

 private:
  void on_socket_data(std::span<const std::uint8_t> data) override;
  void on_socket_eof() override;
  void on_socket_error(int err, bool connecting) override;
  void on_socket_writable() override;
  void on_sendable(link&) override;
  void on_detached(link&, const amqp::error*) override { fail("response link detached"); }
  http::parse_action on_head(const http::message_head& head) override;
  http::parse_action on_body(http::bytes_view data) override;
  http::parse_action on_complete() override;
  void parse_held();
  void send_response_bytes(bool last);
  void done_with_exchange();
  bool ctx_window_open() const;

  http_connector& owner_;
  std::unique_ptr<stream_socket> sock_;
  link* sender_ = nullptr;
  std::shared_ptr<exchange> ex_;
  http::parser parser_{http::parser::mode::response};
  std::optional<body_encoder> body_;
  byte_buffer msg_;
  std::string held_;  // target bytes read while the response link had no room
  bool ready_ = false, dead_ = false;
  bool informational_ = false;     // a 1xx response: skipped, the real one follows
  bool response_started_ = false;  // head parsed
  bool first_sent_ = false, last_pending_ = false, last_sent_ = false;
  bool keep_alive_ = true;
  clock_type::time_point since_;
};

class http_connector final : public router::adaptor_instance, private local_endpoint::handler {
 public:
  http_connector(router::shard& s, const router::generic_entity& e)
      : ctx_{s, s.make_endpoint(attribute(e, "name")), {}, attribute(e, "name"),
             attribute(e, "address")},
        tunnels_(s, ctx_.ep, ctx_.name, ctx_.address, tcp::kind_http_upgrade),
        host_(attribute(e, "host", "localhost")),
        port_(attribute(e, "port")) {
    ctx_.tunnels = &tunnels_;
    options_.host_header = host_ + ":" + port_;
    if (auto h = attribute(e, "hostOverride"); !h.empty()) {
      options_.host_header = h;
      options_.host_override = true;
    }
    std::string error;
    target_ = resolve_target(host_, port_, error);
    if (!target_) logger()->warn("httpConnector '{}': {} (retried per request)", ctx_.name, error);
    amqp::error err;
    errors_ = ctx_.ep.open_sender("", *this, &err);
    for (std::uint32_t i = 0; i < request_links && errors_ != nullptr; ++i) {
      if (link* l = ctx_.ep.open_receiver(ctx_.address, *this, request_credit, false, &err)) {
        links_.push_back({l, nullptr});
      }
    }
    if (links_.empty()) {
      throw std::runtime_error("cannot consume address '" + ctx_.address + "': " + err.description);
    }
    if (s.index() == 0) {
      logger()->info("httpConnector '{}': address '{}' -> {}:{}", ctx_.name, ctx_.address, host_,
                     port_);
    }
  }
  ~http_connector() override {
    tunnels_.stop();  // they may still settle connect requests on links_
    waiting_.clear();
    conns_.clear();
    for (auto& rl : links_) ctx_.ep.close(*rl.l);
    if (errors_ != nullptr) ctx_.ep.close(*errors_);
  }

  void tick() override {
    const auto now = clock_type::now();
    for (auto& c : conns_) c->tick(now);
    reap();
    ctx_.graveyard.reap();
    tunnels_.tick();
  }
  void stop() override {
    stopped_ = true;
    for (auto& c : conns_) c->fail("router shutting down");
    tunnels_.stop();
  }

  http_context& ctx() noexcept { return ctx_; }

  // A generated answer (502, 504) to the request's reply-to, and the request settled.
  void answer(exchange& ex, int status, std::string_view detail) {
    if (ex.settled) return;
    bool sent = false;
    if (ex.has_properties && !ex.reply_to.empty() && errors_ != nullptr) {
      std::string body(http::reason_phrase(status));
      body += "\n";
      body += detail;
      body += "\n";
      http::header_field headers[] = {{"content-type", "text/plain"}};
      http::message_head head;
      head.is_request = false;
      head.status = status;
      head.headers = headers;
      head.framing = http::body_framing::content_length;
      head.content_length = body.size();
      byte_buffer m;
      append_response_head(m, head, {ex.reply_to, ex.correlation, std::nullopt});
      body_encoder enc(body.size());
      enc.append(as_bytes(body), m);
      (void)enc.finish(m);
      // Small and complete: the shared sender is never held by a stream. Without credit
      // (nobody to answer to) the request's outcome alone tells the listener.
      if (ctx_.ep.can_start(*errors_)) {
        ctx_.ep.send(*errors_, m, true, false, true);
        sent = true;
      }
    }
    // Accepted when the generated response is the answer (a failure outcome could overtake it
    // and make the listener answer 502 instead); without one, the failure tells the listener.
    settle(ex, sent ? delivery_outcome::accepted : delivery_outcome::modified);
  }

  void settle(exchange& ex, delivery_outcome o) {
    if (ex.settled) return;
    ex.settled = true;
    if (ex.request_link != nullptr) ctx_.ep.settle(*ex.request_link, ex.delivery, state_for(o));
  }

  // A target connection finished its exchange (or connected): give it the next waiting one.
  void connection_free() { dispatch(); }
  // A connection wrote its exchange's request bytes: convert more of the delivery.
  void request_room(link* l) {
    if (l == nullptr || in_readable_) return;
    if (std::none_of(links_.begin(), links_.end(), [&](auto& rl) { return rl.l == l; })) return;
    on_readable(*l);
  }

 private:
  struct request_link {
    link* l;
    std::shared_ptr<exchange> current;  // delivery at the front of the link, being read
  };

  std::unique_ptr<target_connection> connect() {
    if (!target_) {
      std::string error;
      target_ = resolve_target(host_, port_, error);
      if (!target_) return nullptr;
    }
    const int fd = make_client_socket(*target_);
    if (fd < 0) return nullptr;
    return std::make_unique<target_connection>(*this, *target_, fd);
  }

  void dispatch() {
    while (!waiting_.empty() && !stopped_) {
      target_connection* free = nullptr;
      std::size_t connecting = 0, live = 0;
      for (auto& c : conns_) {
        if (c->dead()) continue;
        ++live;
        if (c->connecting()) ++connecting;
        if (free == nullptr && c->idle()) free = c.get();
      }
      if (free != nullptr) {
        auto ex = waiting_.front();
        waiting_.pop_front();
        free->assign(std::move(ex));
        continue;
      }
      // Enough connects under way for what waits, or the pool is full: wait for one.
      if (connecting >= waiting_.size() || live >= max_target_connections) return;
      auto c = connect();
      if (!c) {
        auto ex = waiting_.front();
        waiting_.pop_front();
        answer(*ex, 502, "cannot reach the target " + host_ + ":" + port_);
        continue;
      }
      conns_.push_back(std::move(c));
    }
  }

 public:
  void connect_failed(const std::string& reason) {
    // Every waiting request gets 502 at once: the target is not reachable now.
    while (!waiting_.empty()) {
      auto ex = waiting_.front();
      waiting_.pop_front();
      answer(*ex, 502, reason);
    }
  }

 private:
  void reap() {
    std::erase_if(conns_, [](const std::unique_ptr<target_connection>& c) { return c->dead(); });
  }

  void on_readable(link& l) override {
    auto it = std::find_if(links_.begin(), links_.end(), [&](auto& rl) { return rl.l == &l; });
    if (it == links_.end() || in_readable_) return;
    in_readable_ = true;
    auto& q = ctx_.ep.incoming(l);
    while (!q.empty()) {
      auto& d = q.front();
      if (!it->current && is_tunnel_request(d)) {
        auto request = std::move(d);
        q.pop_front();
        if (request.aborted) continue;
        std::string error;
        if (!target_) target_ = resolve_target(host_, port_, error);
        tunnels_.accept_request(l, request, target_ ? &*target_ : nullptr, error);
        continue;
      }
      if (!it->current) {
        it->current = std::make_shared<exchange>(options_);
        it->current->request_link = &l;
        it->current->delivery = d.id;
        if (d.presettled) it->current->settled = true;
        waiting_.push_back(it->current);
      }
      exchange& ex = *it->current;
      if (d.aborted) {
        ex.aborted = true;
        ex.request_complete = true;
        std::erase(waiting_, it->current);  // not worth a target connection any more
        q.pop_front();
        it->current.reset();
        continue;
      }
      // Convert while the exchange holds little unwritten: the rest waits in the link.
      const bool feed = !d.bytes.empty() ? ex.http.size() < request_buffer_limit
                                         : d.complete && !ex.fed_complete;
      if (feed) {
        auto r = ex.converter.feed(d.bytes, d.complete, ex.http);
        d.bytes.clear();
        if (d.complete) ex.fed_complete = true;
        if (!ex.has_properties && ex.converter.has_properties()) {
          ex.has_properties = true;
          ex.reply_to = ex.converter.reply_to();
          ex.correlation = ex.converter.correlation_id();
          ex.kind = http::kind_of_method(ex.converter.subject());
        }
        if (!r) {
          logger()->info("httpConnector '{}': cannot map a request: {}", ctx_.name,
                         r.error().message());
          ex.aborted = true;
          ex.request_complete = true;
          settle(ex, delivery_outcome::rejected);
          std::erase(waiting_, it->current);
          if (!d.complete) break;  // the rest of it is discarded as it arrives
          q.pop_front();
          it->current.reset();
          continue;
        }
      }
      if (d.complete && ex.fed_complete) {
        ex.request_complete = true;
        q.pop_front();
        it->current.reset();
        continue;
      }
      break;
    }
    ctx_.ep.consumed(l);
    if (l.credit < request_credit / 2) ctx_.ep.set_credit(l, request_credit);
    dispatch();
    for (std::size_t i = 0; i < conns_.size(); ++i) conns_[i]->pump();
    in_readable_ = false;
  }
  // A tunnel's connect request (an HTTP Upgrade/CONNECT from an httpListener) rather than an
  // HTTP request: a small complete stream head of kind http-upgrade/1. (It arrives in one
  // transfer; the search for the stream key keeps the full check off ordinary requests.)
  static bool is_tunnel_request(const local_endpoint::incoming_delivery& d) {
    const std::string_view key = tcp::stream_key;
    if (!d.complete || d.aborted || d.bytes.size() > 4096 ||
        std::search(d.bytes.begin(), d.bytes.end(), key.begin(), key.end()) == d.bytes.end()) {
      return false;
    }
    tcp::stream_reader reader;
    std::string payload;
    return reader.feed(d.bytes, true, payload) && reader.kind() == tcp::kind_http_upgrade;
  }

  void on_detached(link& l, const amqp::error* err) override {
    logger()->warn("httpConnector '{}': link detached{}", ctx_.name,
                   err != nullptr ? ": " + err->description : "");
    if (&l == errors_) {
      ctx_.ep.close(*std::exchange(errors_, nullptr));
      return;
    }
    tunnels_.forget_request_link();
    std::erase_if(links_, [&](request_link& rl) {
      if (rl.l != &l) return false;
      ctx_.ep.close(l);
      return true;
    });
  }

  http_context ctx_;
  bridge_set tunnels_;
  std::string host_, port_;
  http_output_options options_;
  std::optional<target_address> target_;
  link* errors_ = nullptr;
  std::vector<request_link> links_;
  std::deque<std::shared_ptr<exchange>> waiting_;
  std::vector<std::unique_ptr<target_connection>> conns_;
  bool stopped_ = false;
  bool in_readable_ = false;

  friend class target_connection;
};

// ---- target_connection ----------------------------------------------------------------------

target_connection::target_connection(http_connector& owner, const target_address& t, int fd)
    : owner_(owner), since_(clock_type::now()) {
  sock_ = std::make_unique<stream_socket>(owner_.ctx().shard.loop(), fd,
                                          static_cast<stream_socket::handler*>(this));
  sock_->connect(reinterpret_cast<const sockaddr*>(&t.addr), t.len);
}

target_connection::~target_connection() { fail("connector closing"); }

void target_connection::assign(std::shared_ptr<exchange> ex) {
  ex_ = std::move(ex);
  since_ = clock_type::now();
  informational_ = response_started_ = first_sent_ = last_pending_ = last_sent_ = false;
  body_.reset();
  msg_.clear();
  parser_.expect_response(ex_->kind);
  sock_->set_reading(true);
  pump();
}

void target_connection::pump() {
  if (dead_ || !ex_) return;
  if (ex_->aborted) return fail("the request was aborted");
  if (!ex_->http.empty() && sock_->unsent() < unsent_limit) {
    since_ = clock_type::now();  // 504 counts from the last request byte, not the first
    sock_->write(ex_->http);
    if (dead_) return;
    ex_->http.clear();
    if (!ex_->request_complete) owner_.request_room(ex_->request_link);
  }
}

void target_connection::tick(clock_type::time_point now) {
  if (dead_) return;
  if (!ready_ && now - since_ > std::chrono::seconds(10)) {
    dead_ = true;  // fail() would answer an exchange we do not have
    sock_->close(true);
    owner_.ctx().graveyard.bury(std::move(sock_));
    owner_.connect_failed("connect to the target timed out");
    return;
  }
  if (ex_ && !response_started_ && now - since_ > target_timeout) {
    owner_.answer(*ex_, 504, "the target did not answer in time");
    fail("response timeout");
  }
}

void target_connection::fail(const std::string& reason) {
  if (dead_) return;
  dead_ = true;
  if (ex_ && !ex_->settled) {
    if (first_sent_ && !last_sent_) {
      owner_.ctx().ep.abort(*sender_);  // the listener closes its client: partial response
      owner_.settle(*ex_, delivery_outcome::modified);
    } else if (!first_sent_) {
      owner_.answer(*ex_, 502, reason);
    }
  }
  const bool in_flight = ex_ != nullptr;
  ex_.reset();
  if (sender_ != nullptr) owner_.ctx().ep.close(*std::exchange(sender_, nullptr));
  if (sock_) {
    sock_->close(in_flight);  // an idle keep-alive connection ends cleanly
    owner_.ctx().graveyard.bury(std::move(sock_));
  }
}

void target_connection::on_socket_writable() {
  if (!ready_) {
    ready_ = true;
    amqp::error err;
    sender_ = owner_.ctx().ep.open_sender("", *this, &err);
    if (sender_ == nullptr) {
      dead_ = true;
      sock_->close(true);
      owner_.ctx().graveyard.bury(std::move(sock_));
      return;
    }
    owner_.connection_free();
    return;
  }
  pump();
}

void target_connection::on_socket_error(int err, bool connecting) {
  if (connecting) {
    dead_ = true;
    sock_->close(true);
    owner_.ctx().graveyard.bury(std::move(sock_));
    owner_.connect_failed(std::string("cannot connect to the target: ") + std::strerror(err));
    return;
  }
  fail(std::string("target connection failed: ") + std::strerror(err));
}

void target_connection::on_socket_eof() {
  if (ex_ && response_started_) {
    parser_.finish(*this);  // ends a read-until-close body
  }
  if (ex_ && !last_sent_ && !last_pending_) return fail("the target closed the connection");
  if (!ex_) {
    fail("closed by the target");
  } else {
    keep_alive_ = false;
  }
}

void target_connection::on_socket_data(std::span<const std::uint8_t> data) {
  if (dead_) return;
  if (!ex_) return fail("unexpected bytes from the target");
  if (!held_.empty() || last_pending_) {
    held_.append(reinterpret_cast<const char*>(data.data()), data.size());
    sock_->set_reading(false);
    return;
  }
  const std::size_t n = parser_.parse(data, *this);
  if (dead_) return;
  if (parser_.error()) return fail("bad response from the target: " + parser_.error().message());
  if (n < data.size()) {
    held_.append(reinterpret_cast<const char*>(data.data() + n), data.size() - n);
    sock_->set_reading(false);
  }
}

void target_connection::parse_held() {
  while (!dead_ && ex_ && !held_.empty() && !last_pending_) {
    const std::size_t n = parser_.parse(as_bytes(held_), *this);
    if (dead_) return;
    if (parser_.error()) return fail("bad response from the target: " + parser_.error().message());
    if (n == 0) return;
    held_.erase(0, n);
  }
  if (!dead_ && ex_ && held_.empty()) sock_->set_reading(true);
}

void target_connection::on_sendable(link&) {
  if (dead_ || !ex_) return;
  if (!msg_.empty() || last_pending_) send_response_bytes(last_pending_);
  if (!dead_) parse_held();
}

http::parse_action target_connection::on_head(const http::message_head& head) {
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    informational_ = true;  // 100 Continue etc.: not forwarded
    return http::parse_action::proceed;
  }
  if (head.upgrade) {
    fail("the target switched protocols (not supported by httpConnector)");
    return http::parse_action::pause;
  }
  response_started_ = true;
  keep_alive_ = head.keep_alive;
  msg_.clear();
  append_response_head(msg_, head, {ex_->reply_to, ex_->correlation, std::nullopt});
  std::optional<std::uint64_t> length;
  if (head.framing == http::body_framing::content_length) length = head.content_length;
  if (head.framing == http::body_framing::none) length = 0;
  body_.emplace(length);
  return http::parse_action::proceed;
}

http::parse_action target_connection::on_body(http::bytes_view data) {
  if (informational_ || !body_) return http::parse_action::proceed;
  body_->append(data, msg_);
  send_response_bytes(false);
  if (dead_) return http::parse_action::pause;
  const bool room = msg_.size() < 64 * 1024 && ctx_window_open();
  return room ? http::parse_action::proceed : http::parse_action::pause;
}

http::parse_action target_connection::on_complete() {
  if (informational_) {
    informational_ = false;
    parser_.expect_response(ex_->kind);  // the final response is still to come
    return http::parse_action::proceed;
  }
  if (body_) {
    if (auto r = body_->finish(msg_); !r) {
      fail("response body: " + r.error().message());
      return http::parse_action::pause;
    }
  }
  send_response_bytes(true);
  return http::parse_action::pause;  // one response per exchange
}

bool target_connection::ctx_window_open() const {
  return sender_ != nullptr && owner_.ctx().ep.window_open(*sender_);
}

void target_connection::send_response_bytes(bool last) {
  auto& ep = owner_.ctx().ep;
  if (sender_ == nullptr) return;
  if (!first_sent_) {
    if (!ep.can_start(*sender_)) {
      last_pending_ = last_pending_ || last;
      return;
    }
    ep.send(*sender_, msg_, true, !last, true);
    first_sent_ = true;
  } else {
    if (msg_.empty() && !last) return;
    if (!ep.window_open(*sender_)) {
      last_pending_ = last_pending_ || last;
      return;
    }
    ep.send(*sender_, msg_, false, !last, true);
  }
  msg_.clear();
  if (last) {
    last_pending_ = false;
    last_sent_ = true;
    done_with_exchange();
  }
}

void target_connection::done_with_exchange() {
  owner_.settle(*ex_, delivery_outcome::accepted);
  const bool reusable = keep_alive_ && ex_->request_complete && ex_->http.empty() &&
                        held_.empty() && !sock_->eof();
  ex_.reset();
  if (!reusable) {
    dead_ = true;
    if (sender_ != nullptr) owner_.ctx().ep.close(*std::exchange(sender_, nullptr));
    sock_->close(false);
    owner_.ctx().graveyard.bury(std::move(sock_));
    return;
  }
  sock_->set_reading(true);  // an idle keep-alive connection notices the server closing
  owner_.connection_free();
}

}  // namespace

std::unique_ptr<router::adaptor_instance> make_http_listener(router::shard& s,
                                                             const router::generic_entity& e) {
  return std::make_unique<http_listener>(s, e);
}

std::unique_ptr<router::adaptor_instance> make_http_connector(router::shard& s,
                                                              const router::generic_entity& e) {
  return std::make_unique<http_connector>(s, e);
}

}  // namespace fogmesh::proxy::adaptor
