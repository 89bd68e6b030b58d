// A shard: one thread, one io_uring event loop, the connections accepted on it, and its routing
// core. Today a router runs one shard (see DESIGN.md: cross-shard forwarding is the next step);
// the class is written so that several can run side by side, each with its own listeners
// (SO_REUSEPORT) and state.
//
// Thread: everything here runs on the shard's own thread, except request_stop(), which any
// thread may call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/amqp_connection.hpp"
#include "fogmesh/router/config.hpp"
#include "io/event_loop.hpp"
#include "io/stream_socket.hpp"
#include "routing/local_endpoint.hpp"
#include "routing/router_core.hpp"
#include "server/adaptors.hpp"
#include "server/http_endpoint.hpp"
#include "server/shard_group.hpp"

namespace fogmesh::router {

namespace management {
class agent;
}
namespace mesh {
class agent;
using route_table = std::map<std::string, std::vector<std::pair<std::string, unsigned>>>;
}

struct listener_endpoint {
  listener_config config;
  std::shared_ptr<tls_context> tls;
  int fd = -1;
  std::uint16_t bound_port = 0;
};

// A listening TCP socket on host:port (numeric port; "" host = all interfaces) with
// SO_REUSEPORT, so every shard can have its own on the same port. Stores the bound port (for
// port 0). Throws std::system_error whose message starts with `what`.
int open_listen_socket(const std::string& what, const std::string& host,
                       const std::string& port, std::uint16_t* bound_port);

// Binds one listening socket for cfg (SO_REUSEPORT, so every shard has its own on the same
// port). fixed_port != 0 overrides the configured port (the port the first shard got for
// port 0). Throws std::system_error naming the listener.
listener_endpoint bind_listener(const listener_config& cfg, const router_config& all,
                                std::uint16_t fixed_port);

class shard {
 public:
  // group: the shards of this router (size 1 for a single shard). Connectors run on shard 0.
  shard(unsigned index, const router_config& config, std::vector<listener_endpoint> listeners,
        shard_group& group);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  // Runs the loop until request_stop(); then closes connections gracefully (bounded wait).
  void run();
  void request_stop();  // thread-safe

  io::event_loop& loop() noexcept { return loop_; }
  router_core& core() noexcept { return core_; }
  unsigned index() const noexcept { return index_; }
  const std::string& router_id() const noexcept { return core_.router_id(); }
  const router_config& config() const noexcept { return config_; }
  void mark_dirty(amqp_connection* c);
  std::size_t connection_count() const noexcept { return connections_.size(); }
  const std::vector<std::unique_ptr<amqp_connection>>& connections() const noexcept {
    return connections_;
  }
  shard_group& group() noexcept { return group_; }

  // Runs task on shard `to`'s thread (this one included) after the current loop turn.
  void post_task(unsigned to, std::function<void(shard&)> task);
  // Runs collect on every shard's thread, then done on this one with the results in shard
  // order (management queries, metrics).
  template <class T>
  void gather(std::function<T(shard&)> collect, std::function<void(std::vector<T>)> done);

  // An in-router endpoint owned by this shard (flushed once per loop turn).
  local_endpoint& make_endpoint(std::string name);
  // Closes its links and frees it at the end of this loop turn (safe from its own callbacks).
  void release_endpoint(local_endpoint& e);

  // Runtime configuration from management, applied on this shard's thread.
  void add_listener(listener_endpoint ep);
  bool remove_listener(const std::string& name);  // existing connections stay
  void add_connector(const connector_config& c);   // shard 0 only
  bool remove_connector(const std::string& name);  // closes its connection
  void set_addresses(const std::vector<address_config>& addresses, distribution default_dist);
  // Adaptor entities (server/adaptors.hpp): creates this shard's instance / destroys it.
  void add_adaptor(const generic_entity& entity);
  bool remove_adaptor(const std::string& name);

  // Mesh (interior routers): the routing agent runs on shard 0; every shard applies its table
  // to the inter-router connections it holds.
  mesh::agent* mesh() noexcept { return mesh_.get(); }
  void apply_mesh_routes(std::shared_ptr<const mesh::route_table> routes);

 private:
  class listener_target;
  class control_target;
  class connector_target;
  void connectors_tick(std::chrono::steady_clock::time_point now);
  void accept(listener_endpoint& ep, int fd);
  void after_batch();
  void tick();
  void reap_closed();

  void post(unsigned to, cross_message&& m);
  void flush_outboxes();
  void drain_inbox();

