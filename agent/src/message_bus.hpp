// The agent's ioMessage bus: routes each published message to the receivers the controller's
// routes name. Receivers on this agent get it in their queue (/v2/messages/next) or on their
// message WebSocket; receivers elsewhere go through a pluggable remote transport (the router
// mesh, an AMQP address per microservice). Published messages go to the on-disk archive
// (message_archive.hpp) for /v2/messages/query when one is attached: publish() stages them,
// commit_archive() writes a batch at once (the local API acknowledges after that).
//
// Owned and called by the daemon's loop thread only; never blocks.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fogmesh/agent/iomessage.hpp"
#include "fogmesh/agent/recent_ids.hpp"
#include "message_archive.hpp"

namespace fogmesh::agent {

// Delivery to microservices on other agents. Implementation: the AMQP router mesh
// (router_transport.hpp).
class message_transport {
 public:
  virtual ~message_transport() = default;
  // Hands `message` over for `receiver_uuid` (the transport keeps it until delivered); false when
  // it cannot take it (no room): the bus counts it as undeliverable.
  virtual bool send(const std::string& receiver_uuid, const io_message& message) = 0;
  // Whether `count` more messages can be handed over now. A transport holds what it accepted
  // until delivered, within a bound: at the bound the publish is refused, not dropped later.
  virtual bool has_room(size_t count) const = 0;
};

struct message_bus_limits {
  size_t queue_messages = 10000;  // per receiver; the oldest is dropped beyond it
  size_t query_messages = 10000;  // per /v2/messages/query answer; the rest is "truncated"
  size_t recent_ids = 4096;       // per receiver, ids remembered to drop copies (24 B each)
};

class message_bus {
 public:
  using listener = std::function<void(const io_message&)>;

  explicit message_bus(message_bus_limits limits = {});

  // Microservices running on this agent, and publisher → receivers from the controller.
  void set_local_microservices(std::set<std::string> uuids);
  void set_routes(std::map<std::string, std::vector<std::string>> routes);
  void set_remote_transport(message_transport* transport) { remote_ = transport; }
  // Where published messages are archived; none: not archived, queries find nothing.
  void set_archive(message_archive* archive) { archive_ = archive; }

  // Gives the message a fresh id (32 hex) and timestamp (epoch ms), stages it in the archive
  // and delivers it to every receiver of its publisher. Returns the message as delivered.
  // The archive write happens in commit_archive(): acknowledge the publisher only after it.
  io_message publish(io_message message);
  // False when the remote transport has no room for this publisher's receivers on other agents:
  // the local API then refuses the publish (the publisher sends it again later) instead of
  // losing it. Ask before publish(); the room only grows until then (one loop thread).
  bool can_publish(const std::string& publisher) const;
  // Writes what publish() staged in the archive (one write for all of them); false when the
  // write failed (the messages are delivered, not archived). No archive: true.
  bool commit_archive();
  // Messages published and not yet written by commit_archive().
  size_t archive_staged() const;
  // A message that arrived from another agent for a local receiver. A copy of one of the
  // receiver's last limits.recent_ids messages (by id) is dropped and counted: the router
  // transport sends again what was unsettled when a connection dropped, and some of it had
  // arrived.
  void deliver_inbound(const std::string& receiver_uuid, const io_message& message);
  // A message the receiver was given and did not acknowledge, for its queue again (no copy
  // check: it was seen, that is the point).
  void deliver_again(const std::string& receiver_uuid, const io_message& message);

  // Drains the receiver's queue (/v2/messages/next).
  std::vector<io_message> take_queued(const std::string& receiver_uuid);
  // Archived messages from those of `publishers` that route to `receiver_uuid` (others are
  // ignored, as upstream), with start <= timestamp <= end, oldest first; at most
  // limits.query_messages (then `truncated`).
  message_archive::query_result query(const std::string& receiver_uuid, int64_t start, int64_t end,
                                      const std::vector<std::string>& publishers) const;
  bool routes_to(const std::string& publisher, const std::string& receiver) const;

  // While a listener is attached (a message WebSocket), messages go to it instead of the queue.
  void attach_listener(const std::string& receiver_uuid, listener l);
  void detach_listener(const std::string& receiver_uuid);

  uint64_t processed() const { return processed_; }
  uint64_t undeliverable() const { return undeliverable_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t duplicates() const { return duplicates_; }  // copies dropped by deliver_inbound
  // Published messages per publisher since start (status report's microserviceMessageCounts).
  const std::map<std::string, uint64_t>& published_counts() const { return published_counts_; }

 private:
  void deliver_local(const std::string& receiver_uuid, const io_message& message);

  message_bus_limits limits_;
  std::set<std::string> local_;
  std::map<std::string, std::vector<std::string>> routes_;
  message_transport* remote_ = nullptr;
  std::map<std::string, std::deque<io_message>> queues_;
  std::map<std::string, listener> listeners_;
  std::map<std::string, recent_ids> inbound_ids_;  // per local receiver, from other agents
  message_archive* archive_ = nullptr;
  uint64_t processed_ = 0;
  uint64_t undeliverable_ = 0;
  uint64_t dropped_ = 0;
  uint64_t duplicates_ = 0;
  std::map<std::string, uint64_t> published_counts_;
};

}  // namespace fogmesh::agent
