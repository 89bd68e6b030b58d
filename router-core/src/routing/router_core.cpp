#include "routing/router_core.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <random>
#include <string_view>

#include "amqp/message.hpp"
#include "engine/amqp_connection.hpp"
#include "fogmesh/common/log.hpp"

namespace fogmesh::router {

namespace {

amqp::delivery_state make_state(amqp::delivery_state::kind k, bool failed = false) {
  amqp::delivery_state s;
  s.type = k;
  s.delivery_failed = failed;
  return s;
}

std::uint64_t stream_key(unsigned origin_shard, std::uint32_t token) {
  return (static_cast<std::uint64_t>(origin_shard) << 32) | token;
}

// "_topo/0/<id>" for a topological address (`amqp:/_topo/0/<id>/…` or `_topo/0/<id>/…`) of a
// router other than `self`; empty otherwise.
std::string other_router_key(std::string_view address, std::string_view self) {
  if (address.starts_with("amqp:/")) address.remove_prefix(6);
  constexpr std::string_view prefix = "_topo/0/";
  if (!address.starts_with(prefix)) return {};
  const std::string_view rest = address.substr(prefix.size());
  const std::string_view id = rest.substr(0, rest.find('/'));
  if (id.empty() || id == self) return {};
  return std::string(prefix) + std::string(id);
}

bool is_terminal(amqp::delivery_state::kind k) {
  using kind = amqp::delivery_state::kind;
  return k == kind::accepted || k == kind::rejected || k == kind::released || k == kind::modified;
}

}  // namespace

router_core::router_core(std::string router_id, address_matcher matcher, shard_group* group,
                         unsigned shard_index, std::function<void(unsigned, cross_message&&)> post)
    : group_(group),
      shard_index_(shard_index),
      post_(std::move(post)),
      router_id_(std::move(router_id)),
      own_topological_key_("_topo/0/" + router_id_),
      addresses_(std::move(matcher)) {
  dynamic_salt_ = std::random_device{}();
}

router_core::~router_core() {
  // Deliveries still waiting for another shard's outcome at shutdown belong to nobody else.
  remote_waiting_.for_each([](std::uint32_t, delivery* d) { delete d; });
  for (auto& entry : remote_streams_) delete entry.second;
  for (delivery* d : free_list_) delete d;
}

delivery* router_core::allocate() {
  ++live_deliveries_;
  if (free_list_.empty()) return new delivery;
  delivery* d = free_list_.back();
  free_list_.pop_back();
  d->freed = false;
  return d;
}

void router_core::maybe_free(delivery* d) {
  // Forwarding may already have returned d to the pool inside the caller's call chain.
  if (d->freed) return;
  if (d->queued || d->in_tracked || d->out_tracked || d->awaiting_remote || d->remote_stream) {
    return;
  }
  if (d->in_link != nullptr && d->in_link->current == d) return;
  detach_live(*d);
  --live_deliveries_;
  // Keep the pending buffer's capacity: the next delivery reuses it without allocating,
  // unless it grew large (a streamed message) and would pin memory.
  amqp::byte_buffer keep = std::move(d->pending);
  keep.clear();
  if (keep.capacity() > 65536) keep = {};
  *d = delivery{};
  d->pending = std::move(keep);
  d->freed = true;
  free_list_.push_back(d);
}

void router_core::attach_live(delivery& d, link& in) {
  d.in_link = &in;
  d.in_prev = nullptr;
  d.in_next = in.live_head;
  if (in.live_head != nullptr) in.live_head->in_prev = &d;
  in.live_head = &d;
}

void router_core::detach_live(delivery& d) {
  if (d.in_link == nullptr) return;
  if (d.in_prev != nullptr)
    d.in_prev->in_next = d.in_next;
  else
    d.in_link->live_head = d.in_next;
  if (d.in_next != nullptr) d.in_next->in_prev = d.in_prev;
  d.in_link->sess->pending_bytes -= d.held_size() + d.remote_in_flight;
  d.remote_in_flight = 0;
  d.in_prev = d.in_next = nullptr;
  d.in_link = nullptr;
}

// ---- links -------------------------------------------------------------------------------

void router_core::set_routes(std::vector<link_route_config> link_routes,
                             std::vector<auto_link_config> auto_links) {
  link_routes_ = std::move(link_routes);
  auto_links_ = std::move(auto_links);
}

amqp_connection* router_core::find_route_container(const link_route_config& route) const {
  for (amqp_connection* c : route_containers_) {
    if (serves(*c, route.connection, route.container_id)) return c;
  }
  return nullptr;
}

bool router_core::serves(const amqp_connection& c, const std::string& connection,
                         const std::string& container_id) {
  const auto& s = c.settings();
  return (!connection.empty() && (s.connector_name == connection || s.listener_name == connection)) ||
         (!container_id.empty() && c.container_id() == container_id);
}

std::string router_core::link_route_key(const link_route_config& route) {
  std::string key(link_route_key_prefix);
  key += route.direction == link_direction::in ? "in/" : "out/";
  key += route.prefix.empty() ? "pattern/" + route.pattern : "prefix/" + route.prefix;
  return key;
}

void router_core::advertise_link_routes(const amqp_connection& c, bool present) {
  if (!on_local_address) return;
  for (const auto& lr : link_routes_) {
    if (serves(c, lr.connection, lr.container_id)) on_local_address(link_route_key(lr), present);
  }
}

void router_core::connection_opened(amqp_connection& c) {
  if (c.settings().role == connection_role::inter_router ||
      c.settings().role == connection_role::edge || c.settings().role == connection_role::uplink) {
    if (on_neighbour) on_neighbour(c, true);
    return;
  }
  if (c.settings().role != connection_role::route_container) return;
  route_containers_.push_back(&c);
  advertise_link_routes(c, true);
  for (const auto& al : auto_links_) {
    if (!serves(c, al.connection, al.container_id)) continue;
    const std::string& external = al.external_address.empty() ? al.address : al.external_address;
    const link_kind kind =
        al.direction == link_direction::in ? link_kind::incoming : link_kind::outgoing;
    link* l = c.attach_link(kind, "autoLink/" + al.address, external,
                            amqp::sender_settle_mode::unsettled);
    if (l == nullptr) continue;
    l->auto_link = true;
    l->address = al.address;
    const int phase = al.phase.value_or(kind == link_kind::outgoing ? 0 : 1);
    address_entry& a = addresses_.get(address_table::phase_key(al.address, phase));
    l->addr = &a;
    if (kind == link_kind::outgoing) {
      // The broker queue is one more consumer of the address (a waypoint).
      add_consumer(a, *l);
    } else {
      add_producer(a, *l);
    }
  }
}

void router_core::connection_closed(amqp_connection& c) {
  if (std::erase(route_containers_, &c) > 0) advertise_link_routes(c, false);
  if ((c.settings().role == connection_role::inter_router ||
       c.settings().role == connection_role::edge ||
       c.settings().role == connection_role::uplink) &&
      on_neighbour) {
    on_neighbour(c, false);
  }
}

void router_core::initiated_link_attached(link& l, bool accepted, const amqp::attach& answer) {
  if (l.peer == nullptr) return;
  amqp::error err{"qd:no-route-to-dest", "the route container refused the link", {}};
  l.peer->owner->complete_attach(*l.peer, accepted, accepted ? nullptr : &err, &answer);
  if (accepted) {
    // Credit flows from whichever side receives: mirror what is already known.
    if (l.kind == link_kind::outgoing)
      grant_credit(*l.peer, true);
    else
      grant_credit(l, true);
  }
}

std::string router_core::partner_link_name(const link& l, const amqp_connection& towards) {
  // Clients on different connections may use the same link name; on the one connection their
  // routed links share, each needs its own (a peer matches attach answers by name).
  if (!towards.has_link_named(l.name)) return l.name;
  return l.name + "@" + router_id_ + "." + std::to_string(++routed_link_names_);
}

bool router_core::attach_link_route(link& l, attach_decision& decision) {
  if (l.address.empty() || link_routes_.empty()) return false;
  for (const auto& lr : link_routes_) {
    const bool direction_ok =
        (lr.direction == link_direction::in) == (l.kind == link_kind::incoming);
    if (!direction_ok) continue;
    const bool match = !lr.prefix.empty() ? address_matcher::prefix_matches(lr.prefix, l.address)
                                          : address_matcher::pattern_matches(lr.pattern, l.address);
    if (!match) continue;
    const std::string route_name = lr.prefix.empty() ? lr.pattern : lr.prefix;
    const link_kind partner_kind =
        l.kind == link_kind::incoming ? link_kind::outgoing : link_kind::incoming;
    // The client's termini (filters, durability, capabilities) go on unchanged, but for the
    // address on the far one.
    const amqp::attach* like = l.owner->unanswered_attach(l);
    link* partner = nullptr;
    amqp_connection* target = find_route_container(lr);
    if (target != nullptr && target->opened()) {
      std::string external = l.address;
      if (!lr.del_external_prefix.empty() && external.starts_with(lr.del_external_prefix)) {
        external.erase(0, lr.del_external_prefix.size());
      }
      external = lr.add_external_prefix + external;
      partner = target->attach_link(partner_kind, partner_link_name(l, *target), external,
                                    l.snd_settle_mode, like);
    } else if (amqp_connection* hop =
                   link_route_hop ? link_route_hop(link_route_key(lr), l.owner) : nullptr) {
      // Another router has the container: the attach goes one hop towards it, unchanged; the
      // router there applies its own link route (and the external prefixes).
      partner = hop->attach_link(partner_kind, partner_link_name(l, *hop), l.address,
                                 l.snd_settle_mode, like);
    } else {
      decision.accepted = false;
      decision.error.condition = "qd:no-route-to-dest";
      decision.error.description = "no route container is connected for link route '" +
                                   route_name + "', here or on a router this one can reach";
      return true;
    }
    if (partner == nullptr) {
      decision.accepted = false;
      decision.error.condition = "qd:no-route-to-dest";
      decision.error.description = "the connection towards link route '" + route_name +
                                   "' is not open";
      return true;
    }
    partner->peer = &l;
    l.peer = partner;
    decision.deferred = true;
    decision.address = l.address;
    return true;
  }
  return false;
}

router_core::attach_decision router_core::link_attached(link& l) {
  attach_decision decision;
  ++counters_.links_attached;
  if (!l.dynamic && attach_link_route(l, decision)) return decision;
  if (l.dynamic) {
    // qdrouterd's shape for temporary reply addresses; the salt keeps them unguessable enough
    // that two router restarts do not hand out the same names.
    char buf[48];
    std::snprintf(buf, sizeof buf, "temp.%08llx%06llx",
                  static_cast<unsigned long long>(dynamic_salt_ & 0xffffffffu),
                  static_cast<unsigned long long>(++dynamic_counter_));
    l.address = (dynamic_address_prefix.empty() ? "amqp:/_topo/0/" + router_id_ + "/"
                                                : dynamic_address_prefix) +
                buf;
  }
  decision.address = l.address;
  if (l.address.empty()) {
    if (l.kind == link_kind::outgoing) {
      decision.accepted = false;
      decision.error.condition = "amqp:invalid-field";
      decision.error.description = "receiving link has no source address";
      return decision;
    }
    // Anonymous senders route per message; the engine grants credit after its attach reply.
    l.capacity = l.owner->settings().link_capacity;
    return decision;
  }
  // Waypoint addresses have two halves: senders feed phase 0 (towards the broker's queue),
  // receivers drain phase 1 (from it), so the router never loops a message back.
  int phase = 0;
  if (const address_config* cfg = addresses_.matcher().match(l.address); cfg && cfg->waypoint) {
    phase = l.kind == link_kind::incoming ? cfg->ingress_phase.value_or(0)
                                          : cfg->egress_phase.value_or(1);
  }
  address_entry& a = addresses_.get(address_table::phase_key(l.address, phase));
  if (a.dist == distribution::unavailable) {
    addresses_.release_if_unused(a);
    decision.accepted = false;
    decision.error.condition = "qd:no-route-to-dest";
    decision.error.description = "address " + l.address + " is unavailable";
    return decision;
  }
  l.addr = &a;
  if (l.kind == link_kind::outgoing) {
    add_consumer(a, l);
  } else {
    add_producer(a, l);
    l.capacity = l.owner->settings().link_capacity;
  }
  return decision;
}

void router_core::link_detached(link& l) {
  if (l.inter_router && on_mesh_link_gone) on_mesh_link_gone(l);
  if (link* partner = l.peer) {
    // A link-routed pair lives and dies together.
    l.peer = nullptr;
    partner->peer = nullptr;
    // A detach passes through as the peer sent it; a lost connection becomes routed-link-lost.
    amqp::error lost{"qd:routed-link-lost", "the other side of the link route went away", {}};
    const amqp::error* err = l.detach_received ? l.detach_error.get() : &lost;
    partner->owner->complete_attach(*partner, false, err != nullptr ? err : &lost, nullptr);
    if (!partner->detach_sent) partner->owner->detach_link(*partner, err);
  }
  if (l.kind == link_kind::outgoing) {
    // No new deliveries for this link; those routed here that never started go elsewhere or
    // back to their sender.
    if (l.addr != nullptr) remove_consumer(*l.addr, l);
    ring_deque<delivery*> queue;
    queue.swap(l.queue);
    for (delivery* d : queue) {
      d->queued = false;
      d->out_link = nullptr;
      if (d->out_started) {
        // The receiver saw part (or all) of it without settling: modified, never delivered
        // here again (qdrouterd gives delivery-failed so a broker counts the attempt).
        if (d->out_tracked) {
          l.sess->out_unsettled.erase(d->out_id);
          d->out_tracked = false;
        }
        if (d->receiving) d->discard = true;
        consume_pending(*d, d->held_size());
        finish_ingress(*d, make_state(amqp::delivery_state::kind::modified, true), true);
        ++counters_.deliveries_modified;
        maybe_free(d);
      } else {
        d->routed = false;
        if (d->multicast_copy || !route(*d)) {
          if (!d->routed) no_destination(*d);
        }
        maybe_free(d);
      }
    }
    // Started and unsettled: the receiver may have processed them; tell the sender so.
    std::vector<delivery*> unsettled;
    l.sess->out_unsettled.for_each([&](std::uint32_t, delivery* d) {
      if (d->out_link == &l) unsettled.push_back(d);
    });
    for (delivery* d : unsettled) {
      l.sess->out_unsettled.erase(d->out_id);
      d->out_tracked = false;
      d->out_link = nullptr;
      finish_ingress(*d, make_state(amqp::delivery_state::kind::modified, true), true);
      ++counters_.deliveries_modified;
      maybe_free(d);
    }
    if (l.addr != nullptr) {
      addresses_.release_if_unused(*l.addr);
      l.addr = nullptr;
    }
    return;
  }

  // Incoming link: the delivery still arriving is abandoned; everything else it sent stays
  // in flight but can no longer report an outcome.
  if (delivery* d = l.current) {
    l.current = nullptr;
    d->receiving = false;
    d->aborted = true;
    abort_outgoing(*d);
  }
  while (delivery* d = l.live_head) {
    if (d->in_tracked) {
      l.sess->in_unsettled.erase(d->in_id);
      d->in_tracked = false;
    }
    detach_live(*d);
    maybe_free(d);
  }
  if (l.addr != nullptr) {
    const bool was_producer = std::erase(l.addr->producers, &l) > 0;
    if (was_producer && !l.inter_router && --l.addr->local_producers == 0 && on_local_producer) {
      on_local_producer(l.addr->name, false);
    }
    if (was_producer && l.addr->producers.empty() && on_producer) {
      on_producer(l.addr->name, false);
    }
    addresses_.release_if_unused(*l.addr);
    l.addr = nullptr;
  }
}

// ---- credit to senders -------------------------------------------------------------------

bool router_core::routable(const link& in) const {
  if (in.addr == nullptr) return true;                     // anonymous: decided per message
  if (in.addr->name == own_topological_key_) return true;  // routed by `to` here
  const address_entry& a = *in.addr;
  if (a.dist == distribution::multicast) return true;
  // A link to another router counts once that router gave it credit: it has a consumer
  // behind it (qdrouterd: no credit to a sender until a receiver exists somewhere).
  for (const link* c : a.consumers) {
    if (!c->inter_router || c->credit > 0 || !c->queue.empty()) return true;
  }
  return group_ != nullptr && group_->any_consumer(a.name);
}

void router_core::bind_mesh_link(link& l, const std::string& key, unsigned cost) {
  l.inter_router = true;
  l.mesh_cost = cost;
  l.address = key;
  address_entry& a = addresses_.get(key);
  l.addr = &a;
  add_consumer(a, l);
}

void router_core::bind_mesh_source(link& l, const std::string& key) {
  l.inter_router = true;
  l.address = key;
  address_entry& a = addresses_.get(key);
  l.addr = &a;
  add_producer(a, l);
  l.capacity = l.owner->settings().link_capacity;
}

void router_core::add_producer(address_entry& a, link& l) {
  a.producers.push_back(&l);
  if (!l.inter_router && ++a.local_producers == 1 && on_local_producer) {
    on_local_producer(a.name, true);
  }
  if (a.producers.size() == 1 && on_producer) on_producer(a.name, true);
}

void router_core::add_consumer(address_entry& a, link& l) {
  const bool first_here = a.consumers.empty();
  a.consumers.push_back(&l);
  if (l.inter_router) {
    ++a.mesh_links;
  } else if (++a.local_consumers == 1 && on_local_address) {
    on_local_address(a.name, true);
  }
  if (!first_here) return;
  for (link* producer : a.producers) grant_credit(*producer, true);
  if (group_ != nullptr && group_->consumer_added(shard_index_, a.name)) {
    // First consumer in the whole router: senders on other shards may now get credit.
    for (unsigned s = 0; s < group_->size(); ++s) {
      if (s == shard_index_) continue;
      cross_message m;
      m.type = cross_message::kind::routable;
      m.from = shard_index_;
      m.address = a.name;
      post_(s, std::move(m));
    }
  }
}

void router_core::remove_consumer(address_entry& a, link& l) {
  const auto before = a.consumers.size();
  if (std::erase(a.consumers, &l) > 0) {
    if (l.inter_router) {
      --a.mesh_links;
    } else if (--a.local_consumers == 0 && on_local_address) {
      on_local_address(a.name, false);
    }
  }
  if (before > 0 && a.consumers.empty() && group_ != nullptr) {
    group_->consumer_removed(shard_index_, a.name);
  }
}

cross_message router_core::forward_message(const delivery& d, const std::string& key) const {
  cross_message m;
  m.type = cross_message::kind::forward;
  m.from = shard_index_;
  m.address = key;
  m.presettled = d.in_settled;
  m.message_format = d.message_format;
  return m;
}

void router_core::send_remote(delivery& d, unsigned shard, const std::string& key) {
  cross_message m = forward_message(d, key);
  m.bytes.assign(d.held().begin(), d.held().end());
  consume_pending(d, d.held_size());
  d.routed = true;
  d.remote_shard = -1;
  if (!d.in_settled && d.in_tracked) {
    m.token = next_token_++;
    if (m.token == 0) m.token = next_token_++;
    if (remote_waiting_.insert(m.token, &d)) {
      d.awaiting_remote = true;
      d.remote_token = m.token;
    } else {
      m.token = 0;  // window overflow: cannot track; the sender learns "released" instead
      finish_ingress(d, make_state(amqp::delivery_state::kind::released), true);
    }
  }
  post_(shard, std::move(m));
  ++counters_.deliveries_egress;
  credit_restored(d);
}

void router_core::move_held_to_flight(delivery& d, amqp::byte_buffer& out) {
  // Still counted against the sender's session window until the target reports them written.
  out.assign(d.held().begin(), d.held().end());
  d.remote_in_flight += d.held_size();
  d.pending.clear();
  d.pending_offset = 0;
}

void router_core::start_remote_stream(delivery& d, unsigned shard, const std::string& key) {
  cross_message m = forward_message(d, key);
  m.more = true;
  d.routed = true;
  // Every stream has a token, settled or not: later chunks and progress reports name it.
  m.token = next_token_++;
  if (m.token == 0) m.token = next_token_++;
  if (!remote_waiting_.insert(m.token, &d)) {
    no_destination(d);  // window overflow: cannot track it; released, the rest swallowed
    d.discard = true;
    return;
  }
  d.awaiting_remote = true;
  d.remote_token = m.token;
  d.remote_shard = static_cast<int>(shard);
  move_held_to_flight(d, m.bytes);
  post_(shard, std::move(m));
  ++counters_.deliveries_egress;
}

void router_core::continue_remote_stream(delivery& d) {
  cross_message m;
  m.type = cross_message::kind::stream;
  m.from = shard_index_;
  m.token = d.remote_token;
  m.more = d.receiving;
  move_held_to_flight(d, m.bytes);
  post_(static_cast<unsigned>(d.remote_shard), std::move(m));
  if (!d.receiving) end_remote_stream(d);
}

void router_core::abort_remote_stream(delivery& d) {
  cross_message m;
  m.type = cross_message::kind::stream;
  m.from = shard_index_;
  m.token = d.remote_token;
  m.aborted = true;
  post_(static_cast<unsigned>(d.remote_shard), std::move(m));
  end_remote_stream(d);
  // An aborted delivery has no outcome: stop waiting for one.
  if (d.awaiting_remote) {
    remote_waiting_.erase(d.remote_token);
    d.awaiting_remote = false;
  }
}

void router_core::end_remote_stream(delivery& d) {
  // The last bytes are on their way: the sender's window need not wait for them.
  if (d.in_link != nullptr && d.remote_in_flight != 0) {
    d.in_link->sess->pending_bytes -= d.remote_in_flight;
    d.in_link->owner->window_may_open(*d.in_link->sess);
  }
  d.remote_in_flight = 0;
  d.remote_shard = -1;
  if (d.awaiting_remote && (d.in_settled || !d.in_tracked)) {
    // No outcome will come back for a settled delivery.
    remote_waiting_.erase(d.remote_token);
    d.awaiting_remote = false;
  }
  credit_restored(d);
}

void router_core::end_target_stream(delivery& d) {
  remote_streams_.erase(stream_key(d.origin_shard, d.origin_token));
  d.remote_stream = false;
  if (d.receiving && d.outcome_sent) {
    // Settled before it was complete: what is still to come is dropped at the door (the
    // stream entry is gone), and a receiver already part way through is told to forget it.
    d.receiving = false;
    d.discard = true;
    if (d.queued && d.out_started) abort_outgoing(d);
  }
  d.receiving = false;
}

void router_core::report_consumed(delivery& d, std::size_t n) {
  d.consumed_unreported += n;
  // Batched: one report per 16 KiB written, or when the delivery has nothing left held.
  if (d.consumed_unreported < 16384 && d.held_size() != 0) return;
  cross_message m;
  m.type = cross_message::kind::consumed;
  m.from = shard_index_;
  m.token = d.origin_token;
  m.count = d.consumed_unreported;
  d.consumed_unreported = 0;
  post_(d.origin_shard, std::move(m));
}

void router_core::on_cross_message(cross_message& m) {
  switch (m.type) {
    case cross_message::kind::task:
      return;  // run by the shard, never routed here
    case cross_message::kind::routable: {
      if (address_entry* a = addresses_.find(m.address)) {
        for (link* producer : a->producers) grant_credit(*producer, true);
      }
      return;
    }
    case cross_message::kind::outcome: {
      if (!m.final) {
        // Streaming progress from the receiver on the other shard, to the sender unsettled.
        delivery* d = remote_waiting_.find(m.token);
        if (d == nullptr || d->in_link == nullptr || !d->in_tracked) return;
        amqp::delivery_state state = make_state(m.state);
        state.section_number = m.section_number;
        state.section_offset = m.section_offset;
        d->in_link->owner->queue_disposition(*d->in_link->sess, amqp::role::receiver, d->in_id,
                                             false, state);
        return;
      }
      delivery* d = remote_waiting_.erase(m.token);
      if (d == nullptr) return;
      d->awaiting_remote = false;
      if (d->remote_shard >= 0) {
        // Settled over there while still arriving here: the rest is swallowed.
        d->discard = d->receiving;
        consume_pending(*d, d->held_size());
        end_remote_stream(*d);
      }
      amqp::delivery_state state = make_state(m.state, m.delivery_failed);
      state.undeliverable_here = m.undeliverable_here;
      finish_ingress(*d, state, true);
      maybe_free(d);
      return;
    }
    case cross_message::kind::consumed: {
      delivery* d = remote_waiting_.find(m.token);
      if (d == nullptr || d->remote_shard < 0) return;
      const std::size_t n = std::min<std::size_t>(m.count, d->remote_in_flight);
      d->remote_in_flight -= n;
      if (d->in_link != nullptr) {
        d->in_link->sess->pending_bytes -= n;
        d->in_link->owner->window_may_open(*d->in_link->sess);
      }
      return;
    }
    case cross_message::kind::stream: {
      auto it = remote_streams_.find(stream_key(m.from, m.token));
      if (it == remote_streams_.end()) return;  // already settled or released here
      delivery* d = it->second;
      if (m.aborted) {
        end_target_stream(*d);
        d->aborted = true;
        consume_pending(*d, d->held_size());
        abort_outgoing(*d);
        maybe_free(d);
        return;
      }
      if (!m.more) end_target_stream(*d);
      if (d->discard) {
        // Swallowed (nobody takes it here): counted as written so the sender is not held up.
        if (d->remote_stream) report_consumed(*d, m.bytes.size());
      } else {
        add_pending(*d, m.bytes);
      }
      if (d->out_link != nullptr && d->queued) pump(*d->out_link);
      maybe_free(d);
      return;
    }
    case cross_message::kind::forward: {
      delivery* d = allocate();
      d->remote_origin = true;
      d->origin_shard = m.from;
      d->origin_token = m.token;
      d->in_settled = m.presettled || m.token == 0;
      d->message_format = m.message_format;
      d->pending = std::move(m.bytes);
      d->address_key = m.address;
      if (m.more) {
        d->receiving = true;
        d->remote_stream = true;
        remote_streams_[stream_key(m.from, m.token)] = d;
      }
      ++counters_.deliveries_ingress;
      address_entry* a = addresses_.find(m.address);
      if (a != nullptr && a->dist == distribution::multicast) {
        fan_out(*d, *a, /*local_only=*/true);
      } else if (link* out = a != nullptr ? pick_consumer(*a, nullptr) : nullptr) {
        d->routed = true;
        enqueue(*d, *out);
      } else {
        no_destination(*d);  // the consumer left meanwhile: released back to the origin
      }
      maybe_free(d);
      return;
    }
  }
}

void router_core::grant_credit(link& l, bool force) {
  if (l.kind != link_kind::incoming || l.detach_sent || l.detach_received) return;
  if (!l.remote_attached) return;  // the attach answer comes first
  if (l.peer != nullptr) {
    // Link-routed: the sender may send exactly what the far receiver can take.
    const link& out = *l.peer;
    const std::uint32_t queued = static_cast<std::uint32_t>(out.queue.size());
    const std::uint32_t target = out.credit > queued ? out.credit - queued : 0;
    if (target != l.credit_outstanding || force) {
      l.credit_outstanding = target;
      l.owner->write_flow(l);
    }
    return;
  }
  if (!routable(l)) return;  // held until a consumer appears (qdrouterd semantics)
  const std::uint32_t target = l.capacity;
  const std::uint32_t in_use = l.credit_outstanding;
  if (in_use >= target) return;
  const std::uint32_t missing = target - in_use;
  // Coalesce: one flow per half window unless the sender is about to stall.
  if (!force && missing < std::max<std::uint32_t>(1, target / 2) && in_use > 0) return;
  l.credit_outstanding = target;
  l.credit_to_restore = 0;
  l.owner->write_flow(l);
}

void router_core::credit_restored(delivery& d) {
  if (d.in_link == nullptr) return;
  link& in = *d.in_link;
  grant_credit(in, false);
}

// ---- deliveries in -------------------------------------------------------------------------

void router_core::add_pending(delivery& d, amqp::bytes_view bytes) {
  d.pending.insert(d.pending.end(), bytes.begin(), bytes.end());
  // Held bytes shrink the sender's session window (amqp_connection::update_windows).
  if (d.in_link != nullptr) d.in_link->sess->pending_bytes += bytes.size();
}

void router_core::consume_pending(delivery& d, std::size_t n) {
  if (n == 0) return;
  if (n >= d.held_size()) {
    n = d.held_size();
    d.pending.clear();
    d.pending_offset = 0;
  } else {
    // Advance instead of erasing: a large message drains in many partial writes, and moving
    // the rest down each time would be quadratic. Compact once the dead prefix dominates.
    d.pending_offset += n;
    if (d.pending_offset > d.pending.size() / 2) {
      d.pending.erase(d.pending.begin(),
                      d.pending.begin() + static_cast<std::ptrdiff_t>(d.pending_offset));
      d.pending_offset = 0;
    }
  }
  if (d.in_link != nullptr) {
    d.in_link->sess->pending_bytes -= n;
    d.in_link->owner->window_may_open(*d.in_link->sess);
  }
  if (d.remote_stream) report_consumed(d, n);
}

void router_core::transfer(link& l, const amqp::transfer& t, amqp::bytes_view payload) {
  delivery* d = l.current;
  const bool last = !t.more;
  if (d == nullptr) {
    d = allocate();
    d->in_id = t.delivery_id.value_or(l.sess->next_incoming_id);
    d->in_settled =
        t.settled.value_or(false) || l.snd_settle_mode == amqp::sender_settle_mode::settled;
    d->message_format = t.message_format.value_or(0);
    attach_live(*d, l);
    if (!d->in_settled) {
      if (!l.sess->in_unsettled.insert(d->in_id, d)) {
        detach_live(*d);
        d->in_link = nullptr;
        maybe_free(d);
        l.owner->fail("amqp:session:errant-link", "duplicate or out-of-window delivery-id");
        return;
      }
      d->in_tracked = true;
    }
    ++l.peer_delivery_count;
    if (l.credit_outstanding > 0) --l.credit_outstanding;
    ++l.deliveries;
    ++counters_.deliveries_ingress;
    d->receiving = !last;
    if (!last) l.current = d;

    // stripAnnotations in/both (qdrouterd's default on normal listeners): router annotations a
    // client put on a message are removed before routing. The byte search keeps the common
    // case (no such annotations) at one memmem over the first frame.
    const strip_annotations strip = l.owner->settings().strip;
    if ((strip == strip_annotations::both || strip == strip_annotations::in) && !t.aborted &&
        has_annotations_section(payload) &&
        memmem(payload.data(), payload.size(), "x-opt-qd.", 9) != nullptr) {
      if (strip_router_annotations(*d, payload, last)) {
        if (!route(*d)) {
          if (!d->receiving) {
            no_destination(*d);
            maybe_free(d);
          }
        } else {
          maybe_free(d);
        }
        return;
      }
    }

    // Fast path: a whole message for a named address whose chosen consumer can take it now is
    // written straight from the receive buffer, never copied into the delivery.
    if (last && !t.aborted && l.addr != nullptr && l.addr->dist != distribution::multicast) {
      link* out = pick_consumer(*l.addr, &l);
      if (out != nullptr && out->queue.empty() && out->credit > 0 && out->owner->writable() &&
          out->sess->remote_incoming_window > 0) {
        d->routed = true;
        d->out_link = out;
        ++l.addr->deliveries_in;
        start_outgoing(*d, *out);
        auto written = out->owner->write_transfer(*out, *d, payload, true, false);
        if (written.done) {
          forwarded(*d);
        } else {
          add_pending(*d, payload.subspan(written.consumed));
          d->queued = true;
          out->queue.push_back(d);
          out->owner->mark_blocked(*out);
        }
        return;
      }
    }
  }

  if (t.settled.value_or(false) && !d->in_settled) {
    d->in_settled = true;
    if (d->in_tracked) {
      l.sess->in_unsettled.erase(d->in_id);
      d->in_tracked = false;
    }
  }
  if (t.aborted) {
    // The sender gave up on this delivery: drop what we hold, abort what we started.
    l.current = nullptr;
    d->receiving = false;
    d->aborted = true;
    consume_pending(*d, d->held_size());
    if (d->in_tracked) {
      l.sess->in_unsettled.erase(d->in_id);
      d->in_tracked = false;
    }
    abort_outgoing(*d);
    credit_restored(*d);
    maybe_free(d);
    return;
  }
  if (last) {
    d->receiving = false;
    if (l.current == d) l.current = nullptr;
  }
  if (d->discard) {
    if (last) {
      no_destination(*d);
      maybe_free(d);
    }
    return;
  }
  // Cut-through: a streaming delivery already flowing on its outgoing link, with nothing held
  // back, writes this frame's bytes straight from the receive buffer (one copy fewer per frame
  // for large messages).
  if (d->routed && d->queued && d->out_started && d->held_size() == 0) {
    link& out = *d->out_link;
    if (out.queue.front() == d && out.owner->writable() && out.sess->remote_incoming_window > 0) {
      auto written = out.owner->write_transfer(out, *d, payload, false, d->receiving);
      if (!written.done) {
        add_pending(*d, payload.subspan(written.consumed));
        out.owner->mark_blocked(out);
      } else if (!d->receiving) {
        out.queue.pop_front();
        d->queued = false;
        forwarded(*d);
        pump(out);
      }
      maybe_free(d);
      return;
    }
  }
  add_pending(*d, payload);
  if (!d->routed) {
    if (!route(*d)) {
      if (d->receiving) return;  // routing information not complete yet
      no_destination(*d);
      maybe_free(d);
      return;
    }
  } else if (d->out_link != nullptr && d->queued) {
    pump(*d->out_link);
  } else if (d->remote_shard >= 0) {
    continue_remote_stream(*d);
  }
  maybe_free(d);
}

void router_core::abort_outgoing(delivery& d) {
  ++counters_.deliveries_aborted;
  if (d.remote_shard >= 0) abort_remote_stream(d);
  if (!d.queued) return;
  link& out = *d.out_link;
  if (d.out_started) {
    // The receiver saw part of it: tell it to throw the part away (part 2 §2.6.14).
    out.owner->write_abort(out);
    if (d.out_tracked) {
      out.sess->out_unsettled.erase(d.out_id);
      d.out_tracked = false;
      --out.unsettled;
    }
  }
  out.queue.remove(&d);
  d.queued = false;
  pump(out);
  if (out.stream_link && out.queue.empty() && on_stream_link_idle) on_stream_link_idle(out);
}

bool router_core::has_annotations_section(amqp::bytes_view message) {
  // Sections come in a fixed order: header, delivery-annotations, message-annotations. Looking
  // at (at most) the first three descriptors keeps a 64 KiB body from being searched.
  amqp::decoder in(message);
  for (int i = 0; i < 3 && !in.at_end(); ++i) {
    auto desc = in.read_descriptor();
    if (!desc) return false;
    if (desc->code == amqp::descriptor_code::message_annotations) return true;
    if (desc->code != amqp::descriptor_code::header &&
        desc->code != amqp::descriptor_code::delivery_annotations) {
      return false;
    }
    if (!in.skip_value()) return false;
  }
  return false;
}

bool router_core::strip_router_annotations(delivery& d, amqp::bytes_view first_frame,
                                           bool complete) {
  auto scan = amqp::scan_message(first_frame, complete);
  if (!scan || scan->message_annotations.empty() ||
      !amqp::has_router_annotations(scan->message_annotations)) {
    return false;
  }
  const auto* base = first_frame.data();
  const std::size_t ma_start = static_cast<std::size_t>(scan->message_annotations.data() - base);
  amqp::byte_buffer rewritten;
  rewritten.reserve(first_frame.size());
  rewritten.insert(rewritten.end(), base, base + ma_start);
  amqp::append_message_annotations(rewritten, scan->message_annotations, {});
  rewritten.insert(rewritten.end(), base + scan->after_annotations, base + first_frame.size());
  add_pending(d, rewritten);
  return true;
}

bool router_core::route(delivery& d) {
  link* in = d.in_link;
  if (in != nullptr && in->peer != nullptr) {
    d.routed = true;
    enqueue(d, *in->peer);
    return true;
  }
  if (d.multicast_copy) return false;
  // The address table key: the link's address, the key a remote-origin delivery came with, or
  // for anonymous links the message's `to`.
  std::string anonymous_to;
  const std::string* key = nullptr;
  if (in != nullptr && in->addr != nullptr && in->addr->name != own_topological_key_) {
    key = &in->addr->name;
  } else if (!d.address_key.empty()) {
    key = &d.address_key;
  } else {
    auto scan = amqp::scan_message(d.held(), !d.receiving);
    if (!scan) {
      // Not a valid message: reject it rather than forward garbage.
      d.discard = d.receiving;
      amqp::delivery_state rejected = make_state(amqp::delivery_state::kind::rejected);
      rejected.rejected_error = amqp::error{"amqp:decode-error", "malformed message sections", {}};
      consume_pending(d, d.held_size());
      d.routed = true;
      finish_ingress(d, rejected, true);
      return true;
    }
    if (!scan->routing_complete || !scan->to) return false;
    anonymous_to.assign(scan->to->begin(), scan->to->end());
    key = &anonymous_to;
  }
  address_entry* a = addresses_.find(*key);
  // A topological address of another router nobody here consumes goes towards that router.
  std::string router_key;
  if ((a == nullptr || a->consumers.empty()) &&
      (group_ == nullptr || !group_->any_consumer(*key)) &&
      !(router_key = other_router_key(*key, router_id_)).empty()) {
    key = &router_key;
    a = addresses_.find(*key);
  }
  const address_config* cfg = addresses_.matcher().match(key->substr(0, key->find('\x1f')));
  const distribution dist = a != nullptr     ? a->dist
                            : cfg != nullptr ? cfg->dist
                                             : addresses_.matcher().default_distribution();
  if (a != nullptr) ++a->deliveries_in;
  if (dist == distribution::multicast) {
    if (d.receiving) return true;  // fan out once complete (route() runs again per frame)
    if (a != nullptr) {
      fan_out(d, *a, false);
    } else {
      address_entry& created = addresses_.get(*key);
      fan_out(d, created, false);
      addresses_.release_if_unused(created);
    }
    return true;
  }
  if (link* out = a != nullptr ? pick_consumer(*a, d.in_link) : nullptr) {
    d.routed = true;
    enqueue(d, *out);
    return true;
  }
  // No consumer on this shard: another shard's, if any. The message crosses whole.
  if (group_ != nullptr && !d.remote_origin) {
    const int shard = group_->pick_remote(shard_index_, *key);
    if (shard >= 0) {
      if (d.receiving) {
        start_remote_stream(d, static_cast<unsigned>(shard), *key);
        return true;
      }
      send_remote(d, static_cast<unsigned>(shard), *key);
      return true;
    }
  }
  // Interior router: a message addressed by `to` for an address another router consumes, with
  // no per-address link to it here (only addresses with senders here have one), goes on the
  // anonymous link to the next hop, which routes it by `to` again.
  if (mesh_fallback_key && d.address_key.empty() && (in == nullptr || in->addr == nullptr) &&
      !d.remote_origin) {
    if (const std::string via = mesh_fallback_key(*key, in); !via.empty()) {
      if (route_to_key(d, via, in)) return true;
    }
  }
  // Edge router: a message addressed by `to` with no consumer here goes up to the interior,
  // which knows the whole mesh. (Link-addressed senders have their own uplink links.)
  if (!default_route_key.empty() && *key != default_route_key && d.address_key.empty() &&
      (in == nullptr || in->addr == nullptr) && !d.remote_origin) {
    if (route_to_key(d, default_route_key, in)) return true;
  }
  return false;
}

bool router_core::route_to_key(delivery& d, const std::string& key, const link* in) {
  if (address_entry* a = addresses_.find(key)) {
    if (link* out = pick_consumer(*a, in)) {
      d.routed = true;
      enqueue(d, *out);
      return true;
    }
  }
  if (group_ != nullptr) {
    const int shard = group_->pick_remote(shard_index_, key);
    if (shard >= 0 && !d.receiving) {
      send_remote(d, static_cast<unsigned>(shard), key);
      return true;
    }
  }
  return false;
}

link* router_core::pick_mesh_consumer(address_entry& a, const link* from) {
  // Local consumers first (closest: cost 0); a delivery that came from another router goes
  // only to local consumers or on along the shortest path — never back where it came from —
  // which keeps anycast loop-free while the routers agree on the topology.
  const bool from_mesh = from != nullptr && from->inter_router;
  link* best_local = nullptr;
  std::size_t best_load = SIZE_MAX;
  link* best_remote = nullptr;
  unsigned best_cost = UINT_MAX;
  std::size_t best_remote_load = SIZE_MAX;
  const std::size_t n = a.consumers.size();
  for (std::size_t i = 0; i < n; ++i) {
    link* c = a.consumers[(a.next_consumer + i) % n];
    const std::size_t load = c->queue.size() + c->unsettled + (c->credit == 0 ? n : 0);
    if (!c->inter_router) {
      if (load < best_load) {
        best_local = c;
        best_load = load;
      }
      continue;
    }
    if (from != nullptr && c->owner == from->owner) continue;
    if (c->mesh_cost < best_cost || (c->mesh_cost == best_cost && load < best_remote_load)) {
      best_remote = c;
      best_cost = c->mesh_cost;
      best_remote_load = load;
    }
  }
  a.next_consumer = (a.next_consumer + 1) % std::max<std::size_t>(n, 1);
  if (best_local != nullptr && (a.dist != distribution::balanced || from_mesh ||
                                best_remote == nullptr || best_load <= best_remote_load)) {
    return best_local;
  }
  return best_remote != nullptr ? best_remote : best_local;
}

link* router_core::pick_consumer(address_entry& a, const link* from) {
  auto& cons = a.consumers;
  if (cons.empty()) return nullptr;
  if (a.mesh_links > 0) return pick_mesh_consumer(a, from);
  if (cons.size() == 1) return cons.front();
  if (a.dist == distribution::balanced) {
    // Fewest outstanding (queued + unsettled) deliveries wins; credit breaks ties.
    link* best = nullptr;
    std::size_t best_load = SIZE_MAX;
    const std::size_t n = cons.size();
    for (std::size_t i = 0; i < n; ++i) {
      link* c = cons[(a.next_consumer + i) % n];
      std::size_t load = c->queue.size() + c->unsettled + (c->credit == 0 ? n : 0);
      if (load < best_load) {
        best = c;
        best_load = load;
      }
    }
    a.next_consumer = (a.next_consumer + 1) % n;
    return best;
  }
  // closest: all local consumers are equally close; spread over those with credit.
  const std::size_t n = cons.size();
  for (std::size_t i = 0; i < n; ++i) {
    link* c = cons[(a.next_consumer + i) % n];
    if (c->credit > c->queue.size()) {
      a.next_consumer = (a.next_consumer + i + 1) % n;
      return c;
    }
  }
  link* c = cons[a.next_consumer % n];
  a.next_consumer = (a.next_consumer + 1) % n;
  return c;
}

void router_core::enqueue(delivery& d, link& chosen) {
  link* own = nullptr;
  if (d.receiving && chosen.inter_router && !chosen.stream_link && acquire_stream_link) {
    own = acquire_stream_link(chosen);
  }
  link& out = own != nullptr ? *own : chosen;
  if (out.credit == 0) ++counters_.credit_stalls;
  d.out_link = &out;
  d.queued = true;
  d.routed = true;
  // Waiting deliveries leave in priority order, FIFO within a priority; one already started
  // is never overtaken. qdrouterd's rule: an address's configured priority wins over the
  // message's own. Link routes pass messages through in the order they came.
  const bool link_routed = d.in_link != nullptr && d.in_link->peer != nullptr;
  if (out.addr != nullptr && out.addr->priority) {
    d.priority = static_cast<std::uint8_t>(
        std::clamp(*out.addr->priority, 0, static_cast<int>(amqp::max_priority)));
  } else {
    d.priority = link_routed ? amqp::default_priority : amqp::message_priority(d.held());
  }
  std::size_t position = out.queue.size();
  while (!link_routed && position > 0) {
    const delivery& ahead = *out.queue[position - 1];
    if (ahead.out_started || ahead.priority >= d.priority) break;
    --position;
  }
  out.queue.insert(position, &d);
  if (position == 0) pump(out);
}

void router_core::fan_out(delivery& d, address_entry& a, bool local_only) {
  d.routed = true;
  std::vector<unsigned> remote;
  if (group_ != nullptr && !local_only) remote = group_->remote_shards_with(shard_index_, a.name);
  for (unsigned shard : remote) {
    cross_message m;
    m.type = cross_message::kind::forward;
    m.from = shard_index_;
    m.address = a.name;
    m.presettled = true;
    m.message_format = d.message_format;
    m.bytes.assign(d.held().begin(), d.held().end());
    post_(shard, std::move(m));
  }
  if (a.consumers.empty() && remote.empty()) {
    no_destination(d);
    return;
  }
  // A copy from another router never goes back over the connection it came on: the mesh's
  // multicast tree (mesh_agent) then reaches every router exactly once.
  const link* from = d.in_link != nullptr && d.in_link->inter_router ? d.in_link : nullptr;
  for (link* out : a.consumers) {
    if (from != nullptr && out->inter_router && out->owner == from->owner) continue;
    delivery* copy = allocate();
    copy->multicast_copy = true;
    copy->in_settled = true;
    copy->routed = true;
    copy->message_format = d.message_format;
    copy->pending.assign(d.held().begin(), d.held().end());  // each drains at its own pace
    enqueue(*copy, *out);                                    // frees the copy itself once written
  }
  // Multicast is at-most-once per consumer: the sender learns it was accepted by the router.
  consume_pending(d, d.held_size());
  finish_ingress(d, make_state(amqp::delivery_state::kind::accepted), true);
  credit_restored(d);
}

void router_core::pump(link& out) {
  link_owner& owner = *out.owner;
  session& s = *out.sess;
  while (!out.queue.empty()) {
    delivery& d = *out.queue.front();
    bool first = false;
    if (!d.out_started) {
      if (out.credit == 0) break;
      if (!owner.writable() || s.remote_incoming_window == 0) {
        owner.mark_blocked(out);
        break;
      }
      if (d.receiving && d.held_size() == 0) break;  // nothing to send yet
      start_outgoing(d, out);
      first = true;
    } else if (!owner.writable() || s.remote_incoming_window == 0) {
      owner.mark_blocked(out);
      break;
    }
    if (d.held_size() == 0 && d.receiving) break;  // streaming: wait for the next frame
    auto written = owner.write_transfer(out, d, d.held(), first, d.receiving);
    consume_pending(d, written.consumed);
    if (!written.done) {
      owner.mark_blocked(out);
      break;
    }
    if (d.receiving) break;  // the rest of this delivery is still to come
    out.queue.pop_front();
    d.queued = false;
    forwarded(d);
  }
  if (out.drain && out.credit > 0 && out.queue.empty()) {
    // Nothing to send: use up the credit as the receiver asked (part 2 §2.6.7).
    out.delivery_count += out.credit;
    out.credit = 0;
    owner.write_flow(out);
  }
}

void router_core::start_outgoing(delivery& d, link& out) {
  session& s = *out.sess;
  d.out_id = s.next_delivery_id++;
  d.out_started = true;
  --out.credit;
  ++out.delivery_count;
  d.out_presettled = d.in_settled || out.snd_settle_mode == amqp::sender_settle_mode::settled;
  if (!d.out_presettled) {
    s.out_unsettled.insert(d.out_id, &d);
    d.out_tracked = true;
    ++out.unsettled;
  }
}

void router_core::forwarded(delivery& d) {
  ++counters_.deliveries_egress;
  if (link* out = d.out_link) {
    ++out->deliveries;
    if (out->addr != nullptr) ++out->addr->deliveries_out;
    if (out->stream_link && out->queue.empty() && on_stream_link_idle) on_stream_link_idle(*out);
  }
  if (d.out_presettled && !d.multicast_copy) {
    // At-most-once to the receiver: the router takes responsibility and accepts it.
    finish_ingress(d, make_state(amqp::delivery_state::kind::accepted), true);
  }
  credit_restored(d);
  maybe_free(&d);
}

void router_core::no_destination(delivery& d) {
  // A stream from another shard keeps arriving until its end: swallow it.
  if (d.remote_stream) d.discard = true;
  consume_pending(d, d.held_size());
  if (d.in_link != nullptr && d.in_link->addr != nullptr) ++d.in_link->addr->dropped;
  if (d.in_settled) {
    ++counters_.dropped_presettled;
    if (d.in_link != nullptr) ++d.in_link->dropped_presettled;
  } else {
    ++counters_.deliveries_released;
    if (d.in_link != nullptr) ++d.in_link->released;
    finish_ingress(d, make_state(amqp::delivery_state::kind::released), true);
  }
  d.routed = true;
  credit_restored(d);
}

void router_core::finish_ingress(delivery& d, const amqp::delivery_state& state, bool settled) {
  if (d.remote_origin) {
    // The sender lives on another shard: its outcome travels back there.
    if (!settled || d.outcome_sent || d.in_settled || d.origin_token == 0) return;
    d.outcome_sent = true;
    cross_message m;
    m.type = cross_message::kind::outcome;
    m.from = shard_index_;
    m.token = d.origin_token;
    m.state = state.type;
    m.delivery_failed = state.delivery_failed;
    m.undeliverable_here = state.undeliverable_here;
    post_(d.origin_shard, std::move(m));
    if (d.remote_stream) end_target_stream(d);
    return;
  }
  if (d.in_link == nullptr || !d.in_tracked) return;
  link& in = *d.in_link;
  in.owner->queue_disposition(*in.sess, amqp::role::receiver, d.in_id, settled, state);
  if (settled) {
    in.sess->in_unsettled.erase(d.in_id);
    d.in_tracked = false;
  }
}

// ---- credit and dispositions from peers ----------------------------------------------------

void router_core::credit_updated(link& l) {
  pump(l);
  if (l.peer != nullptr) grant_credit(*l.peer, false);
  if (l.inter_router && l.addr != nullptr && l.credit > 0) {
    // The router behind this link has a consumer now: our senders may send.
    for (link* producer : l.addr->producers) {
      if (producer->credit_outstanding == 0) grant_credit(*producer, true);
    }
  }
}

void router_core::disposition(session& s, amqp::role peer_role, std::uint32_t id, bool settled,
                              const amqp::delivery_state& state) {
  if (peer_role == amqp::role::receiver) {
    delivery* d = s.out_unsettled.find(id);
    if (d == nullptr) return;
    const bool sender_waits = (d->in_link != nullptr && d->in_tracked) || d->remote_origin;
    if (state.type == amqp::delivery_state::kind::received && !settled && d->in_link != nullptr &&
        d->in_tracked) {
      // Progress of a streaming delivery (how many bytes the receiver has taken): the TCP
      // adaptor's byte window rides on it, so it goes back to the sender unsettled.
      d->in_link->owner->queue_disposition(*d->in_link->sess, amqp::role::receiver, d->in_id, false,
                                           state);
      return;
    }
    if (state.type == amqp::delivery_state::kind::received && !settled && d->remote_origin) {
      if (d->in_settled || d->origin_token == 0 || d->outcome_sent) return;
      cross_message m;
      m.type = cross_message::kind::outcome;
      m.from = shard_index_;
      m.token = d->origin_token;
      m.state = state.type;
      m.final = false;
      m.section_number = state.section_number;
      m.section_offset = state.section_offset;
      post_(d->origin_shard, std::move(m));
      return;
    }
    if (is_terminal(state.type) && sender_waits) {
      // End-to-end: the sender gets the receiver's outcome, settled when the receiver settled.
      if (state.type == amqp::delivery_state::kind::released) ++counters_.deliveries_released;
      if (state.type == amqp::delivery_state::kind::modified) ++counters_.deliveries_modified;
      finish_ingress(*d, state, settled);
    }
    if (settled) {
      s.out_unsettled.erase(id);
      d->out_tracked = false;
      if (d->out_link != nullptr) {
        link& out = *d->out_link;
        if (out.unsettled > 0) --out.unsettled;
        if (sender_waits) finish_ingress(*d, state, true);
      }
      maybe_free(d);
    }
    return;
  }
  // The peer is a sender settling (or updating) a delivery it sent us.
  delivery* d = s.in_unsettled.find(id);
  if (d == nullptr || !settled) return;
  s.in_unsettled.erase(id);
  d->in_tracked = false;
  d->in_settled = true;
  if (d->out_tracked && d->out_link != nullptr) {
    link& out = *d->out_link;
    out.owner->queue_disposition(*out.sess, amqp::role::sender, d->out_id, true, state);
    out.sess->out_unsettled.erase(d->out_id);
    d->out_tracked = false;
    if (out.unsettled > 0) --out.unsettled;
  }
  maybe_free(d);
}

}  // namespace fogmesh::router
