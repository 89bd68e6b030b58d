// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
// spec.renewTime every `renew_period`; a candidate takes the Lease over once its record has not
// changed for `lease_duration` as measured on the candidate's own clock (no clock-skew
// assumptions). Optimistic concurrency (resourceVersion) makes exactly one candidate win.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

class leader_elector {
 public:
  struct options {
    std::string namespace_;
    std::string name;      // Lease name
    std::string identity;  // this replica (pod name, or host-pid)
    std::chrono::seconds lease_duration{15};
    std::chrono::seconds renew_period{5};
  };
  leader_elector(client& c, options opts);

  // One attempt to acquire or renew; true when this replica holds the Lease afterwards.
  bool try_acquire_or_renew();
  // Gives the Lease up (on clean shutdown) so another replica takes over at once.
  void release();
  bool is_leader() const { return leader_.load(); }
  const options& opts() const { return opts_; }

 private:
  client& client_;
  options opts_;
  std::atomic<bool> leader_{false};
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_at_{};
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace fogmesh::k8s
