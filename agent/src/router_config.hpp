// The edge router's configuration as the agent derives it from the controller's router
// microservice. ioFog gives every fog with routerMode != none a SYSTEM microservice (catalog
// item "Router", image iofog/router) whose `config` is a JSON string:
//
//   {"mode": "edge"|"interior", "id": "<fog uuid>",
//    "listeners":  [{"role": "normal", "host": "0.0.0.0", "port": 5672}, ...],
//    "connectors": [{"name": "default-router", "role": "edge", "host": "...", "port": 56722}],
//    "tcpListeners"/"tcpConnectors"/"httpListeners"/"httpConnectors": [{name, host, port,
//    address}]}
//
// The agent does not run that as a container: it runs fogmesh-router as a child process with a
// config file rendered from it (qdrouterd's JSON syntax, [["router", {...}], ["listener", {...}]])
// and applies later changes through AMQP management. Every entity gets a name (management
// deletes by name): listeners without one are named "listener/<role>/<host>/<port>".
//
// Pure data, no I/O: unit-tested in tests/router_config_test.cpp.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <vector>

namespace fogmesh::agent {

// One configuration entity other than `router`: its qdrouterd type (listener, connector,
// tcpListener, tcpConnector, httpListener, httpConnector, address, ...), its name and its
// attributes (including "name"), as the controller sent them.
struct router_entity {
  std::string type;
  std::string name;
  boost::json::object attributes;

  bool operator==(const router_entity& o) const;
};

struct router_spec {
  std::string mode = "edge";  // edge | interior | standalone
  std::string id;
  boost::json::object router_extra;  // other attributes of the router entity (workerThreads...)
  std::vector<router_entity> entities;

  // Parses the router microservice's config (a JSON string or object). `default_id` (the fog
  // uuid) is used when the config has no id. Tolerant: listeners/connectors/... may be arrays
  // or objects keyed by name (Datasance's skupper shape), adaptor entities may also sit under
  // "bridges"; unknown top-level keys are ignored. Throws std::invalid_argument naming the
  // problem when the JSON or an entity is unusable.
  static router_spec from_iofog_json(const boost::json::value& config,
                                     const std::string& default_id);
  static router_spec from_iofog_json(const std::string& config, const std::string& default_id);

  // The config file (JSON syntax of qdrouterd/fogmesh-router).
  std::string render() const;

  // Where the agent reaches the router's $management: the first listener with role normal
  // (or none), its wildcard host replaced by loopback. Empty host when there is none.
  struct endpoint {
    std::string host;
    int port = 0;
  };
  endpoint management_endpoint() const;
  // The same listener with its host as configured ("" or a wildcard = every address).
  endpoint client_listener() const;

  // True when going from *this to `next` needs a restart (router mode or id changed).
  bool needs_restart_for(const router_spec& next) const;

  bool operator==(const router_spec& o) const;
};

// What management must do to turn `from` into `to`: deletions first (changed entities are
// deleted and created again: the router has no UPDATE), then creations.
struct router_diff {
  std::vector<router_entity> remove;
  std::vector<router_entity> create;
  bool empty() const { return remove.empty() && create.empty(); }
};
router_diff diff(const router_spec& from, const router_spec& to);

// Entity types the router's management can create and delete at run time.
bool changeable_at_run_time(const std::string& type);

// The AMQP URL a microservice on this machine uses for a router listening on
// `listen_host`:`port` here (FOGMESH_ROUTER_URL): a container on the bridge reaches the host as
// `iofog` (its extra host, the bridge's gateway), a host-network container at loopback.
// Empty when the bridge cannot reach it (a loopback-only listener) or there is no port.
std::string router_url_for_container(const std::string& listen_host, int port, bool host_network);

// Does this element of GET /agent/microservices describe the fog's router? By its image
// (iofog/router, eclipse-iofog/router, router-arm, fogmesh-router, any registry and tag), or by
// flags some controllers send (isRouter, catalogItem name "Router", name "Router for Fog ...").
bool is_router_microservice(const boost::json::object& microservice);

}  // namespace fogmesh::agent
