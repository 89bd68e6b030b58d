// A small libpqxx connection pool. Requests run on worker threads, each borrowing a connection
// for the duration of one request (one transaction).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace fogmesh::controller {

class db_pool {
 public:
  db_pool(std::string conninfo, int size);

  class lease {
   public:
    lease(db_pool& pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(&pool), conn_(std::move(conn)) {}
    lease(lease&& other) noexcept = default;
    lease& operator=(lease&&) = delete;
    ~lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }

   private:
    db_pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  // Blocks while all connections are lent out. Opens connections lazily; a broken connection is
  // dropped on return and replaced by the next acquire.
  lease acquire();
  const std::string& conninfo() const { return conninfo_; }

 private:
  void release(std::unique_ptr<pqxx::connection> conn);

  std::string conninfo_;
  int size_;
  int open_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
};

}  // namespace fogmesh::controller

namespace fogmesh::controller {

// A result as a JSON array of objects keyed by column name, in row order, the values typed as
// PostgreSQL's row_to_json would (numbers, booleans, json/jsonb as is, timestamps in ISO 8601,
// NULL as null, the rest as strings). Much cheaper than json_agg over many rows in the server.
// Columns whose name starts with '_' (sort keys and the like) are left out.
std::string result_to_json_array(const pqxx::result& r);

}  // namespace fogmesh::controller
