// Route computation after a topology change (issue 4's target: a mesh of 3 routers with 1,000
// addresses and 100 receivers recomputed in ≤ 10 ms), and larger meshes for scale.
#include <benchmark/benchmark.h>

#include "mesh/routes.hpp"

namespace {

using namespace fogmesh::router::mesh;

struct fixture {
  std::map<std::string, std::map<std::string, unsigned>> peers;
  std::map<std::string, std::set<std::string>> addresses;
  mesh_view view;

  // `routers` in a ring with a chord every 3rd router; `addresses` spread round-robin, each
  // on `copies` routers; a tenth of them multicast.
  fixture(int routers, int address_count, int copies) {
    std::vector<std::string> ids;
    for (int i = 0; i < routers; ++i) ids.push_back("router-" + std::to_string(i));
    auto link = [&](int a, int b) {
      peers[ids[a]][ids[b]] = 1;
      peers[ids[b]][ids[a]] = 1;
    };
    for (int i = 0; i < routers; ++i) {
      if (routers > 1) link(i, (i + 1) % routers);
      if (routers > 3 && i % 3 == 0) link(i, (i + routers / 2) % routers);
    }
    for (int a = 0; a < address_count; ++a) {
      const std::string name = (a % 10 == 0 ? "mc.address-" : "address-") + std::to_string(a);
      for (int c = 0; c < copies; ++c) addresses[ids[(a + c) % routers]].insert(name);
    }
    view.self = ids[0];
    for (const auto& id : ids) view.routers[id] = {&peers[id], &addresses[id]};
  }
};

bool is_multicast(const std::string& a) { return a.starts_with("mc."); }

void route_computation(benchmark::State& state) {
  fixture f(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), 1);
  for (auto _ : state) {
    auto r = compute_routes(f.view, is_multicast);
    benchmark::DoNotOptimize(r);
  }
  state.counters["routers"] = static_cast<double>(state.range(0));
  state.counters["addresses"] = static_cast<double>(state.range(1));
}
BENCHMARK(route_computation)
    ->Args({3, 1000})
    ->Args({10, 1000})
    ->Args({10, 10000})
    ->Args({50, 10000})
    ->Unit(benchmark::kMillisecond);

}  // namespace
