// The router's own HTTP service, on listeners with `http: true` (qdrouterd's attribute):
// `GET /metrics` (Prometheus text, management/metrics.hpp) unless the listener says
// `metrics: false`, and `GET /healthz` (200 while the router runs) unless `healthz: false`.
// Plain HTTP/1.1, one request per connection (the answer says `Connection: close`), which is
// all a scraper or a liveness probe needs; the request head is capped at 8 KiB.
//
// Thread: the owning shard's thread.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "io/stream_socket.hpp"

namespace fogmesh::router {

class shard;
struct listener_config;

class http_endpoint_connection final : public io::stream_socket::handler {
 public:
  http_endpoint_connection(shard& owner, int fd, const listener_config& listener,
                           std::string peer);
  ~http_endpoint_connection();
  http_endpoint_connection(const http_endpoint_connection&) = delete;
  http_endpoint_connection& operator=(const http_endpoint_connection&) = delete;

  // The answer is written (or the peer went away): the shard may destroy it.
  bool done() const noexcept { return done_; }
  // Shutdown: stop at once.
  void close();
  // The socket, for the shard's graveyard once done (the kernel may still hold its buffers).
  std::unique_ptr<io::stream_socket> take_socket() { return std::move(socket_); }

  // Request line → answer; exposed for tests and the fuzzer. Returns false when the head is
  // not a valid HTTP/1.x request line.
  struct request_line {
    std::string method, path;
  };
  static bool parse_request_line(std::string_view head, request_line& out);

 private:
  void on_socket_data(std::span<const std::uint8_t> data) override;
  void on_socket_eof() override;
  void on_socket_error(int err, bool connecting) override;
  void on_socket_writable() override;
  void handle_request();
  void respond(int status, std::string_view reason, std::string_view content_type,
               std::string body, bool head_only = false);

  shard& owner_;
  std::unique_ptr<io::stream_socket> socket_;
  std::string peer_;
  bool metrics_;
  bool healthz_;
  std::string head_;
  bool answered_ = false;
  bool done_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fogmesh::router
