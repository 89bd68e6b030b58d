#include "app.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string_view>

#include "auth.hpp"
#include "fog_model.hpp"
#include "fogmesh/common/log.hpp"

namespace fogmesh::controller {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = fogmesh::log::get("controller.api");
  return l;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next > pos) out.emplace_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

constexpr std::string_view api_prefix = "/api/v3";

}  // namespace

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::string& request_context::param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  throw std::logic_error("route has no parameter " + std::string(name));
}

// --- change_notifier ---

uint64_t change_notifier::sequence(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = sequences_.find(key);
  return epoch_ + (it == sequences_.end() ? 0 : it->second);
}

uint64_t change_notifier::subscribe(const std::string& key, uint64_t seen,
                                    std::function<void()> wake) {
  std::unique_lock lock(mutex_);
  auto it = sequences_.find(key);
  uint64_t now = epoch_ + (it == sequences_.end() ? 0 : it->second);
  if (now != seen) {
    lock.unlock();
    wake();
    return 0;
  }
  uint64_t id = next_id_++;
  waiters_.emplace(id, waiter{id, key, std::move(wake)});
  by_key_.emplace(key, id);
  return id;
}

void change_notifier::unsubscribe(uint64_t id) {
  if (id == 0) return;
  std::lock_guard lock(mutex_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  auto range = by_key_.equal_range(it->second.key);
  for (auto k = range.first; k != range.second; ++k) {
    if (k->second == id) {
      by_key_.erase(k);
      break;
    }
  }
  waiters_.erase(it);
}

void change_notifier::notify(const std::string& key) {
  std::vector<std::function<void()>> to_wake;
  {
    std::lock_guard lock(mutex_);
    for (const std::string& k : {key, std::string(any_key)}) {
      ++sequences_[k];
      auto range = by_key_.equal_range(k);
      for (auto it = range.first; it != range.second; ++it) {
        auto w = waiters_.find(it->second);
        to_wake.push_back(std::move(w->second.wake));
        waiters_.erase(w);
      }
      by_key_.erase(range.first, range.second);
    }
  }
  for (auto& w : to_wake) w();
}

size_t change_notifier::waiting() {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

void change_notifier::notify_all() {
  std::vector<std::function<void()>> to_wake;
  {
    std::lock_guard lock(mutex_);
    ++epoch_;
    for (auto& [id, w] : waiters_) to_wake.push_back(std::move(w.wake));
    waiters_.clear();
    by_key_.clear();
  }
  for (auto& w : to_wake) w();
}

// --- agent_poll_cache ---

std::optional<std::string> agent_poll_cache::fresh(const std::string& digest,
                                                   change_notifier& notifier) {
  std::string fog;
  uint64_t seq = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(digest);
    if (it == entries_.end() || now_ms() - it->second.checked_ms > max_age_ms) return std::nullopt;
    fog = it->second.fog_uuid;
    seq = it->second.sequence;
  }
  if (notifier.sequence(fog) != seq) return std::nullopt;
  return fog;
}

void agent_poll_cache::remember(const std::string& digest, const std::string& fog_uuid,
                                uint64_t sequence) {
  int64_t now = now_ms();
  std::lock_guard lock(mutex_);
  // Stale entries go at most once per max_age: the map stays as large as the active agents.
  if (now - last_sweep_ms_ > max_age_ms) {
    std::erase_if(entries_, [&](const auto& e) { return now - e.second.checked_ms > max_age_ms; });
    last_sweep_ms_ = now;
  }
  entries_.insert_or_assign(digest, entry{fog_uuid, sequence, now});
}

// --- app ---

app::app(server_options options, db_pool& pool)
    : options_(std::move(options)), pool_(pool), started_at_ms_(now_ms()) {
  register_general_routes(*this);
  register_user_routes(*this);
  register_iofog_routes(*this);
  register_agent_routes(*this);
  register_application_routes(*this);
  register_catalog_routes(*this);
  register_template_routes(*this);
  register_edge_resource_routes(*this);
  register_diagnostics_routes(*this);
}

app::~app() {
  stop_listener();
}

route& app::add_route(route r) {
  r.segments = split_path(r.pattern);
  routes_.push_back(std::move(r));
  return routes_.back();
}

http_response app::handle(const http_request& req, bool long_poll_final) {
  http_response resp;
  try {
    resp = dispatch(req, long_poll_final);
  } catch (const api_error& e) {
    resp = error_response(e.status(), e.name(), e.what());
  } catch (const pqxx::broken_connection& e) {
    logger()->error("{} {}: database connection lost: {}", req.method, req.path, e.what());
    resp = error_response(503, "ServiceUnavailableError", "Database unavailable");
  } catch (const std::exception& e) {
    if (req.canceller && req.canceller->cancelled()) {
      // The client hung up and its query was cancelled (server.cpp): nobody reads this.
      logger()->debug("{} {}: abandoned by the client: {}", req.method, req.path, e.what());
      resp = error_response(499, "ClientClosedRequest", "Client closed the request");
    } else {
      // Details stay in our log; clients get no internals (upstream leaked stack traces).
      logger()->error("{} {}: {}", req.method, req.path, e.what());
      resp = error_response(500, "Error", "Internal server error");
    }
  }
  return finish(std::move(resp));
}

http_response app::finish(http_response resp) {
  if (!resp.long_poll) responses_[static_cast<size_t>(resp.status / 100) % 6]++;
  resp.headers.emplace_back("Access-Control-Allow-Origin", "*");
  resp.headers.emplace_back("X-Timestamp", std::to_string(now_ms()));
  return resp;
}

std::optional<http_response> app::handle_fast(const http_request& req, bool long_poll_final) {
  if (req.method != "GET" || req.path != "/api/v3/agent/config/changes") return std::nullopt;
  const std::string* header = req.header("authorization");
  if (header == nullptr || token_from_header(*header).empty()) return std::nullopt;
  std::string digest = token_digest_hex(token_from_header(*header));
  // Read before the check: a change after it moves the sequence, and the long-poll sees that.
  auto fog = poll_cache_.fresh(digest, notifier_);
  if (!fog) return std::nullopt;
  uint64_t seen = notifier_.sequence(*fog);
  int64_t wait_seconds = 0;
  try {
    wait_seconds = long_poll_wait_seconds(req, options_);
  } catch (const api_error&) {
    return std::nullopt;  // the full path answers the error
  }
  if (!long_poll_final && wait_seconds > 0) {
    http_response hold;
    hold.long_poll = long_poll_request{*fog, seen, wait_seconds * 1000};
    return finish(std::move(hold));
  }
  return finish(no_changes_response());
}

http_response app::dispatch(const http_request& req, bool long_poll_final) {
  if (req.method == "OPTIONS") {
    // CORS preflight, answered like the `cors` middleware upstream: the ECN Viewer calls the API
    // cross-origin with Authorization and Content-Type headers.
    http_response r = empty_response(204);
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
    if (const auto* h = req.header("access-control-request-headers")) {
      r.headers.emplace_back("Access-Control-Allow-Headers", *h);
      r.headers.emplace_back("Vary", "Access-Control-Request-Headers");
    }
    r.headers.emplace_back("Access-Control-Max-Age", "86400");
    return r;
  }

  std::string_view path = req.path;
  const route* matched = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  if (path == "/metrics") path = "/api/v3/metrics";  // Prometheus' conventional path
  if (path.starts_with(api_prefix) &&
      (path.size() == api_prefix.size() || path[api_prefix.size()] == '/')) {
    auto segments = split_path(path.substr(api_prefix.size()));
    auto try_method = [&](std::string_view method) {
      for (const auto& r : routes_) {
        if (r.method != method || r.segments.size() != segments.size()) continue;
        params.clear();
        bool ok = true;
        for (size_t i = 0; i < segments.size() && ok; ++i) {
          if (r.segments[i].starts_with(':')) {
            params.emplace_back(r.segments[i].substr(1), segments[i]);
          } else {
            ok = r.segments[i] == segments[i];
          }
        }
        if (ok) return &r;
      }
      return static_cast<const route*>(nullptr);
    };
    matched = try_method(req.method);
    if (matched == nullptr && req.method == "HEAD") matched = try_method("GET");
  }
  if (matched == nullptr) {
    throw not_found("Cannot " + req.method + " " + req.path);
  }

  if (!matched->needs_db) {
    request_context ctx{req, nullptr, *this, std::move(params), 0, {}, long_poll_final, {}};
    return matched->handler(ctx);
  }
  auto conn = pool_.acquire();
  cancel_scope cancel(req.canceller.get(), *conn);
  pqxx::work tx(*conn);
  request_context ctx{req, &tx, *this, std::move(params), 0, {}, long_poll_final, {}};

  if (matched->auth != auth_kind::none) {
    const std::string* header = req.header("authorization");
    if (header == nullptr || token_from_header(*header).empty()) throw auth_error();
    std::string digest = token_digest_hex(token_from_header(*header));
    ctx.token_digest = digest;
    if (matched->auth == auth_kind::user) {
      // The expiry slides one hour from each use (upstream semantics); rewriting it at most once
      // a minute keeps read requests from turning into writes.
      auto rows =
          pexec(tx,
                "SELECT user_id, expires_at < now() + interval '59 minutes' FROM user_tokens "
                "WHERE token_hash = decode($1, 'hex') AND expires_at > now()",
                digest);
      if (rows.empty()) throw auth_error();
      ctx.user_id = rows[0][0].as<int64_t>();
      if (rows[0][1].as<bool>()) {
        pexec0(tx,
               "UPDATE user_tokens SET expires_at = now() + interval '1 hour' "
               "WHERE token_hash = decode($1, 'hex')",
               digest);
      }
    } else {
      auto rows =
          pexec(tx,
                "SELECT fog_uuid, expires_at < now() + interval '29 days 23 hours 59 minutes' "
                "FROM fog_tokens WHERE token_hash = decode($1, 'hex') AND expires_at > now()",
                digest);
      if (rows.empty()) throw auth_error();
      ctx.fog_uuid = rows[0][0].c_str();
      if (rows[0][1].as<bool>()) {
        pexec0(tx,
               "UPDATE fog_tokens SET expires_at = now() + interval '30 days' "
               "WHERE token_hash = decode($1, 'hex')",
               digest);
        pexec0(tx, "UPDATE fogs SET last_active = $2 WHERE uuid = $1", ctx.fog_uuid, now_ms());
      }
    }
  }

  fogs_changed_by_request().clear();
  http_response resp = matched->handler(ctx);
  if (resp.status < 400) {
    tx.commit();
    for (const auto& fog : fogs_changed_by_request()) {
      if (fog == "*") {
        notifier_.notify_all();
      } else {
        notifier_.notify(fog);
      }
    }
  }
  fogs_changed_by_request().clear();
  return resp;
}

// --- woken long-polls ---

bool app::enqueue_woken(woken_poll p) {
  p.woken_at_ms = now_ms();
  std::lock_guard lock(woken_mutex_);
  woken_.push_back(std::move(p));
  return woken_.size() == 1;
}

void app::drain_woken() {
  static constexpr size_t max_batch = 1000;
  for (;;) {
    std::vector<woken_poll> batch;
    {
      std::lock_guard lock(woken_mutex_);
      if (woken_.empty()) return;
      if (woken_.size() <= max_batch) {
        batch.swap(woken_);
      } else {
        auto end = woken_.begin() + static_cast<std::ptrdiff_t>(max_batch);
        batch.assign(std::make_move_iterator(woken_.begin()), std::make_move_iterator(end));
        woken_.erase(woken_.begin(), end);
      }
    }
    answer_woken(batch);
  }
}

void app::answer_woken(std::vector<woken_poll>& batch) {
  // Digests and sequences first: a change committed after the query moves the sequence, so an
  // empty answer remembered below cannot hide it (as in changes_get).
  std::vector<std::string> digests(batch.size());
  std::vector<uint64_t> seen(batch.size());
  std::string array = "{";
  for (size_t i = 0; i < batch.size(); ++i) {
    seen[i] = notifier_.sequence(batch[i].fog);
    if (const auto* h = batch[i].req->header("authorization")) {
      digests[i] = token_digest_hex(token_from_header(*h));
    }
    if (i > 0) array += ',';
    array += digests[i].empty() ? "\"\"" : digests[i];  // hex only: no quoting needed
  }
  array += '}';
  std::unordered_map<std::string, std::optional<http_response>> answers;
  try {
    auto conn = pool_.acquire();
    pqxx::work tx(*conn);
    auto rows = pexec(tx, woken_polls_sql(), array);
    tx.commit();
    std::unordered_map<std::string, std::string> empty_fogs;  // digest -> fog with no changes
    for (const auto& row : rows) {
      answers.emplace(row[0].c_str(), changes_response(row, 2));
      if (row[2].as<int64_t>() == 0) empty_fogs.emplace(row[0].c_str(), row[1].c_str());
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      auto it = empty_fogs.find(digests[i]);
      if (it != empty_fogs.end() && it->second == batch[i].fog) {
        poll_cache_.remember(digests[i], batch[i].fog, seen[i]);
      }
    }
  } catch (const std::exception& e) {
    logger()->warn("answering woken long-polls: {}", e.what());
    answers.clear();  // each goes the ordinary way below
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    auto it = answers.find(digests[i]);
    if (it != answers.end() && it->second) {
      ++woken_batched_;
      batch[i].done(finish(*it->second));
    } else {
      // Unknown or revoked token, or the query failed: the full path gives the right answer.
      batch[i].done(handle(*batch[i].req, true));
    }
    // For /metrics: how long after their wake-up woken long-polls are answered (the benchmark
    // compares the last one with when it sent the change).
    int64_t now = now_ms();
    woken_last_answered_ms_.store(now);
    int64_t delay = now - batch[i].woken_at_ms;
    for (int64_t max = woken_delay_max_ms_.load(); delay > max;) {
      if (woken_delay_max_ms_.compare_exchange_weak(max, delay)) break;
    }
  }
}

// --- notifications ---

void app::start_listener() {
  listener_wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (listener_wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  listener_ = std::thread([this, ready = std::move(ready)]() mutable {
    bool signalled = false;
    while (!listener_stop_) {
      try {
        pqxx::connection conn(pool_.conninfo());
        struct receiver : pqxx::notification_receiver {
          receiver(pqxx::connection_base& c, change_notifier& n)
              : pqxx::notification_receiver(c, "fogmesh_changes"), notifier(n) {}
          // The payload lists the changed fogs, comma-separated (one NOTIFY per statement,
          // migration 0012).
          void operator()(const std::string& payload, int) override {
            std::string_view rest = payload;
            while (!rest.empty()) {
              auto comma = rest.find(',');
              auto key = rest.substr(0, comma);
              if (!key.empty()) notifier.notify(std::string(key));
              if (comma == std::string_view::npos) break;
              rest.remove_prefix(comma + 1);
            }
          }
          change_notifier& notifier;
        } r(conn, notifier_);
        // Anything may have changed while we were not listening.
        notifier_.notify_all();
        if (!signalled) {
          ready.set_value();
          signalled = true;
        }
        while (!listener_stop_) {
          pollfd fds[2] = {{conn.sock(), POLLIN, 0}, {listener_wake_fd_, POLLIN, 0}};
          ::poll(fds, 2, 30000);
          if (listener_stop_) break;
          conn.get_notifs();
        }
      } catch (const std::exception& e) {
        logger()->warn("change listener: {}; reconnecting", e.what());
        pollfd fd{listener_wake_fd_, POLLIN, 0};
        ::poll(&fd, 1, 1000);
      }
    }
    if (!signalled) ready.set_value();
  });
  // Start serving only once LISTEN is in place, so no change committed afterwards is missed.
  ready_future.wait_for(std::chrono::seconds(10));
}

void app::stop_listener() {
  if (!listener_.joinable()) return;
  listener_stop_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(listener_wake_fd_, &one, sizeof one);
  listener_.join();
  ::close(listener_wake_fd_);
  listener_wake_fd_ = -1;
}

void app::run_liveness_job() {
  try {
    auto conn = pool_.acquire();
    pqxx::work tx(*conn);
    // Silent for three status periods: the agent and what it runs are UNKNOWN.
    auto rows = pexec(
        tx,
        "WITH silent AS (UPDATE fogs SET daemon_status = 'UNKNOWN', ip_address = '0.0.0.0', "
        "ip_address_external = '0.0.0.0' WHERE daemon_status = 'RUNNING' AND "
        "$1 - coalesce(last_status_time, 0) > status_frequency::bigint * 3000 RETURNING uuid), "
        "msvcs AS (UPDATE microservice_status s SET status = 'UNKNOWN' FROM microservices m, "
        "silent WHERE m.uuid = s.microservice_uuid AND m.iofog_uuid = silent.uuid) "
        "SELECT uuid FROM silent",
        now_ms());
    tx.commit();
    for (const auto& row : rows) logger()->info("agent {} went silent: UNKNOWN", row[0].c_str());
  } catch (const std::exception& e) {
    logger()->warn("liveness job: {}", e.what());
  }
}

}  // namespace fogmesh::controller
