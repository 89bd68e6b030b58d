#include "engine/amqp_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "engine/sasl.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/router/version.hpp"
#include "routing/router_core.hpp"
#include "server/shard.hpp"

namespace fogmesh::router {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.amqp");
  return l;
}

template <class T>
T* lookup(std::vector<T*>& v, std::size_t index) {
  return index < v.size() ? v[index] : nullptr;
}

template <class T>
void store(std::vector<T*>& v, std::size_t index, T* value) {
  if (index >= v.size()) v.resize(index + 1, nullptr);
  v[index] = value;
}

}  // namespace

amqp_connection::amqp_connection(shard& owner, int fd, std::uint64_t id, std::string peer,
                                 connection_settings settings)
    : owner_(owner),
      core_(owner.core()),
      fd_(fd),
      id_(id),
      peer_(std::move(peer)),
      settings_(std::move(settings)) {
  last_input_ = last_output_ = clock::now();
}

amqp_connection::~amqp_connection() {
  if (fd_ >= 0) ::close(fd_);
}

void amqp_connection::start() {
  slot_ = owner_.loop().register_target(this);
  recv_armed_ = owner_.loop().recv_multishot(slot_, fd_);
  if (settings_.client) {
    client_start();
  } else {
    logger()->debug("[C{}] accepted from {}", id_, peer_);
  }
}

void amqp_connection::client_start() {
  // SASL first, always: brokers and routers alike accept ANONYMOUS when nothing else is set.
  out_.insert(out_.end(), amqp::sasl_protocol_header.begin(), amqp::sasl_protocol_header.end());
  owner_.mark_dirty(this);
  logger()->info("[C{}] connected to {} (connector '{}')", id_, peer_, settings_.connector_name);
}

void amqp_connection::write_client_open() {
  amqp::open o;
  o.container_id = owner_.router_id();
  o.hostname = settings_.hostname;
  o.max_frame_size = settings_.max_frame_size;
  o.channel_max = settings_.channel_max;
  if (settings_.idle_timeout_ms > 0) o.idle_timeout_ms = settings_.idle_timeout_ms;
  amqp::append_frame(out_, 0, o);
}

std::size_t amqp_connection::session_count() const noexcept {
  return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(),
                                                [](const auto& s) { return s != nullptr; }));
}

std::size_t amqp_connection::link_count() const noexcept {
  std::size_t n = 0;
  for (const auto& s : sessions_) {
    if (!s) continue;
    for (link* l : s->links_by_handle) n += l != nullptr;
  }
  return n;
}

// ---- I/O -----------------------------------------------------------------------------------

void amqp_connection::on_completion(io::op_kind kind, int res, std::uint32_t flags,
                                    std::span<const std::uint8_t> data) {
  switch (kind) {
    case io::op_kind::recv: {
      if ((flags & IORING_CQE_F_MORE) == 0) recv_armed_ = false;
      if (res > 0) {
        if (state_ != state::closed) on_received(data);
      } else if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
        if (state_ != state::closed) {
          if (res < 0)
            logger()->debug("[C{}] receive failed: {}", id_, std::strerror(-res));
          else
            logger()->debug("[C{}] peer closed the connection", id_);
          teardown();
          close_socket();
        }
      }
      if (!recv_armed_ && state_ != state::closed && !socket_closed_) {
        recv_armed_ = owner_.loop().recv_multishot(slot_, fd_);
      }
      break;
    }
    case io::op_kind::send:
      send_in_flight_ = false;
      sent(res);
      break;
    default:
      break;
  }
}

void amqp_connection::sent(int res) {
  if (res < 0) {
    if (state_ != state::closed) {
      logger()->debug("[C{}] send failed: {}", id_, std::strerror(-res));
      teardown();
      close_socket();
    }
    sending_.clear();
    return;
  }
  sending_offset_ += static_cast<std::size_t>(res);
  if (sending_offset_ < sending_.size() && !socket_closed_) {
    send_in_flight_ = owner_.loop().send(slot_, fd_, sending_.data() + sending_offset_,
                                         sending_.size() - sending_offset_);
    return;
  }
  sending_.clear();
  sending_offset_ = 0;
  if (state_ == state::closed) return;
  resume_blocked();  // output drained: links that waited for the socket may continue
  if (!out_.empty() || (tls_ && !tls_cipher_.empty())) {
    owner_.mark_dirty(this);
  } else if (close_after_flush_) {
    teardown();
    close_socket();
  }
}

void amqp_connection::on_received(std::span<const std::uint8_t> data) {
  if (!tls_decided_) {
    // A TLS ClientHello starts with a handshake record (0x16); AMQP starts with 'A'.
    tls_decided_ = true;
    if (settings_.tls && (settings_.require_tls || data[0] == 0x16)) {
      tls_ = std::make_unique<tls_stream>(settings_.tls);
    } else if (settings_.require_tls) {
      logger()->info("[C{}] {} did not start TLS on a listener that requires it", id_, peer_);
      teardown();
      close_socket();
      return;
    }
  }
  if (!tls_) {
    on_bytes(data);
    return;
  }
  tls_plain_.clear();
  if (!tls_->receive(data, tls_plain_)) {
    logger()->info("[C{}] TLS failure with {}: {}", id_, peer_, tls_->last_error());
    teardown();
    close_socket();
    return;
  }
  owner_.mark_dirty(this);  // handshake bytes may be waiting
  if (!tls_plain_.empty()) on_bytes(tls_plain_);
}

void amqp_connection::close_socket() {
  state_ = state::closed;
  if (!socket_closed_) {
    socket_closed_ = true;
    // Wakes any pending receive/send with an error; the fd itself is closed when the shard
    // frees this object, after those completions arrived (their buffers must stay valid).
    ::shutdown(fd_, SHUT_RDWR);
    if (recv_armed_) owner_.loop().cancel(slot_, io::op_kind::recv);
  }
  owner_.any_closed_ = true;
}

