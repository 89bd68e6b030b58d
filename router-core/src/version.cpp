#include "fogmesh/router/version.hpp"

namespace fogmesh::router {
std::string_view version() noexcept { return "0.1.0"; }
}  // namespace fogmesh::router
