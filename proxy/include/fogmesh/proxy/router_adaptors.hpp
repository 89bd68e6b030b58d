// The proxy adaptors inside fogmesh-router: registers tcpListener, tcpConnector, httpListener
// and httpConnector with the router's adaptor registry (router-core server/adaptors.hpp), so
// that the entities in the config file and those created through management are served on
// every shard. Call once before a router is built.
#pragma once

namespace fogmesh::proxy {

void register_router_adaptors();

}  // namespace fogmesh::proxy
