// ioMessage: the unit microservices exchange through the agent (ioFog's message format, v4).
//
// Three encodings of the same struct:
//  - ioFog's binary form: a 33-byte big-endian header of field lengths, then the values
//    (iofog-control-plane.md §3). Used on the local API's message WebSocket.
//  - ioFog's JSON form: lower-case keys, contextdata/contentdata as base64. Used by the REST
//    endpoints /v2/messages/* and between agents (as upstream sends JSON text over AMQP).
//  - FlatBuffers (schemas/iomessage.fbs): for transports and SDKs that want zero-copy reads.
//
// Readers are tolerant of what real writers produce (Java writes zero numbers with length 0,
// Python writes minimal-width numbers, any numeric width 0..8 is accepted; JSON numbers may come
// as strings, base64 may lack padding or be URL-safe, unknown keys are ignored) and reject
// everything else with a message that names the field. Pure functions, no I/O, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fogmesh/common/result.hpp"

namespace fogmesh::agent {

inline constexpr uint16_t iomessage_version = 4;
inline constexpr size_t iomessage_header_size = 33;

struct io_message {
  uint16_t version = iomessage_version;
  std::string id;
  std::string tag;
  std::string group_id;
  int32_t sequence_number = 0;
  int32_t sequence_total = 0;
  int8_t priority = 0;
  int64_t timestamp = 0;  // epoch milliseconds
  std::string publisher;  // the publishing microservice's uuid
  std::string auth_id;
  std::string auth_group;
  int64_t chain_position = 0;
  std::string hash;
  std::string previous_hash;
  std::string nonce;
  int32_t difficulty_target = 0;
  std::string info_type;
  std::string info_format;
  std::vector<uint8_t> context_data;
  std::vector<uint8_t> content_data;

  bool operator==(const io_message&) const = default;
};

// What went wrong while decoding; error_detail() in the result carries the readable message.
enum class iomessage_errc {
  truncated = 1,    // shorter than its header says
  trailing_bytes,   // longer than its header says
  field_too_long,   // a value does not fit its length slot (encoder) or its type (reader)
  bad_json,         // not JSON, not an object, or a field of the wrong type
  bad_base64,
  bad_flatbuffer,
  bad_string,       // a binary string field that is not valid UTF-8
};
const std::error_category& iomessage_category() noexcept;
inline std::error_code make_error_code(iomessage_errc e) noexcept {
  return {static_cast<int>(e), iomessage_category()};
}

// A decode failure: the category code plus a sentence naming the field and the offset.
struct iomessage_error {
  iomessage_errc code;
  std::string message;
};

// Either a message or an error explaining why the input is not one.
struct iomessage_decode_result {
  io_message message;
  std::optional<iomessage_error> error;
  explicit operator bool() const noexcept { return !error.has_value(); }
};

// --- ioFog binary form ---
// Fails (field_too_long) only when a string exceeds its length slot (255 or 65535 bytes) or a
// data field exceeds 4 GiB.
result<std::vector<uint8_t>> encode_binary(const io_message& message);
iomessage_decode_result decode_binary(std::span<const uint8_t> bytes);

// --- ioFog JSON form ---
std::string encode_json(const io_message& message);
iomessage_decode_result decode_json(std::string_view text);

// --- FlatBuffers (schemas/iomessage.fbs) ---
std::vector<uint8_t> encode_flatbuffer(const io_message& message);
iomessage_decode_result decode_flatbuffer(std::span<const uint8_t> bytes);

// Base64 helpers (standard alphabet on output; the decoder also takes URL-safe and unpadded).
std::string base64_encode(std::span<const uint8_t> data);
bool base64_decode(std::string_view text, std::vector<uint8_t>& out);

}  // namespace fogmesh::agent

template <>
struct std::is_error_code_enum<fogmesh::agent::iomessage_errc> : std::true_type {};
