// Socket plumbing shared by the in-router adaptors (tcp/http listeners and connectors): a
// stream socket driven by the shard's io_uring loop, a listening socket with multishot accept,
// and the attribute helpers of the adaptor entities.
//
// Thread: the owning shard's thread only (like the event loop).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amqp/performatives.hpp"
#include "fogmesh/router/config.hpp"
#include "io/event_loop.hpp"
#include "io/stream_socket.hpp"

namespace fogmesh::proxy::adaptor {

namespace io = fogmesh::router::io;

using io::socket_graveyard;
using io::stream_socket;

// A listening socket (SO_REUSEPORT: one per shard on the same port) with multishot accept.
class accept_socket final : public io::completion_target {
 public:
  // Binds host:port; throws std::system_error naming `name`.
  accept_socket(io::event_loop& loop, const std::string& name, const std::string& host,
                const std::string& port, std::function<void(int fd)> on_accept);
  ~accept_socket() override;
  std::uint16_t port() const noexcept { return port_; }
  // Stops accepting and closes the listening socket.
  void stop();
  void on_completion(io::op_kind kind, int res, std::uint32_t flags,
                     std::span<const std::uint8_t> data) override;

 private:
  io::event_loop& loop_;
  std::string name_;
  int fd_ = -1;
  std::uint32_t slot_;
  std::uint16_t port_ = 0;
  bool armed_ = false;
  bool stopped_ = false;
  std::function<void(int)> on_accept_;
};

// A resolved connect target.
struct target_address {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};
// Resolves host:port (numeric port or service name). nullopt + message on failure.
std::optional<target_address> resolve_target(const std::string& host, const std::string& port,
                                             std::string& error);
// A new non-connected TCP socket for `t` (CLOEXEC, TCP_NODELAY); -1 + errno on failure.
int make_client_socket(const target_address& t);

// Delivery states the adaptors settle with.
inline router::amqp::delivery_state make_state(router::amqp::delivery_state::kind k) {
  router::amqp::delivery_state s;
  s.type = k;
  return s;
}
inline router::amqp::delivery_state rejected(std::string condition, std::string description) {
  router::amqp::delivery_state s = make_state(router::amqp::delivery_state::kind::rejected);
  s.rejected_error = router::amqp::error{std::move(condition), std::move(description), {}};
  return s;
}

// Entity attribute helpers (validate throws std::invalid_argument naming the attribute).
std::string attribute(const router::generic_entity& e, const std::string& name,
                      const std::string& fallback = "");
void require_attribute(const router::generic_entity& e, const std::string& name);
void require_port(const router::generic_entity& e);

}  // namespace fogmesh::proxy::adaptor
