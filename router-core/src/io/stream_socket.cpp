#include "io/stream_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>

namespace fogmesh::router::io {

stream_socket::stream_socket(event_loop& loop, int fd, handler* h)
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
    loop_.cancel(slot_, op_kind::recv);  // recv_armed_ stays true until its last CQE
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
    if (send_in_flight_) loop_.cancel(slot_, op_kind::send);
  } else {
    shutdown_write();
    if (out_.empty() && !send_in_flight_) ::shutdown(fd_, SHUT_RDWR);
  }
  if (recv_armed_) loop_.cancel(slot_, op_kind::recv);
  if (connecting_) loop_.cancel(slot_, op_kind::connect);
}

void stream_socket::fail(int err) {
  if (failed_) return;
  failed_ = true;
  out_.clear();
  if (h_ != nullptr) h_->on_socket_error(err, false);
}

void stream_socket::on_completion(op_kind kind, int res, std::uint32_t flags,
                                  std::span<const std::uint8_t> data) {
  switch (kind) {
    case op_kind::connect:
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
    case op_kind::recv:
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
    case op_kind::send:
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

}  // namespace fogmesh::router::io
