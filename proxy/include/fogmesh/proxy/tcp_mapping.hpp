// TCP <-> AMQP stream mapping (README.md "TCP mapping"): one client connection is a pair of
// streaming deliveries, client->server on the mapped address and server->client on the
// listener's per-connection reply address. Each delivery starts with a small head (properties
// + application-properties) and then carries the bytes as data sections, one per socket read,
// as they arrive; completing the delivery is a half-close (FIN) of that direction, aborting it
// is a reset. The receiver acknowledges bytes written to its socket with a non-terminal
// `received` state (section-number 0, section-offset = bytes written) and the sender keeps at
// most a byte window unacknowledged: a slow reader stops the writer end to end.
//
// Thread: any; objects are per stream, not shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fogmesh/common/result.hpp"
#include "fogmesh/proxy/message_stream.hpp"

namespace fogmesh::proxy::tcp {

inline constexpr std::string_view content_type = "application/octet-stream";
// application-properties key naming the stream kind and mapping version ("tcp/1"; an HTTP
// Upgrade/CONNECT tunnel is "http-upgrade/1": an httpConnector accepts it and opens a raw
// connection to its target).
inline constexpr std::string_view stream_key = "x-fogmesh-stream";
inline constexpr std::string_view kind_tcp = "tcp/1";
inline constexpr std::string_view kind_http_upgrade = "http-upgrade/1";

struct stream_head {
  std::string_view to;        // client->server: the address; server->client: the reply address
  std::string_view reply_to;  // client->server only
  message_id stream_id;       // correlation-id, the same in both directions
  std::string_view kind = kind_tcp;
};

// Appends the head sections of a stream delivery. Send it at once, before any client byte:
// server-first protocols (SMTP, MySQL) need the far side to connect without waiting for data.
void append_stream_head(byte_buffer& out, const stream_head& head);
// Appends one data section carrying `bytes` (8 bytes of framing; bytes copied once).
void append_stream_data(byte_buffer& out, bytes_view bytes);

// Reads a stream delivery: checks the head, then hands on payload bytes as they arrive.
class stream_reader final : private message_reader::handler {
 public:
  // Appends payload bytes to `out`. Fails (not a stream: wrong content-type or no stream key,
  // or a non-data body) with stream_errc::unsupported_body.
  result<void> feed(bytes_view piece, bool last, std::string& out);
  bool head_seen() const noexcept { return head_seen_; }
  const message_id& stream_id() const noexcept { return stream_id_; }
  const std::string& reply_to() const noexcept { return reply_to_; }
  const std::string& kind() const noexcept { return kind_; }
  std::uint64_t payload_bytes() const noexcept { return payload_bytes_; }

 private:
  result<void> on_section(std::uint64_t descriptor, bytes_view section_bytes) override;
  result<void> on_body_begin(std::uint64_t descriptor, std::uint8_t value_code,
                             std::uint64_t length) override;
  result<void> on_body_data(bytes_view data) override;

  message_reader reader_;
  std::string* out_ = nullptr;
  bool properties_seen_ = false, head_seen_ = false, octet_stream_ = false;
  message_id stream_id_;
  std::string reply_to_, kind_;
  std::uint64_t payload_bytes_ = 0;
};

// Sender half of the byte window.
class byte_window_sender {
 public:
  static constexpr std::uint64_t default_window = 1 << 20;
  explicit byte_window_sender(std::uint64_t window = default_window) : window_(window) {}
  // Bytes that may be sent now (0: stop reading the socket until acknowledged()).
  std::uint64_t available() const noexcept {
    const std::uint64_t in_flight = sent_ - acknowledged_;
    return in_flight >= window_ ? 0 : window_ - in_flight;
  }
  void sent(std::uint64_t n) noexcept { sent_ += n; }
  // The peer's `received` section-offset (total bytes it wrote). Stale or impossible values
  // (beyond what was sent) are ignored.
  void acknowledged(std::uint64_t total) noexcept {
    if (total > acknowledged_ && total <= sent_) acknowledged_ = total;
  }
  std::uint64_t unacknowledged() const noexcept { return sent_ - acknowledged_; }

 private:
  std::uint64_t window_;
  std::uint64_t sent_ = 0;
  std::uint64_t acknowledged_ = 0;
};

// Receiver half: says when to send a `received` state (every half window written, so the
// sender never stalls on a full window while an acknowledgement is on its way).
class byte_window_receiver {
 public:
  explicit byte_window_receiver(std::uint64_t window = byte_window_sender::default_window)
      : step_(window / 2 == 0 ? 1 : window / 2) {}
  // Bytes written to the socket; returns the offset to report when an acknowledgement is due.
  std::optional<std::uint64_t> written(std::uint64_t n) noexcept {
    written_ += n;
    if (written_ - reported_ < step_) return std::nullopt;
    reported_ = written_;
    return written_;
  }
  std::uint64_t total_written() const noexcept { return written_; }

 private:
  std::uint64_t step_;
  std::uint64_t written_ = 0;
  std::uint64_t reported_ = 0;
};

// The `received` delivery state (0x23) with section-number 0 and section-offset `bytes`, as
// the state field of a disposition.
void append_received_state(byte_buffer& out, std::uint64_t bytes);
// Reads it back (section-offset); fails for any other state.
result<std::uint64_t> decode_received_state(bytes_view state);

}  // namespace fogmesh::proxy::tcp
