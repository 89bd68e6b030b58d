#include "reconciler.hpp"

#include <boost/json.hpp>
#include <ctime>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "fogmesh/common/log.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* container_prefix = "iofog_";
constexpr const char* fog_label = "iofog-uuid";
constexpr const char* microservice_label = "fogmesh.microservice";
constexpr const char* hash_label = "fogmesh.spec-hash";

auto logger() {
  static auto l = log::get("agent.reconcile");
  return l;
}

std::string str_or(const json::object& o, const char* key, std::string fallback = "") {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}
int64_t int_or(const json::object& o, const char* key, int64_t fallback = 0) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return fallback;
  return v->to_number<int64_t>();
}
bool bool_or(const json::object& o, const char* key, bool fallback = false) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() ? v->get_bool() : fallback;
}
const json::array& array_or_empty(const json::object& o, const char* key) {
  static const json::array empty;
  auto* v = o.if_contains(key);
  return v && v->is_array() ? v->get_array() : empty;
}

int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-25T17:01:02.123456789Z" (or with +00:00) → epoch ms; 0 when unparsable.
int64_t parse_rfc3339_ms(const std::string& s) {
  std::tm tm{};
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return 0;
  int64_t ms = static_cast<int64_t>(::timegm(&tm)) * 1000;
  if (*rest == '.') {
    int64_t frac = 0;
    int digits = 0;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest) {
      if (digits < 3) {
        frac = frac * 10 + (*rest - '0');
        ++digits;
      }
    }
    while (digits++ < 3) frac *= 10;
    ms += frac;
  }
  return ms;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

microservice_desired microservice_desired::from_json(const json::object& o) {
  microservice_desired m;
  m.uuid = str_or(o, "uuid");
  if (m.uuid.empty()) throw std::invalid_argument("microservice without uuid");
  m.image = str_or(o, "imageId");
  m.config = str_or(o, "config", "{}");
  m.rebuild = bool_or(o, "rebuild");
  m.root_host_access = bool_or(o, "rootHostAccess");
  m.log_size = static_cast<int>(int_or(o, "logSize", 0));
  m.registry_id = int_or(o, "registryId", 1);
  for (const auto& p : array_or_empty(o, "portMappings")) {
    if (!p.is_object()) continue;
    const auto& po = p.get_object();
    m.ports.push_back({static_cast<int>(int_or(po, "portInternal")),
                       static_cast<int>(int_or(po, "portExternal")), bool_or(po, "isUdp")});
  }
  for (const auto& v : array_or_empty(o, "volumeMappings")) {
    if (!v.is_object()) continue;
    const auto& vo = v.get_object();
    m.volumes.push_back({str_or(vo, "hostDestination"), str_or(vo, "containerDestination"),
                         str_or(vo, "accessMode", "rw"), str_or(vo, "type", "bind")});
  }
  for (const auto& e : array_or_empty(o, "env")) {
    if (!e.is_object()) continue;
    m.env.emplace_back(str_or(e.get_object(), "key"), str_or(e.get_object(), "value"));
  }
  for (const auto& c : array_or_empty(o, "cmd")) {
    if (c.is_string()) m.cmd.emplace_back(c.get_string());
  }
  for (const auto& h : array_or_empty(o, "extraHosts")) {
    if (h.is_string()) m.extra_hosts.emplace_back(h.get_string());
  }
  for (const auto& r : array_or_empty(o, "routes")) {
    if (r.is_string()) m.routes.emplace_back(r.get_string());
  }
  m.is_consumer = bool_or(o, "isConsumer");
  m.delete_requested = bool_or(o, "delete");
  m.delete_with_cleanup = bool_or(o, "deleteWithCleanup");
  return m;
}

std::string microservice_desired::spec_hash() const {
  json::array parts;
  parts.emplace_back(image);
  parts.emplace_back(root_host_access);
  parts.emplace_back(log_size);
  for (const auto& p : ports) parts.emplace_back(json::array{p.internal, p.external, p.udp});
  for (const auto& v : volumes) {
    parts.emplace_back(json::array{v.host_destination.c_str(), v.container_destination.c_str(),
                                   v.access_mode.c_str(), v.type.c_str()});
  }
  for (const auto& [k, v] : env) parts.emplace_back(json::array{k.c_str(), v.c_str()});
  parts.emplace_back(json::array(cmd.begin(), cmd.end()));
  parts.emplace_back(json::array(extra_hosts.begin(), extra_hosts.end()));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(fnv1a(json::serialize(parts))));
  return buf;
}

