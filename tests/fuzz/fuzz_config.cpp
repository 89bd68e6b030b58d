// parse_config on arbitrary bytes: config_error is the only allowed outcome besides success.
// Anything else (another exception type, a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fogmesh/router/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const fogmesh::router::router_config cfg = fogmesh::router::parse_config(text, "fuzz.conf");
    // Loaded configs must respect the invariants the router relies on.
    for (const auto& l : cfg.listeners) {
      if (l.max_frame_size < 512 || !fogmesh::router::resolve_port(l.port)) std::abort();
    }
    for (const auto& a : cfg.addresses) {
      if (a.prefix.empty() == a.pattern.empty()) std::abort();  // exactly one is set
      if (a.priority && (*a.priority < 0 || *a.priority > 9)) std::abort();
    }
    for (const auto& r : cfg.link_routes) {
      if (r.prefix.empty() == r.pattern.empty()) std::abort();
    }
    for (const auto& l : cfg.auto_links) {
      if (l.address.empty() || l.connection.empty() == l.container_id.empty()) std::abort();
    }
  } catch (const fogmesh::router::config_error&) {
  }
  return 0;
}
