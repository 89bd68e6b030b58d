// One client connection of an httpListener, independent of sockets and of the AMQP engine:
// bytes from the client go in, request messages go out through `http_listener_amqp_side`,
// response messages come back in, and HTTP bytes for the client come out — in request order,
// whatever order the responses arrive in (pipelining). The adaptor itself answers 400/431/501/
// 505 for bad requests, 502 when a request cannot be delivered or its response cannot be
// mapped, 504 when a response does not start within the request timeout.
//
// Upgrade requests (WebSocket...) and CONNECT switch the connection to a tunnel: from then on
// it is a byte stream carried by the TCP mapping (README.md), started with the upgrade request
// itself so the target server sees it.
//
//       client bytes ──> on_client_data ──> parser ──> begin/continue_request ──> AMQP side
//       client <── pending_output <── response slots (FIFO) <── on_response ──── AMQP side
//
// Thread: the shard thread that owns the client socket; every call (from the driver and from
// the AMQP side) is made there. Never blocks. The driver owns the socket: it feeds received
// bytes, writes pending_output(), pauses reading while !wants_input(), and closes when
// should_close() and the output is flushed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fogmesh/proxy/http_mapping.hpp"
#include "fogmesh/proxy/http_parser.hpp"

namespace fogmesh::proxy {

// Final state of a request delivery, as reported by the AMQP side.
enum class delivery_outcome {
  accepted,
  rejected,   // the far side refused the message (e.g. unmappable)
  released,   // nobody took it (no consumer for the address)
  modified,   // delivery failed (ioFog proxies: target unreachable or timed out)
};

// What an HTTP listener connection needs from the AMQP side (the lead implements it on the
// router's in-router endpoint; fogmesh-proxy on a client AMQP connection). Called on the
// connection's thread; implementations must not call back into the connection from inside
// these calls.
class http_listener_amqp_side {
 public:
  virtual ~http_listener_amqp_side() = default;

  // The reply-to put in request messages (a dynamic address whose deliveries come back to
  // this connection through on_response).
  virtual std::string_view reply_address() const = 0;
  // A new id for a request: it is the request message's correlation-id, so it must be unique
  // among the requests whose responses arrive at reply_address().
  virtual std::uint64_t allocate_request_id() = 0;

  // A request delivery to the listener's address: the first bytes of the message, then more
  // bytes as the body streams; `last` marks the final piece (settle mode: unsettled — the
  // outcome comes back through on_request_outcome).
  virtual void begin_request(std::uint64_t request_id, bytes_view message_bytes, bool last) = 0;
  virtual void continue_request(std::uint64_t request_id, bytes_view message_bytes, bool last) = 0;
  // The request will not be completed (client vanished mid-body, body malformed, timeout):
  // abort the streaming delivery.
  virtual void abort_request(std::uint64_t request_id) = 0;
  // Back-pressure: false while the AMQP side holds as many request bytes as it wants to
  // buffer for this connection (no credit, window closed). The connection then stops reading.
  virtual bool can_send_request_bytes() const = 0;

  // A response delivery (identified by the token the AMQP side gave on_response) was written
  // or dropped: settle it with this outcome.
  virtual void settle_response(std::uint64_t response_token, delivery_outcome outcome) = 0;

  // Tunnel (upgrade / CONNECT): start a TCP-mapping stream whose first bytes are the upgrade
  // request; then more client bytes; `end_tunnel` when the client half-closes.
  virtual void begin_tunnel(bytes_view initial_bytes) = 0;
  virtual void tunnel_data(bytes_view bytes) = 0;
  virtual void end_tunnel() = 0;

  // The connection is finished: release/abort whatever is left for it.
  virtual void connection_closed() = 0;
};

struct http_listener_options {
  http::parser_limits limits;
  body_encoding_options body;
  std::chrono::milliseconds request_timeout{60000};  // time to the response's first byte
  std::size_t max_pipelined_requests = 32;           // reading pauses beyond this
  std::size_t output_high_watermark = 1 << 20;       // wants_response_data() false beyond this
  std::size_t max_buffered_response_bytes = 4 << 20;  // out-of-order responses held per connection
};

class http_listener_connection final : private http::parser_handler {
 public:
  using clock = std::chrono::steady_clock;

  http_listener_connection(http_listener_amqp_side& amqp, http_listener_options options,
                           clock::time_point now);
  ~http_listener_connection() override;
  http_listener_connection(const http_listener_connection&) = delete;
  http_listener_connection& operator=(const http_listener_connection&) = delete;

