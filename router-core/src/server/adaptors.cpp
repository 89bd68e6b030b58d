#include "server/adaptors.hpp"

#include <vector>

namespace fogmesh::router {

namespace {

std::vector<adaptor_type>& registry() {
  static std::vector<adaptor_type> types;
  return types;
}

}  // namespace

void register_adaptor(adaptor_type type) {
  for (auto& t : registry()) {
    if (t.entity == type.entity) {
      t = std::move(type);
      return;
    }
  }
  registry().push_back(std::move(type));
}

const adaptor_type* find_adaptor(std::string_view entity) {
  for (const auto& t : registry()) {
    if (t.entity == entity) return &t;
  }
  return nullptr;
}

}  // namespace fogmesh::router
