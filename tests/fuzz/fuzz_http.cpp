// libFuzzer target: the proxy's HTTP/1.x parser (requests and responses, the input split in two
// at a position taken from the first byte), the HTTP -> AMQP head mapping of every parsed
// request, and the same bytes read as an AMQP message by the AMQP -> HTTP mapping.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fogmesh/proxy/http_mapping.hpp"
#include "fogmesh/proxy/http_parser.hpp"

namespace {

using namespace fogmesh::proxy;

struct checking_handler final : http::parser_handler {
  std::uint64_t expected_body = 0;
  std::uint64_t body = 0;
  bool length_framed = false;
  http::parse_action on_head(const http::message_head& h) override {
    body = 0;
    length_framed = h.framing == http::body_framing::content_length;
    expected_body = h.content_length;
    if (h.is_request) {
      if (h.method.empty() || h.target.empty()) __builtin_trap();
      // Every request the parser accepts must map to a message whose properties read back.
      byte_buffer out;
      append_request_head(out, h, {"reply", message_id::from_ulong(1), std::nullopt});
      auto p = decode_properties(out);
      if (!p || p->subject != h.method) __builtin_trap();
    } else if (h.status < 100 || h.status > 599) {
      __builtin_trap();
    }
    return http::parse_action::proceed;
  }
  http::parse_action on_body(http::bytes_view d) override {
    if (d.empty()) __builtin_trap();
    body += d.size();
    if (length_framed && body > expected_body) __builtin_trap();
    return http::parse_action::proceed;
  }
  http::parse_action on_complete() override {
    if (length_framed && body != expected_body) __builtin_trap();
    return http::parse_action::proceed;
  }
};

void parse_split(http::parser::mode mode, const std::uint8_t* data, std::size_t size,
                 std::size_t split) {
  http::parser_limits limits;
  limits.max_head_bytes = 512;  // small, so the fuzzer reaches the limit paths
  limits.max_headers = 16;
  http::parser p(mode, limits);
  checking_handler h;
  std::string pending(reinterpret_cast<const char*>(data), split);
  std::size_t used = p.parse({reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()}, h);
  if (used > pending.size()) __builtin_trap();
  pending.erase(0, used);
  pending.append(reinterpret_cast<const char*>(data) + split, size - split);
  used = p.parse({reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()}, h);
  if (used > pending.size()) __builtin_trap();
  if (p.error() && p.parse({data, size}, h) != 0) __builtin_trap();  // errors are sticky
  (void)p.finish(h);
  (void)http::status_for(p.error());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split = data[0] % size;
  parse_split(http::parser::mode::request, data + 1, size - 1, split == 0 ? 0 : split - 1);
  parse_split(http::parser::mode::response, data + 1, size - 1, split == 0 ? 0 : split - 1);

  for (auto kind : {message_to_http::kind::request, message_to_http::kind::response}) {
    message_to_http conv(kind, {});
    std::string out;
    const bytes_view in(data, size);
    (void)conv.feed(in.first(split), false, out);
    (void)conv.feed(in.subspan(split), true, out);
  }
  return 0;
}
