#include "adaptor_io.hpp"

#include "server/shard.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "fogmesh/common/log.hpp"

namespace fogmesh::proxy::adaptor {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.adaptor");
  return l;
}

}  // namespace

// ---- stream_socket --------------------------------------------------------------------------

stream_socket::stream_socket(io::event_loop& loop, int fd, handler* h)
    : loop_(loop), fd_(fd), h_(h) {
  slot_ = loop_.register_target(this);
}

stream_socket::~stream_socket() {
  loop_.unregister_target(slot_);  // a completion still in flight is dropped unseen
  if (fd_ >= 0) ::close(fd_);
}

void stream_socket::connect(const sockaddr* addr, socklen_t len) {
  connected_ = false;
  connecting_ = loop_.connect(slot_, fd_, addr, len);
  if (!connecting_) fail(EAGAIN);
}

void stream_socket::set_reading(bool on) {
  want_read_ = on;
  if (closing_ || eof_ || !connected_) return;
  if (on && !recv_armed_) {
    arm_recv();
  } else if (!on && recv_armed_) {
    loop_.cancel(slot_, io::op_kind::recv);  // recv_armed_ stays true until its last CQE
  }
}

void stream_socket::arm_recv() { recv_armed_ = loop_.recv_multishot(slot_, fd_); }

void stream_socket::write(std::string_view bytes) {
  if (closing_ || failed_ || bytes.empty()) return;
  out_.append(bytes);
  flush();
}

void stream_socket::shutdown_write() {
  want_shut_wr_ = true;
  maybe_shut();
}

void stream_socket::maybe_shut() {
  if (!want_shut_wr_ || shut_wr_done_ || failed_ || unsent() != 0 || !connected_) return;
  shut_wr_done_ = true;
  ::shutdown(fd_, SHUT_WR);
}

void stream_socket::flush() {
  if (send_in_flight_ || failed_ || !connected_) return;
  while (!out_.empty()) {
    // A plain non-blocking send first: most writes fit the socket buffer and then cost no
    // completion; what does not fit goes to io_uring, which waits for room.
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      written_ += static_cast<std::uint64_t>(n);
      out_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      fail(errno);
      return;
    }
    sending_.swap(out_);
    out_.clear();
    sending_offset_ = 0;
    send_in_flight_ = loop_.send(slot_, fd_, sending_.data(), sending_.size());
    if (!send_in_flight_) fail(EAGAIN);
    return;
  }
  maybe_shut();
}

