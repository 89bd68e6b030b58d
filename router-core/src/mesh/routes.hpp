// Route computation for the interior mesh, apart from the protocol that gathers its input so it
// can be tested and measured on its own: from the link-state and mobile addresses of every
// router, this router's table of "address → neighbours to send it to, with path cost".
//
// - Unicast (closest/balanced) and topological addresses (`_topo/0/<id>`): the first hop of the
//   shortest path to each router with consumers (Dijkstra over links both ends report).
// - Multicast: one spanning tree every router computes alike from the same link-state — the
//   shortest-path tree rooted at the smallest reachable router id, each router's parent being
//   its smallest-id neighbour on a shortest path. An address goes to each tree neighbour whose
//   side of the tree has consumers; with the router core never sending a copy back over the
//   connection it came on, every router with consumers gets exactly one copy.
// - Edge routers attached here: their addresses and topological address go to them directly.
//
// Thread: any (pure functions).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fogmesh::router::mesh {

// address → the neighbours that lead to a router with consumers, with the path cost.
using route_table = std::map<std::string, std::vector<std::pair<std::string, unsigned>>>;

inline constexpr std::string_view topological_prefix = "_topo/0/";

// One router as the link-state protocol reported it (borrowed, not owned).
struct router_view {
  const std::map<std::string, unsigned>* peers = nullptr;  // neighbour id → link cost
  const std::set<std::string>* addresses = nullptr;        // addresses with consumers there
};

struct mesh_view {
  std::string self;
  std::map<std::string, router_view> routers;  // every router heard of, self included
  // Edge routers attached to self → their addresses.
  std::map<std::string, const std::set<std::string>*> edges;
};

// router → (path cost, first hop) from root over links both ends report; equal-cost ties go to
// the smaller router id.
std::map<std::string, std::pair<unsigned, std::string>> shortest_paths(const mesh_view& mesh,
                                                                       const std::string& root);

struct computed_routes {
  route_table routes;
  std::map<std::string, std::pair<std::string, unsigned>> next_hops;  // router → (via, cost)
};

computed_routes compute_routes(const mesh_view& mesh,
                               const std::function<bool(const std::string&)>& is_multicast);

// The multicast tree's neighbours of `router` (its parent, if any, and its children).
std::vector<std::string> multicast_tree_neighbours(const mesh_view& mesh,
                                                   const std::string& router);

}  // namespace fogmesh::router::mesh
