// The TCP bridge (README.md "TCP mapping"): one proxied TCP connection is a pair of
// tcp_bridge objects, one per side, each owning a socket (the client's or the target's), an
// anonymous sender and a dynamic receiver on its shard's in-router endpoint:
//
//   listener                                   connector
//   connect request (complete) ─> address ───> receiver R: connect target; settle accepted
//                                                                     (rejected on failure)
//   dynamic receiver L <──── server->client stream (head: reply-to C) ── anonymous sender
//   anonymous sender ─────── client->server stream ───────────────────> dynamic receiver C
//
// Each stream is one streaming delivery with its own link at both ends: the router forwards a
// link's deliveries in order, so a long-lived stream on a shared link would hold up every
// connection queued behind it. The shared receiver R only ever sees small complete requests.
//
// Used by tcpListener/tcpConnector (kind tcp/1) and by httpListener/httpConnector for HTTP
// Upgrade/CONNECT tunnels (kind http-upgrade/1: the listener's socket, with the upgrade request
// already read, becomes the listener side of a bridge).
//
// Thread: the owning shard's thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adaptor_io.hpp"
#include "routing/local_endpoint.hpp"

namespace fogmesh::router {
class shard;
}

namespace fogmesh::proxy::adaptor {

class tcp_bridge;

// What the bridges of one adaptor instance share.
struct bridge_context {
  router::shard& shard;
  router::local_endpoint& ep;
  socket_graveyard graveyard;
  std::string name;     // entity name, for logs
  std::string address;  // the mapped address
  std::string kind;     // stream kind: tcp/1 or http-upgrade/1
};

// The bridges of one adaptor instance.
class bridge_set {
 public:
  bridge_set(router::shard& s, router::local_endpoint& ep, std::string name, std::string address,
             std::string_view kind);
  ~bridge_set();
  bridge_set(const bridge_set&) = delete;
  bridge_set& operator=(const bridge_set&) = delete;

  // Listener side: an accepted client connection...
  void add_client(int fd);
  // ... or a client socket already in use, with the bytes read from it so far (they are sent
  // first, before anything read later).
  void add_client(std::unique_ptr<stream_socket> socket, std::string initial_bytes);

  // Connector side: a connect request (a complete delivery `d` on `l`). Checks it (stream
  // head, this set's kind, reply-to, unsettled) and connects to `target`; a bad request is
  // settled rejected. `target` null: `resolve_error` says why, and the request is refused.
  void accept_request(router::link& l, router::local_endpoint::incoming_delivery& d,
                      const target_address* target, const std::string& resolve_error);
  // The request link went away: bridges still connecting give up.
  void forget_request_link();

  void tick();  // timeouts, reaping
  void stop();  // shutdown: every bridge fails
  std::size_t size() const noexcept { return bridges_.size(); }

 private:
  bridge_context ctx_;
  std::list<std::unique_ptr<tcp_bridge>> bridges_;
  std::string stream_prefix_;  // listener side: router/shard/entity/ + counter = stream id
  std::uint64_t next_stream_ = 0;
};

}  // namespace fogmesh::proxy::adaptor
