#include "mesh/mesh_agent.hpp"

#include <algorithm>
#include <climits>
#include <queue>
#include <random>

#include "amqp/performatives.hpp"
#include "fogmesh/common/log.hpp"
#include "server/shard.hpp"

namespace fogmesh::router::mesh {

namespace {

using management::value;
using management::value_list;
using management::value_map;

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.mesh");
  return l;
}

std::int64_t int_of(const value_map& m, std::string_view key) {
  const value* v = management::find(m, key);
  if (v == nullptr) return -1;
  if (const auto* i = std::get_if<std::int64_t>(&v->v)) return *i;
  return -1;
}

amqp::byte_buffer encode_message(const std::string& to, const std::string& from,
                                 const std::string& opcode, const value_map& body) {
  amqp::byte_buffer out;
  amqp::encoder e(out);
  e.write_descriptor(amqp::descriptor_code::properties);
  const std::size_t list = e.begin_list();
  e.write_null();  // message-id
  e.write_null();  // user-id
  e.write_string(to);
  e.end_list(list, 3);
  e.write_descriptor(amqp::descriptor_code::application_properties);
  const std::size_t map = e.begin_map();
  e.write_string("opcode");
  e.write_string(opcode);
  e.write_string("from");  // the neighbour that passed it on (flooding skips it)
  e.write_string(from);
  e.end_map(map, 4);
  e.write_descriptor(amqp::descriptor_code::amqp_value);
  management::encode(e, value{body});
  return out;
}

}  // namespace

agent::agent(shard& owner, bool edge)
    : owner_(owner),
      endpoint_(owner.make_endpoint("mesh")),
      id_(owner.router_id()),
      instance_(static_cast<std::int64_t>(std::random_device{}() & 0x7fffffff)) {
  in_ = endpoint_.open_receiver("_local/qdrouter", *this, 1000);
  out_ = endpoint_.open_sender("", *this);
  edge_mode_ = edge;
  if (edge) {
    logger()->info("edge router '{}': advertises its addresses to its interior", id_);
  } else {
    logger()->info("interior router '{}': link-state routing on", id_);
  }
}

void agent::edge_up(const std::string& id) {
  edges_[id] = router_state{};  // a reconnecting edge starts its sequence again
  edges_[id].refreshed = clock::now();
  logger()->info("edge router '{}' attached", id);
}

void agent::edge_down(const std::string& id) {
  if (edges_.erase(id) == 0) return;
  logger()->info("edge router '{}' detached", id);
  mobile_dirty_ = true;
  topology_dirty_ = true;
}

void agent::uplink_up(const std::string& id) {
  uplink_ = id;
  logger()->info("attached to interior router '{}'", id);
  send(id, "MAU", mau_body(id_, self_));
}

void agent::uplink_down(const std::string& id) {
  if (uplink_ == id) uplink_.clear();
}

agent::~agent() = default;

// ---- events from the shards ---------------------------------------------------------------

void agent::neighbour_up(const std::string& id, unsigned cost) {
  neighbour& n = neighbours_[id];
  ++n.connections;
  n.cost = n.connections == 1 ? cost : std::min(n.cost, cost);
  logger()->info("neighbour router '{}' connected (cost {})", id, n.cost);
  send(id, "HELLO", hello_body());
}

void agent::neighbour_down(const std::string& id) {
  auto it = neighbours_.find(id);
  if (it == neighbours_.end()) return;
  if (--it->second.connections > 0) return;
  const bool was_two_way = it->second.two_way;
  neighbours_.erase(it);
  logger()->info("neighbour router '{}' lost", id);
  if (was_two_way) own_links_changed();
}

void agent::local_address(const std::string& key, bool present) {
  // Router-internal addresses are never advertised.
  if (key.starts_with("_local/") || key.starts_with("_mesh/") || key.starts_with("$")) return;
  if (present) {
    if (local_keys_[key]++ == 0) mobile_dirty_ = true;
  } else if (auto it = local_keys_.find(key); it != local_keys_.end()) {
    if (--it->second == 0) {
      local_keys_.erase(it);
      mobile_dirty_ = true;
    }
  }
}

