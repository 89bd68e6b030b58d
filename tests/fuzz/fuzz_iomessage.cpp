// Fuzzes the agent's ioMessage readers (ioFog binary v4, JSON, FlatBuffers). Each either
// returns an error or a message that re-encodes and decodes to itself.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "fogmesh/agent/iomessage.hpp"

using namespace fogmesh::agent;

namespace {
void check(bool condition) {
  if (!condition) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  if (auto d = decode_binary(bytes)) {
    auto again = encode_binary(d.message);
    check(again.has_value());
    auto d2 = decode_binary(*again);
    check(static_cast<bool>(d2) && d2.message == d.message);
  }
  if (auto d = decode_json(std::string_view(reinterpret_cast<const char*>(data), size))) {
    auto d2 = decode_json(encode_json(d.message));
    check(static_cast<bool>(d2) && d2.message == d.message);
  }
  if (auto d = decode_flatbuffer(bytes)) {
    auto d2 = decode_flatbuffer(encode_flatbuffer(d.message));
    check(static_cast<bool>(d2) && d2.message == d.message);
  }
  return 0;
}
