// The interior router's routing protocol: who the neighbours are (HELLO), the link-state of
// every router (LSU), which mobile addresses each router has consumers for (MAU), shortest
// paths (Dijkstra over the connector/listener costs) and the resulting table of
// "address → neighbour to send it to, with path cost" that every shard applies.
//
// The messages have qdrouterd's shapes: application property `opcode`, a map body with `id`,
// `pv`, `area`, `instance`; HELLO lists `seen`, LSU carries `ls_seq` + `ls {peers {id: cost}}`,
// MAU carries `mobile_seq` + the full `exist` list. They travel between neighbours over one
// control link per inter-router connection (target `_local/qdrouter`), and are flooded on to
// the other neighbours when newer than what a router knew.
//
// How deliveries cross the mesh (see DESIGN.md): for each address a neighbour leads to, the
// shard holding that inter-router connection attaches one outgoing link with the address as
// target and binds it as a consumer of the address (cost = path cost). The neighbour routes what
// arrives on it like any sender's link; credit and settlement flow end to end link by link.
//
// Thread: shard 0's thread. One agent per interior router.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "management/value.hpp"
#include "mesh/routes.hpp"
#include "routing/local_endpoint.hpp"

namespace fogmesh::router {
class shard;
}

namespace fogmesh::router::mesh {

class agent final : public local_endpoint::handler {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr auto hello_interval = std::chrono::seconds(1);
  static constexpr auto hello_max_age = std::chrono::seconds(3);
  static constexpr auto refresh_interval = std::chrono::seconds(4);
  static constexpr auto remote_max_age = std::chrono::seconds(15);

  // edge = true: an edge router's agent, which only tells its interior (the uplink) which
  // addresses have consumers here; interiors advertise those as their own.
  agent(shard& owner, bool edge);
  ~agent();

  // From the shards (through tasks onto shard 0).
  void neighbour_up(const std::string& id, unsigned cost);
  void neighbour_down(const std::string& id);
  void edge_up(const std::string& id);  // interior: an edge router attached
  void edge_down(const std::string& id);
  void uplink_up(const std::string& id);  // edge: connected to this interior
  void uplink_down(const std::string& id);
  void local_address(const std::string& key, bool present);
  void tick();  // every 250 ms

  // For management (router.node).
  management::value_list node_rows() const;
  std::size_t node_count() const noexcept { return next_hops_.size(); }

 private:
  struct neighbour {
    unsigned cost = 1;
    unsigned connections = 0;
    clock::time_point last_hello{};
    bool two_way = false;  // its HELLO lists us
  };
  struct router_state {
    std::int64_t ls_seq = 0;
    std::map<std::string, unsigned> peers;
    std::int64_t mobile_seq = 0;
    std::set<std::string> addresses;
    clock::time_point refreshed{};
    // When its LSU / MAU was last passed on to the other neighbours (new state or a refresh).
    clock::time_point ls_flooded{}, mobile_flooded{};
  };
  // Whether a message about another router's state (seq against what we hold) is passed on.
  // Newer state always is. A refresh (same seq) is too, at most once per half refresh
  // interval: routers two or more hops away hear the origin only through us, and forget it
  // after remote_max_age; the rate limit stops a refresh from circling a ring.
  static bool pass_on(std::int64_t seq, std::int64_t held, clock::time_point& flooded,
                      clock::time_point now);

  void on_readable(link& l) override;
  void on_sendable(link& l) override;
  void handle(const std::string& from_link_peer, const management::value_map& props,
              const management::value_map& body);
  void send(const std::string& neighbour, const std::string& opcode, management::value_map body);
  void flood(const std::string& except, const std::string& opcode,
             const management::value_map& body);
  management::value_map hello_body() const;
  management::value_map lsu_body(const std::string& id, const router_state& r) const;
  management::value_map mau_body(const std::string& id, const router_state& r) const;
  void own_links_changed();
  void recompute();
  void flush_out();

  shard& owner_;
  local_endpoint& endpoint_;
  link* in_ = nullptr;
  link* out_ = nullptr;
  std::string id_;
  std::int64_t instance_;
  std::map<std::string, neighbour> neighbours_;
  router_state self_;
  std::map<std::string, router_state> routers_;  // every other router we heard of
  bool edge_mode_ = false;
  std::map<std::string, router_state> edges_;   // interior: attached edge routers
  std::string uplink_;                          // edge: the interior we are attached to
  std::map<std::string, unsigned> local_keys_;  // address → shards with local consumers
  bool mobile_dirty_ = false;
  bool topology_dirty_ = false;
  clock::time_point last_hello_{};
  clock::time_point last_refresh_{};
  std::vector<std::pair<std::string, amqp::byte_buffer>> outbox_;  // (to, message)
  std::shared_ptr<const route_table> published_;                   // last table sent to the shards
  std::map<std::string, std::pair<std::string, unsigned>> next_hops_;  // router → (via, cost)
};

}  // namespace fogmesh::router::mesh