// Per session, the peer may have this many bytes of transfers held in the router before its
// window closes. 4 MiB keeps a fast sender busy across a loop turn and bounds memory.
constexpr std::size_t session_window_bytes = 4u << 20;

std::uint32_t amqp_connection::window_frames() const {
  return static_cast<std::uint32_t>(
      std::max<std::size_t>(16, session_window_bytes / settings_.max_frame_size));
}

std::uint32_t amqp_connection::free_window(const session& s) const {
  const std::size_t frame = settings_.max_frame_size;
  const std::size_t held_frames = (s.pending_bytes + frame - 1) / frame;
  const std::uint32_t total = window_frames();
  return held_frames >= total ? 0 : total - static_cast<std::uint32_t>(held_frames);
}

void amqp_connection::fill_session_fields(amqp::flow& f, session& s) {
  s.incoming_window = free_window(s);
  s.window_base = s.next_incoming_id;
  f.next_incoming_id = s.next_incoming_id;
  f.incoming_window = s.incoming_window;
  f.next_outgoing_id = s.next_outgoing_id;
  f.outgoing_window = 0x7fffffff;
}

void amqp_connection::window_may_open(session& s) {
  // What the peer may still send before our last window closes.
  const std::uint32_t used = s.next_incoming_id - s.window_base;
  const std::uint32_t remaining = used >= s.incoming_window ? 0 : s.incoming_window - used;
  if (remaining >= window_frames() / 2) return;
  if (free_window(s) <= remaining + window_frames() / 4) return;  // not worth a frame yet
  write_session_flow(s);
}

void amqp_connection::resume_blocked() {
  if (blocked_links_.empty() || !writable()) return;
  std::vector<link*> blocked;
  blocked.swap(blocked_links_);
  for (link* l : blocked) {
    l->blocked = false;
    core_.resume(*l);
  }
}

void amqp_connection::mark_blocked(link& l) {
  if (l.blocked) return;
  l.blocked = true;
  blocked_links_.push_back(&l);
}

void amqp_connection::flush() {
  dirty_ = false;
  for (auto& s : sessions_) {
    if (s && s->pending_disposition.active) flush_dispositions(*s);
  }
  start_send();
}

void amqp_connection::start_send() {
  if (send_in_flight_ || socket_closed_) return;
  if (tls_) {
    if (!tls_->send(out_, tls_cipher_)) {
      logger()->info("[C{}] TLS failure with {}: {}", id_, peer_, tls_->last_error());
      out_.clear();
      teardown();
      close_socket();
      return;
    }
    out_.clear();
    if (tls_cipher_.empty()) return;
    std::swap(tls_cipher_, sending_);
  } else {
    if (out_.empty()) return;
    std::swap(out_, sending_);
  }
  sending_offset_ = 0;
  last_output_ = clock::now();
  // Try the socket first: on an idle-ish router most flushes fit in the socket buffer, and a
  // plain non-blocking send then costs one syscall and no completion — an io_uring send would
  // wake the loop once more just to say "done" (RESULTS.md, 10k msg/s). Whatever does not fit
  // goes to io_uring.
  const ssize_t n = ::send(fd_, sending_.data(), sending_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n >= 0) {
    if (static_cast<std::size_t>(n) == sending_.size()) {
      sent(static_cast<int>(n));
      return;
    }
    sending_offset_ = static_cast<std::size_t>(n);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    sent(-errno);
    return;
  }
  send_in_flight_ = owner_.loop().send(slot_, fd_, sending_.data() + sending_offset_,
                                       sending_.size() - sending_offset_);
}

void amqp_connection::tick(clock::time_point now) {
  if (state_ == state::closed) return;
  if (settings_.idle_timeout_ms > 0 && state_ >= state::open &&
      now - last_input_ > std::chrono::milliseconds(settings_.idle_timeout_ms)) {
    logger()->info("[C{}] idle timeout: nothing received from {} for {} ms", id_, peer_,
                   settings_.idle_timeout_ms);
    fail("amqp:resource-limit-exceeded", "local-idle-timeout expired");
    return;
  }
  if (peer_idle_timeout_ms_ > 0 && state_ == state::opened &&
      now - last_output_ >= std::chrono::milliseconds(peer_idle_timeout_ms_ / 2)) {
    amqp::append_heartbeat(out_);
    last_output_ = now;
    owner_.mark_dirty(this);
  }
}

// ---- input ---------------------------------------------------------------------------------

