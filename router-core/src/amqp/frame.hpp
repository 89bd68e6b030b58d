// AMQP 1.0 framing (part 2 §2.3): protocol headers and frames, parsed in place.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "amqp/codec.hpp"
#include "amqp/performatives.hpp"

namespace fogmesh::router::amqp {

inline constexpr std::array<std::uint8_t, 8> amqp_protocol_header{'A', 'M', 'Q', 'P', 0, 1, 0, 0};
inline constexpr std::array<std::uint8_t, 8> tls_protocol_header{'A', 'M', 'Q', 'P', 2, 1, 0, 0};
inline constexpr std::array<std::uint8_t, 8> sasl_protocol_header{'A', 'M', 'Q', 'P', 3, 1, 0, 0};

inline constexpr std::uint8_t frame_type_amqp = 0;
inline constexpr std::uint8_t frame_type_sasl = 1;
inline constexpr std::uint32_t frame_header_size = 8;
// The smallest max-frame-size a peer may announce (part 2 §2.7.1: MIN-MAX-FRAME-SIZE).
inline constexpr std::uint32_t min_max_frame_size = 512;

enum class frame_errc {
  bad_protocol_header = 1,  // first 8 bytes are not an AMQP protocol header
  frame_too_small,          // size < 8 or doff < 2 or doff*4 > size
  frame_too_large,          // size > the max-frame-size we announced
  unknown_frame_type,
};
const std::error_category& frame_category() noexcept;
std::error_code make_error_code(frame_errc e) noexcept;

enum class protocol_id : std::uint8_t { amqp = 0, tls = 2, sasl = 3 };

// Parses an 8-byte protocol header. need at least 8 bytes (nullopt otherwise).
result<std::optional<protocol_id>> parse_protocol_header(bytes_view data);

struct frame_view {
  std::uint32_t size = 0;      // whole frame incl. header
  std::uint8_t type = 0;       // frame_type_amqp / frame_type_sasl
  std::uint16_t channel = 0;
  bytes_view body;             // after the extended header; empty for a heartbeat frame
};

// Parses the frame at the start of data. Returns nullopt when more bytes are needed (the size
// field is readable after 4 bytes: peek_frame_size tells how many), an error when the header is
// invalid or the frame exceeds max_frame_size.
result<std::optional<frame_view>> parse_frame(bytes_view data, std::uint32_t max_frame_size);
// Size of the frame at the start of data, or nullopt with fewer than 4 bytes.
std::optional<std::uint32_t> peek_frame_size(bytes_view data) noexcept;

// A decoded AMQP frame body: the performative and the payload bytes after it (transfer only).
struct amqp_frame {
  performative body;
  bytes_view payload;
};
result<amqp_frame> decode_amqp_frame(const frame_view& frame);
result<sasl_frame> decode_sasl_body(const frame_view& frame);

// Writes the 8-byte frame header (doff = 2) at dst.
void write_frame_header(std::uint8_t* dst, std::uint32_t size, std::uint8_t type,
                        std::uint16_t channel) noexcept;

// Appends a complete frame (header + encoded performative + payload) to out. Returns the number
// of bytes appended. Used for everything except the transfer fast path.
template <class Performative>
std::size_t append_frame(byte_buffer& out, std::uint16_t channel, const Performative& body,
                         bytes_view payload = {}, std::uint8_t type = frame_type_amqp) {
  const std::size_t start = out.size();
  out.resize(start + frame_header_size);
  encoder enc(out);
  encode(enc, body);
  out.insert(out.end(), payload.begin(), payload.end());
  write_frame_header(out.data() + start, static_cast<std::uint32_t>(out.size() - start), type,
                     channel);
  return out.size() - start;
}

// Appends an empty frame (heartbeat).
void append_heartbeat(byte_buffer& out);

}  // namespace fogmesh::router::amqp

template <>
struct std::is_error_code_enum<fogmesh::router::amqp::frame_errc> : std::true_type {};