void stream_socket::close(bool reset) {
  if (closing_) return;
  closing_ = true;
  h_ = nullptr;
  want_read_ = false;
  if (reset || failed_) {
    reset_ = true;
    out_.clear();
    // SO_LINGER 0: close() sends RST, so the peer sees the failure rather than a clean end.
    linger lg{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    // Wakes pending operations; their buffers stay valid until they complete (finished()).
    ::shutdown(fd_, SHUT_RD);
    if (send_in_flight_) loop_.cancel(slot_, io::op_kind::send);
  } else {
    shutdown_write();
    if (out_.empty() && !send_in_flight_) ::shutdown(fd_, SHUT_RDWR);
  }
  if (recv_armed_) loop_.cancel(slot_, io::op_kind::recv);
  if (connecting_) loop_.cancel(slot_, io::op_kind::connect);
}

void stream_socket::fail(int err) {
  if (failed_) return;
  failed_ = true;
  out_.clear();
  if (h_ != nullptr) h_->on_socket_error(err, false);
}

void stream_socket::on_completion(io::op_kind kind, int res, std::uint32_t flags,
                                  std::span<const std::uint8_t> data) {
  switch (kind) {
    case io::op_kind::connect:
      connecting_ = false;
      if (closing_) return;
      if (res < 0) {
        failed_ = true;
        if (h_ != nullptr) h_->on_socket_error(-res, true);
        return;
      }
      connected_ = true;
      {
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      if (want_read_) arm_recv();
      flush();
      if (h_ != nullptr) h_->on_socket_writable();
      return;
    case io::op_kind::recv:
      if ((flags & IORING_CQE_F_MORE) == 0) recv_armed_ = false;
      if (res > 0) {
        if (h_ != nullptr) h_->on_socket_data(data);
      } else if (res == 0) {
        if (!eof_) {
          eof_ = true;
          if (h_ != nullptr) h_->on_socket_eof();
        }
        return;
      } else if (res != -ENOBUFS && res != -ECANCELED) {
        if (!closing_) fail(-res);
        return;
      }
      if (!recv_armed_ && want_read_ && !eof_ && !closing_ && !failed_) arm_recv();
      return;
    case io::op_kind::send:
      send_in_flight_ = false;
      if (res < 0) {
        sending_.clear();
        sending_offset_ = 0;
        if (!closing_) fail(-res);
        else out_.clear();
        return;
      }
      written_ += static_cast<std::uint64_t>(res);
      sending_offset_ += static_cast<std::size_t>(res);
      if (sending_offset_ < sending_.size() && !reset_) {
        send_in_flight_ =
            loop_.send(slot_, fd_, sending_.data() + sending_offset_, sending_.size() - sending_offset_);
        return;
      }
      sending_.clear();
      sending_offset_ = 0;
      if (reset_) return;
      flush();
      if (closing_) {
        if (out_.empty() && !send_in_flight_) ::shutdown(fd_, SHUT_RDWR);
        return;
      }
      if (h_ != nullptr) h_->on_socket_writable();
      return;
    default:
      return;
  }
}

void socket_graveyard::bury(std::unique_ptr<stream_socket> s) {
  if (!s) return;
  if (s->finished()) return;  // destroyed here
  sockets_.push_back(std::move(s));
}

void socket_graveyard::reap() {
  std::erase_if(sockets_, [](const std::unique_ptr<stream_socket>& s) { return s->finished(); });
}

// ---- accept_socket --------------------------------------------------------------------------

accept_socket::accept_socket(io::event_loop& loop, const std::string& name,
                             const std::string& host, const std::string& port,
                             std::function<void(int)> on_accept)
    : loop_(loop), name_(name), on_accept_(std::move(on_accept)) {
  fd_ = fogmesh::router::open_listen_socket(name, host, port, &port_);
  slot_ = loop_.register_target(this);
  armed_ = loop_.accept_multishot(slot_, fd_);
}

accept_socket::~accept_socket() {
  stop();
  loop_.unregister_target(slot_);
}

void accept_socket::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (armed_) loop_.cancel(slot_, io::op_kind::accept);
  // The ring holds its own reference to the file until the cancelled accept completes; the
  // port is free once that happens (within this loop turn).
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
}

void accept_socket::on_completion(io::op_kind, int res, std::uint32_t flags,
                                  std::span<const std::uint8_t>) {
  if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
  if (res >= 0) {
    if (stopped_) {
      ::close(res);
    } else {
      on_accept_(res);
    }
  } else if (res != -ECANCELED && res != -EINVAL && !stopped_) {
    logger()->warn("{}: accept failed: {}", name_, std::strerror(-res));
  }
  if (!armed_ && !stopped_) armed_ = loop_.accept_multishot(slot_, fd_);
}

// ---- targets --------------------------------------------------------------------------------

std::optional<target_address> resolve_target(const std::string& host, const std::string& port,
                                             std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    error = "cannot resolve " + host + ":" + port + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  target_address t;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  t.family = res->ai_family;
  freeaddrinfo(res);
  return t;
}

int make_client_socket(const target_address& t) {
  return ::socket(t.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

// ---- attributes -----------------------------------------------------------------------------

std::string attribute(const router::generic_entity& e, const std::string& name,
                      const std::string& fallback) {
  auto it = e.attributes.find(name);
  return it == e.attributes.end() ? fallback : it->second;
}

void require_attribute(const router::generic_entity& e, const std::string& name) {
  if (attribute(e, name).empty()) {
    throw std::invalid_argument("attribute '" + name + "' is required");
  }
}

void require_port(const router::generic_entity& e) {
  require_attribute(e, "port");
  const std::string p = attribute(e, "port");
  if (!router::resolve_port(p)) {
    throw std::invalid_argument("attribute 'port': '" + p + "' is not a port number");
  }
}

}  // namespace fogmesh::proxy::adaptor
