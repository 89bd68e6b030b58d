// fogmesh-operator: level-triggered reconciliation of ControlPlane and Application custom
// resources (iofog.org/v3). Watches its CRs and every object it owns (by label), keeps a work
// queue of CR keys (deduplicated, delayed retries with back-off), and reconciles one key at a
// time on one worker thread: desired children are (re)created or replaced when their spec hash
// changes, status conditions tell deploying / ready / failed, a finalizer cleans up.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

struct operator_options {
  std::string namespace_;  // watched namespace
  // Controller base URL override (out-of-cluster runs, tests); empty = the controller Service,
  // http://controller.<namespace>.svc.cluster.local:51121
  std::string controller_url;
  bool install_crds = false;
  bool leader_elect = true;
  std::string lease_name = "fogmesh-operator";
  std::string identity;  // default: $POD_NAME or hostname-pid
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_period{5};
  std::chrono::seconds resync{300};
  // Default images of the children (a ControlPlane's spec.images overrides them).
  std::string controller_image = "ghcr.io/fogmesh/controller:0.1.0";
  std::string router_image = "ghcr.io/fogmesh/router:0.1.0";
  std::string port_manager_image = "ghcr.io/fogmesh/port-manager:0.1.0";
  std::string proxy_image = "ghcr.io/fogmesh/router:0.1.0";
};

// The CRD documents of deploy/kubernetes/crds (JSON), compiled in.
const std::vector<std::string>& embedded_crds();
// Creates the CRDs, or replaces them when they differ; waits until they are Established.
void install_crds(client& c);

class fog_operator {
 public:
  fog_operator(client& c, operator_options opts);
  ~fog_operator();
  // Blocks until `stop`: leader election (if enabled), then watches + the worker.
  void run(const std::atomic<bool>& stop);

  // Reconciles one ControlPlane / Application now (what the worker does for a queued key);
  // returns the delay after which it wants to run again (zero = not needed).
  std::chrono::milliseconds reconcile_control_plane(const std::string& ns, const std::string& name);
  std::chrono::milliseconds reconcile_application(const std::string& ns, const std::string& name);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace fogmesh::k8s
