#pragma once
#include <string_view>

namespace fogmesh::router {
// The router's version string, reported in the open frame's properties and by --version.
std::string_view version() noexcept;
}  // namespace fogmesh::router
