// An in-router endpoint: router code (the management agent, the HTTP/TCP adaptors) that sends
// and receives deliveries on links into the routing core without a socket or AMQP framing.
// To router_core its links look like any other (it is a link_owner); to its user it offers
// senders with credit and outcomes, and receivers whose deliveries arrive as byte streams.
//
// Events are never delivered from inside a router_core call: what the core hands over is queued
// and dispatched to the handlers from flush(), which the shard runs once per loop turn. So a
// handler may call any method of the endpoint (send, settle, open/close links) from its
// callbacks without re-entering the core mid-operation.
//
// Back-pressure: a receiver holds at most `receive_buffer_limit` unread bytes; beyond that the
// core keeps the rest (and, through the sender's session window, stops the sender) until the
// handler consumes. A sender may start a delivery when it has credit and may keep writing
// while its held bytes stay below `send_window` (the core holds what the receiver has not taken).
//
// Thread: the owning shard thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amqp/performatives.hpp"
#include "routing/link_owner.hpp"
#include "routing/model.hpp"
#include "routing/ring_deque.hpp"

namespace fogmesh::router {

class router_core;

class local_endpoint final : public link_owner {
 public:
  class handler {
   public:
    // Receiver: deliveries or bytes arrived (see incoming()), or a delivery was aborted.
    virtual void on_readable(link&) {}
    // Sender: credit arrived or the send window opened.
    virtual void on_sendable(link&) {}
    // Sender: the outcome of delivery `id` (settled = final).
    virtual void on_outcome(link&, std::uint32_t /*id*/, const amqp::delivery_state&,
                            bool /*settled*/) {}
    // The router detached the link (the endpoint must still close() it).
    virtual void on_detached(link&, const amqp::error* /*err*/) {}

   protected:
    ~handler() = default;
  };

  // A delivery arriving on a receiver: `bytes` holds what the handler has not consumed yet.
  struct incoming_delivery {
    std::uint32_t id = 0;
    bool presettled = false;
    bool complete = false;  // every byte of the message has arrived
    bool aborted = false;   // the sender gave up: discard it (no settlement needed)
    amqp::byte_buffer bytes;
  };

  static constexpr std::size_t receive_buffer_limit = 256 * 1024;
  static constexpr std::size_t send_window = 1024 * 1024;

  // `schedule` asks the owner (the shard) to call flush() at the end of this loop turn.
  local_endpoint(router_core& core, std::string name, std::function<void(local_endpoint&)> schedule);
  ~local_endpoint();  // closes every link (the core releases or modifies what they held)
  local_endpoint(const local_endpoint&) = delete;
  local_endpoint& operator=(const local_endpoint&) = delete;

  const std::string& name() const noexcept { return name_; }

  // Attaches a link. An empty sender address makes an anonymous sender (routes by `to`); a
  // dynamic receiver gets a generated address (link.address). Returns null and sets *err when
  // the router refuses it (unavailable address).
  link* open_sender(const std::string& address, handler& h, amqp::error* err = nullptr);
  link* open_receiver(const std::string& address, handler& h, std::uint32_t credit,
                      bool dynamic = false, amqp::error* err = nullptr);
  // Detaches and frees the link. Unsettled deliveries it received are released (never seen)
  // or modified (partly read); its own unsettled sends lose their outcome.
  void close(link& l);

  // --- receivers ---------------------------------------------------------------------------
  ring_deque<incoming_delivery>& incoming(link& l);
  // Final outcome for delivery `id` (not needed for presettled ones).
  void settle(link& l, std::uint32_t id, const amqp::delivery_state& state);
  // A non-terminal state for delivery `id` without settling it: the `received` progress of a
  // streaming delivery (the TCP adaptor's byte window), which the core forwards to the sender.
  void update(link& l, std::uint32_t id, const amqp::delivery_state& state);
  // Sets the link's credit to `credit` deliveries beyond those already received.
  void set_credit(link& l, std::uint32_t credit);
  // The handler consumed bytes: lets the core write more if it had to hold back.
  void consumed(link& l);

  // --- senders -----------------------------------------------------------------------------
  // True when a new delivery may start (credit) / more bytes may follow (window).
  bool can_start(const link& l) const noexcept;
  bool window_open(const link& l) const noexcept;
  // Sends bytes of a message. `first` starts a new delivery (needs can_start) and returns its
  // id; otherwise the bytes continue the current one. `more` = the delivery continues.
  std::uint32_t send(link& l, amqp::bytes_view bytes, bool first, bool more, bool settled);
  // Abandons the delivery in progress on l.
  void abort(link& l);

  // Dispatches queued events to the handlers. Called by the shard once per loop turn.
  void flush();

  // link_owner
  const connection_settings& settings() const noexcept override { return settings_; }
  bool writable() const noexcept override { return true; }
  write_result write_transfer(link& l, delivery& d, amqp::bytes_view bytes, bool first,
                              bool more) override;
  void write_abort(link& l) override;
  void write_flow(link& l, bool echo = false) override;
  void queue_disposition(session& s, amqp::role role, std::uint32_t id, bool settled,
                         const amqp::delivery_state& state) override;
  void mark_blocked(link& l) override;
  void window_may_open(session& s) override;
  void detach_link(link& l, const amqp::error* err) override;
  void complete_attach(link& l, bool accepted, const amqp::error* err,
                       const amqp::attach* answer) override;
  void fail(const std::string& condition, const std::string& description) override;

 private:
  struct outcome_event {
    std::uint32_t id;
    amqp::delivery_state state;
    bool settled;
  };
  // One link with the session it alone uses (so a long-lived unsettled stream never pins the
  // delivery-id window of others) and its pending events.
  struct entry {
    std::unique_ptr<session> sess;
    std::unique_ptr<link> lnk;
    handler* h = nullptr;
    ring_deque<incoming_delivery> in;
    std::size_t buffered = 0;     // bytes across `in` not yet consumed (as last measured)
    bool readable = false;
    bool sendable = false;
    bool blocked = false;         // the core holds bytes for us: resume() after consumption
    bool detached = false;
    std::optional<amqp::error> detach_error;
    bool detach_reported = false;
    std::vector<outcome_event> outcomes;
    bool scheduled = false;
    bool closed = false;
    std::size_t index = 0;        // position in entries_
  };
  entry& entry_of(const link& l) const;
  link* open(link_kind kind, const std::string& address, handler& h, bool dynamic,
             amqp::error* err);
  void schedule(entry& e);
  std::size_t unread(const entry& e) const;

  router_core& core_;
  std::string name_;
  std::function<void(local_endpoint&)> schedule_owner_;
  connection_settings settings_;
  std::vector<std::unique_ptr<entry>> entries_;
  std::vector<entry*> scheduled_;
  std::vector<std::unique_ptr<entry>> graveyard_;  // closed during flush(), freed after it
  bool flushing_ = false;
  bool owner_scheduled_ = false;
  std::uint64_t next_link_id_ = 1;
  std::uint32_t next_name_ = 1;
};

}  // namespace fogmesh::router
