// Route computation (mesh/routes.hpp) on topologies built in the test: shortest paths, links
// only one end reports, edges, and the multicast tree's promise — every router with consumers
// gets exactly one copy, whoever sends — checked by simulating forwarding over many random
// meshes, each router using the table it computed from its own view.
#include "mesh/routes.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>

namespace fogmesh::router::mesh {
namespace {

struct test_mesh {
  std::map<std::string, std::map<std::string, unsigned>> peers;
  std::map<std::string, std::set<std::string>> addresses;

  void link(const std::string& a, const std::string& b, unsigned cost = 1) {
    peers[a][b] = cost;
    peers[b][a] = cost;
  }
  mesh_view view_from(const std::string& self) const {
    mesh_view v;
    v.self = self;
    for (const auto& [id, p] : peers) {
      auto a = addresses.find(id);
      v.routers[id] = {&p, id == self || a == addresses.end() ? nullptr : &a->second};
    }
    return v;
  }
};

bool multicast_prefix(const std::string& address) { return address.starts_with("mc."); }

TEST(mesh_routes, line_goes_through_the_middle) {
  test_mesh m;
  m.link("A", "B");
  m.link("B", "C");
  m.addresses["C"] = {"orders"};
  auto r = compute_routes(m.view_from("A"), multicast_prefix);
  ASSERT_EQ(r.routes["orders"].size(), 1u);
  EXPECT_EQ(r.routes["orders"][0], (std::pair<std::string, unsigned>{"B", 2}));
  EXPECT_EQ(r.next_hops["C"], (std::pair<std::string, unsigned>{"B", 2}));
  EXPECT_EQ(r.routes["_topo/0/C"][0].first, "B");
  EXPECT_EQ(r.routes["_topo/0/B"][0].first, "B");
}

TEST(mesh_routes, cheaper_path_wins_and_one_sided_links_are_not_used) {
  test_mesh m;
  m.link("A", "B", 1);
  m.link("B", "C", 1);
  m.link("A", "C", 5);
  m.peers["A"]["D"] = 1;  // D has not reported the link back: not usable yet
  m.peers["D"];
  m.addresses["C"] = {"q"};
  auto r = compute_routes(m.view_from("A"), multicast_prefix);
  EXPECT_EQ(r.next_hops["C"], (std::pair<std::string, unsigned>{"B", 2}));
  EXPECT_EQ(r.next_hops.count("D"), 0u);
}

TEST(mesh_routes, edge_addresses_go_to_the_edge) {
  test_mesh m;
  m.link("A", "B");
  m.addresses["B"] = {"shared"};
  std::set<std::string> edge_addresses{"shared", "only-edge"};
  mesh_view v = m.view_from("A");
  v.edges["E1"] = &edge_addresses;
  auto r = compute_routes(v, multicast_prefix);
  EXPECT_EQ(r.routes["only-edge"], (std::vector<std::pair<std::string, unsigned>>{{"E1", 1}}));
  EXPECT_EQ(r.routes["shared"].size(), 2u);  // B (cost 1) and the edge
  EXPECT_EQ(r.routes["_topo/0/E1"][0].first, "E1");
}

TEST(mesh_routes, multicast_in_a_ring_uses_a_tree) {
  test_mesh m;
  m.link("A", "B");
  m.link("B", "C");
  m.link("C", "D");
  m.link("D", "A");
  for (auto id : {"A", "B", "C", "D"}) m.addresses[id] = {"mc.news"};
  // Rooted at A: B and D are A's children; C hangs under B (smaller id of its two parents).
  EXPECT_EQ(multicast_tree_neighbours(m.view_from("C"), "C"), (std::vector<std::string>{"B"}));
  auto at_d = compute_routes(m.view_from("D"), multicast_prefix);
  ASSERT_EQ(at_d.routes["mc.news"].size(), 1u);
  EXPECT_EQ(at_d.routes["mc.news"][0].first, "A");  // not C: the C-D link is off the tree
}

// Forwards one multicast message from `origin` the way the routers do: each router sends a copy
// to every neighbour its table names for the address, except the one it came from.
std::map<std::string, int> deliver(const test_mesh& m, const std::string& origin,
                                   const std::string& address) {
  std::map<std::string, route_table> tables;
  for (const auto& [id, p] : m.peers) {
    tables[id] = compute_routes(m.view_from(id), multicast_prefix).routes;
  }
  std::map<std::string, int> copies;
  std::deque<std::pair<std::string, std::string>> pending{{origin, ""}};  // (at, came from)
  int hops = 0;
  while (!pending.empty() && ++hops < 10000) {
    auto [at, from] = pending.front();
    pending.pop_front();
    ++copies[at];
    for (const auto& [next, cost] : tables[at][address]) {
      if (next != from) pending.emplace_back(next, at);
    }
  }
  EXPECT_LT(hops, 10000) << "copies loop";
  return copies;
}

TEST(mesh_routes, multicast_reaches_each_router_with_consumers_exactly_once) {
  std::mt19937 rng(20261126);
  for (int round = 0; round < 300; ++round) {
    test_mesh m;
    const int n = 2 + static_cast<int>(rng() % 9);
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back("R" + std::to_string(rng() % 1000) + "-" +
                                              std::to_string(i));
    // A random spanning tree (connected), then extra links that make cycles.
    for (int i = 1; i < n; ++i) m.link(ids[i], ids[rng() % i], 1 + rng() % 3);
    const int extra = static_cast<int>(rng() % (n + 1));
    for (int e = 0; e < extra; ++e) {
      const auto& a = ids[rng() % n];
      const auto& b = ids[rng() % n];
      if (a != b) m.link(a, b, 1 + rng() % 3);
    }
    std::set<std::string> with_consumers;
    for (const auto& id : ids) {
      if (rng() % 2) {
        m.addresses[id] = {"mc.x"};
        with_consumers.insert(id);
      }
    }
    for (const auto& origin : ids) {
      auto copies = deliver(m, origin, "mc.x");
      for (const auto& id : ids) {
        if (with_consumers.count(id) && id != origin) {
          EXPECT_EQ(copies[id], 1) << "round " << round << ": " << id << " from " << origin;
        } else {
          EXPECT_LE(copies[id], 1) << "round " << round << ": " << id << " from " << origin;
        }
      }
    }
  }
}

TEST(mesh_routes, unicast_addresses_keep_shortest_paths_alongside_multicast) {
  test_mesh m;
  m.link("A", "B");
  m.link("B", "C");
  m.link("C", "A");
  m.addresses["C"] = {"q", "mc.q"};
  auto r = compute_routes(m.view_from("B"), multicast_prefix);
  EXPECT_EQ(r.routes["q"][0].first, "C");      // direct
  EXPECT_EQ(r.routes["mc.q"][0].first, "A");   // tree rooted at A: B-C is off it
}

}  // namespace
}  // namespace fogmesh::router::mesh
