// The in-router adaptor instances (one per entity per shard), created by router_adaptors.cpp.
#pragma once

#include <memory>

#include "fogmesh/router/config.hpp"
#include "server/adaptors.hpp"

namespace fogmesh::router {
class shard;
}

namespace fogmesh::proxy::adaptor {

std::unique_ptr<router::adaptor_instance> make_tcp_listener(router::shard& s,
                                                            const router::generic_entity& e);
std::unique_ptr<router::adaptor_instance> make_tcp_connector(router::shard& s,
                                                             const router::generic_entity& e);
std::unique_ptr<router::adaptor_instance> make_http_listener(router::shard& s,
                                                             const router::generic_entity& e);
std::unique_ptr<router::adaptor_instance> make_http_connector(router::shard& s,
                                                              const router::generic_entity& e);

}  // namespace fogmesh::proxy::adaptor