  unsigned index_;
  shard_group& group_;
  router_config config_;
  std::vector<std::vector<cross_message>> outboxes_;  // per target shard, sent per loop turn
  io::event_loop loop_;
  router_core core_;
  std::list<listener_endpoint> listeners_;  // stable addresses: targets refer to them
  std::vector<std::unique_ptr<listener_target>> listener_targets_;
  std::unique_ptr<control_target> control_;
  std::vector<std::unique_ptr<connector_target>> connectors_;
  std::vector<std::unique_ptr<amqp_connection>> connections_;
  // Connections to listeners with `http: true` (/metrics, /healthz).
  std::vector<std::unique_ptr<http_endpoint_connection>> http_connections_;
  io::socket_graveyard http_sockets_;
  std::vector<amqp_connection*> dirty_;
  std::vector<std::unique_ptr<local_endpoint>> endpoints_;
  std::vector<local_endpoint*> dirty_endpoints_;
  std::vector<std::unique_ptr<local_endpoint>> released_endpoints_;
  std::unique_ptr<management::agent> management_;
  std::unique_ptr<mesh::agent> mesh_;
  // Inter-router connections on this shard: the neighbour's id, its control link, its
  // anonymous link and one data link per address it leads to that something here sends to
  // (all of them on a connection to an edge router).
  struct neighbour_links {
    std::string id;
    bool edge = false;  // an edge router attached to this interior
    std::map<std::string, link*> data;
    // Data links whose address nothing here sends to any more, since when: detached once idle
    // and unwanted for mesh_link_linger (a sender that comes back soon finds its link).
    std::map<std::string, std::chrono::steady_clock::time_point> retiring;
  };
  static constexpr auto mesh_link_linger = std::chrono::seconds(10);
  static constexpr std::string_view mesh_anonymous_prefix = "_mesh/anonymous/";
  std::map<amqp_connection*, neighbour_links> neighbours_;
  std::shared_ptr<const mesh::route_table> mesh_routes_;
  // Interior: addresses with senders (clients' or other routers' links) → how many shards
  // have them. Kept on every shard, from router_core::on_producer.
  std::map<std::string, unsigned> mesh_producers_;
  // Edge or uplink, shard 0: addresses with local senders (and, for uplinks, receivers).
  std::map<std::string, int> edge_producers_;
  std::map<std::string, int> uplink_consumers_;
  void neighbour_changed(amqp_connection& c, bool up);
  void edge_producer(const std::string& key, bool present);
  void attach_mesh_links(amqp_connection& c, neighbour_links& n);
  void attach_mesh_link(amqp_connection& c, neighbour_links& n, const std::string& address,
                        unsigned cost);
  // Detaches the data link at `it`; returns the next entry.
  std::map<std::string, link*>::iterator detach_mesh_link(
      amqp_connection& c, neighbour_links& n, std::map<std::string, link*>::iterator it);
  bool mesh_link_wanted(const neighbour_links& n, const std::string& key);
  void mesh_producer(const std::string& key, bool present);
  void retire_idle_mesh_links(std::chrono::steady_clock::time_point now);
  std::string mesh_fallback_key(const std::string& key, const link* in) const;
  // See router_core::link_route_hop.
  amqp_connection* link_route_hop(const std::string& key, const link_owner* arrived_on);
  // Uplink connections (connector role uplink, standalone router, shard 0): one anonymous
  // sending link, a sending link per local sender address and a receiving link per local
  // receiver address, kept in step with the addresses.
  struct uplink_links {
    link* anonymous = nullptr;
    std::map<std::string, link*> out;
    std::map<std::string, link*> in;
  };
  std::map<amqp_connection*, uplink_links> uplinks_;
  void uplink_changed(amqp_connection& c, bool up);
  void uplink_consumer(const std::string& key, bool present);
  void attach_uplink_links(amqp_connection& c, uplink_links& u);
  // A router-initiated mesh or uplink link went away: forget it.
  void mesh_link_gone(link& l);
  // Streaming deliveries to another router each get an outgoing link of their own (see
  // router_core::acquire_stream_link); idle ones are kept per connection and address for the
  // next stream, up to a few, and the rest detached after the batch.
  static constexpr std::size_t idle_stream_links_kept = 8;
  std::map<std::pair<amqp_connection*, std::string>, std::vector<link*>> idle_stream_links_;
  std::vector<std::pair<amqp_connection*, link*>> surplus_stream_links_;
  std::uint64_t stream_links_attached_ = 0;
  // The connection of a per-address data link (mesh or uplink) — the links streams may
  // leave — or nullptr.
  amqp_connection* data_link_connection(const link& l);
  link* acquire_stream_link(link& shared);
  void stream_link_idle(link& l);
  void drop_idle_stream_links(amqp_connection& c, const std::string& address);
  // Declared after endpoints_: destroyed before the endpoints their links live on.
  std::vector<std::pair<std::string, std::unique_ptr<adaptor_instance>>> adaptors_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool any_closed_ = false;

  friend class amqp_connection;
};

template <class T>
void shard::gather(std::function<T(shard&)> collect, std::function<void(std::vector<T>)> done) {
  struct state {
    unsigned waiting;
    std::vector<T> results;
  };
  const unsigned n = group_.size();
  auto st = std::make_shared<state>(state{n, std::vector<T>(n)});
  const unsigned origin = index_;
  for (unsigned i = 0; i < n; ++i) {
    post_task(i, [st, collect, done, origin, i](shard& target) {
      T result = collect(target);
      target.post_task(origin, [st, done, i, result = std::move(result)](shard&) mutable {
        st->results[i] = std::move(result);
        if (--st->waiting == 0) done(std::move(st->results));
      });
    });
  }
}

}  // namespace fogmesh::router