registry_info registry_info::from_json(const json::object& o) {
  registry_info r;
  r.id = int_or(o, "id");
  r.url = str_or(o, "url");
  r.is_public = bool_or(o, "isPublic", true);
  r.username = str_or(o, "username");
  r.password = str_or(o, "password");
  r.email = str_or(o, "userEmail", str_or(o, "email"));
  return r;
}

reconciler::reconciler(docker_client& docker, reconciler_options options)
    : docker_(docker), options_(std::move(options)) {}

void reconciler::set_desired(std::vector<microservice_desired> desired,
                             std::map<int64_t, registry_info> registries) {
  pending_.emplace(std::move(desired), std::move(registries));
}

void reconciler::apply_pending() {
  if (!pending_) return;
  auto desired = std::move(pending_->first);
  auto registries = std::move(pending_->second);
  pending_.reset();
  // A spec change clears STUCK_IN_RESTART: the operator fixed something.
  for (const auto& m : desired) {
    auto it = runtime_.find(m.uuid);
    if (it != runtime_.end() && !it->second.stuck_for_hash.empty() &&
        it->second.stuck_for_hash != m.spec_hash()) {
      runtime_.erase(it);
    }
  }
  desired_ = std::move(desired);
  registries_ = std::move(registries);
  std::set<std::string> wanted;
  for (const auto& m : desired_) wanted.insert(m.uuid);
  for (auto it = runtime_.begin(); it != runtime_.end();) {
    it = wanted.count(it->first) ? std::next(it) : runtime_.erase(it);
  }
}

container_spec reconciler::spec_for(const microservice_desired& m) const {
  container_spec s;
  s.name = container_prefix + m.uuid;
  s.image = m.image;
  s.cmd = m.cmd;
  bool has_tz = false, has_router_url = false;
  for (const auto& [k, v] : m.env) {
    s.env.push_back(k + "=" + v);
    if (k == "TZ") has_tz = true;
    if (k == "FOGMESH_ROUTER_URL") has_router_url = true;
  }
  s.env.push_back("SELFNAME=" + m.uuid);
  if (!has_tz)
    s.env.push_back("TZ=" + (options_.time_zone.empty() ? "Etc/UTC" : options_.time_zone));
  if (options_.token_for) s.env.push_back("FOGMESH_LOCAL_API_TOKEN=" + options_.token_for(m.uuid));
  s.env.push_back("FOGMESH_LOCAL_API_PORT=" + std::to_string(options_.local_api_port));
  // The SDK's AMQP path finds the router mesh without configuration (one set in the
  // microservice's env at the controller wins).
  const auto& router_url =
      m.root_host_access ? options_.router_url_host_network : options_.router_url_bridge;
  if (!has_router_url && !router_url.empty()) s.env.push_back("FOGMESH_ROUTER_URL=" + router_url);
  s.labels[fog_label] = options_.fog_uuid;
  s.labels[microservice_label] = m.uuid;
  s.labels[hash_label] = m.spec_hash();
  for (const auto& p : m.ports) {
    if (p.external > 0) s.ports.push_back({p.internal, p.external, p.udp, ""});
  }
  for (const auto& v : m.volumes) {
    volume_binding b;
    b.source = v.host_destination;
    b.destination = v.container_destination;
    b.read_only = v.access_mode == "ro" || v.access_mode == "RO";
    b.is_volume = v.type == "volume";
    s.volumes.push_back(std::move(b));
  }
  s.extra_hosts = m.extra_hosts;
  bool has_iofog = false;
  for (const auto& h : m.extra_hosts) {
    if (h.rfind("iofog:", 0) == 0) has_iofog = true;
  }
  std::string host = m.root_host_access ? "127.0.0.1" : options_.iofog_host;
  if (!has_iofog && !host.empty()) s.extra_hosts.push_back("iofog:" + host);
  // Host network and privileged only when asked for (upstream also made every container with
  // extra hosts privileged and pinned all to CPU 0: neither is done here).
  s.host_network = m.root_host_access;
  s.privileged = m.root_host_access;
  if (m.log_size > 0) {
    s.log_max_size = "2m";
    s.log_max_files = std::max(1, m.log_size / 2);
  }
  return s;
}

