// Small helpers shared by the Kubernetes components.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fogmesh::k8s {

std::optional<std::string> base64_decode(std::string_view in);  // nullopt when malformed
std::string base64_encode(std::string_view in);
std::string sha256_hex(std::string_view in);

}  // namespace fogmesh::k8s
