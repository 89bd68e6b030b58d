// What the three Kubernetes binaries share around their main(): the common options
// (--kubeconfig, --namespace, --controller-url, --email, --password, --no-leader-elect,
// --log-level, with their environment defaults) and running the component as Lease leader.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "fogmesh/common/cli.hpp"
#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

struct common_options {
  std::string kubeconfig;
  std::string namespace_;      // $WATCH_NAMESPACE
  std::string controller_url;  // $CONTROLLER_URL
  std::string email;           // $IOFOG_USER_EMAIL
  std::string password;        // $IOFOG_USER_PASS
  bool leader_elect = true;

  common_options();  // reads the environment defaults
  // Consumes `arg` (and its value) when it is a common option; false otherwise.
  bool parse(cli::arguments& args, const std::string& arg);
  // Throws cli::usage_error unless email and password are set.
  void require_user() const;
};

std::string env_or(const char* name, std::string fallback = "");
// An option's positive integer value; throws cli::usage_error naming the option and `unit`.
int positive_option(const std::string& value, const std::string& opt, const char* unit);

// Runs `body(stop)` directly, or as the holder of Lease `lease_name` in `lease_namespace`
// (15 s lease, 5 s renewal). Returns the process exit code: 0, or 1 when the Lease was lost.
int run_component(client& c, bool leader_elect, const std::string& lease_namespace,
                  const std::string& lease_name, const std::atomic<bool>& stop,
                  const std::function<void(const std::atomic<bool>&)>& body);

// The rest of a main(): SIGTERM/SIGINT handling, the client (from `kubeconfig`, or discovered),
// `body(client, stop)` → the exit code; an exception is logged as critical and exits 1.
int run_main(const char* module, const std::string& kubeconfig,
             const std::function<int(client&, const std::atomic<bool>&)>& body);

// The usage-error exit: "<program>: <message> (see --help)", code 2.
int usage_failure(const char* program, const std::exception& e);

}  // namespace fogmesh::k8s
