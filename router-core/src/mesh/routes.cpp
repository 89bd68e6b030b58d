#include "mesh/routes.hpp"

#include <algorithm>
#include <queue>
#include <tuple>

namespace fogmesh::router::mesh {

namespace {

const std::map<std::string, unsigned>* peers_of(const mesh_view& mesh, const std::string& id) {
  auto it = mesh.routers.find(id);
  return it == mesh.routers.end() ? nullptr : it->second.peers;
}

// Each router's parent in the multicast tree (see routes.hpp), for every router reachable from
// `from`. Empty when `from` is alone.
std::map<std::string, std::string> multicast_tree(const mesh_view& mesh, const std::string& from,
                                                  std::string* root_out = nullptr) {
  const auto reachable = shortest_paths(mesh, from);
  std::map<std::string, std::string> parent;
  if (reachable.size() < 2) return parent;
  const std::string& root = reachable.begin()->first;
  if (root_out != nullptr) *root_out = root;
  const auto from_root = shortest_paths(mesh, root);
  for (const auto& [id, cost_via] : from_root) {
    if (id == root) continue;
    const auto* peers = peers_of(mesh, id);
    if (peers == nullptr) continue;
    for (const auto& entry : *peers) {
      const std::string& peer = entry.first;
      auto p = from_root.find(peer);
      const auto* peer_links = peers_of(mesh, peer);
      if (p == from_root.end() || peer_links == nullptr) continue;
      auto cost = peer_links->find(id);
      if (cost == peer_links->end() || p->second.first + cost->second != cost_via.first) continue;
      parent[id] = peer;  // peers are ordered by id: the first match is the smallest
      break;
    }
  }
  return parent;
}

std::set<std::string> subtree(const std::map<std::string, std::string>& parent,
                              const std::string& top) {
  std::set<std::string> found{top};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [id, p] : parent) {
      if (found.count(p) && found.insert(id).second) grew = true;
    }
  }
  return found;
}

void add_multicast_tree_routes(
    const mesh_view& mesh, const std::map<std::string, std::pair<unsigned, std::string>>& reachable,
    const std::function<bool(const std::string&)>& is_multicast, route_table& routes) {
  if (reachable.size() < 2) return;
  const auto parent = multicast_tree(mesh, mesh.self);
  // The routers on each tree neighbour's side: a child's subtree, or, towards our parent,
  // everyone not under us.
  std::vector<std::pair<std::string, std::set<std::string>>> sides;
  for (const auto& [id, p] : parent) {
    if (p == mesh.self) sides.emplace_back(id, subtree(parent, id));
  }
  if (auto up = parent.find(mesh.self); up != parent.end()) {
    const auto below_us = subtree(parent, mesh.self);
    std::set<std::string> rest;
    for (const auto& entry : reachable) {
      if (!below_us.count(entry.first)) rest.insert(entry.first);
    }
    sides.emplace_back(up->second, std::move(rest));
  }
  route_table tree_routes;
  for (const auto& [neighbour, routers] : sides) {
    for (const auto& id : routers) {
      auto it = mesh.routers.find(id);
      if (it == mesh.routers.end() || it->second.addresses == nullptr) continue;
      for (const auto& address : *it->second.addresses) {
        if (!is_multicast(address)) continue;
        auto& options = tree_routes[address];
        if (options.empty() || options.back().first != neighbour) {
          options.emplace_back(neighbour, reachable.at(id).first);
        }
      }
    }
  }
  for (auto& [address, options] : routes) {
    if (is_multicast(address)) options.clear();
  }
  for (auto& [address, options] : tree_routes) routes[address] = std::move(options);
  std::erase_if(routes, [](const auto& entry) { return entry.second.empty(); });
}

}  // namespace

std::map<std::string, std::pair<unsigned, std::string>> shortest_paths(const mesh_view& mesh,
                                                                       const std::string& root) {
  // A one-sided report is a link coming up or going down, not yet usable. Ties go to the
  // smaller router id (the queue orders equal costs by id), so every router that runs this
  // from the same root over the same link-state gets the same answer.
  std::map<std::string, std::pair<unsigned, std::string>> best;  // router → (cost, first hop)
  using item = std::tuple<unsigned, std::string, std::string>;    // cost, router, first hop
  std::priority_queue<item, std::vector<item>, std::greater<>> queue;
  queue.emplace(0u, root, std::string());
  while (!queue.empty()) {
    auto [cost, id, via] = queue.top();
    queue.pop();
    if (best.count(id)) continue;
    best[id] = {cost, via};
    const auto* peers = peers_of(mesh, id);
    if (peers == nullptr) continue;
    for (const auto& [peer, link_cost] : *peers) {
      const auto* back = peers_of(mesh, peer);
      if (back == nullptr || !back->count(id) || best.count(peer)) continue;
      queue.emplace(cost + link_cost, peer, id == root ? peer : via);
    }
  }
  return best;
}

computed_routes compute_routes(const mesh_view& mesh,
                               const std::function<bool(const std::string&)>& is_multicast) {
  computed_routes out;
  const auto best = shortest_paths(mesh, mesh.self);
  for (const auto& entry : best) {
    // (Plain copies: clang 14 cannot capture structured bindings in the lambda below.)
    const std::string& id = entry.first;
    const unsigned cost = entry.second.first;
    const std::string via = entry.second.second;
    if (id == mesh.self) continue;
    out.next_hops[id] = {via, cost};
    // Every router is reachable by its topological address, whatever its addresses: replies to
    // dynamic (reply-to) addresses `_topo/0/<id>/temp.…` follow it without waiting for a MAU.
    out.routes[std::string(topological_prefix) + id].emplace_back(via, cost);
    auto it = mesh.routers.find(id);
    if (it == mesh.routers.end() || it->second.addresses == nullptr) continue;
    for (const auto& address : *it->second.addresses) {
      auto& options = out.routes[address];
      auto same = std::find_if(options.begin(), options.end(),
                               [&via](const auto& o) { return o.first == via; });
      if (same == options.end()) {
        options.emplace_back(via, cost);
      } else {
        same->second = std::min(same->second, cost);
      }
    }
  }
  add_multicast_tree_routes(mesh, best, is_multicast, out.routes);
  for (const auto& edge : mesh.edges) {
    const std::string& edge_id = edge.first;
    out.routes[std::string(topological_prefix) + edge_id] = {{edge_id, 1u}};
    if (edge.second == nullptr) continue;
    for (const auto& address : *edge.second) {
      auto& options = out.routes[address];
      std::erase_if(options, [&edge_id](const auto& o) { return o.first == edge_id; });
      options.emplace_back(edge_id, 1u);
    }
  }
  return out;
}

std::vector<std::string> multicast_tree_neighbours(const mesh_view& mesh,
                                                   const std::string& router) {
  std::vector<std::string> out;
  const auto parent = multicast_tree(mesh, router);
  if (auto up = parent.find(router); up != parent.end()) out.push_back(up->second);
  for (const auto& [id, p] : parent) {
    if (p == router) out.push_back(id);
  }
  return out;
}

}  // namespace fogmesh::router::mesh