void amqp_connection::on_bytes(std::span<const std::uint8_t> data) {
  last_input_ = clock::now();
  // Complete a unit that straddled the previous receive, copying only that unit.
  while (!carry_.empty() && !data.empty() && state_ != state::closed && !close_after_flush_) {
    std::size_t want;
    const bool header_state = state_ == state::header || state_ == state::amqp_header;
    if (header_state) {
      want = 8 - carry_.size();
    } else if (carry_.size() < 8) {
      want = 8 - carry_.size();
    } else {
      std::uint32_t size = *amqp::peek_frame_size(carry_);
      if (size < 8 || size > settings_.max_frame_size) {
        fail("amqp:connection:framing-error", "frame size " + std::to_string(size) +
                                                  " outside 8.." +
                                                  std::to_string(settings_.max_frame_size));
        return;
      }
      want = size - carry_.size();
    }
    const std::size_t take = std::min(want, data.size());
    carry_.insert(carry_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    if (take < want) return;  // still incomplete
    if (!header_state && carry_.size() == 8) {
      // Header of a frame now known; loop again to fetch its body (unless it is empty).
      std::uint32_t size = *amqp::peek_frame_size(carry_);
      if (size > 8) continue;
    }
    std::size_t used = process(carry_);
    if (used < carry_.size()) {
      // process() consumed less than the unit (closed meanwhile): drop the rest.
      carry_.clear();
      return;
    }
    carry_.clear();
  }
  if (data.empty() || state_ == state::closed || close_after_flush_) return;
  std::size_t used = process(data);
  if (used < data.size() && state_ != state::closed && !close_after_flush_) {
    carry_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
  }
}

std::size_t amqp_connection::process(std::span<const std::uint8_t> data) {
  std::size_t pos = 0;
  while (pos < data.size() && state_ != state::closed && !close_after_flush_) {
    auto rest = data.subspan(pos);
    if (state_ == state::header || state_ == state::amqp_header) {
      if (rest.size() < 8) break;
      if (!handle_protocol_header(rest.first(8))) return data.size();
      pos += 8;
      continue;
    }
    auto parsed = amqp::parse_frame(rest, settings_.max_frame_size);
    if (!parsed) {
      fail("amqp:connection:framing-error", parsed.error().message());
      return data.size();
    }
    if (!*parsed) break;
    const amqp::frame_view& frame = **parsed;
    pos += frame.size;
    if (state_ == state::sasl) {
      handle_sasl_frame(frame);
    } else {
      handle_amqp_frame(frame);
    }
  }
  return pos;
}

bool amqp_connection::handle_protocol_header(std::span<const std::uint8_t> data) {
  auto id = amqp::parse_protocol_header(data);
  if (!id || !*id) {
    logger()->info("[C{}] {} sent a bad protocol header; closing", id_, peer_);
    // Tell the peer what we speak, then hang up (part 2 §2.2).
    auto& hdr =
        settings_.authenticate_peer ? amqp::sasl_protocol_header : amqp::amqp_protocol_header;
    out_.insert(out_.end(), hdr.begin(), hdr.end());
    close_after_flush_ = true;
    owner_.mark_dirty(this);
    return false;
  }
  const amqp::protocol_id proto = **id;
  owner_.mark_dirty(this);
  if (settings_.client) {
    if (state_ == state::header && proto == amqp::protocol_id::sasl) {
      state_ = state::sasl;
      return true;
    }
    if (state_ == state::amqp_header && proto == amqp::protocol_id::amqp) {
      state_ = state::open;
      return true;
    }
    logger()->warn("[C{}] {} answered with protocol {}; closing", id_, peer_,
                   static_cast<int>(proto));
    close_after_flush_ = true;
    return false;
  }
  if (state_ == state::header && proto == amqp::protocol_id::sasl) {
    out_.insert(out_.end(), amqp::sasl_protocol_header.begin(), amqp::sasl_protocol_header.end());
    amqp::sasl_mechanisms mechs;
    for (const auto& m : settings_.sasl_mechanisms) {
      // EXTERNAL means "the identity of my verified TLS client certificate".
      if (m == "EXTERNAL" && (!tls_ || tls_->peer_identity().empty())) continue;
      mechs.mechanisms.push_back(m);
    }
    amqp::append_frame(out_, 0, mechs, {}, amqp::frame_type_sasl);
    state_ = state::sasl;
    return true;
  }
  if (proto == amqp::protocol_id::amqp &&
      (state_ == state::amqp_header || !settings_.authenticate_peer)) {
    out_.insert(out_.end(), amqp::amqp_protocol_header.begin(), amqp::amqp_protocol_header.end());
    state_ = state::open;
    return true;
  }
  logger()->info("[C{}] {} asked for protocol {} which this listener does not allow", id_, peer_,
                 static_cast<int>(proto));
  auto& hdr = settings_.authenticate_peer ? amqp::sasl_protocol_header : amqp::amqp_protocol_header;
  out_.insert(out_.end(), hdr.begin(), hdr.end());
  close_after_flush_ = true;
  return false;
}

void amqp_connection::handle_sasl_frame(const amqp::frame_view& frame) {
  if (frame.type != amqp::frame_type_sasl) {
    close_after_flush_ = true;
    return;
  }
  auto body = amqp::decode_sasl_body(frame);
  if (settings_.client && body) {
    if (auto* mechs = std::get_if<amqp::sasl_mechanisms>(&*body)) {
      auto offers = [&](std::string_view m) {
        return std::find(mechs->mechanisms.begin(), mechs->mechanisms.end(), m) !=
               mechs->mechanisms.end();
      };
      amqp::sasl_init init;
      init.hostname = settings_.hostname;
      if (!settings_.sasl_username.empty() && offers("PLAIN")) {
        init.mechanism = "PLAIN";
        std::string response =
            std::string(1, '\0') + settings_.sasl_username + '\0' + settings_.sasl_password;
        init.initial_response = amqp::byte_buffer(response.begin(), response.end());
      } else if (offers("ANONYMOUS")) {
        init.mechanism = "ANONYMOUS";
        init.initial_response = amqp::byte_buffer{};
      } else {
        logger()->warn("[C{}] {} offers no SASL mechanism we can use", id_, peer_);
        teardown();
        close_socket();
        return;
      }
      amqp::append_frame(out_, 0, init, {}, amqp::frame_type_sasl);
      owner_.mark_dirty(this);
      return;
    }
    if (auto* outcome = std::get_if<amqp::sasl_outcome>(&*body)) {
      if (outcome->code != amqp::sasl_outcome::code_t::ok) {
        logger()->warn("[C{}] {} refused our credentials (SASL outcome {})", id_, peer_,
                       static_cast<int>(outcome->code));
        teardown();
        close_socket();
        return;
      }
      out_.insert(out_.end(), amqp::amqp_protocol_header.begin(), amqp::amqp_protocol_header.end());
      write_client_open();
      owner_.mark_dirty(this);
      state_ = state::amqp_header;
      return;
    }
  }
  if (!body || !std::holds_alternative<amqp::sasl_init>(*body)) {
    logger()->info("[C{}] unexpected SASL frame from {}", id_, peer_);
    amqp::sasl_outcome outcome;
    outcome.code = amqp::sasl_outcome::code_t::sys_perm;
    amqp::append_frame(out_, 0, outcome, {}, amqp::frame_type_sasl);
    close_after_flush_ = true;
    owner_.mark_dirty(this);
    return;
  }
  const auto& init = std::get<amqp::sasl_init>(*body);
  const bool offered = std::find(settings_.sasl_mechanisms.begin(), settings_.sasl_mechanisms.end(),
                                 init.mechanism) != settings_.sasl_mechanisms.end();
  bool ok = false;
  if (offered && init.mechanism == "ANONYMOUS") {
    ok = true;
    user_ = "anonymous";
  } else if (offered && init.mechanism == "EXTERNAL" && tls_ && !tls_->peer_identity().empty()) {
    ok = true;
    user_ = tls_->peer_identity();
  } else if (offered && init.mechanism == "PLAIN" && init.initial_response) {
    auto creds = sasl::parse_plain(*init.initial_response);
    if (creds && sasl::verify_user(settings_.users_file, creds->authcid, creds->password)) {
      ok = true;
      user_ = creds->authcid;
    }
  }
  amqp::sasl_outcome outcome;
  outcome.code = ok ? amqp::sasl_outcome::code_t::ok : amqp::sasl_outcome::code_t::auth;
  amqp::append_frame(out_, 0, outcome, {}, amqp::frame_type_sasl);
  owner_.mark_dirty(this);
  if (!ok) {
    logger()->warn("[C{}] authentication failed for {} (mechanism {})", id_, peer_, init.mechanism);
    close_after_flush_ = true;
    return;
  }
  logger()->debug("[C{}] authenticated {} as {} ({})", id_, peer_, user_, init.mechanism);
  sasl_done_ = true;
  state_ = state::amqp_header;
}

void amqp_connection::handle_amqp_frame(const amqp::frame_view& frame) {
  if (frame.type != amqp::frame_type_amqp) {
    fail("amqp:connection:framing-error", "unexpected frame type");
    return;
  }
  if (frame.body.empty()) return;  // heartbeat
  auto decoded = amqp::decode_amqp_frame(frame);
  if (!decoded) {
    fail("amqp:decode-error", "cannot decode frame: " + decoded.error().message());
    return;
  }
  auto& body = decoded->body;
  if (state_ == state::open) {
    if (!std::holds_alternative<amqp::open>(body)) {
      fail("amqp:connection:framing-error", "expected open");
      return;
    }
    handle_open(std::get<amqp::open>(body));
    return;
  }
  if (state_ == state::closing) {
    if (std::holds_alternative<amqp::close>(body)) {
      teardown();
      close_socket();
    }
    return;  // everything else after our close is ignored (part 2 §2.4.3)
  }
  std::visit(
      [&](auto& perf) {
        using T = std::decay_t<decltype(perf)>;
        if constexpr (std::is_same_v<T, amqp::open>) {
          fail("amqp:connection:framing-error", "second open");
        } else if constexpr (std::is_same_v<T, amqp::begin>) {
          handle_begin(frame.channel, perf);
        } else if constexpr (std::is_same_v<T, amqp::close>) {
          handle_close(perf);
        } else if constexpr (std::is_same_v<T, amqp::end>) {
          handle_end(frame.channel, perf);
        } else {
          session* s = session_by_remote(frame.channel);
          if (s == nullptr) {
            fail("amqp:connection:framing-error",
                 "frame on channel " + std::to_string(frame.channel) + " without a session");
            return;
          }
          if constexpr (std::is_same_v<T, amqp::attach>)
            handle_attach(*s, perf);
          else if constexpr (std::is_same_v<T, amqp::flow>)
            handle_flow(s, perf);
          else if constexpr (std::is_same_v<T, amqp::transfer>)
            handle_transfer(*s, perf, decoded->payload);
          else if constexpr (std::is_same_v<T, amqp::disposition>)
            handle_disposition(*s, perf);
          else if constexpr (std::is_same_v<T, amqp::detach>)
            handle_detach(*s, perf);
        }
      },
      body);
}

void amqp_connection::handle_open(const amqp::open& o) {
  remote_container_ = o.container_id;
  remote_hostname_ = o.hostname;
  peer_max_frame_size_ = std::max(o.max_frame_size, amqp::min_max_frame_size);
  peer_channel_max_ = o.channel_max;
  peer_idle_timeout_ms_ = o.idle_timeout_ms.value_or(0);
  if (settings_.client) {
    learned_failover_ = read_failover_list(o.properties);
    state_ = state::opened;
    logger()->info("[C{}] connection to {} opened (container {})", id_, peer_, remote_container_);
    core_.connection_opened(*this);
    return;
  }
  amqp::open reply;
  reply.container_id = owner_.router_id();
  reply.max_frame_size = settings_.max_frame_size;
  reply.channel_max = settings_.channel_max;
  if (settings_.idle_timeout_ms > 0) reply.idle_timeout_ms = settings_.idle_timeout_ms;
  reply.offered_capabilities = {"ANONYMOUS-RELAY"};
  encode_open_properties(reply.properties, "fogmesh-router", version(), settings_.failover_urls);
  amqp::append_frame(out_, 0, reply);
  owner_.mark_dirty(this);
  state_ = state::opened;
  logger()->info("[C{}] connection from {} opened (container {}, user {})", id_, peer_,
                 remote_container_, user_);
  core_.connection_opened(*this);
}

session* amqp_connection::session_by_remote(std::uint16_t channel) {
  return lookup(sessions_by_remote_, channel);
}

void amqp_connection::handle_begin(std::uint16_t channel, const amqp::begin& b) {
  if (b.remote_channel) {
    // The answer to a begin we sent.
    const std::uint16_t ours = *b.remote_channel;
    if (ours >= sessions_.size() || !sessions_[ours] || sessions_[ours]->remote_begun) {
      fail("amqp:connection:framing-error", "begin answers a session we did not start");
      return;
    }
    session& s = *sessions_[ours];
    s.remote_begun = true;
    s.remote_channel = channel;
    s.next_incoming_id = b.next_outgoing_id;
    s.remote_incoming_window = b.incoming_window;
    s.handle_max = b.handle_max;
    store(sessions_by_remote_, channel, &s);
    return;
  }
  if (session_by_remote(channel) != nullptr) {
    fail("amqp:connection:framing-error", "begin on a channel already in use");
    return;
  }
  if (channel > settings_.channel_max) {
    fail("amqp:connection:framing-error", "channel above channel-max");
    return;
  }
  session& s = new_session();
  s.remote_channel = channel;
  s.next_incoming_id = b.next_outgoing_id;
  s.remote_incoming_window = b.incoming_window;
  s.handle_max = b.handle_max;
  store(sessions_by_remote_, channel, &s);

  amqp::begin reply;
  reply.remote_channel = channel;
  reply.next_outgoing_id = s.next_outgoing_id;
  s.incoming_window = window_frames();
  s.window_base = s.next_incoming_id;
  reply.incoming_window = s.incoming_window;
  reply.outgoing_window = 0x7fffffff;
  reply.handle_max = 0xffff;
  amqp::append_frame(out_, s.channel, reply);
  s.begin_sent = true;
  owner_.mark_dirty(this);
}

void amqp_connection::handle_attach(session& s, amqp::attach& a) {
  for (link* mine : s.links_by_handle) {
    if (mine == nullptr || mine->remote_attached || mine->name != a.name) continue;
    // The peer's answer to an attach we sent.
    if (lookup(s.links_by_remote_handle, a.handle) != nullptr) {
      fail("amqp:session:handle-in-use", "attach answer on a handle already in use");
      return;
    }
    mine->remote_attached = true;
    mine->remote_handle = a.handle;
    store(s.links_by_remote_handle, a.handle, mine);
    const bool refused = mine->kind == link_kind::outgoing ? !a.target : !a.source;
    core_.initiated_link_attached(*mine, !refused, a);
    if (refused) return;  // a detach with the reason follows
    if (mine->kind == link_kind::incoming) {
      mine->peer_delivery_count = a.initial_delivery_count.value_or(0);
      core_.grant_credit(*mine, true);
    }
    return;
  }
  if (lookup(s.links_by_remote_handle, a.handle) != nullptr) {
    fail("amqp:session:handle-in-use",
         "attach on handle " + std::to_string(a.handle) + " which is already attached");
    return;
  }
  if (a.handle > 0xffff) {
    fail("amqp:connection:framing-error", "handle above handle-max");
    return;
  }
  auto l = std::make_unique<link>();
  l->owner = this;
  l->inter_router = settings_.role == connection_role::inter_router ||
                    settings_.role == connection_role::edge ||
                    settings_.role == connection_role::uplink;
  l->sess = &s;
  l->remote_handle = a.handle;
  l->name = a.name;
  l->id = next_link_id_++;
  std::uint32_t handle = 0;
  while (handle < s.links_by_handle.size() && s.links_by_handle[handle] != nullptr) ++handle;
  l->handle = handle;
  if (a.role == amqp::role::sender) {
    l->kind = link_kind::incoming;
    if (a.target) {
      l->address = a.target->address.value_or("");
      l->dynamic = a.target->dynamic;
    }
    l->peer_delivery_count = a.initial_delivery_count.value_or(0);
  } else {
    l->kind = link_kind::outgoing;
    if (a.source) {
      l->address = a.source->address.value_or("");
      l->dynamic = a.source->dynamic;
    }
  }
  l->snd_settle_mode = a.snd_settle_mode;
  l->rcv_settle_mode = a.rcv_settle_mode;
  link* raw = l.release();
  store(s.links_by_remote_handle, a.handle, raw);
  store(s.links_by_handle, handle, raw);

  // Kept while the router decides: a link route passes its termini on.
  auto pending = pending_attach_.emplace(raw, a).first;
  auto decision = core_.link_attached(*raw);
  if (decision.deferred) {
    // Link route: the reply waits for the far side's attach (router_core::partner_attached).
    return;
  }
  pending_attach_.erase(pending);

  amqp::attach reply = attach_reply(a, *raw, decision.accepted);
  if (decision.accepted && raw->dynamic) {
    auto& term = raw->kind == link_kind::outgoing ? reply.source : reply.target;
    if (term) term->address = decision.address;
  }
  amqp::append_frame(out_, s.channel, reply);
  owner_.mark_dirty(this);
  if (!decision.accepted) {
    logger()->info("[C{}] refused link '{}' to '{}': {}", id_, a.name, raw->address,
                   decision.error.description);
    // The link stays known until the peer answers with its own detach (its flow or detach
    // for this handle is still legal until then).
    write_detach(*raw, true, &decision.error);
    core_.link_detached(*raw);
    return;
  }
  if (raw->kind == link_kind::incoming) core_.grant_credit(*raw, true);
  logger()->debug("[C{}] link '{}' attached: {} {}", id_, a.name,
                  raw->kind == link_kind::incoming ? "from sender to" : "to receiver from",
                  raw->address.empty() ? std::string("(anonymous)") : raw->address);
}

void amqp_connection::handle_flow(session* s, const amqp::flow& f) {
  // Session window (part 2 §2.5.6).
  const std::uint32_t next_in = f.next_incoming_id.value_or(0);
  s->remote_incoming_window = next_in + f.incoming_window - s->next_outgoing_id;
  if (f.handle) {
    link* l = lookup(s->links_by_remote_handle, *f.handle);
    if (l == nullptr) {
      fail("amqp:session:unattached-handle", "flow for an unattached handle");
      return;
    }
    if (l->kind == link_kind::outgoing) {
      const std::uint32_t peer_count = f.delivery_count.value_or(0);
      const std::uint32_t peer_credit = f.link_credit.value_or(0);
      l->credit = peer_count + peer_credit - l->delivery_count;
      l->drain = f.drain;
      core_.credit_updated(*l);
      if (f.echo) write_flow(*l, false);
    } else if (f.echo) {
      write_flow(*l, false);
    }
  } else if (f.echo) {
    write_session_flow(*s);
  }
  if (s->remote_incoming_window > 0) resume_blocked();  // a window that opened
}

void amqp_connection::handle_transfer(session& s, const amqp::transfer& t,
                                      amqp::bytes_view payload) {
  ++s.next_incoming_id;
  link* l = lookup(s.links_by_remote_handle, t.handle);
  if (l == nullptr || l->kind != link_kind::incoming) {
    fail("amqp:session:unattached-handle",
         "transfer on handle " + std::to_string(t.handle) + " which is not a sending link");
    return;
  }
  if (l->detach_sent) return;  // refused or closing: nothing more is routed from it
  core_.transfer(*l, t, payload);
  // Bytes that were forwarded (or are held outside the window) leave room: keep the sender's
  // window open without waiting for a later drain.
  if (state_ == state::opened) window_may_open(s);
}

void amqp_connection::handle_disposition(session& s, const amqp::disposition& d) {
  const std::uint32_t first = d.first;
  const std::uint32_t last = d.last.value_or(first);
  auto& window = d.role == amqp::role::receiver ? s.out_unsettled : s.in_unsettled;
  if (last - first < 65536) {
    for (std::uint32_t id = first;; ++id) {
      core_.disposition(s, d.role, id, d.settled, d.state);
      if (id == last) break;
    }
  } else {
    std::vector<std::uint32_t> ids;
    window.for_each([&](std::uint32_t id, delivery*) {
      if (id - first <= last - first) ids.push_back(id);
    });
    for (std::uint32_t id : ids) core_.disposition(s, d.role, id, d.settled, d.state);
  }
}

void amqp_connection::handle_detach(session& s, const amqp::detach& d) {
  link* l = lookup(s.links_by_remote_handle, d.handle);
  if (l == nullptr) {
    fail("amqp:session:unattached-handle", "detach of an unattached handle");
    return;
  }
  l->detach_received = true;
  if (d.err) l->detach_error = std::make_unique<amqp::error>(*d.err);
  if (!l->detach_sent) write_detach(*l, d.closed, nullptr);
  drop_link(*l);
}

void amqp_connection::drop_link(link& l) {
  core_.link_detached(l);
  session& s = *l.sess;
  if (l.remote_handle < s.links_by_remote_handle.size() &&
      s.links_by_remote_handle[l.remote_handle] == &l) {
    s.links_by_remote_handle[l.remote_handle] = nullptr;
  }
  if (l.handle < s.links_by_handle.size() && s.links_by_handle[l.handle] == &l) {
    s.links_by_handle[l.handle] = nullptr;
  }
  if (l.blocked) std::erase(blocked_links_, &l);
  pending_attach_.erase(&l);
  delete &l;
}

void amqp_connection::handle_end(std::uint16_t channel, const amqp::end& e) {
  session* s = session_by_remote(channel);
  if (s == nullptr) {
    fail("amqp:connection:framing-error", "end on a channel without a session");
    return;
  }
  if (e.err) logger()->debug("[C{}] session ended by peer: {}", id_, e.err->condition);
  s->end_received = true;
  end_session(*s, nullptr);
}

void amqp_connection::end_session(session& s, const amqp::error* err) {
  for (link* l : std::vector<link*>(s.links_by_handle)) {
    if (l != nullptr) drop_link(*l);
  }
  if (s.pending_disposition.active) flush_dispositions(s);
  if (!s.end_sent) {
    amqp::end reply;
    if (err != nullptr) reply.err = *err;
    amqp::append_frame(out_, s.channel, reply);
    s.end_sent = true;
    owner_.mark_dirty(this);
  }
  if (s.remote_begun && s.remote_channel < sessions_by_remote_.size() &&
      sessions_by_remote_[s.remote_channel] == &s) {
    sessions_by_remote_[s.remote_channel] = nullptr;
  }
  if (router_session_ == &s) router_session_ = nullptr;
  sessions_[s.channel].reset();
}

void amqp_connection::handle_close(const amqp::close& c) {
  if (c.err) {
    logger()->info("[C{}] peer closed with error {}: {}", id_, c.err->condition,
                   c.err->description);
  } else {
    logger()->info("[C{}] connection from {} closed by peer", id_, peer_);
  }
  teardown();
  amqp::close reply;
  amqp::append_frame(out_, 0, reply);
  close_after_flush_ = true;
  owner_.mark_dirty(this);
}

void amqp_connection::fail(const std::string& condition, const std::string& description) {
  if (state_ == state::closed || state_ == state::closing) return;
  logger()->warn("[C{}] closing connection from {}: {}: {}", id_, peer_, condition, description);
  teardown();
  if (state_ == state::opened || state_ == state::open) {
    if (state_ == state::open) {
      // The peer has not seen our open yet; a close must follow an open (part 2 §2.4.1).
      amqp::open o;
      o.container_id = owner_.router_id();
      amqp::append_frame(out_, 0, o);
    }
    amqp::close c;
    c.err = amqp::error{condition, description, {}};
    amqp::append_frame(out_, 0, c);
  }
  state_ = state::closing;
  close_after_flush_ = true;
  owner_.mark_dirty(this);
}

void amqp_connection::shutdown(const std::string& condition, const std::string& description) {
  if (state_ == state::closed) return;
  if (state_ != state::opened) {
    teardown();
    close_socket();
    return;
  }
  teardown();
  amqp::close c;
  if (!condition.empty()) c.err = amqp::error{condition, description, {}};
  amqp::append_frame(out_, 0, c);
  state_ = state::closing;
  close_after_flush_ = true;
  owner_.mark_dirty(this);
}

void amqp_connection::teardown() {
  // Detaching links releases or modifies their deliveries back to the senders; those
  // dispositions go out before the close frame because they are written first.
  for (auto& s : sessions_) {
    if (!s) continue;
    for (link* l : std::vector<link*>(s->links_by_handle)) {
      if (l != nullptr) drop_link(*l);
    }
    if (s->pending_disposition.active) flush_dispositions(*s);
  }
  sessions_.clear();
  sessions_by_remote_.clear();
  blocked_links_.clear();
  router_session_ = nullptr;
  if (!closed_notified_) {
    closed_notified_ = true;
    core_.connection_closed(*this);
  }
}

// ---- router-initiated sessions and links ----------------------------------------------------

session& amqp_connection::new_session() {
  std::size_t ours = 0;
  while (ours < sessions_.size() && sessions_[ours]) ++ours;
  if (ours >= sessions_.size()) sessions_.resize(ours + 1);
  sessions_[ours] = std::make_unique<session>();
  sessions_[ours]->channel = static_cast<std::uint16_t>(ours);
  return *sessions_[ours];
}

session& amqp_connection::router_session() {
  if (router_session_ != nullptr) return *router_session_;
  session& s = new_session();
  s.remote_begun = false;
  amqp::begin b;
  b.next_outgoing_id = s.next_outgoing_id;
  s.incoming_window = window_frames();
  b.incoming_window = s.incoming_window;
  b.outgoing_window = 0x7fffffff;
  b.handle_max = 0xffff;
  amqp::append_frame(out_, s.channel, b);
  s.begin_sent = true;
  owner_.mark_dirty(this);
  router_session_ = &s;
  return s;
}

const amqp::attach* amqp_connection::unanswered_attach(const link& l) const {
  auto it = pending_attach_.find(const_cast<link*>(&l));
  return it == pending_attach_.end() ? nullptr : &it->second;
}

bool amqp_connection::has_link_named(const std::string& name) const {
  for (const auto& s : sessions_) {
    if (!s) continue;
    for (const link* l : s->links_by_handle) {
      if (l != nullptr && l->name == name) return true;
    }
  }
  return false;
}

link* amqp_connection::attach_link(link_kind kind, const std::string& name,
                                   const std::string& address, amqp::sender_settle_mode snd_mode,
                                   const amqp::attach* like) {
  if (state_ != state::opened) return nullptr;
  session& s = router_session();
  auto l = std::make_unique<link>();
  l->owner = this;
  l->inter_router = settings_.role == connection_role::inter_router ||
                    settings_.role == connection_role::edge ||
                    settings_.role == connection_role::uplink;
  l->sess = &s;
  l->name = name;
  l->id = next_link_id_++;
  l->kind = kind;
  l->address = address;
  l->snd_settle_mode = snd_mode;
  l->remote_attached = false;
  l->capacity = settings_.link_capacity;
  std::uint32_t handle = 0;
  while (handle < s.links_by_handle.size() && s.links_by_handle[handle] != nullptr) ++handle;
  l->handle = handle;
  amqp::attach a;
  a.name = name;
  a.handle = handle;
  a.role = kind == link_kind::incoming ? amqp::role::receiver : amqp::role::sender;
  a.snd_settle_mode = snd_mode;
  a.source = like != nullptr && like->source ? like->source : amqp::terminus{};
  a.target = like != nullptr && like->target ? like->target : amqp::terminus{};
  if (like != nullptr) {
    a.rcv_settle_mode = like->rcv_settle_mode;
    a.max_message_size = like->max_message_size;
    a.offered_capabilities = like->offered_capabilities;
    a.desired_capabilities = like->desired_capabilities;
    a.properties = like->properties;
  }
  // An empty address is an anonymous link: no address at all, as AMQP says (not "").
  if (!address.empty()) (kind == link_kind::incoming ? a.source : a.target)->address = address;
  if (kind == link_kind::outgoing) a.initial_delivery_count = 0;
  amqp::append_frame(out_, s.channel, a);
  owner_.mark_dirty(this);
  link* raw = l.release();
  store(s.links_by_handle, handle, raw);
  return raw;
}

void amqp_connection::detach_link(link& l, const amqp::error* err) {
  write_detach(l, true, err);
  // A link the peer never attached gets no detach back: forget it now. Otherwise the peer's
  // detach (handle_detach) drops it.
  if (!l.remote_attached) drop_link(l);
}

amqp::attach amqp_connection::attach_reply(const amqp::attach& a, const link& l, bool accepted,
                                           const amqp::attach* answer) {
  // Link-routed links settle end to end (the far side decides); routed links are settled by
  // the router as soon as it knows the outcome.
  const bool end_to_end = l.peer != nullptr;
  amqp::attach reply;
  reply.name = a.name;
  reply.handle = l.handle;
  reply.role = a.role == amqp::role::sender ? amqp::role::receiver : amqp::role::sender;
  reply.snd_settle_mode = a.snd_settle_mode;
  reply.rcv_settle_mode = end_to_end ? a.rcv_settle_mode : amqp::receiver_settle_mode::first;
  reply.source = a.source;
  reply.target = a.target;
  if (answer != nullptr && accepted) {
    // Link-routed: the far side's node, as it answered (the filters it applied, its outcomes
    // and capabilities, its durability), under the address the client used.
    const bool node_is_source = l.kind == link_kind::outgoing;  // the client receives
    const std::optional<amqp::terminus>& far = node_is_source ? answer->source : answer->target;
    std::optional<amqp::terminus>& mine = node_is_source ? reply.source : reply.target;
    if (far) {
      std::optional<std::string> address = mine ? mine->address : std::nullopt;
      mine = far;
      mine->address = std::move(address);
    }
    reply.offered_capabilities = answer->offered_capabilities;
    reply.max_message_size = answer->max_message_size;
    reply.properties = answer->properties;
  }
  if (!accepted) {
    // Refusal (part 2 §2.6.3): attach with a null terminus, then detach with the error.
    if (l.kind == link_kind::outgoing)
      reply.source.reset();
    else
      reply.target.reset();
  }
  if (reply.role == amqp::role::sender) reply.initial_delivery_count = 0;
  return reply;
}

void amqp_connection::complete_attach(link& l, bool accepted, const amqp::error* err,
                                      const amqp::attach* answer) {
  auto it = pending_attach_.find(&l);
  if (it == pending_attach_.end()) return;
  amqp::attach a = std::move(it->second);
  pending_attach_.erase(it);
  amqp::append_frame(out_, l.sess->channel, attach_reply(a, l, accepted, answer));
  owner_.mark_dirty(this);
  if (!accepted) write_detach(l, true, err);
}

// ---- output --------------------------------------------------------------------------------

amqp_connection::write_result amqp_connection::write_transfer(link& l, delivery& d,
                                                              amqp::bytes_view bytes, bool first,
                                                              bool more) {
  session& s = *l.sess;
  write_result result;
  std::uint8_t tag[4];
  amqp::transfer t;
  t.handle = l.handle;
  if (first) {
    t.delivery_id = d.out_id;
    tag[0] = static_cast<std::uint8_t>(d.out_id >> 24);
    tag[1] = static_cast<std::uint8_t>(d.out_id >> 16);
    tag[2] = static_cast<std::uint8_t>(d.out_id >> 8);
    tag[3] = static_cast<std::uint8_t>(d.out_id);
    t.delivery_tag = amqp::bytes_view(tag, 4);
    t.message_format = d.message_format;
    if (d.out_presettled) t.settled = true;
  }
  // Room for the transfer performative itself (at most ~40 bytes with a 4-byte tag).
  constexpr std::size_t performative_room = 64;
  const std::size_t max_payload =
      peer_max_frame_size_ - amqp::frame_header_size - performative_room;
  std::size_t offset = 0;
  do {
    if (s.remote_incoming_window == 0) return result;
    const std::size_t chunk = std::min(bytes.size() - offset, max_payload);
    t.more = offset + chunk < bytes.size() || more;
    const std::size_t start = out_.size();
    out_.resize(start + amqp::frame_header_size);
    amqp::encoder enc(out_);
    amqp::encode(enc, t);
    out_.insert(out_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                bytes.begin() + static_cast<std::ptrdiff_t>(offset + chunk));
    amqp::write_frame_header(out_.data() + start, static_cast<std::uint32_t>(out_.size() - start),
                             amqp::frame_type_amqp, s.channel);
    offset += chunk;
    result.consumed = offset;
    ++s.next_outgoing_id;
    --s.remote_incoming_window;
    // Continuation frames carry only handle and more.
    t.delivery_id.reset();
    t.delivery_tag.reset();
    t.message_format.reset();
    t.settled.reset();
  } while (offset < bytes.size());
  result.done = true;
  if (!dirty_) owner_.mark_dirty(this);
  return result;
}

void amqp_connection::write_abort(link& l) {
  amqp::transfer t;
  t.handle = l.handle;
  t.aborted = true;
  t.settled = true;
  amqp::append_frame(out_, l.sess->channel, t);
  ++l.sess->next_outgoing_id;
  owner_.mark_dirty(this);
}

void amqp_connection::write_flow(link& l, bool echo) {
  session& s = *l.sess;
  amqp::flow f;
  fill_session_fields(f, s);
  f.handle = l.handle;
  if (l.kind == link_kind::incoming) {
    f.delivery_count = l.peer_delivery_count;
    f.link_credit = l.credit_outstanding;
  } else {
    f.delivery_count = l.delivery_count;
    f.link_credit = l.credit;
    f.available = static_cast<std::uint32_t>(l.queue.size());
    f.drain = l.drain;
  }
  f.echo = echo;
  amqp::append_frame(out_, s.channel, f);
  owner_.mark_dirty(this);
}

void amqp_connection::write_session_flow(session& s) {
  amqp::flow f;
  fill_session_fields(f, s);
  amqp::append_frame(out_, s.channel, f);
  owner_.mark_dirty(this);
}

void amqp_connection::write_detach(link& l, bool closed, const amqp::error* err) {
  if (l.detach_sent) return;
  l.detach_sent = true;
  amqp::detach d;
  d.handle = l.handle;
  d.closed = closed;
  if (err != nullptr) d.err = *err;
  amqp::append_frame(out_, l.sess->channel, d);
  owner_.mark_dirty(this);
}

void amqp_connection::queue_disposition(session& s, amqp::role role, std::uint32_t id, bool settled,
                                        const amqp::delivery_state& state) {
  auto& run = s.pending_disposition;
  const bool simple = state.type == amqp::delivery_state::kind::accepted ||
                      state.type == amqp::delivery_state::kind::released ||
                      state.type == amqp::delivery_state::kind::none;
  if (run.active && simple && run.role == role && run.settled == settled &&
      run.state == state.type && id == run.last + 1) {
    run.last = id;
    return;
  }
  if (run.active) flush_dispositions(s);
  if (simple) {
    run = {true, role, id, id, settled, state.type};
    if (!dirty_) owner_.mark_dirty(this);
    return;
  }
  amqp::disposition d;
  d.role = role;
  d.first = id;
  d.settled = settled;
  d.state = state;
  amqp::append_frame(out_, s.channel, d);
  owner_.mark_dirty(this);
}

void amqp_connection::flush_dispositions(session& s) {
  auto& run = s.pending_disposition;
  if (!run.active) return;
  amqp::disposition d;
  d.role = run.role;
  d.first = run.first;
  if (run.last != run.first) d.last = run.last;
  d.settled = run.settled;
  d.state.type = run.state;
  amqp::append_frame(out_, s.channel, d);
  run.active = false;
  owner_.mark_dirty(this);
}

}  // namespace fogmesh::router
