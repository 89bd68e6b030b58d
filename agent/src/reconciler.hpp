// Drives the container engine towards what the controller wants: one container `iofog_<uuid>`
// per microservice, labelled `iofog-uuid=<fog uuid>` (as upstream) plus our spec hash so a
// changed spec is recreated and an unchanged running container is adopted as is (agent
// restarts do not restart microservices). Exited containers are restarted with exponential
// back-off; more than 10 (re)starts within 10 minutes is STUCK_IN_RESTART, as upstream, and
// the agent stops trying until the spec changes. Containers named iofog_* that carry this fog's
// label but are not wanted are removed; containers of other fogs on the same engine are left
// alone (upstream removes every iofog_* container, which breaks two agents on one host).
//
// Owned and called by the daemon's loop thread; reconcile() runs one pass at a time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fogmesh/agent/docker_client.hpp"

namespace fogmesh::agent {

struct microservice_desired {
  std::string uuid;
  std::string image;
  std::string config;  // the microservice's config (a JSON string)
  bool rebuild = false;
  bool root_host_access = false;
  int log_size = 0;  // MB
  int64_t registry_id = 0;
  struct port {
    int internal = 0;
    int external = 0;
    bool udp = false;
  };
  std::vector<port> ports;
  struct volume {
    std::string host_destination;
    std::string container_destination;
    std::string access_mode;  // "rw" | "ro"
    std::string type;         // "bind" | "volume"
  };
  std::vector<volume> volumes;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> cmd;
  std::vector<std::string> extra_hosts;  // "name:address"
  std::vector<std::string> routes;       // receiver uuids
  bool is_consumer = false;
  bool delete_requested = false;
  bool delete_with_cleanup = false;

  // From one element of GET /agent/microservices; throws std::invalid_argument.
  static microservice_desired from_json(const boost::json::object& o);
  // Hash of everything that requires a new container (not config: that is delivered live).
  std::string spec_hash() const;
};

struct registry_info {
  int64_t id = 0;
  std::string url;
  bool is_public = true;
  std::string username;
  std::string password;
  std::string email;
  static registry_info from_json(const boost::json::object& o);
};

struct microservice_status {
  std::string status = "QUEUED";
  int percentage = 0;
  std::string error_message;
  std::string container_id;
  int64_t start_time = 0;  // epoch ms
};

struct reconciler_options {
  std::string fog_uuid;
  std::string iofog_host;  // address containers use for the local API ("iofog" extra host)
  int local_api_port = 54321;
  // FOGMESH_ROUTER_URL given to containers on the bridge / with host network ("" = not set).
  std::string router_url_bridge;
  std::string router_url_host_network;
  std::string time_zone;
  std::chrono::milliseconds restart_backoff{1000};
  std::chrono::milliseconds restart_backoff_max{60000};
  int stuck_restarts = 10;
  std::chrono::minutes stuck_window{10};
  // Token handed to each microservice as FOGMESH_LOCAL_API_TOKEN.
  std::function<std::string(const std::string& uuid)> token_for;
};

class reconciler {
 public:
  reconciler(docker_client& docker, reconciler_options options);

  // Takes effect at the start of the next pass: a pass in progress (suspended on the engine)
  // keeps iterating the set it started with.
  void set_desired(std::vector<microservice_desired> desired,
                   std::map<int64_t, registry_info> registries);
  void set_iofog_host(std::string host) { options_.iofog_host = std::move(host); }
  // FOGMESH_ROUTER_URL for containers created from now on (bridge / host network; "" = none).
  // Not part of the spec hash: running containers are not recreated for it.
  void set_router_urls(std::string bridge, std::string host_network) {
    options_.router_url_bridge = std::move(bridge);
    options_.router_url_host_network = std::move(host_network);
  }
  // One pass: list, remove unwanted, create/recreate/restart. Never throws for a single
  // microservice's failure (it becomes that microservice's status); throws when the engine
  // cannot be listed at all.
  boost::asio::awaitable<void> reconcile();
  // Stops and removes every managed container of this fog (deprovisioning).
  boost::asio::awaitable<void> remove_all();

  const std::map<std::string, microservice_status>& statuses() const { return statuses_; }
  const std::vector<microservice_desired>& desired() const { return desired_; }

 private:
  struct runtime {
    std::deque<std::chrono::steady_clock::time_point> starts;
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::milliseconds backoff{0};
    std::string stuck_for_hash;  // set when STUCK_IN_RESTART for this spec
  };

  boost::asio::awaitable<void> deploy(microservice_desired& m, runtime& rt);
  boost::asio::awaitable<void> ensure_image(const microservice_desired& m);
  container_spec spec_for(const microservice_desired& m) const;
  bool may_start(const microservice_desired& m, runtime& rt);
  void apply_pending();

  docker_client& docker_;
  reconciler_options options_;
  std::vector<microservice_desired> desired_;
  std::map<int64_t, registry_info> registries_;
  std::optional<std::pair<std::vector<microservice_desired>, std::map<int64_t, registry_info>>>
      pending_;
  std::map<std::string, microservice_status> statuses_;
  std::map<std::string, runtime> runtime_;
};

}  // namespace fogmesh::agent
