// The routing core of one shard: addresses, the choice of destination for each delivery
// (closest / balanced / multicast / anonymous by `to`), the forwarding of delivery bytes, credit
// given to senders, and the propagation of outcomes and settlement between the two sides.
//
// Invariants: a delivery is freed only when nothing refers to it (not queued on an outgoing
// link, not in either session's unsettled map, not the in-progress delivery of its incoming
// link). An accepted unsettled delivery always ends with an outcome sent to its sender: the
// receiver's, or released/modified when its path goes away — never silence.
//
// Thread: the owning shard thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "amqp/performatives.hpp"
#include "routing/address_table.hpp"
#include "routing/model.hpp"
#include "server/shard_group.hpp"

namespace fogmesh::router {

class amqp_connection;

struct router_counters {
  std::uint64_t deliveries_ingress = 0;
  std::uint64_t deliveries_egress = 0;
  std::uint64_t deliveries_released = 0;
  std::uint64_t deliveries_modified = 0;
  std::uint64_t dropped_presettled = 0;
  std::uint64_t deliveries_aborted = 0;
  std::uint64_t links_attached = 0;
  // Deliveries queued on an outgoing link with no credit: a receiver holding traffic up.
  std::uint64_t credit_stalls = 0;
};

class router_core {
 public:
  // group may be null (a single shard); post sends a message to another shard.
  router_core(std::string router_id, address_matcher matcher, shard_group* group = nullptr,
              unsigned shard_index = 0,
              std::function<void(unsigned, cross_message&&)> post = {});
  // A batch of messages from other shards.
  void on_cross_message(cross_message& m);
  ~router_core();
  router_core(const router_core&) = delete;
  router_core& operator=(const router_core&) = delete;

  const std::string& router_id() const noexcept { return router_id_; }

  // Link routes and auto-links from the configuration.
  void set_routes(std::vector<link_route_config> link_routes,
                  std::vector<auto_link_config> auto_links);
  // A connection finished its open handshake / went away: route-container bookkeeping,
  // auto-links.
  void connection_opened(amqp_connection& c);
  void connection_closed(amqp_connection& c);
  // The peer answered an attach the router sent (auto-link or link-route partner) with
  // `answer`; a link-route partner's client gets that answer's termini.
  void initiated_link_attached(link& l, bool accepted, const amqp::attach& answer);

  struct attach_decision {
    bool deferred = false;  // link route: the reply waits for the partner's attach
    bool accepted = true;
    std::string address;  // the address the link is bound to (generated for dynamic links)
    amqp::error error;    // when refused
  };
  // A peer attached a link; l.kind, l.address, l.dynamic are set. Binds it to its address.
  attach_decision link_attached(link& l);
  // The link is going away (detach, end, connection loss). Releases or re-routes what it held.
  void link_detached(link& l);

  // Incoming link: one transfer frame.
  void transfer(link& l, const amqp::transfer& t, amqp::bytes_view payload);
  // Outgoing link: the peer's flow changed credit or drain.
  void credit_updated(link& l);
  // A disposition for one delivery id. role = the peer's role.
  void disposition(session& s, amqp::role peer_role, std::uint32_t id, bool settled,
                   const amqp::delivery_state& state);
  // The connection's output drained or its session window opened: resume blocked links.
  void resume(link& l) { pump(l); }
  // Tops up the credit of an incoming link if enough has been consumed since the last flow.
  void grant_credit(link& l, bool force);

  // Mesh: told when an address gains its first / loses its last consumer that is not a link to
  // another router (what this router advertises), and when a neighbour router's connection
  // opens or closes. Set by the shard.
  std::function<void(const std::string& key, bool present)> on_local_address;
  std::function<void(amqp_connection& c, bool up)> on_neighbour;
  // Edge routers: an address gained its first / lost its last local sender (the uplink gets a
  // link for it), and the key of the uplink's anonymous link, where messages go whose `to`
  // has no consumer here.
  std::function<void(const std::string& key, bool present)> on_local_producer;
  std::string default_route_key;
  // Interior routers: an address gained its first / lost its last incoming link of any kind
  // (a client's sender or another router's per-address link). Only such addresses get a link
  // towards the next router (see shard::attach_mesh_links), so a router holds no link for the
  // many addresses nothing here sends to.
  std::function<void(const std::string& key, bool present)> on_producer;
  // Interior routers: for a message routed by its `to` that nothing here consumes, the key of
  // the anonymous link towards the next hop for that address (never back over the connection
  // the message came on, `in`), or empty when the mesh has no route for it.
  std::function<std::string(const std::string& key, const link* in)> mesh_fallback_key;
  // Binds a router-initiated outgoing link on an inter-router connection as a consumer of key.
  void bind_mesh_link(link& l, const std::string& key, unsigned cost);
  // Binds a router-initiated incoming link on an uplink as a producer of key (what another
  // router sends to our local receivers of key).
  void bind_mesh_source(link& l, const std::string& key);
  // Called first when a link bound by bind_mesh_link/bind_mesh_source goes away, so whoever
  // keeps it forgets it.
  std::function<void(link& l)> on_mesh_link_gone;
  // A streaming delivery (more frames to come: a proxied TCP connection, a large upload) bound
  // for another router goes on an outgoing link of its own on that connection. A link carries
  // its deliveries one after the other, so on the shared per-address link one open stream
  // would hold back everything else for that address until it ended. Returns nullptr to use
  // `shared` after all; on_stream_link_idle hands the link back once its delivery is written.
  std::function<link*(link& shared)> acquire_stream_link;
  std::function<void(link& l)> on_stream_link_idle;
  // Link routes across routers: a router whose route container for a link route is connected
  // advertises link_route_key(route) like an address with a consumer; another router with the
  // same link route and no container of its own forwards the attach to the connection this
  // returns (the next hop towards the nearest advertiser; never `arrived_on`, the connection
  // the attach came on), or nullptr when none is known. Set by the shard.
  std::function<amqp_connection*(const std::string& key, const link_owner* arrived_on)>
      link_route_hop;
  static std::string link_route_key(const link_route_config& route);
  static constexpr std::string_view link_route_key_prefix = "_linkroute/";
  // Dynamic (reply-to) addresses: "amqp:/_topo/0/<router id>/temp.…" by default, as qdrouterd.
  // A router behind an uplink uses a plain address the upstream router can route.
  std::string dynamic_address_prefix;

