// What owns a link as far as the routing core is concerned: something that can write transfers,
// flows, dispositions and detaches for it. An AMQP connection over a socket is one
// (engine/amqp_connection); an in-router endpoint — the management agent, the HTTP/TCP
// adaptors — is another (routing/local_endpoint). router_core talks to links only through this
// interface, so a delivery flows the same way whether its ends are sockets or router code.
//
// Thread: the owning shard thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amqp/performatives.hpp"
#include "fogmesh/router/config.hpp"

namespace fogmesh::router {

struct session;
struct link;
struct delivery;
class tls_context;

// Per-connection settings, taken from the listener or connector that made the connection.
struct connection_settings {
  connection_role role = connection_role::normal;
  unsigned cost = 1;                          // inter-router: the listener/connector's cost
  std::uint32_t max_frame_size = 16384;
  std::uint16_t channel_max = 32767;
  std::uint32_t idle_timeout_ms = 16000;      // 0 = none
  bool authenticate_peer = false;
  std::vector<std::string> sasl_mechanisms;   // offered, in order
  std::uint32_t link_capacity = 250;
  strip_annotations strip = strip_annotations::both;
  std::uint64_t max_message_size = 0;
  std::string listener_name;
  std::string users_file;
  std::vector<std::string> failover_urls;     // listener: advertised in our open frame
  std::shared_ptr<tls_context> tls;           // set when the listener has an sslProfile
  bool require_tls = false;
  // Outbound (connector) connections: we speak first and authenticate as a client.
  bool client = false;
  std::string connector_name;
  std::string hostname;
  std::string sasl_username, sasl_password;
};

class link_owner {
 public:
  struct write_result {
    std::size_t consumed = 0;  // bytes of `bytes` written
    bool done = false;         // all of them written (false: the window closed)
  };

  virtual const connection_settings& settings() const noexcept = 0;
  // True while the owner keeps up with what it is given (no backlog above its high-water mark).
  virtual bool writable() const noexcept = 0;
  // Writes the transfer frames of `bytes` for delivery d on outgoing link l; `first` adds
  // delivery-id, tag, format and settled; `more` marks the delivery as continuing.
  virtual write_result write_transfer(link& l, delivery& d, amqp::bytes_view bytes, bool first,
                                      bool more) = 0;
  // The delivery in progress on l was aborted by its sender.
  virtual void write_abort(link& l) = 0;
  // Outgoing link: echo/drain answer; incoming link: the credit the peer now holds.
  virtual void write_flow(link& l, bool echo = false) = 0;
  virtual void queue_disposition(session& s, amqp::role role, std::uint32_t id, bool settled,
                                 const amqp::delivery_state& state) = 0;
  // l could not write everything; resume it when the owner can take more (router_core::resume).
  virtual void mark_blocked(link& l) = 0;
  // Bytes held for s's deliveries drained: the sender may send again.
  virtual void window_may_open(session& s) = 0;
  // The router detaches l from its side (e.g. its link-route partner left).
  virtual void detach_link(link& l, const amqp::error* err) = 0;
  // Answer to an attach whose reply was deferred (link routes). `answer`: the far side's
  // reply to the routed attach, whose termini the client gets (nullptr when there is none).
  virtual void complete_attach(link& l, bool accepted, const amqp::error* err,
                               const amqp::attach* answer) = 0;
  // The attach the peer sent for l while the router has not answered it yet (a link route
  // passes its termini on), or nullptr.
  virtual const amqp::attach* unanswered_attach(const link&) const { return nullptr; }
  // A protocol violation by whoever drives the links: close with this error.
  virtual void fail(const std::string& condition, const std::string& description) = 0;

 protected:
  ~link_owner() = default;
};

}  // namespace fogmesh::router
