// The entity types management knows, their rows, and the changes CREATE/DELETE make.
// Configuration types answer from the router's configuration store (shard_group); per-shard
// types (connections, links, addresses, the router's counters) are computed on each shard and
// merged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "management/agent.hpp"
#include "management/value.hpp"

namespace fogmesh::router {
class shard;
class shard_group;
}  // namespace fogmesh::router

namespace fogmesh::router::management {

inline constexpr std::string_view type_prefix = "org.apache.qpid.dispatch.";

struct entity_type {
  std::string name;         // without the prefix: "listener", "router.config.address"
  std::string config_name;  // the config file's entity name; empty for run-time state
  bool per_shard = false;
  std::vector<std::string> attributes;
  std::vector<std::string> operations;
  std::vector<std::string> summed;  // per-shard counters added up across shards
};

const std::vector<entity_type>& entity_types();
// Accepts "org.apache.qpid.dispatch.X", "io.skupper.router.X", "X" and config names ("address").
const entity_type* find_type(std::string_view name);

value type_catalogue();
value attribute_catalogue();
value operation_catalogue();

value_list config_rows(shard_group& group, const entity_type& type);
value_list shard_rows(shard& s, const entity_type& type);
value_list merge_rows(const entity_type& type, std::vector<value_list> per_shard);

response query_response(const request& req, const value_list& rows);
response read_response(const request& req, const value_list& rows);
// CREATE, UPDATE, DELETE of a configuration entity.
response change_entity(shard& origin, const entity_type& type, const request& req);

}  // namespace fogmesh::router::management
