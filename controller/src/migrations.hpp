// Schema migrations compiled in from schemas/sql/ (see controller/CMakeLists.txt).
#pragma once

#include <pqxx/connection>
#include <string_view>
#include <vector>

namespace fogmesh::controller {

struct migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// All migrations in version order (generated).
const std::vector<migration>& migrations();

// Applies the migrations not yet recorded in schema_migrations, all in one transaction under an
// advisory lock, so replicas starting together do not race. Returns how many were applied.
int apply_migrations(pqxx::connection& conn);

}  // namespace fogmesh::controller