  address_table& addresses() noexcept { return addresses_; }
  const router_counters& counters() const noexcept { return counters_; }
  std::size_t live_deliveries() const noexcept { return live_deliveries_; }

 private:
  delivery* allocate();
  void maybe_free(delivery* d);
  void attach_live(delivery& d, link& in);
  void detach_live(delivery& d);

  // l (an incoming link) sends to a; tells on_local_producer/on_producer of a first one.
  void add_producer(address_entry& a, link& l);
  bool routable(const link& in) const;
  // Chooses a destination for d once its routing information is known. Returns false while
  // the routing information (an anonymous link's `to`) is still incomplete.
  bool route(delivery& d);
  // `from`: the link the delivery arrived on (null for cross-shard/remote-origin deliveries);
  // a delivery is never sent back to the router it came from.
  link* pick_consumer(address_entry& a, const link* from);
  // Sends d to a consumer of key here or on another shard; false when there is none.
  bool route_to_key(delivery& d, const std::string& key, const link* in);
  link* pick_mesh_consumer(address_entry& a, const link* from);
  void enqueue(delivery& d, link& out);
  // Copies d to every consumer; unless local_only, also one copy to each other shard with
  // consumers (which fans out there).
  void fan_out(delivery& d, address_entry& a, bool local_only);
  void pump(link& out);
  // Assigns the outgoing delivery-id, consumes credit and tracks settlement.
  void start_outgoing(delivery& d, link& out);
  void forwarded(delivery& d);
  void no_destination(delivery& d);
  // The sender gave up on d (or went away mid-message): withdraw it from its outgoing link.
  void abort_outgoing(delivery& d);
  // Rewrites the first frame without x-opt-qd.* annotations into d.pending. False when there
  // was nothing to strip (or the section did not fit in the first frame).
  bool strip_router_annotations(delivery& d, amqp::bytes_view first_frame, bool complete);
  static bool has_annotations_section(amqp::bytes_view message);
  void finish_ingress(delivery& d, const amqp::delivery_state& state, bool settled);
  void consume_pending(delivery& d, std::size_t n);
  void add_consumer(address_entry& a, link& l);
  void remove_consumer(address_entry& a, link& l);
  // The cross message that carries d to another shard's consumers of `key` (no bytes yet).
  cross_message forward_message(const delivery& d, const std::string& key) const;
  // Sends a complete delivery to another shard's consumers of `key`.
  void send_remote(delivery& d, unsigned shard, const std::string& key);
  // A delivery still arriving goes to another shard: its bytes so far now, the rest as they
  // come (continue_remote_stream), in order, with the window accounting described in model.hpp.
  void start_remote_stream(delivery& d, unsigned shard, const std::string& key);
  void continue_remote_stream(delivery& d);
  void abort_remote_stream(delivery& d);
  void end_remote_stream(delivery& d);  // origin: nothing more goes to the target
  void end_target_stream(delivery& d);  // target: nothing more is expected
  void move_held_to_flight(delivery& d, amqp::byte_buffer& out);
  void report_consumed(delivery& d, std::size_t n);
  void add_pending(delivery& d, amqp::bytes_view bytes);
  void credit_restored(delivery& d);

  amqp_connection* find_route_container(const link_route_config& route) const;
  bool attach_link_route(link& l, attach_decision& decision);
  std::string partner_link_name(const link& l, const amqp_connection& towards);
  std::uint64_t routed_link_names_ = 0;
  // The route container connection c is the one a link route or auto-link names (by
  // connector/listener name or by container id).
  static bool serves(const amqp_connection& c, const std::string& connection,
                     const std::string& container_id);
  // c opened (present) or closed: advertise / withdraw the link routes it serves.
  void advertise_link_routes(const amqp_connection& c, bool present);

  shard_group* group_ = nullptr;
  unsigned shard_index_ = 0;
  std::function<void(unsigned, cross_message&&)> post_;
  id_window<delivery*> remote_waiting_;  // by token
  // Target side: deliveries streaming in from another shard, by (origin shard << 32 | token).
  std::unordered_map<std::uint64_t, delivery*> remote_streams_;
  std::uint32_t next_token_ = 1;

  std::string router_id_;
  // "_topo/0/<router id>": the mesh delivers messages for any of this router's topological
  // addresses on links bound to it; they are routed here by their `to`.
  std::string own_topological_key_;
  std::vector<link_route_config> link_routes_;
  std::vector<auto_link_config> auto_links_;
  std::vector<amqp_connection*> route_containers_;
  address_table addresses_;
  std::vector<delivery*> free_list_;
  std::size_t live_deliveries_ = 0;
  std::uint64_t dynamic_counter_ = 0;
  std::uint64_t dynamic_salt_ = 0;
  router_counters counters_;
};

}  // namespace fogmesh::router
