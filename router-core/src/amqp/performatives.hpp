// AMQP 1.0 performatives (part 2 §2.7), SASL frames (part 5 §5.3.3), error and delivery-state
// types. Decoding never allocates for the hot performatives (transfer, flow, disposition): their
// variable fields are views into the frame, valid while the frame's bytes are. The rare ones
// (open, begin, attach, detach, end, close) own their strings because the engine keeps them.
//
// Optional/omitted fields: a field the peer left null has the spec's default applied (e.g.
// attach.snd_settle_mode = mixed) or is a std::nullopt when the spec gives no default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "amqp/codec.hpp"

namespace fogmesh::router::amqp {

// Descriptor codes (domain 0x00000000).
namespace descriptor_code {
inline constexpr std::uint64_t open = 0x10, begin = 0x11, attach = 0x12, flow = 0x13;
inline constexpr std::uint64_t transfer = 0x14, disposition = 0x15, detach = 0x16, end = 0x17;
inline constexpr std::uint64_t close = 0x18;
inline constexpr std::uint64_t error = 0x1d;
inline constexpr std::uint64_t received = 0x23, accepted = 0x24, rejected = 0x25;
inline constexpr std::uint64_t released = 0x26, modified = 0x27;
inline constexpr std::uint64_t source = 0x28, target = 0x29;
inline constexpr std::uint64_t delete_on_close = 0x2b, delete_on_no_links = 0x2c;
inline constexpr std::uint64_t delete_on_no_messages = 0x2d, delete_on_no_links_or_messages = 0x2e;
inline constexpr std::uint64_t sasl_mechanisms = 0x40, sasl_init = 0x41, sasl_challenge = 0x42;
inline constexpr std::uint64_t sasl_response = 0x43, sasl_outcome = 0x44;
inline constexpr std::uint64_t header = 0x70, delivery_annotations = 0x71;
inline constexpr std::uint64_t message_annotations = 0x72, properties = 0x73;
inline constexpr std::uint64_t application_properties = 0x74, data = 0x75, amqp_sequence = 0x76;
inline constexpr std::uint64_t amqp_value = 0x77, footer = 0x78;
}  // namespace descriptor_code

enum class role : bool { sender = false, receiver = true };
enum class sender_settle_mode : std::uint8_t { unsettled = 0, settled = 1, mixed = 2 };
enum class receiver_settle_mode : std::uint8_t { first = 0, second = 1 };

struct error {
  std::string condition;      // symbol, e.g. "amqp:connection:framing-error"
  std::string description;    // may be empty
  byte_buffer info;           // encoded map (fields), empty when absent
};

// Outcomes and the received state. `none` = the field was absent/null.
struct delivery_state {
  enum class kind : std::uint8_t { none, received, accepted, rejected, released, modified };
  kind type = kind::none;
  // rejected
  std::optional<error> rejected_error;
  // modified
  bool delivery_failed = false;
  bool undeliverable_here = false;
  bytes_view message_annotations;  // encoded map, view into the frame; empty when absent
  // received
  std::uint32_t section_number = 0;
  std::uint64_t section_offset = 0;
};

struct terminus {
  std::optional<std::string> address;
  std::uint32_t durable = 0;                   // terminus-durability: none
  std::string expiry_policy = "session-end";   // symbol
  std::uint32_t timeout = 0;
  bool dynamic = false;
  byte_buffer dynamic_node_properties;         // encoded map, empty when absent
  // source only
  std::string distribution_mode;               // symbol "move"/"copy", empty when absent
  byte_buffer filter;                          // encoded map, empty when absent
  byte_buffer default_outcome;                 // encoded described outcome, empty when absent
  std::vector<std::string> outcomes;
  // both
  std::vector<std::string> capabilities;
};

struct open {
  std::string container_id;                    // mandatory
  std::string hostname;
  std::uint32_t max_frame_size = 0xffffffff;
  std::uint16_t channel_max = 0xffff;
  std::optional<std::uint32_t> idle_timeout_ms;
  std::vector<std::string> outgoing_locales, incoming_locales;
  std::vector<std::string> offered_capabilities, desired_capabilities;
  byte_buffer properties;                      // encoded map, empty when absent
};

struct begin {
  std::optional<std::uint16_t> remote_channel;
  std::uint32_t next_outgoing_id = 0;          // mandatory
  std::uint32_t incoming_window = 0;           // mandatory
  std::uint32_t outgoing_window = 0;           // mandatory
  std::uint32_t handle_max = 0xffffffff;
  std::vector<std::string> offered_capabilities, desired_capabilities;
  byte_buffer properties;
};

struct attach {
  std::string name;                            // mandatory
  std::uint32_t handle = 0;                    // mandatory
  amqp::role role = role::sender;              // mandatory
  sender_settle_mode snd_settle_mode = sender_settle_mode::mixed;
  receiver_settle_mode rcv_settle_mode = receiver_settle_mode::first;
  std::optional<terminus> source;              // nullopt when null
  std::optional<terminus> target;              // nullopt when null
  byte_buffer unsettled;                       // encoded map, empty when absent
  bool incomplete_unsettled = false;
  std::optional<std::uint32_t> initial_delivery_count;
  std::optional<std::uint64_t> max_message_size;
  std::vector<std::string> offered_capabilities, desired_capabilities;
  byte_buffer properties;
};

struct flow {
  std::optional<std::uint32_t> next_incoming_id;
  std::uint32_t incoming_window = 0;           // mandatory
  std::uint32_t next_outgoing_id = 0;          // mandatory
  std::uint32_t outgoing_window = 0;           // mandatory
  std::optional<std::uint32_t> handle;
  std::optional<std::uint32_t> delivery_count;
  std::optional<std::uint32_t> link_credit;
  std::optional<std::uint32_t> available;
  bool drain = false;
  bool echo = false;
  bytes_view properties;                       // encoded map view, empty when absent
};

struct transfer {
  std::uint32_t handle = 0;                    // mandatory
  std::optional<std::uint32_t> delivery_id;
  std::optional<bytes_view> delivery_tag;      // view into the frame
  std::optional<std::uint32_t> message_format;
  std::optional<bool> settled;
  bool more = false;
  std::optional<receiver_settle_mode> rcv_settle_mode;
  delivery_state state;
  bool resume = false;
  bool aborted = false;
  bool batchable = false;
};

struct disposition {
  amqp::role role = role::sender;              // mandatory
  std::uint32_t first = 0;                     // mandatory
  std::optional<std::uint32_t> last;
  bool settled = false;
  delivery_state state;
  bool batchable = false;
};

struct detach {
  std::uint32_t handle = 0;                    // mandatory
  bool closed = false;
  std::optional<error> err;
};

struct end {
  std::optional<error> err;
};

struct close {
  std::optional<error> err;
};

struct sasl_mechanisms {
  std::vector<std::string> mechanisms;         // mandatory (symbol or array of symbols)
};
struct sasl_init {
  std::string mechanism;                       // mandatory
  std::optional<byte_buffer> initial_response;
  std::string hostname;
};
struct sasl_challenge {
  byte_buffer challenge;
};
struct sasl_response {
  byte_buffer response;
};
struct sasl_outcome {
  enum class code_t : std::uint8_t { ok = 0, auth = 1, sys = 2, sys_perm = 3, sys_temp = 4 };
  code_t code = code_t::ok;
  byte_buffer additional_data;
};

using performative =
    std::variant<open, begin, attach, flow, transfer, disposition, detach, end, close>;
using sasl_frame =
    std::variant<sasl_mechanisms, sasl_init, sasl_challenge, sasl_response, sasl_outcome>;

// Decodes one described performative (descriptor + list). Unknown descriptor → invalid_descriptor;
// a mandatory field missing → missing_field. Extra trailing list elements are ignored
// (forward compatibility, as the spec asks).
result<performative> decode_performative(decoder& in);
// The same, decoding into `out` (whose alternative is replaced): lets a caller that already
// holds a performative skip the moves of a returned one.
result<void> decode_performative(decoder& in, performative& out);
namespace detail {
// decode_performative(in, out) for the engine's per-frame path: codec_errc{} on success, so a
// success costs no std::error_code construction.
codec_errc decode_performative_into(decoder& in, performative& out);
}  // namespace detail
// The numeric code of a descriptor; symbolic descriptors ("amqp:open:list" etc.) are mapped to
// their codes. nullopt for an unknown symbol.
std::optional<std::uint64_t> resolve_descriptor(const descriptor& d) noexcept;
result<sasl_frame> decode_sasl_frame(decoder& in);

// Decodes a delivery-state/outcome value (described or null) in place.
result<delivery_state> decode_delivery_state(decoder& in);
result<error> decode_error(decoder& in);

// Encoders append the described list, omitting trailing fields that hold their defaults.
void encode(encoder& out, const open& v);
void encode(encoder& out, const begin& v);
void encode(encoder& out, const attach& v);
void encode(encoder& out, const flow& v);
void encode(encoder& out, const transfer& v);
void encode(encoder& out, const disposition& v);
void encode(encoder& out, const detach& v);
void encode(encoder& out, const end& v);
void encode(encoder& out, const close& v);
void encode(encoder& out, const sasl_mechanisms& v);
void encode(encoder& out, const sasl_init& v);
void encode(encoder& out, const sasl_challenge& v);
void encode(encoder& out, const sasl_response& v);
void encode(encoder& out, const sasl_outcome& v);
void encode(encoder& out, const delivery_state& v);  // writes null for kind::none
void encode(encoder& out, const error& v);
void encode(encoder& out, const terminus& v, bool is_source);

}  // namespace fogmesh::router::amqp
