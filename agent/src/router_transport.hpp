// ioMessages between agents over the router mesh, as ioFog's agent does it: one AMQP
// connection from the agent to its router; a receiver link on the address <microservice uuid>
// for each microservice running here; a message for a receiver on another agent is sent as a
// JSON text message (the ioMessage JSON form) to the address <receiver uuid>. The router mesh
// carries it to the agent that consumes that address. Routes (publisher → receivers) come from
// the controller and are applied by the message bus; this is only the wire.
//
// Qpid Proton C++ runs its container on a thread of its own; the agent's loop thread hands over
// work under a mutex and gets inbound messages posted back to its io_context.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "fogmesh/agent/amqp_outbox.hpp"
#include "message_bus.hpp"

namespace proton {
class container;
class work_queue;
}  // namespace proton

namespace fogmesh::agent {

class router_transport : public message_transport {
 public:
  using inbound_handler =
      std::function<void(const std::string& receiver_uuid, const io_message& message)>;

  // `inbound` runs on `io`'s thread. At most `max_held` messages are held for the router
  // (queued or sent and unsettled) across all addresses.
  router_transport(boost::asio::io_context& io, inbound_handler inbound,
                   size_t max_held = default_max_held);
  ~router_transport() override;
  router_transport(const router_transport&) = delete;
  router_transport& operator=(const router_transport&) = delete;

  // "amqp://host:port", or "" to stay disconnected. A change reconnects.
  void set_url(const std::string& url);
  // Addresses to consume: the microservices running on this agent.
  void set_receivers(std::set<std::string> uuids);
  // Queues the message for the receiver's address, also while not connected (sent once the
  // connection is up). It is kept until the router settles it: released/modified (no consumer
  // yet, e.g. a stale credit, or a broken path) sends it again (amqp_outbox). False only when
  // max_held are already held (the caller asks has_room() first to refuse a publish as a whole).
  bool send(const std::string& receiver_uuid, const io_message& message) override;
  // Whether `count` more messages can be held now.
  bool has_room(size_t count) const override;
  // Drops what is held for receivers not in `receivers` (no route leads to them any more);
  // returns how many were dropped now (amqp_outbox::discard_except).
  size_t discard_except(const std::set<std::string>& receivers) {
    return outbox_.discard_except(receivers);
  }

  static constexpr size_t default_max_held = 10000;

  bool connected() const { return connected_.load(); }
  uint64_t sent() const { return outbox_.accepted(); }  // settled accepted by the router
  uint64_t resent() const { return outbox_.resent(); }
  uint64_t rejected() const { return outbox_.rejected(); }
  uint64_t discarded() const { return outbox_.discarded(); }
  size_t held() const { return outbox_.held(); }
  uint64_t received() const { return received_.load(); }
  // Receiver links the router has attached (tests wait for them before sending).
  size_t open_receivers() const { return open_receivers_.load(); }

 private:
  class handler;
  friend class handler;

  void kick();  // wakes the container thread to process pending work

  boost::asio::io_context& io_;
  inbound_handler inbound_;
  amqp_outbox outbox_;  // before container_: outlives its thread
  std::unique_ptr<handler> handler_;
  std::unique_ptr<proton::container> container_;
  std::unique_ptr<proton::work_queue> work_;
  std::thread thread_;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<size_t> open_receivers_{0};
  std::atomic<bool> kick_pending_{false};

  // Shared with the container thread.
  std::mutex mutex_;
  std::string url_;
  std::set<std::string> receivers_;
};

}  // namespace fogmesh::agent
