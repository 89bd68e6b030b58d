// fogmesh microservice SDK: what a microservice needs from its agent, as a C++ library.
//
//  - environment: where the agent's local API is and who we are (SELFNAME,
//    FOGMESH_LOCAL_API_TOKEN, FOGMESH_LOCAL_API_HOST|PORT, FOGMESH_ROUTER_URL).
//  - local_api_client: blocking REST calls (/v2/config/get, /v2/messages/new|next).
//  - message_socket: the real-time message WebSocket /v2/message/socket/id/<id>: publish with
//    0xD (the agent answers with a 0xE receipt), receive 0xD (acknowledged with 0xB at once).
//  - amqp_messenger: ioMessages straight to the router mesh, bypassing the agent: sends the
//    ioMessage JSON form to the address <receiver uuid> and consumes the address <own uuid>,
//    exactly as agents do between themselves. The microservice declares this with the env
//    FOGMESH_MESSAGE_TRANSPORT=amqp in its spec, so its agent stops consuming that address.
//
// The ioMessage type and codecs are the agent's (fogmesh/agent/iomessage.hpp).
// local_api_client and message_socket are not thread-safe: one per thread. amqp_messenger is
// safe to send() from any thread; its handler runs on its own Proton thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fogmesh/agent/iomessage.hpp"

namespace fogmesh::sdk {

using agent::io_message;

// A local API call that failed: HTTP status (0 when the connection failed) and the agent's
// error message.
class sdk_error : public std::runtime_error {
 public:
  sdk_error(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

struct environment {
  std::string self_name;  // SELFNAME: this microservice's uuid
  std::string token;      // FOGMESH_LOCAL_API_TOKEN
  // FOGMESH_LOCAL_API_HOST, else "iofog" when it resolves (the agent adds it as an extra host to
  // containers, as upstream), else 127.0.0.1.
  std::string host = "127.0.0.1";
  uint16_t port = 54321;   // FOGMESH_LOCAL_API_PORT
  std::string router_url;  // FOGMESH_ROUTER_URL, e.g. amqp://127.0.0.1:5672 (AMQP path only)

  // Reads the process environment; throws sdk_error when SELFNAME is missing or the port is not
  // a number.
  static environment from_process();
};

struct publish_receipt {
  std::string id;
  int64_t timestamp = 0;
};

// Fills what a publisher need not: publisher (self), version 4, and, for the AMQP path where no
// agent stamps it, a fresh id (32 hex) and timestamp when empty.
io_message make_message(const std::string& publisher, std::string info_type,
                        std::string info_format, std::vector<uint8_t> content);

class local_api_client {
 public:
  explicit local_api_client(environment env);
  ~local_api_client();
  local_api_client(const local_api_client&) = delete;
  local_api_client& operator=(const local_api_client&) = delete;

  // The microservice's config as the controller holds it (a JSON text).
  std::string get_config();
  // Publishes as this microservice; the agent assigns id and timestamp.
  publish_receipt publish(io_message message);
  // Drains what the agent queued for this microservice.
  std::vector<io_message> next_messages();

  const environment& env() const { return env_; }

 private:
  struct impl;
  environment env_;
  std::unique_ptr<impl> impl_;
};

class message_socket {
 public:
  // What arrived on the socket: a message for us, a receipt for one we published, or the
  // agent's complaint about a frame we sent (text frame).
  struct event {
    enum class kind { message, receipt, error } type = kind::message;
    io_message message;
    publish_receipt receipt;
    std::string error;
  };

  // Connects and upgrades; throws sdk_error when the agent refuses (wrong token: 401/403).
  explicit message_socket(const environment& env);
  ~message_socket();
  message_socket(const message_socket&) = delete;
  message_socket& operator=(const message_socket&) = delete;

  // Sends a 0xD frame (binary ioMessage); its receipt arrives later as an event.
  void publish(const io_message& message);
  // The next event within `timeout`; nullopt on timeout. Throws sdk_error once the socket closed.
  std::optional<event> next(std::chrono::milliseconds timeout);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Flow-control knobs of amqp_messenger (the defaults suit 1 KiB messages at ~100k msg/s).
struct amqp_tuning {
  size_t max_pending = 10000;     // send() blocks while this many wait for credit
  uint32_t credit_window = 1000;  // receiving link's credit
};

class amqp_messenger {
 public:
  using handler = std::function<void(io_message)>;

  struct options {
    std::string router_url;  // amqp://host:port
    std::string self_name;   // the address consumed when a handler is given
    handler on_message;      // empty: send only; runs on the messenger's Proton thread
    amqp_tuning tuning;
  };

  // Starts the Proton container thread and connects (reconnecting every second when the
  // router goes away).
  explicit amqp_messenger(options o);
  amqp_messenger(std::string router_url, std::string self_name, handler on_message = {})
      : amqp_messenger(
            options{std::move(router_url), std::move(self_name), std::move(on_message), {}}) {}
  ~amqp_messenger();
  amqp_messenger(const amqp_messenger&) = delete;
  amqp_messenger& operator=(const amqp_messenger&) = delete;

  // Queues `message` for the receiver's address; blocks while max_pending are held (queued or
  // sent and not yet settled: back pressure from the mesh's credit). Stamps id/timestamp when
  // empty. Each message is kept until the router settles it: `released`/`modified` (no consumer
  // any more, path broken) sends it again after a back-off, ahead of newer ones to the same
  // address; `rejected` is final. Messages to one address arrive in send() order over one
  // router path; one that was unsettled when the connection dropped is sent again (a receiving
  // amqp_messenger or agent drops the copy when the first one arrived: duplicates()).
  void send(const std::string& receiver_uuid, io_message message);
  // Until connected and (with a handler) the receiving link is attached, or the timeout.
  bool wait_ready(std::chrono::milliseconds timeout);
  // Until every message sent was settled accepted or rejected, or the timeout.
  bool flush(std::chrono::milliseconds timeout);

  uint64_t sent() const;      // settled accepted by the router
  uint64_t rejected() const;  // settled rejected (not sent again)
  uint64_t resent() const;    // transmissions repeated after released/modified or a lost link
  uint64_t received() const;
  // Copies dropped: the last 4096 received ids are remembered, so a message sent again after a
  // connection drop that had arrived already is not handed to the handler twice.
  uint64_t duplicates() const;

 private:
  class proton_handler;
  std::unique_ptr<proton_handler> handler_;
};

}  // namespace fogmesh::sdk
