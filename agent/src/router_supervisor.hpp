// Runs the fog's edge router (fogmesh-router) as a supervised child process of the agent, in
// place of ioFog's router container:
//
// - the config file (<data dir>/router.json) is rendered from the router microservice's config
//   (router_config.hpp) before each start and on each change;
// - the child's stdout/stderr go to <data dir>/router.log (rotated once at 1 MiB); it gets
//   PR_SET_PDEATHSIG=SIGTERM, so it never outlives an agent killed with SIGKILL;
// - an exit the agent did not ask for is logged with the exit code or signal and the log's last
//   line, and the router is started again after a back-off (doubling up to the maximum; reset
//   once a run lasted a minute);
// - a config change is applied through AMQP management on the router's normal listener:
//   deleted or changed listener/connector/tcp*/http*/address entities are DELETEd, new ones
//   CREATEd, the process keeps running. Only a new mode, id or router attribute (or an entity
//   management cannot change, or a failed management call) restarts it;
// - stop: SIGTERM, then SIGKILL after the stop timeout.
//
// Everything runs on the agent's loop thread (management calls wait on a worker thread).
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "router_config.hpp"
#include "router_management.hpp"

namespace fogmesh::agent {

struct router_supervisor_options {
  std::string binary = "fogmesh-router";  // see find_router_binary
  std::string data_dir;                   // config file and log go here (created if missing)
  std::string log_level;                  // --log-level for the router; empty = its default
  std::chrono::milliseconds restart_backoff{1000};
  std::chrono::milliseconds restart_backoff_max{30000};
  std::chrono::milliseconds stop_timeout{5000};
  std::chrono::milliseconds management_timeout{10000};
  // Called (on the loop thread) whenever status() changed.
  std::function<void()> on_change;
};

struct router_process_status {
  std::string microservice_uuid;  // empty: no router wanted
  std::string status = "QUEUED";  // STARTING, RUNNING, RESTARTING, FAILED, STOPPED
  pid_t pid = 0;
  int64_t start_time = 0;  // epoch ms of the current process
  int restarts = 0;        // unplanned exits since the router microservice appeared
  std::string error_message;
};

class router_supervisor {
 public:
  router_supervisor(boost::asio::io_context& io, router_supervisor_options options);
  ~router_supervisor();  // stops the child (blocking, at most stop_timeout + a moment)
  router_supervisor(const router_supervisor&) = delete;
  router_supervisor& operator=(const router_supervisor&) = delete;

  // Starts the supervision loop (once).
  void start();
  // The router the controller wants: a microservice uuid and its spec; nullopt stops it.
  void set_desired(const std::string& microservice_uuid, std::optional<router_spec> spec);
  // The router microservice's config cannot be used: nothing runs, the status says why.
  void set_invalid(const std::string& microservice_uuid, const std::string& error);
  void clear() { set_desired("", std::nullopt); }
  // Synchronous stop for the agent's shutdown: SIGTERM, wait, SIGKILL. No restart afterwards.
  void stop_blocking();

  const router_process_status& status() const { return status_; }
  pid_t pid() const;
  // The router accepted a connection on its management listener since it was (re)started.
  bool ready() const { return ready_; }
  // What the running router was last configured with (file or management).
  const std::optional<router_spec>& applied() const { return applied_; }
  std::string config_path() const;
  std::string log_path() const;

 private:
  struct child;

  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<void> watch(std::shared_ptr<child> c);
  boost::asio::awaitable<void> terminate();
  boost::asio::awaitable<bool> probe(const router_spec::endpoint& ep);
  boost::asio::awaitable<void> apply_change(router_spec target);
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);
  void spawn(const router_spec& spec);
  void write_config(const router_spec& spec);
  void wake();
  void set_status(const std::string& status, const std::string& error);
  void child_exited(const std::shared_ptr<child>& c, int wait_status);

  boost::asio::io_context& io_;
  router_supervisor_options options_;
  boost::asio::steady_timer wake_timer_;
  bool wake_pending_ = false;
  bool started_ = false;
  bool stopping_ = false;
  std::optional<router_spec> desired_;
  std::optional<router_spec> applied_;
  std::shared_ptr<child> child_;
  bool ready_ = false;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  router_process_status status_;
  management_runner management_;
};

// --router-binary / routerBinary when given (a bare name is looked up in PATH); else
// fogmesh-router next to the agent's executable (or in ../router-core/ of a build tree); else
// fogmesh-router from PATH. Returns the configured or bare name when nothing is found (the
// start then fails with a clear message).
std::string find_router_binary(const std::string& configured);

}  // namespace fogmesh::agent
