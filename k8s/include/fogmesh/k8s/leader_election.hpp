// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
// spec.renewTime every `renew_period`; a candidate takes the Lease over once its record has not
// changed for `lease_duration` as measured on the candidate's own clock (no clock-skew
// assumptions). Optimistic concurrency (resourceVersion) makes exactly one candidate win.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
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

// Waits for the Lease, then runs `body(inner_stop)` while renewing it in the background;
// inner_stop turns true on `stop` or when the Lease is lost. Releases the Lease after a clean
// stop. Returns false when leadership was lost (the caller should exit non-zero so that it
// restarts as a fresh candidate, as controller-runtime does); true otherwise.
bool run_as_leader(client& c, const leader_elector::options& opts, const std::atomic<bool>& stop,
                   const std::function<void(const std::atomic<bool>&)>& body);

// Default identity of a replica: $POD_NAME, else hostname-pid.
std::string default_identity();

}  // namespace fogmesh::k8s