void agent::tick() {
  const auto now = clock::now();
  if (edge_mode_) {
    const bool refresh = now - last_refresh_ >= refresh_interval;
    if (mobile_dirty_) {
      mobile_dirty_ = false;
      self_.addresses.clear();
      for (const auto& [key, count] : local_keys_) self_.addresses.insert(key);
      ++self_.mobile_seq;
    } else if (!refresh) {
      flush_out();
      return;
    }
    last_refresh_ = now;
    if (!uplink_.empty()) send(uplink_, "MAU", mau_body(id_, self_));
    flush_out();
    return;
  }
  if (now - last_hello_ >= hello_interval) {
    last_hello_ = now;
    const value_map hello = hello_body();
    for (const auto& [id, n] : neighbours_) send(id, "HELLO", hello);
  }
  bool links_changed = false;
  for (auto& [id, n] : neighbours_) {
    if (n.two_way && now - n.last_hello > hello_max_age) {
      logger()->info("neighbour router '{}' silent for {} s: treated as gone", id,
                     std::chrono::duration_cast<std::chrono::seconds>(hello_max_age).count());
      n.two_way = false;
      links_changed = true;
    }
  }
  if (links_changed) own_links_changed();
  if (mobile_dirty_) {
    mobile_dirty_ = false;
    // What we advertise: our own consumers' addresses and those of our edge routers.
    std::set<std::string> addresses;
    for (const auto& [key, count] : local_keys_) addresses.insert(key);
    for (const auto& [id, e] : edges_) addresses.insert(e.addresses.begin(), e.addresses.end());
    if (addresses != self_.addresses) {
      self_.addresses = std::move(addresses);
      ++self_.mobile_seq;
      flood("", "MAU", mau_body(id_, self_));
    }
  }
  if (now - last_refresh_ >= refresh_interval) {
    last_refresh_ = now;
    flood("", "LSU", lsu_body(id_, self_));
    flood("", "MAU", mau_body(id_, self_));
  }
  for (auto it = routers_.begin(); it != routers_.end();) {
    if (now - it->second.refreshed > remote_max_age) {
      logger()->info("router '{}' not heard of for {} s: forgotten", it->first,
                     std::chrono::duration_cast<std::chrono::seconds>(remote_max_age).count());
      it = routers_.erase(it);
      topology_dirty_ = true;
    } else {
      ++it;
    }
  }
  if (topology_dirty_) recompute();
  flush_out();
}

// ---- protocol messages --------------------------------------------------------------------

value_map agent::hello_body() const {
  value_list seen;
  const auto now = clock::now();
  for (const auto& [id, n] : neighbours_) {
    if (n.last_hello != clock::time_point{} && now - n.last_hello <= hello_max_age) {
      seen.push_back(value{id});
    }
  }
  return {{"id", value{id_}},
          {"pv", value{1}},
          {"area", value{"0"}},
          {"instance", value{instance_}},
          {"seen", value{std::move(seen)}}};
}

value_map agent::lsu_body(const std::string& id, const router_state& r) const {
  value_map peers;
  for (const auto& [peer, cost] : r.peers) peers.emplace_back(peer, value{cost});
  value_map ls{{"id", value{id}}, {"ls_seq", value{r.ls_seq}}, {"peers", value{std::move(peers)}}};
  return {{"id", value{id}},           {"pv", value{1}},
          {"area", value{"0"}},        {"instance", value{instance_}},
          {"ls_seq", value{r.ls_seq}}, {"ls", value{std::move(ls)}}};
}

value_map agent::mau_body(const std::string& id, const router_state& r) const {
  value_list exist;
  for (const auto& a : r.addresses) exist.push_back(value{a});
  return {{"id", value{id}},
          {"pv", value{1}},
          {"area", value{"0"}},
          {"instance", value{instance_}},
          {"mobile_seq", value{r.mobile_seq}},
          {"exist", value{std::move(exist)}}};
}

void agent::send(const std::string& neighbour, const std::string& opcode, value_map body) {
  outbox_.emplace_back(neighbour, encode_message("_mesh/" + neighbour, id_, opcode, body));
  flush_out();
}

void agent::flood(const std::string& except, const std::string& opcode, const value_map& body) {
  for (const auto& [id, n] : neighbours_) {
    if (id != except) send(id, opcode, body);
  }
}