asio::awaitable<void> reconciler::ensure_image(const microservice_desired& m) {
  auto& st = statuses_[m.uuid];
  // Registry 2 is upstream's "from_cache": use the local image, never pull.
  if (m.registry_id == 2) {
    if (!co_await docker_.image_exists(m.image)) {
      throw docker_error(404,
                         "image " + m.image + " is not in the local cache (registry from_cache)");
    }
    co_return;
  }
  std::optional<registry_credentials> creds;
  if (auto it = registries_.find(m.registry_id); it != registries_.end() && !it->second.is_public) {
    creds = registry_credentials{it->second.url, it->second.username, it->second.password,
                                 it->second.email};
  } else if (it != registries_.end() && !it->second.username.empty()) {
    creds = registry_credentials{it->second.url, it->second.username, it->second.password,
                                 it->second.email};
  }
  st.status = "PULLING";
  st.percentage = 0;
  std::exception_ptr pull_error;
  try {
    co_await docker_.pull(m.image, creds, [&st](int pct) { st.percentage = pct; });
    st.percentage = 100;
  } catch (const std::exception& e) {
    logger()->warn("pull of {} for {} failed ({}); trying the local image", m.image, m.uuid,
                   e.what());
    pull_error = std::current_exception();
  }
  // As upstream: a failed pull falls back to a local copy when there is one. (Outside the
  // handler: co_await is not allowed in one.)
  if (pull_error && !co_await docker_.image_exists(m.image)) std::rethrow_exception(pull_error);
}

bool reconciler::may_start(const microservice_desired& m, runtime& rt) {
  auto now = std::chrono::steady_clock::now();
  while (!rt.starts.empty() && now - rt.starts.front() > options_.stuck_window)
    rt.starts.pop_front();
  if (static_cast<int>(rt.starts.size()) >= options_.stuck_restarts + 1) {
    if (rt.stuck_for_hash.empty()) {
      logger()->error("microservice {} restarted {} times in {} min: STUCK_IN_RESTART", m.uuid,
                      rt.starts.size() - 1, options_.stuck_window.count());
    }
    rt.stuck_for_hash = m.spec_hash();
    statuses_[m.uuid].status = "STUCK_IN_RESTART";
    return false;
  }
  if (now < rt.next_attempt) return false;
  return true;
}

static void note_start(std::deque<std::chrono::steady_clock::time_point>& starts) {
  starts.push_back(std::chrono::steady_clock::now());
}

asio::awaitable<void> reconciler::deploy(microservice_desired& m, runtime& rt) {
  auto& st = statuses_[m.uuid];
  try {
    co_await ensure_image(m);
    st.status = "STARTING";
    auto spec = spec_for(m);
    for (const auto& v : spec.volumes) {
      // Docker creates a missing bind source, podman refuses: create it so both behave alike.
      if (!v.is_volume && !v.source.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(v.source, ec);
      }
    }
    auto id = co_await docker_.create(spec);
    note_start(rt.starts);
    co_await docker_.start(id);
    st.container_id = id;
    st.status = "RUNNING";
    st.error_message.clear();
    st.start_time = epoch_ms();
    logger()->info("microservice {} running in container {}", m.uuid, id.substr(0, 12));
  } catch (const std::exception& e) {
    st.status = "FAILED";
    st.error_message = e.what();
    rt.backoff =
        std::min(std::max(rt.backoff * 2, options_.restart_backoff), options_.restart_backoff_max);
    rt.next_attempt = std::chrono::steady_clock::now() + rt.backoff;
    note_start(rt.starts);
    logger()->warn("deploying microservice {} failed: {}", m.uuid, e.what());
  }
}

