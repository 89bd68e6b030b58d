// libFuzzer target: message bytes (a transfer payload) through the router's message helpers, and
// the input as a message-annotations section on its own.
#include <cstddef>
#include <cstdint>

#include "amqp/message.hpp"

namespace {

using namespace fogmesh::router::amqp;

// Rewriting annotations must always yield a section that reads back with our values.
void check_rewrite(bytes_view original) {
  router_annotations add;
  add.ingress = "0/fuzz-router";
  add.trace = {"0/a", "0/fuzz-router"};
  add.phase = 1;
  byte_buffer out{0x42};
  const std::size_t n = append_message_annotations(out, original, add);
  if (n != out.size() - 1) __builtin_trap();
  auto back = read_router_annotations(bytes_view(out).subspan(1));
  if (!back || back->ingress != add.ingress || back->trace != add.trace || back->phase != 1 ||
      back->to_override) {
    __builtin_trap();
  }
  if (!has_router_annotations(bytes_view(out).subspan(1))) __builtin_trap();
  auto scan = scan_message(bytes_view(out).subspan(1), true);
  if (!scan || scan->message_annotations.size() != n) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bytes_view in(data, size);
  for (bool complete : {false, true}) {
    auto scan = scan_message(in, complete);
    if (!scan) continue;
    if (scan->after_annotations > size || scan->after_properties > size) __builtin_trap();
    if (!scan->message_annotations.empty()) {
      (void)read_router_annotations(scan->message_annotations);
      check_rewrite(scan->message_annotations);
    }
  }
  (void)read_router_annotations(in);
  (void)has_router_annotations(in);
  check_rewrite(in);
  return 0;
}
