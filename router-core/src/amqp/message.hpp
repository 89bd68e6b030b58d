// Message sections (part 3 §3.2) as the router sees them: it never decodes a body. scan_message
// finds the bare sections it routes on (header for priority, message-annotations for router
// annotations, properties for `to`/`reply-to`) in a possibly partial message prefix, returning
// views. rewrite helpers build a new message-annotations section from the old one.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "amqp/codec.hpp"

namespace fogmesh::router::amqp {

struct message_scan {
  // Each section's bytes (descriptor included), empty when the section is absent.
  bytes_view header;
  bytes_view delivery_annotations;
  bytes_view message_annotations;
  bytes_view properties;
  bytes_view application_properties;
  // Offset of the first byte after message-annotations (where the router's rewritten annotations
  // stop and the untouched remainder starts): properties, app-properties, body, footer.
  std::size_t after_annotations = 0;
  // Offset of the first byte after properties (start of app-properties or body).
  std::size_t after_properties = 0;

  std::uint8_t priority = 4;  // header.priority (default 4)
  bool durable = false;
  std::optional<std::string_view> to;        // properties.to (address or string)
  std::optional<std::string_view> reply_to;  // properties.reply-to
  // True once the scan saw everything up to and including properties (or knows properties is
  // absent because a later section or the end of a complete message was reached).
  bool routing_complete = false;
};

// Scans a message prefix. `complete` says whether data is the whole message (so a missing
// properties section means "absent" rather than "not yet received"). Malformed sections → error;
// an incomplete prefix returns routing_complete = false.
result<message_scan> scan_message(bytes_view data, bool complete);

// The priority a router gives a message (qdrouterd's range): header.priority capped at 9, or 4
// when the message has no header (or one not received yet, or malformed — routing decides
// about malformed messages, not this).
inline constexpr std::uint8_t default_priority = 4;
inline constexpr std::uint8_t max_priority = 9;
std::uint8_t message_priority(bytes_view data);

// Router annotations carried in message-annotations (qdrouterd names).
inline constexpr std::string_view annotation_ingress = "x-opt-qd.ingress";
inline constexpr std::string_view annotation_trace = "x-opt-qd.trace";
inline constexpr std::string_view annotation_to = "x-opt-qd.to";
inline constexpr std::string_view annotation_phase = "x-opt-qd.phase";

struct router_annotations {
  std::optional<std::string_view> ingress;
  std::vector<std::string_view> trace;
  std::optional<std::string_view> to_override;
  std::optional<std::int32_t> phase;
};

// Reads the router annotations from an encoded message-annotations section (descriptor + map).
// A section that is not a map, or keys that are not symbols, are tolerated (ignored).
result<router_annotations> read_router_annotations(bytes_view message_annotations_section);

// True when the section holds at least one key starting with "x-opt-qd.".
bool has_router_annotations(bytes_view message_annotations_section);

// Appends a message-annotations section: the user's annotations from `original` (all keys that
// do not start with "x-opt-qd."), then `add` (fields that are set). When the result would be an
// empty map, nothing is appended. Returns bytes appended.
std::size_t append_message_annotations(byte_buffer& out, bytes_view original,
                                       const router_annotations& add);

}  // namespace fogmesh::router::amqp
