// The desired children of a ControlPlane, built from its spec: pure functions, no I/O.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fogmesh/k8s/client.hpp"
#include "fogmesh/k8s/operator.hpp"

namespace fogmesh::k8s {

inline constexpr const char* managed_by_label = "app.kubernetes.io/managed-by";
inline constexpr const char* managed_by_value = "fogmesh-operator";
inline constexpr const char* control_plane_label = "iofog.org/control-plane";
inline constexpr const char* finalizer = "iofog.org/finalizer";
inline constexpr int controller_port = 51121;
inline constexpr int router_messaging_port = 5672;
inline constexpr int router_interior_port = 55672;
inline constexpr int router_edge_port = 45672;
inline constexpr int router_health_port = 9090;

// What the reconciler needs from a ControlPlane spec, validated (the CRD schema checks types;
// this checks what a schema cannot say).
struct control_plane_spec {
  std::string first_name, last_name, email, password;  // password decoded from base64 if it is
  bool external_db = false;
  std::string db_url;  // postgresql://user:pass@host:port/db
  int controller_replicas = 1;
  std::string controller_service_type = "LoadBalancer", controller_address;
  std::string router_service_type = "LoadBalancer", router_address;
  std::string router_ingress_address;
  std::string controller_image, router_image, port_manager_image, proxy_image, pull_secret;
  std::string public_ports;
};

// Throws std::invalid_argument with a message for the `failed` condition.
control_plane_spec parse_control_plane_spec(const json::object& spec, const operator_options& o);

struct desired_object {
  resource res;
  json::object obj;          // complete manifest incl. metadata (labels, ownerReferences)
  bool create_only = false;  // immutable after creation (PVCs)
};

// All children, in creation order. `owner` is the ControlPlane (for ownerReferences).
std::vector<desired_object> control_plane_children(const json::object& owner,
                                                   const control_plane_spec& s);

// The router's qdrouterd-style JSON configuration.
std::string router_config(const std::string& router_id);

// Kinds the operator creates (listed/watched by label for cleanup and drift).
const std::vector<resource>& owned_kinds();

}  // namespace fogmesh::k8s
