// The controller's request-handling core, independent of the HTTP transport: route table,
// authentication, per-request transaction, error mapping, change notification. server.cpp feeds
// it requests on worker threads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "db.hpp"
#include "fogmesh/controller/server.hpp"
#include "http.hpp"

namespace fogmesh::controller {

class app;

enum class auth_kind { none, user, agent };

struct request_context {
  const http_request& req;
  pqxx::work* work;  // null for routes that do not touch the database
  class app& app;
  std::vector<std::pair<std::string, std::string>> params;  // path parameters
  int64_t user_id = 0;                                      // set for auth_kind::user
  std::string fog_uuid;                                     // set for auth_kind::agent
  bool long_poll_final = false;
  std::string token_digest;  // set for authenticated routes

  const std::string& param(std::string_view name) const;
  pqxx::work& tx() { return *work; }
};

using handler_fn = std::function<http_response(request_context&)>;

struct route {
  route(std::string m, std::string p, auth_kind a, handler_fn h, std::string s, int ok = 200)
      : method(std::move(m)),
        pattern(std::move(p)),
        auth(a),
        handler(std::move(h)),
        summary(std::move(s)),
        success_status(ok) {}

  std::string method;
  std::string pattern;  // "/iofog/:uuid" (relative to /api/v3)
  auth_kind auth = auth_kind::none;
  handler_fn handler;
  std::string summary;  // for the OpenAPI document
  int success_status = 200;
  // Routes that never query (status, metrics, ...) skip the pool and the transaction.
  bool needs_db = true;
  std::vector<std::string> segments;
};

// Wakes long-polls. Keys are fog uuids; each key has a sequence that moves on every change, so a
// handler that read the sequence before querying can never miss a change committed after.
class change_notifier {
 public:
  // Moves with every key (notify and notify_all): views over many fogs long-poll on it, e.g. the
  // port manager's public ports, which change only together with some agent's router config.
  static constexpr const char* any_key = "*any-fog*";

  uint64_t sequence(const std::string& key);
  // Calls `wake` once (on the notifying thread, or at once if the sequence already moved).
  uint64_t subscribe(const std::string& key, uint64_t seen, std::function<void()> wake);
  void unsubscribe(uint64_t id);
  void notify(const std::string& key);
  void notify_all();
  size_t waiting();

 private:
  struct waiter {
    uint64_t id;
    std::string key;
    std::function<void()> wake;
  };
  std::mutex mutex_;
  uint64_t epoch_ = 0;  // bumped by notify_all
  uint64_t next_id_ = 1;
  std::unordered_map<std::string, uint64_t> sequences_;
  std::unordered_map<uint64_t, waiter> waiters_;
  std::unordered_multimap<std::string, uint64_t> by_key_;
};

// The agents' hot path: an agent polls GET /agent/config/changes every few seconds and almost
// always hears "nothing". After the database said so for a token, the answer is kept in memory
// until the fog's change sequence moves (a change row or a revoked token NOTIFYs, on every
// replica) or it is `max_age_ms` old (which also lets the database path refresh the token's
// sliding expiry and the fog's lastActive), and is given without a query.
class agent_poll_cache {
 public:
  static constexpr int64_t max_age_ms = 30000;
  // The fog whose empty answer is still valid for this token digest, if any.
  std::optional<std::string> fresh(const std::string& digest, change_notifier& notifier);
  void remember(const std::string& digest, const std::string& fog_uuid, uint64_t sequence);

 private:
  struct entry {
    std::string fog_uuid;
    uint64_t sequence;
    int64_t checked_ms;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  int64_t last_sweep_ms_ = 0;
};

class app {
 public:
  app(server_options options, db_pool& pool);
  ~app();

  // Never throws: every failure becomes a JSON error response.
  http_response handle(const http_request& req, bool long_poll_final);
  // Answers what needs no database (an agent's empty change poll known from the poll cache) on
  // the calling thread; nullopt: call handle() on a worker.
  std::optional<http_response> handle_fast(const http_request& req, bool long_poll_final);
  agent_poll_cache& poll_cache() { return poll_cache_; }

  // A held long-poll woken by a change. Thousands are woken at once by a change for every agent
  // (a registry); answered one by one, each took a pooled connection and four round trips, and
  // the last agents heard of the change seconds later. They queue here and a worker answers
  // them together with one query (drain_woken). `req` must stay alive until `done` is called;
  // `done` may run on any thread.
  struct woken_poll {
    const http_request* req;
    std::string fog;
    std::function<void(http_response)> done;
    int64_t woken_at_ms = 0;  // set by enqueue_woken
  };
  // True when the queue was empty: the caller then arranges one drain_woken() on a worker.
  bool enqueue_woken(woken_poll p);
  void drain_woken();
  uint64_t woken_batched() const { return woken_batched_.load(); }
  // Unix ms when the last woken long-poll's answer was handed to its connection, and the longest
  // time from a long-poll's wake-up to that (since start).
  int64_t woken_last_answered_ms() const { return woken_last_answered_ms_.load(); }
  int64_t woken_delay_max_ms() const { return woken_delay_max_ms_.load(); }

  route& add_route(route r);
  const std::vector<route>& routes() const { return routes_; }
  change_notifier& notifier() { return notifier_; }
  const server_options& options() const { return options_; }
  db_pool& pool() { return pool_; }

  // LISTEN on the change channel in a background thread (own connection, reconnects).
  void start_listener();
  void stop_listener();
  // Marks agents that stopped reporting as UNKNOWN. Runs on a worker thread.
  void run_liveness_job();

  int64_t started_at_ms() const { return started_at_ms_; }
  // Responses by status class (index status / 100), for /metrics.
  uint64_t responses(int status_class) const { return responses_[status_class % 6].load(); }

 private:
  http_response dispatch(const http_request& req, bool long_poll_final);
  http_response finish(http_response resp);
  void listener_loop();
  void answer_woken(std::vector<woken_poll>& batch);

  server_options options_;
  db_pool& pool_;
  std::vector<route> routes_;
  change_notifier notifier_;
  agent_poll_cache poll_cache_;
  int64_t started_at_ms_;
  std::thread listener_;
  std::atomic<bool> listener_stop_{false};
  int listener_wake_fd_ = -1;
  std::array<std::atomic<uint64_t>, 6> responses_{};
  std::mutex woken_mutex_;
  std::vector<woken_poll> woken_;
  std::atomic<uint64_t> woken_batched_{0};
  std::atomic<int64_t> woken_last_answered_ms_{0};
  std::atomic<int64_t> woken_delay_max_ms_{0};
};

// Route groups, one per api_*.cpp.
void register_general_routes(app& a);
void register_user_routes(app& a);
void register_iofog_routes(app& a);
void register_agent_routes(app& a);
void register_application_routes(app& a);
void register_catalog_routes(app& a);
void register_template_routes(app& a);
void register_edge_resource_routes(app& a);
void register_diagnostics_routes(app& a);

int64_t now_ms();

// GET /agent/config/changes: `?wait=N` in seconds (clamped to the server's maximum), the answer
// with every flag false.
int64_t long_poll_wait_seconds(const http_request& req, const server_options& options);
http_response no_changes_response();
// The GET /agent/config/changes answer from columns count, flags..., lastUpdated starting at
// `first` (api_agent.cpp), and the statement that gives them (after token digest and fog uuid)
// for many tokens at once.
http_response changes_response(const pqxx::row& row, int first);
const std::string& woken_polls_sql();

}  // namespace fogmesh::controller
