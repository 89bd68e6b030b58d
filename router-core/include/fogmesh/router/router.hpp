// fogmesh-router as a library: build it from a router_config, run it, stop it. Tests and the
// fogmesh-router binary use exactly this.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fogmesh/router/config.hpp"

namespace fogmesh::router {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (threads started later inherit the
// mask; run_until_signal takes them with sigwait) and ignores SIGPIPE. Call it first thing in
// main: a supervisor may send SIGTERM as soon as the router's listeners are bound.
void block_stop_signals();

class router {
 public:
  // Binds every listener (a port of 0 picks a free one). Throws std::system_error naming the
  // listener when a socket cannot be bound, before anything runs.
  explicit router(router_config config);
  ~router();
  router(const router&) = delete;
  router& operator=(const router&) = delete;

  // Runs the shard loop(s) on the calling thread until stop(); then closes connections
  // gracefully (unsettled deliveries released to their senders) and returns.
  void run();
  // Thread-safe; returns at once. run() returns shortly after.
  void stop();

  // For a program's main thread: runs the router on a thread of its own until SIGTERM or SIGINT,
  // then stops it and returns the signal's name. SIGHUP is logged and ignored. The program must
  // have called block_stop_signals() before constructing the router.
  std::string run_until_signal();

  // The port each listener is bound to, in config order.
  std::vector<std::uint16_t> listener_ports() const;
  const router_config& config() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace fogmesh::router
