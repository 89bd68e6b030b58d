// fogmesh-kubelet: a view-only virtual kubelet for the whole fleet. Each agent is a Node
// (labels, capacity, addresses and conditions from the agent's status; NotReady/Unknown when
// the agent is UNKNOWN; a NoSchedule taint so nothing is scheduled there; a Lease heartbeat in
// kube-node-lease), each microservice a Pod bound to its agent's node with phase and container
// status from the microservice status. Edits made in Kubernetes are not applied to the fleet;
// objects of deleted agents/microservices are removed, objects deleted in Kubernetes come back.
//
// API rate: every tick reads the controller once (fog list + microservice list; answers
// identical to the last complete pass's are not parsed again); Kubernetes is written only for
// what changed (hashes of each object's desired metadata/spec and status are
// kept in memory: a status change is one PATCH of /status), plus one Lease PATCH per node every
// `lease_renew`. Kubernetes is listed once at start and then watched (no relist per tick).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

struct kubelet_options {
  std::string controller_url;
  std::string email, password;
  std::string pod_namespace = "iofog";  // where microservice Pods are shown
  std::chrono::milliseconds sync_interval{2000};  // from the start of a pass to the next
  std::chrono::seconds lease_renew{40};
  int write_concurrency = 4;  // API requests in flight during a pass
  std::string version = "0.1.0";
};

class kubelet {
 public:
  kubelet(client& k, kubelet_options opts);
  ~kubelet();
  void run(const std::atomic<bool>& stop);
  // One pass (read the controller, write what changed); returns the number of API writes.
  int sync_once();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Node name of an agent: iofog-<lower-case uuid>.
std::string node_name(const std::string& agent_uuid);

}  // namespace fogmesh::k8s
