// A small libpqxx connection pool. Requests run on worker threads, each borrowing a connection
// for the duration of one request (one transaction).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace fogmesh::controller {

// A pool connection and the statements it has prepared (SQL text -> name). Used by one thread
// at a time, like the connection.
struct pooled_connection : pqxx::connection {
  explicit pooled_connection(const std::string& conninfo);
  ~pooled_connection();
  pooled_connection(const pooled_connection&) = delete;
  pooled_connection& operator=(const pooled_connection&) = delete;
  // Pool connections by address (libpqxx's connection_base is not polymorphic, so a
  // transaction's connection cannot be cast back); null for others.
  static pooled_connection* find(const pqxx::connection_base& conn);

  std::unordered_map<std::string, std::string> statements;
};

// Cancels the query of a request whose client hung up (server.cpp watches the socket while a
// worker runs the request). Without it an abandoned request ran its statements to the end,
// holding a pool connection and possibly row locks for nobody.
class query_canceller {
 public:
  // The worker's connection while it runs the request. Throws request_abandoned when the client
  // is gone already: the request is not started at all.
  void attach(pqxx::connection_base& conn);
  // Ends the attachment. A connection that was sent a cancel is closed (the pool drops it): the
  // server may deliver the cancel late, and it must not hit the pool's next request.
  void detach();
  // Any thread. PQcancel (cancel_query) only reads the backend's pid and key, which do not
  // change while the worker's statement runs, so it is safe beside it; the mutex keeps the
  // connection attached meanwhile.
  void cancel();
  bool cancelled() const;

 private:
  mutable std::mutex mutex_;
  pqxx::connection_base* conn_ = nullptr;
  bool cancelled_ = false;
  bool sent_ = false;
};

struct request_abandoned : std::runtime_error {
  request_abandoned() : std::runtime_error("client went away before the request ran") {}
};

// Attaches a request's canceller (if any) to its connection for the scope's lifetime.
class cancel_scope {
 public:
  cancel_scope(query_canceller* c, pqxx::connection_base& conn) : c_(c) {
    if (c_ != nullptr) c_->attach(conn);
  }
  ~cancel_scope() {
    if (c_ != nullptr) c_->detach();
  }
  cancel_scope(const cancel_scope&) = delete;
  cancel_scope& operator=(const cancel_scope&) = delete;

 private:
  query_canceller* c_;
};

class db_pool {
 public:
  db_pool(std::string conninfo, int size);

  class lease {
   public:
    lease(db_pool& pool, std::unique_ptr<pooled_connection> conn)
        : pool_(&pool), conn_(std::move(conn)) {}
    lease(lease&& other) noexcept = default;
    lease& operator=(lease&&) = delete;
    ~lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }

   private:
    db_pool* pool_;
    std::unique_ptr<pooled_connection> conn_;
  };

  // Blocks while all connections are lent out. Opens connections lazily; a broken connection is
  // dropped on return and replaced by the next acquire.
  lease acquire();
  const std::string& conninfo() const { return conninfo_; }

 private:
  void release(std::unique_ptr<pooled_connection> conn);

  std::string conninfo_;
  int size_;
  int open_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pooled_connection>> idle_;
};

}  // namespace fogmesh::controller

namespace fogmesh::controller {

// The name under which `sql` is a prepared statement of `conn`, registering it on first use
// (libpqxx sends the PREPARE lazily, on the first execution). Every statement used to be parsed and
// planned on each call: with short requests (the agents' polls and status reports, POST /iofog's
// twenty-odd statements) parse and plan were most of PostgreSQL's CPU. Empty when the
// connection already holds too many: SQL built from request input (list filters) must not grow
// a connection's statement cache without bound.
std::string prepared_name(pqxx::connection_base& conn, const std::string& sql);

// tx.exec_params / exec_params0 / exec_params1, through a per-connection prepared statement.
template <class... Args>
pqxx::result pexec(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  std::string name = prepared_name(tx.conn(), sql);
  if (name.empty()) return tx.exec_params(sql, std::forward<Args>(args)...);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}
template <class... Args>
pqxx::result pexec0(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  auto r = pexec(tx, sql, std::forward<Args>(args)...);
  if (!r.empty())
    throw pqxx::unexpected_rows("Expected no rows from query, got " + std::to_string(r.size()) +
                                ".");
  return r;
}
template <class... Args>
pqxx::row pexec1(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  auto r = pexec(tx, sql, std::forward<Args>(args)...);
  if (r.size() != 1)
    throw pqxx::unexpected_rows("Expected 1 row from query, got " + std::to_string(r.size()) + ".");
  return r[0];
}

// A result as a JSON array of objects keyed by column name, in row order, the values typed as
// PostgreSQL's row_to_json would (numbers, booleans, json/jsonb as is, timestamps in ISO 8601,
// NULL as null, the rest as strings). Much cheaper than json_agg over many rows in the server.
// Columns whose name starts with '_' (sort keys and the like) are left out.
std::string result_to_json_array(const pqxx::result& r);

// The same, one row at a time: the JSON object of a row of `r` (the result the writer was made
// for), appended to `out`.
class json_row_writer {
 public:
  explicit json_row_writer(const pqxx::result& r);
  void append(std::string& out, const pqxx::row& row) const;

 private:
  std::vector<std::string> keys_;  // the quoted column name and a colon
  std::vector<int> kinds_;         // db.cpp's json_kind
};

}  // namespace fogmesh::controller
