// libFuzzer target: a byte stream as the router reads it from a socket. Optional protocol header,
// then frames (max-frame-size 64 KiB) decoded as AMQP or SASL bodies; transfer payloads are
// scanned as messages. Whatever decodes must re-encode and decode again.
#include <cstddef>
#include <cstdint>
#include <variant>

#include "amqp/frame.hpp"
#include "amqp/message.hpp"

namespace {

using namespace fogmesh::router::amqp;

void check_message(bytes_view payload) {
  for (bool complete : {false, true}) {
    auto scan = scan_message(payload, complete);
    if (!scan) continue;
    if (scan->routing_complete && scan->after_properties > payload.size()) __builtin_trap();
    if (!scan->message_annotations.empty()) {
      (void)read_router_annotations(scan->message_annotations);
      (void)has_router_annotations(scan->message_annotations);
    }
  }
}

template <class Decoded, class Decode>
void round_trip(const Decoded& decoded, std::uint8_t type, Decode decode) {
  byte_buffer out;
  std::visit([&](const auto& body) { append_frame(out, 1, body, {}, type); }, decoded);
  auto frame = parse_frame(out, 0xffffffff);
  if (!frame || !*frame) __builtin_trap();
  if (!decode(**frame)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bytes_view in(data, size);
  if (auto header = parse_protocol_header(in); header && *header) in = in.subspan(8);
  while (!in.empty()) {
    auto parsed = parse_frame(in, 64 * 1024);
    if (!parsed || !*parsed) break;
    const frame_view& frame = **parsed;
    if (frame.size > in.size() || frame.body.size() > frame.size) __builtin_trap();
    if (frame.type == frame_type_amqp && !frame.body.empty()) {
      auto decoded = decode_amqp_frame(frame);
      if (decoded) {
        if (std::holds_alternative<transfer>(decoded->body)) check_message(decoded->payload);
        round_trip(decoded->body, frame_type_amqp,
                   [](const frame_view& f) { return decode_amqp_frame(f).has_value(); });
      }
    } else if (frame.type == frame_type_sasl) {
      auto decoded = decode_sasl_body(frame);
      if (decoded) {
        round_trip(*decoded, frame_type_sasl,
                   [](const frame_view& f) { return decode_sasl_body(f).has_value(); });
      }
    }
    in = in.subspan(frame.size);
  }
  return 0;
}