void agent::flush_out() {
  while (out_ != nullptr && !outbox_.empty() && endpoint_.can_start(*out_)) {
    endpoint_.send(*out_, outbox_.front().second, true, false, true);
    outbox_.erase(outbox_.begin());
  }
  // Control messages to a neighbour whose link is gone are released by the router; HELLO and
  // the periodic refresh repeat them, so nothing is kept beyond the outbox.
  if (outbox_.size() > 10000) outbox_.clear();
}

void agent::on_sendable(link&) {
  flush_out();
}

void agent::on_readable(link& l) {
  auto& deliveries = endpoint_.incoming(l);
  while (!deliveries.empty() && deliveries.front().complete) {
    auto d = std::move(deliveries.front());
    deliveries.pop_front();
    if (d.aborted) continue;
    if (!d.presettled) {
      amqp::delivery_state accepted;
      accepted.type = amqp::delivery_state::kind::accepted;
      endpoint_.settle(l, d.id, accepted);
    }
    amqp::decoder in(d.bytes);
    value_map props, body;
    while (!in.at_end()) {
      auto desc = in.read_descriptor();
      if (!desc) break;
      auto v = management::decode(in);
      if (!v) break;
      if (desc->code == amqp::descriptor_code::application_properties && v->map()) {
        props = *v->map();
      } else if (desc->code == amqp::descriptor_code::amqp_value && v->map()) {
        body = *v->map();
      }
    }
    const value* from = management::find(props, "from");
    handle(from != nullptr ? from->to_text() : std::string(), props, body);
  }
  endpoint_.set_credit(l, 1000);
}

void agent::handle(const std::string& from, const value_map& props, const value_map& body) {
  const value* opcode = management::find(props, "opcode");
  const value* origin_value = management::find(body, "id");
  if (opcode == nullptr || origin_value == nullptr) {
    logger()->warn("control message without opcode or id from '{}' ignored", from);
    return;
  }
  const std::string op = opcode->to_text();
  const std::string origin = origin_value->to_text();
  if (origin == id_) return;  // our own state, flooded back
  const auto now = clock::now();

  if (op == "HELLO") {
    auto it = neighbours_.find(origin);
    if (it == neighbours_.end()) return;  // its connection is not (yet) known here
    neighbour& n = it->second;
    const bool first = n.last_hello == clock::time_point{};
    n.last_hello = now;
    bool lists_us = false;
    if (const value* seen = management::find(body, "seen"); seen && seen->list()) {
      for (const auto& s : *seen->list()) lists_us |= s.to_text() == id_;
    }
    if (first) send(origin, "HELLO", hello_body());  // answer at once: two-way sooner
    if (lists_us != n.two_way) {
      n.two_way = lists_us;
      own_links_changed();
      if (lists_us) {
        // A new neighbour learns everything we know (it may have missed the floods).
        send(origin, "LSU", lsu_body(id_, self_));
        send(origin, "MAU", mau_body(id_, self_));
        for (const auto& [rid, r] : routers_) {
          send(origin, "LSU", lsu_body(rid, r));
          send(origin, "MAU", mau_body(rid, r));
        }
      }
    }
    return;
  }

  if (auto edge = edges_.find(origin); edge != edges_.end()) {
    if (op != "MAU") return;
    router_state& e = edge->second;
    const std::int64_t seq = int_of(body, "mobile_seq");
    e.refreshed = now;
    if (seq <= e.mobile_seq) return;
    e.mobile_seq = seq;
    e.addresses.clear();
    if (const value* exist = management::find(body, "exist"); exist && exist->list()) {
      for (const auto& a : *exist->list()) e.addresses.insert(a.to_text());
    }
    mobile_dirty_ = true;
    topology_dirty_ = true;
    return;
  }
  if (edge_mode_) return;  // edges run no link-state protocol
  router_state& r = routers_[origin];
  if (op == "LSU") {
    const std::int64_t seq = int_of(body, "ls_seq");
    r.refreshed = now;
    if (!pass_on(seq, r.ls_seq, r.ls_flooded, now)) return;
    flood(from, "LSU", body);
    if (seq == r.ls_seq) return;  // a refresh: nothing changed
    r.ls_seq = seq;
    r.peers.clear();
    if (const value* ls = management::find(body, "ls"); ls && ls->map()) {
      if (const value* peers = management::find(*ls->map(), "peers"); peers && peers->map()) {
        for (const auto& [peer, cost] : *peers->map()) {
          const auto* c = std::get_if<std::int64_t>(&cost.v);
          r.peers[peer] = c != nullptr && *c > 0 ? static_cast<unsigned>(*c) : 1u;
        }
      }
    }
    topology_dirty_ = true;
  } else if (op == "MAU") {
    const std::int64_t seq = int_of(body, "mobile_seq");
    r.refreshed = now;
    if (!pass_on(seq, r.mobile_seq, r.mobile_flooded, now)) return;
    flood(from, "MAU", body);
    if (seq == r.mobile_seq) return;
    r.mobile_seq = seq;
    r.addresses.clear();
    if (const value* exist = management::find(body, "exist"); exist && exist->list()) {
      for (const auto& a : *exist->list()) r.addresses.insert(a.to_text());
    }
    topology_dirty_ = true;
  } else {
    // RA, LSR, MAR and future opcodes: our periodic full refresh covers what they ask for.
    logger()->debug("control message {} from '{}' not used", op, origin);
  }
}

