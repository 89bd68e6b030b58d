#include "db.hpp"

#include "fogmesh/common/log.hpp"
#include "migrations.hpp"

namespace fogmesh::controller {

db_pool::db_pool(std::string conninfo, int size) : conninfo_(std::move(conninfo)), size_(size) {}

db_pool::lease::~lease() {
  if (conn_ && pool_ != nullptr) pool_->release(std::move(conn_));
}

db_pool::lease db_pool::acquire() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return lease(*this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  try {
    return lease(*this, std::make_unique<pqxx::connection>(conninfo_));
  } catch (...) {
    lock.lock();
    --open_;
    cv_.notify_one();
    throw;
  }
}

void db_pool::release(std::unique_ptr<pqxx::connection> conn) {
  std::lock_guard lock(mutex_);
  if (conn->is_open()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

int apply_migrations(pqxx::connection& conn) {
  static auto logger = fogmesh::log::get("controller.db");
  pqxx::work tx(conn);
  // Arbitrary constant key ("fogm"): serialises migration among replicas sharing a database.
  tx.exec("SELECT pg_advisory_xact_lock(1718576493)");
  tx.exec0(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT "
      "NULL, applied_at timestamptz NOT NULL DEFAULT now())");
  int current = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
  int applied = 0;
  for (const auto& m : migrations()) {
    if (m.version <= current) continue;
    logger->info("applying migration {}", m.name);
    tx.exec(std::string(m.sql));
    tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                    std::string(m.name));
    ++applied;
  }
  tx.commit();
  return applied;
}

}  // namespace fogmesh::controller
