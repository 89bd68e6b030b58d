// fogmesh-port-manager: follows the controller's public ports (GET /microservices/public-ports)
// and keeps one proxy Deployment (fogmesh-proxy with a `tcp:PORT=>amqp:ADDRESS` mapping per
// public port, attached to the interior router) and one LoadBalancer Service with a port per
// public port; deletes both when there is none. Watches that Service and writes its
// load-balancer address to the controller's `default-proxy-host` whenever it changes.
// Threads: the caller's (run: the sync loop), one Service watch, one address reporter.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

struct port_manager_options {
  std::string namespace_;
  std::string controller_url;   // http://controller.NS.svc.cluster.local:51121
  std::string email, password;  // controller user (password may be base64, as ioFog's)
  std::string proxy_name = "http-proxy";
  std::string proxy_image = "ghcr.io/fogmesh/router:0.1.0";
  std::string router_address;  // host[:port] of the interior router (ROUTER_ADDRESS)
  std::string service_type = "LoadBalancer";
  std::string owner_deployment = "port-manager";  // ownerReference of the proxy objects, if found
  // GET /microservices/public-ports is a long-poll (?wait=wait_seconds, If-None-Match: the last
  // ETag): fogmesh-controller holds it until the public ports change. An unchanged answer that
  // comes back within a second (a controller without long-poll, or one woken by another
  // change) waits poll_interval before the next request.
  std::chrono::milliseconds poll_interval{2000};
  int wait_seconds = 30;
};

class port_manager {
 public:
  port_manager(client& k, port_manager_options opts);
  ~port_manager();
  void run(const std::atomic<bool>& stop);

  // One pass: read the public ports, apply the Deployment + Service. Returns the number of
  // public ports. Throws on controller / API errors.
  int sync_once();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace fogmesh::k8s