bool agent::pass_on(std::int64_t seq, std::int64_t held, clock::time_point& flooded,
                    clock::time_point now) {
  if (seq < held) return false;
  if (seq == held && now - flooded < refresh_interval / 2) return false;
  flooded = now;
  return true;
}

void agent::own_links_changed() {
  self_.peers.clear();
  for (const auto& [id, n] : neighbours_) {
    if (n.two_way) self_.peers[id] = n.cost;
  }
  ++self_.ls_seq;
  flood("", "LSU", lsu_body(id_, self_));
  topology_dirty_ = true;
}

void agent::recompute() {
  topology_dirty_ = false;
  mesh_view mesh;
  mesh.self = id_;
  mesh.routers[id_] = {&self_.peers, nullptr};  // our own consumers are not a route
  for (const auto& [id, r] : routers_) mesh.routers[id] = {&r.peers, &r.addresses};
  for (const auto& [id, e] : edges_) mesh.edges[id] = &e.addresses;
  const address_matcher& matcher = owner_.core().addresses().matcher();
  auto is_multicast = [&matcher](const std::string& key) {
    const address_config* cfg = matcher.match(std::string_view(key).substr(0, key.find('\x1f')));
    return (cfg != nullptr ? cfg->dist : matcher.default_distribution()) == distribution::multicast;
  };
  computed_routes computed = compute_routes(mesh, is_multicast);
  next_hops_ = std::move(computed.next_hops);
  if (published_ != nullptr && computed.routes == *published_) return;
  // The shards share this one table: a copy kept here as well would double the largest
  // per-address structure of a router with many remote addresses.
  published_ = std::make_shared<const route_table>(std::move(computed.routes));
  logger()->debug("routes recomputed: {} router(s) reachable, {} remote address(es)",
                  next_hops_.size(), published_->size());
  for (unsigned i = 0; i < owner_.group().size(); ++i) {
    owner_.post_task(i, [routes = published_](shard& s) { s.apply_mesh_routes(routes); });
  }
}

value_list agent::node_rows() const {
  value_list rows;
  for (const auto& [id, hop] : next_hops_) {
    value_map r;
    r.emplace_back("identity", value{id});
    r.emplace_back("name", value{"router.node/" + id});
    r.emplace_back("type", value{"org.apache.qpid.dispatch.router.node"});
    r.emplace_back("id", value{id});
    r.emplace_back("protocolVersion", value{1});
    auto n = neighbours_.find(id);
    const bool adjacent = n != neighbours_.end() && n->second.two_way;
    r.emplace_back("nextHop", adjacent ? value{} : value{hop.first});
    r.emplace_back("cost", value{hop.second});
    auto it = routers_.find(id);
    value_list ls;
    if (it != routers_.end()) {
      for (const auto& [peer, cost] : it->second.peers) ls.push_back(value{peer});
    }
    r.emplace_back("linkState", value{std::move(ls)});
    r.emplace_back("address", value{"amqp:/_topo/0/" + id});
    rows.push_back(value{std::move(r)});
  }
  return rows;
}

}  // namespace fogmesh::router::mesh
