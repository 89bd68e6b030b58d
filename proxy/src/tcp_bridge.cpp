#include "tcp_bridge.hpp"

#include <chrono>
#include <cstring>
#include <string>

#include "fogmesh/common/log.hpp"
#include "fogmesh/proxy/tcp_mapping.hpp"
#include "server/shard.hpp"

namespace fogmesh::proxy::adaptor {

namespace {

namespace amqp = fogmesh::router::amqp;
using router::link;
using router::local_endpoint;
using clock_type = std::chrono::steady_clock;

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.adaptor.tcp");
  return l;
}

constexpr std::size_t stash_limit = 64 * 1024;      // client bytes held before the stream runs
constexpr std::size_t unsent_limit = 256 * 1024;    // socket output held per connection
constexpr std::size_t feed_chunk = 64 * 1024;
constexpr auto connect_timeout = std::chrono::seconds(30);

}  // namespace

// One side of one proxied TCP connection (see the file comment).
class tcp_bridge final : private stream_socket::handler, private local_endpoint::handler {
 public:
  enum class role { listener, connector };

  // Listener side: a client socket (bytes already read from it in `initial_bytes`).
  tcp_bridge(bridge_context& ctx, std::unique_ptr<stream_socket> socket, std::string initial_bytes,
             message_id stream_id)
      : ctx_(ctx), role_(role::listener), stream_id_(std::move(stream_id)),
        started_(clock_type::now()), sock_(std::move(socket)), stash_(std::move(initial_bytes)) {
    sock_->set_handler(static_cast<stream_socket::handler*>(this));
    if (!open_links()) return;
    pump_out();
  }

  // Connector side: a connect request (delivery `request_id` on `request_link`).
  tcp_bridge(bridge_context& ctx, link& request_link, std::uint32_t request_id,
             std::string reply_to, message_id stream_id, const target_address& target)
      : ctx_(ctx), role_(role::connector), stream_id_(std::move(stream_id)),
        peer_address_(std::move(reply_to)), request_link_(&request_link),
        request_id_(request_id), started_(clock_type::now()) {
    const int fd = make_client_socket(target);
    if (fd < 0) {
      refuse_request(std::string("cannot create a socket: ") + std::strerror(errno));
      return;
    }
    sock_ = std::make_unique<stream_socket>(ctx_.shard.loop(), fd, static_cast<stream_socket::handler*>(this));
    sock_->connect(reinterpret_cast<const sockaddr*>(&target.addr), target.len);
  }

  ~tcp_bridge() { fail("adaptor stopped"); }
  tcp_bridge(const tcp_bridge&) = delete;
  tcp_bridge& operator=(const tcp_bridge&) = delete;

  bool dead() const noexcept { return dead_; }

  void tick(clock_type::time_point now) {
    if (dead_ || now - started_ < connect_timeout) return;
    if (role_ == role::listener && !in_head_handled_) {
      fail("no answer from a connector for the address");
    } else if (role_ == role::connector && request_link_ != nullptr) {
      refuse_request("connect timed out");
    }
  }
  // The request link went away (connector instance closing): nothing to settle any more.
  void forget_request_link() {
    const bool connected = in_link_ != nullptr;
    request_link_ = nullptr;
    if (!connected) fail("connector closing");
  }

  void fail(const std::string& reason) {
    if (dead_) return;
    dead_ = true;
    logger()->debug("{}: stream {} ends: {}", ctx_.name, stream_id_.to_string(), reason);
    if (request_link_ != nullptr) {
      ctx_.ep.settle(*request_link_, request_id_, rejected("amqp:not-found", reason));
      request_link_ = nullptr;
    }
    if (out_link_ != nullptr && out_started_ && !out_done_) ctx_.ep.abort(*out_link_);
    close_links();
    if (sock_) {
      sock_->close(true);
      ctx_.graveyard.bury(std::move(sock_));
    }
  }

