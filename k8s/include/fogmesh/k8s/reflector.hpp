// List + watch of one resource type, resumed from the last resourceVersion: bookmarks move it
// forward, 410 Gone (or an ERROR event with code 410) relists, errors back off and retry. After
// each relist, objects that vanished while no watch was open are reported as DELETED, so a
// consumer misses no change across API server restarts. Runs on the caller's thread (run()).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

struct watch_event {
  std::string type;  // ADDED, MODIFIED, DELETED
  json::object object;
};

class reflector {
 public:
  struct options {
    std::string namespace_;  // "" = all namespaces (or cluster-scoped)
    std::string label_selector;
    std::string field_selector;
    int timeout_seconds = 300;  // server-side watch timeout; the watch is then re-opened
  };
  reflector(client& c, resource res, options opts,
            std::function<void(const watch_event&)> on_event);

  // Blocks until `stop` becomes true. Never throws: failures are logged and retried.
  void run(const std::atomic<bool>& stop);

  // Counters for tests and logs.
  int relists() const { return relists_.load(); }
  int watches() const { return watches_.load(); }
  std::string resource_version() const;
  // True once the first list has been delivered.
  bool synced() const { return synced_.load(); }

 private:
  void relist();
  // Returns false when the watch ended with 410 Gone (relist needed).
  bool watch_once(const std::atomic<bool>& stop);
  std::string query() const;

  client& client_;
  resource res_;
  options opts_;
  std::function<void(const watch_event&)> on_event_;
  std::map<std::string, std::string> known_;  // namespace/name -> resourceVersion
  mutable std::mutex rv_mu_;
  std::string rv_;
  std::atomic<int> relists_{0}, watches_{0};
  std::atomic<bool> synced_{false};
};

// namespace/name of an object ("name" for cluster-scoped objects).
std::string object_key(const json::object& obj);

}  // namespace fogmesh::k8s
