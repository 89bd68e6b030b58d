// The sending side of an AMQP connection to the router mesh, shared by the agent's router
// transport (src/router_transport.cpp) and the SDK's amqp_messenger (sdk/src/amqp_messenger.cpp):
// per-address queues of message bodies, one sending link per address, and every message kept
// until the router settles it.
//
// The router settles `released` (no consumer, e.g. one that detached while the sender still had
// its credit) or `modified` (its path broke) when it did not deliver: the message goes back to
// the front of its address's queue, in its original order, and is sent again after a back-off
// (10 ms doubling to 1 s while the address keeps releasing; the router may still grant credit
// for a consumer that is gone). `accepted` and `rejected` end it (a rejected message would be
// rejected again). A sending link the router detaches is reopened after the back-off, with what
// was unsettled on it queued again; what was unsettled when the connection dropped is queued
// again for the next connection (it may have arrived: at-least-once for those).
//
// What is held — queued or sent and unsettled — is bounded by `max_held`: at the limit
// push_wait() blocks (the SDK's send(): back-pressure) and try_push() refuses (the agent's loop
// must not block: its local API answers the publisher with an error). Nothing is dropped.
//
// Thread use: push*, has_room, wait_empty, close and the counters from any thread; attach,
// detach, flush and the on_* events on the Proton container thread of the connection.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <proton/connection.hpp>
#include <proton/message.hpp>
#include <proton/sender.hpp>
#include <proton/tracker.hpp>
#include <proton/work_queue.hpp>
#include <set>
#include <string>
#include <unordered_map>

namespace fogmesh::agent {

class amqp_outbox {
 public:
  // `content_type` goes on every message (the ioMessage JSON form: application/json).
  explicit amqp_outbox(size_t max_held, std::string content_type = "application/json");
  amqp_outbox(const amqp_outbox&) = delete;
  amqp_outbox& operator=(const amqp_outbox&) = delete;

  // --- any thread ---
  // Queues `body` for `address`, waiting while max_held are held. False once close()d.
  bool push_wait(const std::string& address, std::string body);
  // Queues `body` for `address` unless max_held are held (false: nothing queued) or closed.
  bool try_push(const std::string& address, std::string body);
  // Whether `count` more fit now. Room only grows until the caller pushes, so a single pusher
  // that asked for `count` can push that many with try_push.
  bool has_room(size_t count) const;
  // Until nothing is held (each message settled accepted or rejected), or the timeout.
  bool wait_empty(std::chrono::milliseconds timeout);
  // Wakes push_wait (which then returns false); later pushes are refused.
  void close();
  // Drops what is held for every address not in `keep`: queued messages at once, sent and
  // unsettled ones if they come back unaccepted (released, link or connection lost). The
  // agent calls it when no route leads to a receiver any more, so messages for a deleted
  // microservice do not occupy max_held until a restart. A later push to such an address holds
  // again. Returns the number dropped now.
  size_t discard_except(const std::set<std::string>& keep);

  size_t held() const;
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t rejected() const { return rejected_.load(); }
  uint64_t resent() const { return resent_.load(); }        // transmissions repeated
  uint64_t discarded() const { return discarded_.load(); }  // by discard_except

  // --- container thread ---
  // Sends on `connection` (open) from now on.
  void attach(proton::connection connection);
  // The connection is gone: its links are forgotten, what was unsettled is queued again.
  void detach();
  // Sends what the links' credit allows; opens a link for an address on its first message.
  void flush();
  // Proton events the owning messaging_handler passes on (from any of its links: ignores
  // what is not one of its own).
  void on_tracker_settle(proton::tracker& tracker);
  void on_sender_close(proton::sender& sender);

 private:
  using clock = std::chrono::steady_clock;
  struct outgoing {
    uint64_t seq;  // push order: what comes back returns to its place by it
    std::string body;
  };
  struct address_state {
    std::deque<outgoing> queue;  // waiting for credit (or for hold_until), oldest first
    proton::sender sender;       // empty until opened on the current connection
    clock::time_point hold_until{};
    std::chrono::milliseconds backoff{0};
    bool discarding = false;  // discard_except left it out: what comes back is dropped
  };
  struct unsettled {
    address_state* address;  // std::map nodes do not move
    outgoing message;
  };

  void push_locked(const std::string& address, std::string body);
  void wake_locked();
  void requeue_locked(address_state& a, outgoing m);
  void unhold_locked(size_t count);
  static void hold_back_locked(address_state& a);
  void schedule_retry(clock::time_point when);

  const size_t max_held_;
  const std::string content_type_;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> resent_{0};
  std::atomic<uint64_t> discarded_{0};

  // Container thread only.
  proton::connection connection_;
  proton::message message_;  // reused: saves an allocation per send
  uint64_t generation_ = 0;  // per attach: retries scheduled for an older connection do nothing
  bool retry_scheduled_ = false;
  clock::time_point retry_due_{};

  mutable std::mutex mutex_;
  std::condition_variable space_;    // held_ dropped below max_held_, or closed
  std::condition_variable drained_;  // held_ reached 0
  bool closed_ = false;
  bool wake_scheduled_ = false;
  proton::work_queue* work_queue_ = nullptr;  // the attached connection's; null: not attached
  std::map<std::string, address_state> addresses_;
  std::unordered_map<uint64_t, unsettled> in_flight_;  // delivery tag → message
  uint64_t next_seq_ = 0;
  uint64_t next_transfer_ = 0;
  size_t held_ = 0;  // queued + unsettled
};

}  // namespace fogmesh::agent