 private:
  bool open_links() {
    amqp::error err;
    in_link_ = ctx_.ep.open_receiver("", *this, 1, true, &err);
    if (in_link_ != nullptr) out_link_ = ctx_.ep.open_sender("", *this, &err);
    if (in_link_ == nullptr || out_link_ == nullptr) {
      fail("cannot attach: " + err.description);
      return false;
    }
    return true;
  }

  void close_links() {
    if (in_link_ != nullptr) ctx_.ep.close(*std::exchange(in_link_, nullptr));
    if (out_link_ != nullptr) ctx_.ep.close(*std::exchange(out_link_, nullptr));
  }

  void refuse_request(const std::string& reason) {
    logger()->info("{}: connection refused for stream {}: {}", ctx_.name, stream_id_.to_string(),
                   reason);
    fail(reason);
  }

  // ---- client/target bytes -> AMQP ------------------------------------------------------

  void send_head(std::string_view to, bool with_reply_to, bool complete) {
    byte_buffer m;
    tcp::stream_head head;
    head.to = to;
    if (with_reply_to) head.reply_to = in_link_->address;
    head.stream_id = stream_id_;
    head.kind = ctx_.kind;
    tcp::append_stream_head(m, head);
    if (complete) {
      request_delivery_ = ctx_.ep.send(*out_link_, m, true, false, false);
      return;
    }
    if (!stash_.empty()) tcp::append_stream_data(m, as_bytes(stash_));
    const bool last = sock_ == nullptr || sock_->eof();
    out_id_ = ctx_.ep.send(*out_link_, m, true, !last, false);
    window_.sent(stash_.size());
    stash_.clear();
    out_started_ = true;
    out_done_ = last;
  }

  void pump_out() {
    if (dead_) return;
    if (role_ == role::listener && !request_sent_) {
      if (!ctx_.ep.can_start(*out_link_)) return;
      // Sent at once, before any client byte: server-first protocols need the connect now.
      send_head(ctx_.address, true, true);
      request_sent_ = true;
    }
    if (peer_address_.empty()) return update_reading();
    if (!out_started_) {
      if (!ctx_.ep.can_start(*out_link_)) return update_reading();
      send_head(peer_address_, true, false);
    } else if (!out_done_ && ctx_.ep.window_open(*out_link_)) {
      const bool eof = sock_->eof();
      if (!stash_.empty()) {
        byte_buffer m;
        tcp::append_stream_data(m, as_bytes(stash_));
        ctx_.ep.send(*out_link_, m, false, !eof, false);
        window_.sent(stash_.size());
        stash_.clear();
        out_done_ = eof;
      } else if (eof) {
        ctx_.ep.send(*out_link_, {}, false, false, false);  // half-close: the delivery ends
        out_done_ = true;
      }
    }
    update_reading();
  }

  void update_reading() {
    if (dead_ || !sock_) return;
    const bool ready = out_started_ && !out_done_ && stash_.size() < stash_limit &&
                       window_.available() > 0 && ctx_.ep.window_open(*out_link_);
    sock_->set_reading(ready);
  }

