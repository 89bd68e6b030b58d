// What the shards of one router share: which shards have consumers for an address (the consumer
// registry), and one inbox per shard for deliveries, outcomes and notices sent by the others.
//
// Deliveries cross shards in batches: a sender appends to the target's inbox under a short lock
// and, only when the inbox was idle, posts one IORING_OP_MSG_RING completion to the target's
// ring; the target takes the whole batch at once. No thread ever waits for another, and no
// per-delivery wake-up happens (the anchor's core-thread hand-off cost, amqp-router.md §3).
//
// Thread: every method may be called from any shard thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "amqp/performatives.hpp"
#include "fogmesh/router/config.hpp"

namespace fogmesh::router {

class shard;

struct cross_message {
  enum class kind : std::uint8_t {
    forward,   // a delivery for `address` on the target shard (complete unless `more`)
    stream,    // the next bytes of a forward sent with `more` (or its abort)
    consumed,  // target -> origin: `count` more bytes of a stream were written out
    outcome,   // the outcome of a forwarded unsettled delivery, back to its origin
    routable,  // `address` gained its first consumer somewhere: senders may get credit
    task,      // run `task` on the target shard's thread (management, runtime configuration)
  };
  kind type = kind::forward;
  unsigned from = 0;
  std::uint32_t token = 0;  // forward/outcome: the origin's handle on its delivery (0 = none)
  std::string address;      // forward/routable: the address table key
  amqp::byte_buffer bytes;  // forward
  bool presettled = false;
  std::uint32_t message_format = 0;
  bool more = false;        // forward/stream: further bytes follow
  bool aborted = false;     // stream: the sender gave up on the delivery
  std::uint64_t count = 0;  // consumed
  amqp::delivery_state::kind state = amqp::delivery_state::kind::none;  // outcome
  bool final = true;  // outcome: false for a non-terminal `received` (streaming progress)
  bool delivery_failed = false;
  bool undeliverable_here = false;
  std::uint32_t section_number = 0;  // outcome, received
  std::uint64_t section_offset = 0;
  std::function<void(shard&)> task;
};

class shard_group {
 public:
  explicit shard_group(unsigned shards);
  unsigned size() const noexcept { return static_cast<unsigned>(inboxes_.size()); }

  // Consumer registry. Returns true when `shard` is the first shard with a consumer for key.
  bool consumer_added(unsigned shard, const std::string& key);
  void consumer_removed(unsigned shard, const std::string& key);
  // A shard other than `self` with consumers for key, round robin; -1 when none.
  int pick_remote(unsigned self, const std::string& key);
  std::vector<unsigned> remote_shards_with(unsigned self, const std::string& key);
  bool any_consumer(const std::string& key);

  // Appends m to shard `to`'s inbox. Returns true when the caller must wake `to` (post a
  // MSG_RING completion to ring_fd(to)).
  bool post(unsigned to, cross_message&& m);
  // Appends a whole batch (one lock); same wake rule as post().
  bool post_batch(unsigned to, std::vector<cross_message>& batch);
  // Takes everything in shard `shard`'s inbox (call on a wake-up).
  std::vector<cross_message> take(unsigned shard);

  // Connection ids unique across shards (log lines and management name connections by them).
  std::uint64_t next_connection_id() { return next_connection_id_.fetch_add(1); }

  // The router's current configuration as management sees it: the loaded file plus what
  // CREATE/DELETE changed since. Readers and writers hold config_mutex.
  std::mutex config_mutex;
  router_config config;
  // Every configuration entity with its attributes as written (QUERY/READ answer from these).
  std::vector<config_entity> entities;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  void set_ring_fd(unsigned shard, int fd) { inboxes_[shard]->ring_fd.store(fd); }
  int ring_fd(unsigned shard) const { return inboxes_[shard]->ring_fd.load(); }

 private:
  struct inbox {
    std::mutex mutex;
    std::vector<cross_message> messages;
    std::atomic<bool> wake_pending{false};
    std::atomic<int> ring_fd{-1};
  };
  std::vector<std::unique_ptr<inbox>> inboxes_;
  std::atomic<std::uint64_t> next_connection_id_{1};

  std::mutex registry_mutex_;
  struct entry {
    std::vector<std::uint32_t> consumers;  // per shard
    unsigned next = 0;
  };
  std::unordered_map<std::string, entry> registry_;
};

}  // namespace fogmesh::router