asio::awaitable<void> reconciler::reconcile() {
  apply_pending();
  auto containers = co_await docker_.list_containers(true);
  std::map<std::string, container_summary> ours;  // by microservice uuid
  for (auto& c : containers) {
    if (c.name.rfind(container_prefix, 0) != 0) continue;
    auto label = c.labels.find(fog_label);
    if (label == c.labels.end() || label->second != options_.fog_uuid) continue;
    ours[c.name.substr(std::string(container_prefix).size())] = std::move(c);
  }
  std::set<std::string> wanted;
  for (auto& m : desired_) {
    if (!m.delete_requested) wanted.insert(m.uuid);
  }
  // Unwanted containers of this fog go first (frees their ports for the new ones).
  for (const auto& [uuid, c] : ours) {
    if (wanted.count(uuid)) continue;
    logger()->info("removing container {} of microservice {} (no longer wanted)",
                   c.id.substr(0, 12), uuid);
    try {
      co_await docker_.stop(c.id, 5);
      co_await docker_.remove(c.id, true);
      bool cleanup = false;
      for (const auto& m : desired_) {
        if (m.uuid == uuid) cleanup = m.delete_with_cleanup;
      }
      if (cleanup) co_await docker_.remove_image(c.image);
    } catch (const std::exception& e) {
      logger()->warn("removing container {} failed: {}", c.id.substr(0, 12), e.what());
    }
    statuses_.erase(uuid);
  }
  for (auto it = statuses_.begin(); it != statuses_.end();) {
    it = wanted.count(it->first) ? std::next(it) : statuses_.erase(it);
  }

  for (auto& m : desired_) {
    if (m.delete_requested) continue;
    auto& rt = runtime_[m.uuid];
    auto& st = statuses_[m.uuid];
    auto found = ours.find(m.uuid);
    if (found == ours.end()) {
      if (may_start(m, rt)) co_await deploy(m, rt);
      continue;
    }
    const auto& c = found->second;
    auto hash = c.labels.find(hash_label);
    bool changed = hash == c.labels.end() || hash->second != m.spec_hash();
    if (changed || m.rebuild) {
      logger()->info("microservice {} {}: recreating its container", m.uuid,
                     m.rebuild ? "rebuild requested" : "spec changed");
      m.rebuild = false;  // one-shot, as the controller serves it
      st.status = "UPDATING";
      try {
        co_await docker_.stop(c.id, 5);
        co_await docker_.remove(c.id, true);
      } catch (const std::exception& e) {
        st.status = "FAILED";
        st.error_message = e.what();
        continue;
      }
      rt = runtime{};
      co_await deploy(m, rt);
      continue;
    }
    if (c.state == "running") {
      if (st.container_id != c.id || st.status != "RUNNING") {
        // Adopted (agent restart) or recovered: take the engine's start time.
        auto state = co_await docker_.inspect(c.id);
        st.container_id = c.id;
        st.start_time = state ? parse_rfc3339_ms(state->started_at) : epoch_ms();
        st.status = "RUNNING";
        st.error_message.clear();
      }
      // Running long enough resets the back-off (not the 10-minute window).
      if (rt.backoff.count() > 0 && !rt.starts.empty() &&
          std::chrono::steady_clock::now() - rt.starts.back() > options_.restart_backoff_max) {
        rt.backoff = std::chrono::milliseconds(0);
      }
      continue;
    }
    // Exited, created or dead: restart with back-off unless stuck.
    if (!may_start(m, rt)) {
      if (st.status != "STUCK_IN_RESTART") st.status = "RESTARTING";
      continue;
    }
    try {
      st.status = "RESTARTING";
      note_start(rt.starts);
      rt.backoff = std::min(std::max(rt.backoff * 2, options_.restart_backoff),
                            options_.restart_backoff_max);
      rt.next_attempt = std::chrono::steady_clock::now() + rt.backoff;
      co_await docker_.start(c.id);
      st.container_id = c.id;
      st.status = "RUNNING";
      st.start_time = epoch_ms();
      logger()->info("restarted microservice {} (restart {} in window)", m.uuid, rt.starts.size());
    } catch (const std::exception& e) {
      st.status = "FAILED";
      st.error_message = e.what();
    }
  }
}

asio::awaitable<void> reconciler::remove_all() {
  auto containers = co_await docker_.list_containers(true);
  for (const auto& c : containers) {
    if (c.name.rfind(container_prefix, 0) != 0) continue;
    auto label = c.labels.find(fog_label);
    if (label == c.labels.end() || label->second != options_.fog_uuid) continue;
    try {
      co_await docker_.stop(c.id, 5);
      co_await docker_.remove(c.id, true);
    } catch (const std::exception& e) {
      logger()->warn("removing container {} failed: {}", c.id.substr(0, 12), e.what());
    }
  }
  statuses_.clear();
}

}  // namespace fogmesh::agent
