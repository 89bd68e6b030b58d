// The objects a shard's AMQP engine and routing core share: sessions, links and deliveries.
// All belong to one shard thread; pointers between them are non-owning and are cleared by the
// routing core before an object is freed (see router_core::link_detached / release_delivery).
//
// Naming follows the router's point of view: an "incoming" link is one the router receives
// messages on (the peer is a sender); an "outgoing" link is one the router sends on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amqp/performatives.hpp"
#include "fogmesh/router/config.hpp"
#include "routing/id_window.hpp"
#include "routing/ring_deque.hpp"

namespace fogmesh::router {

class link_owner;
struct session;
struct link;
struct address_entry;

// One message in flight through the router, from its arrival on an incoming link to its last
// settlement. Payload bytes are kept only while they cannot be written out yet (`pending`).
struct delivery {
  // Ingress side.
  link* in_link = nullptr;  // null once the sender's link is gone
  std::uint32_t in_id = 0;
  bool in_tracked = false;  // present in in_link's session unsettled map
  bool in_settled = false;  // the sender settled (or sent it pre-settled)
  bool receiving = false;   // more frames still to come from the sender
  bool aborted = false;
  bool discard = false;  // no destination: swallow the rest, then release
  std::uint32_t message_format = 0;
  std::uint8_t priority = 4;  // 0..9, set when queued: higher ones overtake waiting lower ones

  // Egress side.
  link* out_link = nullptr;
  std::uint32_t out_id = 0;
  bool out_tracked = false;     // present in out_link's session unsettled map
  bool out_started = false;     // first transfer frame written
  bool out_presettled = false;  // sent settled (at-most-once)
  bool queued = false;          // in out_link->queue

  bool multicast_copy = false;  // a fan-out copy: no ingress side of its own
  bool routed = false;          // a destination was chosen (or multicast copies made)
  bool freed = false;           // back in the pool (guards a late maybe_free)

  // Cross-shard: a delivery forwarded to another shard waits there for its outcome
  // (awaiting_remote, with remote_token); one that arrived from another shard reports its
  // outcome back (origin_shard/origin_token) instead of to a local sender.
  bool awaiting_remote = false;
  std::uint32_t remote_token = 0;
  int remote_shard = -1;  // chosen while the message is still arriving
  bool remote_origin = false;
  bool outcome_sent = false;
  unsigned origin_shard = 0;
  std::uint32_t origin_token = 0;
  std::string address_key;  // remote-origin deliveries: where they were sent
  // Streaming across shards (a delivery routed to another shard while still arriving): the
  // origin sends its bytes on as they come (cross_message kind::stream) and keeps counting
  // them against the sender's session window until the target reports them written
  // (kind::consumed), so a slow receiver on the target shard slows the sender down.
  std::size_t remote_in_flight = 0;     // origin: sent to the target, not yet reported written
  bool remote_stream = false;           // target: more bytes are to come from the origin
  std::size_t consumed_unreported = 0;  // target: written since the last kind::consumed

  amqp::byte_buffer pending;       // received, not yet written to out_link
  std::size_t pending_offset = 0;  // bytes at the front of `pending` already written

  // The bytes still to be written.
  amqp::bytes_view held() const noexcept {
    return amqp::bytes_view(pending).subspan(pending_offset);
  }
  std::size_t held_size() const noexcept { return pending.size() - pending_offset; }

