// The router topology (upstream's router-service): one Router row and one router microservice per
// fog whose routerMode is not 'none', the default router, and the router microservice's `config`
// JSON, which the agent turns into its fogmesh-router configuration:
//
//   {"mode": "edge"|"interior", "id": <fog uuid>,
//    "listeners":  [{"role": "normal", "host": "0.0.0.0", "port": messagingPort},
//                   interior only: {"role": "inter-router", ... interRouterPort},
//                                  {"role": "edge", ... edgeRouterPort}],
//    "connectors": [{"name": <upstream fog uuid>, "role": "edge"|"inter-router",
//                    "host": <upstream host>, "port": <its edgeRouterPort|interRouterPort>}],
//    "tcpListeners":  [{"name", "host": "0.0.0.0", "port": publicPort, "address"}],
//    "tcpConnectors": [{"name", "host", "port": the microservice's host port, "address"}],
//    "httpListeners" / "httpConnectors": the same with "protocolVersion": "HTTP1"}
//
// Public ports with `protocol: http` are rendered as the HTTP pair, `tcp` and `proxy: true` ones
// as the TCP pair; disabled ones (`enabled: false`) not at all. Empty lists are left out (as
// upstream leaves out `connectors`). Everything here runs inside the request's transaction and
// raises the change flags of every agent whose view changed.
#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>

#include "fogmesh/controller/server.hpp"

namespace fogmesh::controller {

constexpr int router_catalog_item_id = 1;
constexpr const char* default_router_name = "default-router";

// Selects the default router in `routers` (unaliased): by primary key through
// fogmesh_default_router_id() (migration 0013), which reads the partial index
// routers_single_default with sequential scans forbidden. A bare `WHERE is_default` is planned
// from the table's statistics, and planned while there were none (a new cluster, a burst of
// creates between two analyses) it expects half the routers to match and reads all of them.
// `AND is_default` is what a FOR UPDATE that waited re-checks on the row's new version.
constexpr const char* default_router_where = "id = fogmesh_default_router_id() AND is_default";

// Where public ports are allocated: [start, end), the controller's --public-ports
// (server_options::public_ports_start/end). The default is upstream's PublicPorts:Range.
struct public_port_range {
  int64_t start = 6000;
  int64_t end = 7000;
};

// The range the controller was started with (--public-ports).
inline public_port_range public_ports_of(const server_options& options) {
  return {options.public_ports_start, options.public_ports_end};
}

// Is `port` free for a public port on the public router `host_key` (a fog uuid, or
// default-router for a default router without a fog)? Taken are that router's other public ports
// (disabled ones too: they stay reserved) and the TCP host ports of microservices on its fog
// (its own router's listener ports among them).
bool public_port_free(pqxx::work& tx, const std::string& host_key, int64_t port);

// The first free port of `range` on that public router, nullopt when none is left.
std::optional<int64_t> first_free_public_port(pqxx::work& tx, const std::string& host_key,
                                              const public_port_range& range);

// After a fog row was inserted or updated: creates, updates or (mode none) removes its Router row,
// system application and router microservice, and re-renders every router config that depends
// on it. Throws a ValidationError when an interior router with downstream routers would become
// an edge router. `range`: see remove_fog_router (a fog turning to mode none loses its router).
void sync_fog_router(pqxx::work& tx, const std::string& fog_uuid, const public_port_range& range);

// Before a fog is deleted (or turns to mode none): its downstream routers lose it as an upstream
// (re-parented to the default router when none is left), agents that used it as their network
// router use the default router, and its router and system application go. Public ports it
// served for microservices on other fogs move to the default router (same public port when free
// there, else the first free one of `range`; same address), their agents get
// microserviceConfig; without a default router (or when it was the default router) they are
// released, as are those of its own microservices.
void remove_fog_router(pqxx::work& tx, const std::string& fog_uuid, const public_port_range& range);

// Re-renders these routers' configs and those of their downstream routers; changed configs raise
// microserviceConfig (connectors) or microserviceList + rebuild (listeners) on their agents.
void refresh_routers(pqxx::work& tx, std::set<int64_t> router_ids);

// Fog uuids (mode != none) whose routers connect to the router `router_id` (downstream).
std::set<int64_t> downstream_routers(pqxx::work& tx, int64_t router_id);

// Routers whose config renders public ports of the microservices matching `where_sql` (over
// `pp` microservice_public_ports and `m` microservices, one parameter $1): the routers of their
// agents and the public routers. Collect before and after a change, then refresh_routers().
std::set<int64_t> public_port_routers(pqxx::work& tx, const std::string& where_sql,
                                      const std::string& param);

// True when the fog's interior router has downstream routers.
bool has_downstream_routers(pqxx::work& tx, const std::string& fog_uuid);

// Once a default router exists, routers that had no upstream at all connect to it.
void link_orphans_to_default(pqxx::work& tx);

}  // namespace fogmesh::controller
