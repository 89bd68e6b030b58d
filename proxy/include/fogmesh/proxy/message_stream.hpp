// Reading and writing AMQP messages as streams of pieces, for the adaptors: a message arrives as
// the payloads of one or more transfer frames and a body may be far larger than memory should
// hold, so body payload bytes are handed on as they arrive while the small sections in front of
// the body (properties, application-properties...) are collected whole.
//
// Thread: any; one reader per delivery, not shared. Never throws on bad input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "fogmesh/common/result.hpp"

namespace fogmesh::proxy {

using bytes_view = std::span<const std::uint8_t>;
using byte_buffer = std::vector<std::uint8_t>;

enum class stream_errc {
  not_a_section = 1,     // a message section must be a described value
  unknown_section,       // a descriptor that is not one of the message sections
  malformed_section,     // the codec rejected the section's bytes
  section_too_large,     // a non-body section beyond message_reader::max_section_bytes
  truncated_message,     // the delivery completed in the middle of a section
  unsupported_body,      // a body the HTTP mapping cannot carry (amqp-sequence, a map...)
  bad_properties,        // properties section not a list or with fields of the wrong type
  bad_application_properties,
  missing_method,        // request message without subject
  bad_status,            // response subject not a status code
  body_length_mismatch,  // body bytes differ from the length announced up front
};
const std::error_category& stream_category() noexcept;
std::error_code make_error_code(stream_errc e) noexcept;

// Message section descriptors (AMQP 1.0 part 3 §3.2).
namespace section {
inline constexpr std::uint64_t header = 0x70, delivery_annotations = 0x71,
                               message_annotations = 0x72, properties = 0x73,
                               application_properties = 0x74, data = 0x75, amqp_sequence = 0x76,
                               amqp_value = 0x77, footer = 0x78;
}  // namespace section

// Feeds a message's bytes in pieces and reports its sections. Sections other than a streamed
// body are delivered whole (at most max_section_bytes each); a `data` section and an
// `amqp-value` holding a binary or string stream their payload through on_body_data.
class message_reader {
 public:
  class handler {
   public:
    virtual ~handler() = default;
    // A whole section (descriptor included): header, annotations, properties,
    // application-properties, footer, or an amqp-value / amqp-sequence that is not streamed.
    virtual result<void> on_section(std::uint64_t descriptor, bytes_view section_bytes) = 0;
    // A streamed section starts: `descriptor` is data or amqp_value, `value_code` the
    // constructor of its payload (vbin8/32 or str8/32), `length` its payload size.
    virtual result<void> on_body_begin(std::uint64_t descriptor, std::uint8_t value_code,
                                       std::uint64_t length) = 0;
    // Payload bytes of the current streamed section (never empty), views into the input.
    virtual result<void> on_body_data(bytes_view data) = 0;
  };

  static constexpr std::size_t default_max_section_bytes = 256 * 1024;
  explicit message_reader(std::size_t max_section_bytes = default_max_section_bytes)
      : max_section_bytes_(max_section_bytes) {}

  // Feeds the next piece. `complete` = this is the last piece of the delivery. Errors from the
  // handler are passed through; after an error the reader stays failed.
  result<void> feed(bytes_view piece, bool complete, handler& h);

  bool failed() const noexcept { return static_cast<bool>(error_); }
  std::uint64_t bytes_seen() const noexcept { return bytes_seen_; }

 private:
  result<void> fail(std::error_code ec);
  result<void> try_section_start(handler& h, bool& need_more);

  std::size_t max_section_bytes_;
  byte_buffer pending_;             // bytes of a section not complete yet
  std::uint64_t payload_left_ = 0;  // of the streamed section in progress
  bool in_payload_ = false;
  std::error_code error_;
  std::uint64_t bytes_seen_ = 0;
};

// --- Section encoding helpers ----------------------------------------------------------------

// Appends the 8-byte prefix of a data section holding `length` payload bytes (the payload is
// appended by the caller): 0x00 0x53 0x75 0xb0 <length:be32>.
void append_data_section_prefix(byte_buffer& out, std::uint32_t length);
// Appends the 8-byte prefix of an amqp-value binary of `length` bytes: 0x00 0x53 0x77 0xb0 len.
void append_value_binary_prefix(byte_buffer& out, std::uint32_t length);
// Appends an amqp-value null section (an empty body).
void append_value_null(byte_buffer& out);

// A message-id / correlation-id value (part 3 §3.2.4: ulong, uuid, binary or string).
struct message_id {
  enum class kind : std::uint8_t { none, ulong, uuid, binary, string };
  kind type = kind::none;
  std::uint64_t number = 0;
  std::array<std::uint8_t, 16> uuid{};
  std::string bytes;  // binary or string contents

  static message_id from_ulong(std::uint64_t v) {
    message_id id;
    id.type = kind::ulong;
    id.number = v;
    return id;
  }
  static message_id from_string(std::string_view s) {
    message_id id;
    id.type = kind::string;
    id.bytes = s;
    return id;
  }
  bool operator==(const message_id&) const = default;
  std::string to_string() const;  // for logs
};

// The properties fields the adaptors use. Views into the section bytes.
struct message_properties {
  message_id message_id_value;
  std::optional<std::string_view> to;
  std::optional<std::string_view> subject;
  std::optional<std::string_view> reply_to;
  message_id correlation_id;
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> group_id;
};

// Decodes a properties section (descriptor included). Integers of any width that are not
// negative are accepted as ulong ids (rhea sends JavaScript numbers as whatever fits).
result<message_properties> decode_properties(bytes_view section_bytes);

// Encodes a properties section with the fields that are set (trailing unset fields omitted).
struct properties_fields {
  const message_id* message_id_value = nullptr;
  std::optional<std::string_view> to;
  std::optional<std::string_view> subject;
  std::optional<std::string_view> reply_to;
  const message_id* correlation_id = nullptr;
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> group_id;
};
void append_properties(byte_buffer& out, const properties_fields& fields);

}  // namespace fogmesh::proxy

template <>
struct std::is_error_code_enum<fogmesh::proxy::stream_errc> : std::true_type {};