  static bytes_view as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
  }

  // ---- AMQP -> client/target bytes ------------------------------------------------------

  void pump_in() {
    if (dead_ || in_link_ == nullptr || !sock_) return;
    auto& q = ctx_.ep.incoming(*in_link_);
    while (!q.empty()) {
      auto& d = q.front();
      if (d.aborted) return fail("the far side reset the stream");
      if (!in_started_) {
        in_started_ = true;
        in_id_ = d.id;
      } else if (d.id != in_id_ || in_fed_last_) {
        // Our dynamic address is ours alone: anything else arriving there is refused.
        if (!d.complete) break;
        if (!d.presettled) ctx_.ep.settle(*in_link_, d.id, rejected("amqp:not-allowed", "unexpected delivery"));
        q.pop_front();
        continue;
      }
      while (sock_->unsent() < unsent_limit && (!d.bytes.empty() || (d.complete && !in_fed_last_))) {
        const std::size_t n = std::min(d.bytes.size(), feed_chunk);
        const bool last = d.complete && n == d.bytes.size();
        chunk_.clear();
        auto r = reader_.feed(bytes_view(d.bytes.data(), n), last, chunk_);
        d.bytes.erase(d.bytes.begin(), d.bytes.begin() + static_cast<std::ptrdiff_t>(n));
        if (!r) return fail("not a TCP stream: " + r.error().message());
        if (last) in_fed_last_ = true;
        if (!in_head_handled_ && reader_.head_seen()) {
          if (!on_in_head()) return;
        }
        sock_->write(chunk_);
        if (dead_) return;  // the write failed: the bridge (and `d`) are gone
      }
      if (in_fed_last_ && d.bytes.empty()) {
        q.pop_front();
        in_complete_ = true;
        continue;  // settle/refuse anything after it
      }
      break;
    }
    ctx_.ep.consumed(*in_link_);
    after_written();
  }

  bool on_in_head() {
    in_head_handled_ = true;
    if (!(reader_.stream_id() == stream_id_)) {
      fail("stream id mismatch: got " + reader_.stream_id().to_string());
      return false;
    }
    if (role_ == role::listener) {
      if (reader_.reply_to().empty()) {
        fail("the connector's stream names no reply address");
        return false;
      }
      peer_address_ = reader_.reply_to();
      pump_out();
      return !dead_;
    }
    return true;
  }

  // Reports bytes written (byte window), half-closes and settles once everything is written.
  void after_written() {
    if (dead_ || !in_started_ || in_settled_ || !sock_) return;
    const std::uint64_t total = sock_->bytes_written();
    if (total > counted_) {
      const auto due = ack_.written(total - counted_);
      counted_ = total;
      if (due && !in_complete_) {
        amqp::delivery_state st = make_state(amqp::delivery_state::kind::received);
        st.section_number = 0;
        st.section_offset = *due;
        ctx_.ep.update(*in_link_, in_id_, st);
      }
    }
    if (in_complete_ && sock_->unsent() == 0) {
      sock_->shutdown_write();  // the far side's EOF, passed on
      ctx_.ep.settle(*in_link_, in_id_, make_state(amqp::delivery_state::kind::accepted));
      in_settled_ = true;
      check_done();
    }
  }

  void check_done() {
    if (dead_ || !in_settled_ || !out_settled_) return;
    dead_ = true;
    close_links();
    sock_->close(false);
    ctx_.graveyard.bury(std::move(sock_));
  }

  // ---- stream_socket::handler ---------------------------------------------------------------

  void on_socket_data(std::span<const std::uint8_t> data) override {
    stash_.append(reinterpret_cast<const char*>(data.data()), data.size());
    pump_out();
  }
  void on_socket_eof() override { pump_out(); }
  void on_socket_error(int err, bool connecting) override {
    if (connecting) {
      refuse_request(std::string("connect failed: ") + std::strerror(err));
    } else {
      fail(std::string("socket error: ") + std::strerror(err));
    }
  }
  void on_socket_writable() override {
    if (role_ == role::connector && request_link_ != nullptr) {
      // Connected: accept the request and start the stream back at once, so the listener
      // learns our address and can send client bytes before the target says anything.
      ctx_.ep.settle(*request_link_, request_id_, make_state(amqp::delivery_state::kind::accepted));
      request_link_ = nullptr;
      if (!open_links()) return;
      pump_out();
      return;
    }
    pump_in();
  }

  // ---- local_endpoint::handler --------------------------------------------------------------

  void on_readable(link&) override { pump_in(); }
  void on_sendable(link&) override { pump_out(); }
  void on_outcome(link&, std::uint32_t id, const amqp::delivery_state& state,
                  bool settled) override {
    using kind = amqp::delivery_state::kind;
    if (dead_) return;
    if (request_sent_ && id == request_delivery_ && !out_started_) {
      if (state.type == kind::accepted || !settled) return;
      std::string why = state.type == kind::released ? "no connector for the address"
                        : state.rejected_error       ? state.rejected_error->description
                                                     : "connect request refused";
      return fail(why);
    }
    if (!out_started_ || id != out_id_) return;
    if (state.type == kind::received && !settled) {
      window_.acknowledged(state.section_offset);
      return pump_out();
    }
    if (!settled) return;
    if (state.type != kind::accepted) return fail("the far side did not accept the stream");
    out_settled_ = true;
    check_done();
  }
  void on_detached(link&, const amqp::error* err) override {
    fail(std::string("link detached") + (err != nullptr ? ": " + err->description : ""));
  }

  bridge_context& ctx_;
  role role_;
  message_id stream_id_;
  std::string peer_address_;  // where our outgoing stream goes
  link* request_link_ = nullptr;  // connector: the request to settle once connected
  std::uint32_t request_id_ = 0;
  clock_type::time_point started_;
  std::unique_ptr<stream_socket> sock_;
  link* in_link_ = nullptr;
  link* out_link_ = nullptr;
  bool dead_ = false;

  // Outgoing stream.
  bool request_sent_ = false;
  std::uint32_t request_delivery_ = 0;
  bool out_started_ = false, out_done_ = false, out_settled_ = false;
  std::uint32_t out_id_ = 0;
  std::string stash_;  // socket bytes not yet sent
  tcp::byte_window_sender window_;

  // Incoming stream.
  tcp::stream_reader reader_;
  std::string chunk_;
  bool in_started_ = false, in_head_handled_ = false, in_fed_last_ = false;
  bool in_complete_ = false, in_settled_ = false;
  std::uint32_t in_id_ = 0;
  tcp::byte_window_receiver ack_;
  std::uint64_t counted_ = 0;
};