  // Membership in in_link's list of live deliveries (so a detaching sender can orphan them).
  delivery* in_prev = nullptr;
  delivery* in_next = nullptr;
};

enum class link_kind : std::uint8_t { incoming, outgoing };

struct link {
  // Fields are grouped by size: a router with many remote addresses holds one link per
  // address and neighbour, so padding here is memory per address.
  link_owner* owner = nullptr;  // the connection or in-router endpoint it belongs to
  session* sess = nullptr;
  std::string name;
  std::string address;  // empty for an anonymous incoming link
  address_entry* addr = nullptr;
  link* peer = nullptr;  // link-route partner: everything is forwarded to it
  // What the peer said when it detached; boxed, as almost every link detaches without one.
  std::unique_ptr<amqp::error> detach_error;
  void* endpoint_data = nullptr;  // in-router endpoints: their bookkeeping for this link
  std::uint64_t id = 0;           // shard-unique, for logs and management
  std::uint32_t handle = 0;       // ours
  std::uint32_t remote_handle = 0;
  unsigned mesh_cost = 0;  // inter-router consumer: cost of the path it leads on
  link_kind kind = link_kind::incoming;
  amqp::sender_settle_mode snd_settle_mode = amqp::sender_settle_mode::mixed;
  amqp::receiver_settle_mode rcv_settle_mode = amqp::receiver_settle_mode::first;
  bool dynamic = false;
  bool detach_received = false;
  bool detach_sent = false;
  bool remote_attached = true;  // false while a router-initiated attach awaits its reply
  bool auto_link = false;
  bool inter_router = false;  // on a connection to a neighbour router (mesh)
  bool stream_link = false;   // carries one streaming delivery at a time to a router

  // Outgoing link state (router → peer receiver).
  bool drain = false;
  bool blocked = false;  // on the connection's blocked list
  std::uint32_t delivery_count = 0;
  std::uint32_t credit = 0;
  std::uint32_t unsettled = 0;  // started and not settled: the "balanced" load
  ring_deque<delivery*> queue;  // routed here, waiting for credit / their turn

  // Incoming link state (peer sender → router).
  std::uint32_t capacity = 250;          // credit window we keep open
  std::uint32_t credit_outstanding = 0;  // credit the peer still holds
  std::uint32_t credit_to_restore = 0;   // deliveries finished since the last flow
  std::uint32_t peer_delivery_count = 0;
  delivery* current = nullptr;    // delivery whose frames are still arriving
  delivery* live_head = nullptr;  // every delivery that still names this link as in_link

  // Counters.
  std::uint64_t deliveries = 0;
  std::uint64_t dropped_presettled = 0;
  std::uint64_t released = 0;
};

struct session {
  std::uint16_t channel = 0;  // ours
  std::uint16_t remote_channel = 0;
  bool remote_begun = true;  // false while our own begin awaits its reply
  bool begin_sent = false;
  bool end_sent = false;
  bool end_received = false;

  // Outgoing transfers (part 2 §2.5.6).
  std::uint32_t next_outgoing_id = 0;
  std::uint32_t next_delivery_id = 0;
  std::uint32_t remote_incoming_window = 0;
  std::uint32_t handle_max = 0xffffffff;

  // Incoming transfers. The window we give the peer is what back-pressure uses: bytes of its
  // deliveries still held here shrink it, so a sender whose receiver is slow stops sending
  // transfers while its flows and dispositions keep coming (part 2 §2.5.6).
  std::uint32_t next_incoming_id = 0;
  std::uint32_t incoming_window = 0x7fffffff;  // last advertised
  std::uint32_t window_base = 0;               // next_incoming_id when it was advertised
  std::size_t pending_bytes = 0;               // bytes of this session's deliveries held

  void* endpoint_data = nullptr;              // in-router endpoints: as link::endpoint_data
  std::vector<link*> links_by_remote_handle;  // index = remote handle
  std::vector<link*> links_by_handle;         // index = our handle
  id_window<delivery*> in_unsettled;          // by the sender's delivery-id
  id_window<delivery*> out_unsettled;         // by our delivery-id

  // Disposition coalescing: a run of ids with one simple outcome, flushed per batch.
  struct disposition_run {
    bool active = false;
    amqp::role role = amqp::role::receiver;
    std::uint32_t first = 0, last = 0;
    bool settled = false;
    amqp::delivery_state::kind state = amqp::delivery_state::kind::none;
  } pending_disposition;
};

}  // namespace fogmesh::router
