// One connected TCP socket on a shard's event loop, for whatever is not an AMQP connection: the
// proxy's TCP/HTTP adaptors and the router's HTTP endpoint (/metrics, /healthz).
//
// Thread: the owning shard's thread only (like the event loop).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/event_loop.hpp"

namespace fogmesh::router::io {

// One connected TCP socket. Reading is a multishot recv into the loop's provided buffers that
// can be paused (cancelled) and resumed; writing appends to an output buffer that is sent with
// a plain non-blocking send() first and through io_uring for what the socket does not take.
//
// Lifetime: close() detaches the handler and starts the shutdown; the object must then live
// until finished() (no operation in flight still refers to its buffers) — the owner parks it
// in a socket_graveyard.
class stream_socket final : public completion_target {
 public:
  class handler {
   public:
    // Bytes received; valid only during the call.
    virtual void on_socket_data(std::span<const std::uint8_t> data) = 0;
    // The peer half-closed (read EOF).
    virtual void on_socket_eof() = 0;
    // A receive or send failed (reset, EPIPE...), or the connect failed (`connecting`).
    virtual void on_socket_error(int err, bool connecting) = 0;
    // Output drained into the kernel (some or all: see unsent()), or the connect completed.
    virtual void on_socket_writable() = 0;

   protected:
    ~handler() = default;
  };

  stream_socket(event_loop& loop, int fd, handler* h);
  ~stream_socket() override;
  stream_socket(const stream_socket&) = delete;
  stream_socket& operator=(const stream_socket&) = delete;

  // Hands the socket to another handler (an HTTP connection that becomes a tunnel): later
  // completions go to h.
  void set_handler(handler* h) noexcept { h_ = h; }

  // Starts an asynchronous connect; on_socket_writable() on success, on_socket_error on failure.
  void connect(const sockaddr* addr, socklen_t len);
  bool connected() const noexcept { return connected_; }

  // Reading: off until set_reading(true). Data already on its way may still arrive after
  // set_reading(false) (bounded by what the kernel had queued).
  void set_reading(bool on);
  bool eof() const noexcept { return eof_; }

  void write(std::string_view bytes);
  // Bytes accepted by write() and not yet taken by the kernel.
  std::size_t unsent() const noexcept { return out_.size() + (sending_.size() - sending_offset_); }
  // Total bytes the kernel took (for the TCP byte window).
  std::uint64_t bytes_written() const noexcept { return written_; }
  // Half-close (FIN) once everything written so far is sent.
  void shutdown_write();
  bool write_shut() const noexcept { return shut_wr_done_; }

  // Ends the socket: graceful (FIN after the output) or reset (RST at once). The handler gets
  // no further calls.
  void close(bool reset);
  bool closing() const noexcept { return closing_; }
  bool finished() const noexcept {
    return closing_ && !send_in_flight_ && !recv_armed_ && !connecting_ && out_.empty();
  }

  void on_completion(op_kind kind, int res, std::uint32_t flags,
                     std::span<const std::uint8_t> data) override;

 private:
  void flush();
  void arm_recv();
  void fail(int err);
  void maybe_shut();

  event_loop& loop_;
  int fd_;
  handler* h_;
  std::uint32_t slot_;
  bool connecting_ = false, connected_ = true;
  bool want_read_ = false, recv_armed_ = false, eof_ = false;
  bool send_in_flight_ = false;
  bool want_shut_wr_ = false, shut_wr_done_ = false;
  bool closing_ = false, reset_ = false, failed_ = false;
  std::string out_;
  std::string sending_;
  std::size_t sending_offset_ = 0;
  std::uint64_t written_ = 0;
};

// Sockets that were closed while the kernel may still use their buffers: kept until finished.
class socket_graveyard {
 public:
  void bury(std::unique_ptr<stream_socket> s);
  void reap();
  std::size_t size() const noexcept { return sockets_.size(); }

 private:
  std::vector<std::unique_ptr<stream_socket>> sockets_;
};

}  // namespace fogmesh::router::io