// ---- bridge_set -----------------------------------------------------------------------------

bridge_set::bridge_set(router::shard& s, local_endpoint& ep, std::string name, std::string address,
                       std::string_view kind)
    : ctx_{s, ep, {}, std::move(name), std::move(address), std::string(kind)},
      stream_prefix_(s.router_id() + "/" + std::to_string(s.index()) + "/" + ctx_.name + "/") {}

bridge_set::~bridge_set() { bridges_.clear(); }

void bridge_set::add_client(int fd) {
  add_client(std::make_unique<stream_socket>(ctx_.shard.loop(), fd, nullptr), std::string());
}

void bridge_set::add_client(std::unique_ptr<stream_socket> socket, std::string initial_bytes) {
  bridges_.push_back(std::make_unique<tcp_bridge>(
      ctx_, std::move(socket), std::move(initial_bytes),
      message_id::from_string(stream_prefix_ + std::to_string(++next_stream_))));
}

void bridge_set::accept_request(link& l, local_endpoint::incoming_delivery& d,
                                const target_address* target, const std::string& resolve_error) {
  tcp::stream_reader reader;
  std::string payload;
  auto r = reader.feed(d.bytes, true, payload);
  auto refuse = [&](const std::string& why) {
    logger()->info("{}: refusing a delivery: {}", ctx_.name, why);
    if (!d.presettled) ctx_.ep.settle(l, d.id, rejected("amqp:invalid-field", why));
  };
  if (!r) return refuse("not a TCP stream request: " + r.error().message());
  if (reader.kind() != ctx_.kind) return refuse("stream kind '" + reader.kind() + "' not served here");
  if (reader.reply_to().empty()) return refuse("connect request without reply-to");
  if (d.presettled) return refuse("connect request sent pre-settled");
  if (target == nullptr) {
    ctx_.ep.settle(l, d.id, rejected("amqp:not-found", resolve_error));
    return;
  }
  bridges_.push_back(
      std::make_unique<tcp_bridge>(ctx_, l, d.id, reader.reply_to(), reader.stream_id(), *target));
}

void bridge_set::forget_request_link() {
  for (auto& b : bridges_) b->forget_request_link();
}

void bridge_set::tick() {
  const auto now = clock_type::now();
  for (auto& b : bridges_) b->tick(now);
  std::erase_if(bridges_, [](const std::unique_ptr<tcp_bridge>& b) { return b->dead(); });
  ctx_.graveyard.reap();
}

void bridge_set::stop() {
  for (auto& b : bridges_) b->fail("router shutting down");
}

}  // namespace fogmesh::proxy::adaptor
