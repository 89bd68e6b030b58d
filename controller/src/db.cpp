#include "db.hpp"

#include <mutex>
#include <unordered_set>

#include "fogmesh/common/json_text.hpp"
#include "fogmesh/common/log.hpp"
#include "migrations.hpp"

namespace fogmesh::controller {

db_pool::db_pool(std::string conninfo, int size) : conninfo_(std::move(conninfo)), size_(size) {}

void query_canceller::attach(pqxx::connection_base& conn) {
  std::lock_guard lock(mutex_);
  if (cancelled_) throw request_abandoned();
  conn_ = &conn;
}

void query_canceller::detach() {
  std::lock_guard lock(mutex_);
  if (sent_ && conn_ != nullptr) conn_->disconnect();
  conn_ = nullptr;
}

void query_canceller::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (conn_ == nullptr || sent_) return;
  sent_ = true;
  try {
    conn_->cancel_query();
  } catch (const std::exception& e) {
    // The statement then runs to its end, as before; the request's answer is dropped anyway.
    fogmesh::log::get("controller.db")
        ->warn("cancelling an abandoned request's query: {}", e.what());
  }
}

bool query_canceller::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

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
    return lease(*this, std::make_unique<pooled_connection>(conninfo_));
  } catch (...) {
    lock.lock();
    --open_;
    cv_.notify_one();
    throw;
  }
}

void db_pool::release(std::unique_ptr<pooled_connection> conn) {
  std::lock_guard lock(mutex_);
  if (conn->is_open()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

namespace {

std::mutex pooled_mutex;
std::unordered_set<const pqxx::connection_base*> pooled_set;

}  // namespace

pooled_connection::pooled_connection(const std::string& conninfo) : pqxx::connection(conninfo) {
  // JIT compiling a query costs tens of milliseconds and pays off only for long analytic
  // queries; a list of a few thousand fogs crossed its cost threshold and took 47 ms longer.
  try {
    set_variable("jit", "off");
  } catch (const pqxx::sql_error&) {
    // A server without the setting (before PostgreSQL 11) has no JIT either.
  }
  std::lock_guard lock(pooled_mutex);
  pooled_set.insert(this);
}

pooled_connection::~pooled_connection() {
  std::lock_guard lock(pooled_mutex);
  pooled_set.erase(this);
}

pooled_connection* pooled_connection::find(const pqxx::connection_base& conn) {
  std::lock_guard lock(pooled_mutex);
  if (pooled_set.count(&conn) == 0) return nullptr;
  // Only pooled_connection constructors insert, so the pointer is one.
  return static_cast<pooled_connection*>(const_cast<pqxx::connection_base*>(&conn));
}

std::string prepared_name(pqxx::connection_base& conn, const std::string& sql) {
  static constexpr size_t max_statements = 400;
  auto* pooled = pooled_connection::find(conn);
  if (pooled == nullptr) return {};  // migrations, the listener: one-off statements
  auto& names = pooled->statements;
  if (auto it = names.find(sql); it != names.end()) return it->second;
  if (names.size() >= max_statements) return {};
  std::string name = "s" + std::to_string(names.size());
  conn.prepare(name, sql);
  names.emplace(sql, name);
  return name;
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

namespace {

enum class json_kind { string, number, boolean, json, timestamp, skip };

json_kind kind_of(pqxx::oid type) {
  switch (type) {
    case 16:
      return json_kind::boolean;  // bool
    case 20:
    case 21:
    case 23:
    case 26:
    case 700:
    case 701:
    case 1700:  // ints, floats
      return json_kind::number;
    case 114:
    case 3802:
      return json_kind::json;  // json, jsonb
    case 1114:
    case 1184:
      return json_kind::timestamp;  // timestamp(tz)
    default:
      return json_kind::string;
  }
}

}  // namespace

json_row_writer::json_row_writer(const pqxx::result& r) {
  const auto columns = static_cast<size_t>(r.columns());
  keys_.resize(columns);
  kinds_.resize(columns);
  for (size_t c = 0; c < columns; ++c) {
    const char* name = r.column_name(static_cast<pqxx::row::size_type>(c));
    auto kind = name[0] == '_' ? json_kind::skip
                               : kind_of(r.column_type(static_cast<pqxx::row::size_type>(c)));
    kinds_[c] = static_cast<int>(kind);
    append_json_string(keys_[c], name);
    keys_[c] += ':';
  }
}

void json_row_writer::append(std::string& out, const pqxx::row& row) const {
  out += '{';
  bool first = true;
  for (size_t c = 0; c < keys_.size(); ++c) {
    auto kind = static_cast<json_kind>(kinds_[c]);
    if (kind == json_kind::skip) continue;
    if (!first) out += ',';
    first = false;
    out += keys_[c];
    const auto& f = row[static_cast<pqxx::row::size_type>(c)];
    if (f.is_null()) {
      out += "null";
      continue;
    }
    std::string_view v(f.c_str(), f.size());
    switch (kind) {
      case json_kind::boolean:
        out += v == "t" ? "true" : "false";
        break;
      case json_kind::number:
        // row_to_json quotes what JSON has no number for.
        if (v == "NaN" || v == "Infinity" || v == "-Infinity") {
          append_json_string(out, v);
        } else {
          out += v;
        }
        break;
      case json_kind::json:
        out += v;
        break;
      case json_kind::timestamp: {
        // "2026-11-26 00:10:00.12+00" -> "2026-11-26T00:10:00.12+00:00" (ISO DateStyle)
        std::string t(v);
        if (auto sp = t.find(' '); sp != std::string::npos) t[sp] = 'T';
        if (t.size() > 3 && (t[t.size() - 3] == '+' || t[t.size() - 3] == '-') &&
            t.find('T') != std::string::npos && t.size() - 3 > t.find('T'))
          t += ":00";
        append_json_string(out, t);
        break;
      }
      default:
        append_json_string(out, v);
        break;
    }
  }
  out += '}';
}

std::string result_to_json_array(const pqxx::result& r) {
  json_row_writer writer(r);
  std::string out = "[";
  out.reserve(r.size() * static_cast<size_t>(r.columns()) * 24 + 2);
  for (const auto& row : r) {
    if (out.size() > 1) out += ',';
    writer.append(out, row);
  }
  out += ']';
  return out;
}

}  // namespace fogmesh::controller