  // --- from the driver (socket side) ---
  // Bytes received from the client; all of them are taken (kept internally while paused).
  void on_client_data(bytes_view data, clock::time_point now);
  // The client half-closed (read EOF) or the socket failed.
  void on_client_eof();
  // Periodic tick (the shard's timer): request timeouts.
  void on_tick(clock::time_point now);

  std::string_view pending_output() const noexcept { return output_; }
  void consume_output(std::size_t n) { output_.erase(0, n); }
  // Reading from the client should continue (false: pause the recv until it turns true).
  bool wants_input() const noexcept;
  // Everything owed to the client is queued; close once pending_output() is written.
  bool should_close() const noexcept { return close_after_output_ && queue_.empty(); }
  // In tunnel mode the driver half-closes the client socket once this is set and the output
  // is written (the far side ended its stream).
  bool tunnel_write_closed() const noexcept { return tunnel_write_closed_; }
  bool tunneling() const noexcept { return tunnel_started_; }

  // --- from the AMQP side ---
  void on_request_outcome(std::uint64_t request_id, delivery_outcome outcome);
  // Bytes of a response delivery arriving at reply_address(); `token` identifies the
  // delivery for settle_response; `last` marks its final piece.
  void on_response(std::uint64_t token, bytes_view message_bytes, bool last);
  // A response delivery was aborted by its sender.
  void on_response_aborted(std::uint64_t token);
  // The AMQP side can take request bytes again (credit/window reopened); resumes parsing of
  // input held while paused.
  void on_request_capacity(clock::time_point now);
  // Output space: false while the client is slow; the AMQP side should hold response data.
  bool wants_response_data() const noexcept { return output_.size() < options_.output_high_watermark; }
  // Tunnel stream from the far side.
  void on_tunnel_data(bytes_view bytes);
  void on_tunnel_end();
  // The AMQP side lost the path (link detached, router shutting down): pending requests get
  // 502 and the connection closes.
  void on_amqp_lost();

  std::uint64_t requests_started() const noexcept { return requests_started_; }

 private:
  struct slot {
    std::uint64_t id = 0;
    http::request_kind kind = http::request_kind::normal;
    int version_minor = 1;
    bool client_keep_alive = true;
    bool request_sent = false;      // all request bytes went to the AMQP side
    bool response_started = false;  // a response delivery matched this slot
    bool response_done = false;     // its HTTP bytes are complete (in `bytes` or written)
    bool emitted = false;           // some of its response bytes reached output_
    bool close_after = false;       // close the connection after this response
    std::optional<std::uint64_t> response_token;
    std::string bytes;              // response bytes not yet moved to output_
    clock::time_point started;
  };
  struct response_delivery {
    std::unique_ptr<message_to_http> converter;
    std::uint64_t request_id = 0;  // 0 until the properties matched a slot
    bool orphan = false;           // no slot: dropped, settled when complete
  };

  // parser_handler
  http::parse_action on_head(const http::message_head& head) override;
  http::parse_action on_body(http::bytes_view data) override;
  http::parse_action on_complete() override;

  void process_input(clock::time_point now);
  // Runs the parser over `view` while nothing blocks it; returns the bytes consumed.
  std::size_t parse_from(bytes_view view);
  void after_input();
  void handle_parse_error();
  slot* find_slot(std::uint64_t id);
  // Replaces whatever the slot would have answered with a generated response.
  void answer_with_error(slot& s, int status, std::string_view detail, bool close);
  void flush_ready();
  void send_request_bytes(bool last);
  void maybe_start_tunnel();

  http_listener_amqp_side& amqp_;
  http_listener_options options_;
  http::parser parser_;
  std::deque<slot> queue_;  // requests in client order, each until its response is written
  std::map<std::uint64_t, response_delivery> responses_;  // by token
  std::string input_;       // client bytes held while paused
  std::string output_;      // bytes for the client
  byte_buffer message_;     // request message bytes being built
  std::optional<body_encoder> body_;
  std::uint64_t current_request_ = 0;  // id of the request being read (0 = none)
  bool begun_ = false;                 // begin_request was called for current_request_
  bool current_is_upgrade_ = false;
  std::string tunnel_head_;  // the re-serialised upgrade request, until the tunnel starts
  bool tunnel_pending_ = false;
  bool tunnel_started_ = false;
  bool tunnel_write_closed_ = false;
  bool client_eof_ = false;
  bool input_stopped_ = false;  // parse error / connection close: read no more requests
  bool close_after_output_ = false;
  clock::time_point now_;
  std::uint64_t requests_started_ = 0;
};

}  // namespace fogmesh::proxy
