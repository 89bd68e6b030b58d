// User-facing fog (agent node) endpoints: /iofog-list, /iofog CRUD, provisioning keys, reboot,
// prune, version commands, HAL info. Another user's fog answers 404 like a missing one.
#include <memory>
#include <mutex>
#include <unordered_map>

#include "app.hpp"
#include "auth.hpp"
#include "extra_hosts.hpp"
#include "fog_model.hpp"
#include "router_model.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

[[noreturn]] void invalid_fog(const std::string& uuid) {
  throw not_found("Invalid ioFog UUID '" + uuid + "'");
}

const std::optional<std::string>* find_value(const column_values& v, std::string_view column) {
  for (const auto& [c, val] : v) {
    if (c == column) return &val;
  }
  return nullptr;
}

// Current router-relevant state of a fog (or defaults for a new one) overlaid with the request.
struct router_state {
  std::string mode = "edge";
  std::optional<std::string> host;
  bool has_inter_port = false;
  bool has_edge_port = false;
  bool is_system = false;
  std::vector<std::string> upstreams;
};

// Upstream's router rules: a host unless the mode is none, both router ports for interior, the
// system fog must be interior, upstreams must be interior routers (or the default router).
void validate_router(request_context& ctx, const std::string& self_uuid, router_state s,
                     body_reader& r) {
  if (auto m = r.enumeration("routerMode", {"none", "edge", "interior"})) s.mode = *m;
  if (r.has("host")) s.host = r.str("host");
  if (r.has("interRouterPort")) s.has_inter_port = true;
  if (r.has("edgeRouterPort")) s.has_edge_port = true;
  if (auto sys = r.boolean("isSystem")) s.is_system = *sys;
  for (const char* port : {"messagingPort", "interRouterPort", "edgeRouterPort"}) {
    r.integer(port, false, 1, 65535);
  }
  if (auto ft = r.integer("fogType", false); ft && (*ft < 0 || *ft > 2)) {
    throw validation_error("Field fogType is not one of enum values: 0,1,2");
  }
  if (s.mode != "none" && (!s.host || s.host->empty())) throw_missing("host");
  if (s.mode == "interior") {
    if (!s.has_inter_port) throw_missing("interRouterPort");
    if (!s.has_edge_port) throw_missing("edgeRouterPort");
  }
  if (s.is_system && s.mode != "interior") {
    throw validation_error("A system agent must have routerMode 'interior'");
  }
  std::vector<std::string> refs;
  if (auto ups = r.string_array("upstreamRouters")) refs = *ups;
  size_t upstream_count = refs.size();
  if (auto nr = r.str("networkRouter")) refs.push_back(*nr);
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto& up = refs[i];
    bool is_upstream = i < upstream_count;
    if (up == default_router_name) {
      // Named explicitly, the default router must exist (upstream: 404 "Invalid router").
      if (is_upstream && pexec1(ctx.tx(), "SELECT fogmesh_default_router_id()")[0].is_null()) {
        throw not_found("Invalid router 'default-router'");
      }
      continue;
    }
    if (up == self_uuid) throw validation_error("An agent cannot be its own upstream router");
    auto rows = pexec(
        ctx.tx(), "SELECT router_mode FROM fogs WHERE uuid = $1 AND (user_id = $2 OR is_system)",
        up, ctx.user_id);
    if (rows.empty()) invalid_fog(up);
    std::string mode = rows[0][0].c_str();
    // Upstreams must be interior routers; a network router may be any router.
    if (is_upstream ? mode != "interior" : mode == "none") {
      throw validation_error((is_upstream ? "Upstream router '" : "Network router '") + up +
                             "' is not an interior router");
    }
  }
  // An interior router that others connect to cannot become an edge router.
  if (!self_uuid.empty() && s.mode == "edge" && has_downstream_routers(ctx.tx(), self_uuid)) {
    throw validation_error("Router of agent '" + self_uuid +
                           "' has downstream routers and cannot become an edge router");
  }
}

void check_duplicate_name(request_context& ctx, const std::string& name,
                          const std::string& except_uuid) {
  auto rows = pexec(ctx.tx(), "SELECT 1 FROM fogs WHERE user_id = $1 AND name = $2 AND uuid <> $3",
                    ctx.user_id, name, except_uuid);
  if (!rows.empty()) throw validation_error("Duplicate name '" + name + "'");
}

// A unique index refused a fog INSERT/UPDATE: which rule it was, as the checks before the
// statement would have said. Concurrent requests pass those checks together (neither sees the
// other's uncommitted row); the index then makes the later one wait and fail here.
[[noreturn]] void unique_violation_error(const pqxx::unique_violation& e, const std::string& name) {
  // libpqxx 6 does not expose the constraint name; the server's message quotes it.
  if (std::string_view(e.what()).find("fogs_user_name_key") != std::string_view::npos) {
    throw validation_error("Duplicate name '" + name + "'");
  }
  throw validation_error("There already is a system agent");
}

void owned_fog(request_context& ctx, const std::string& uuid) {
  auto rows =
      pexec(ctx.tx(), "SELECT 1 FROM fogs WHERE uuid = $1 AND user_id = $2", uuid, ctx.user_id);
  if (rows.empty()) invalid_fog(uuid);
}

// Rendered fog objects for GET /iofog-list, without their closing brace and edgeResources (which
// live in other tables), keyed by fog uuid and valid for one version of its row: `xmin:ctid`
// names a tuple version, and PostgreSQL never changes a tuple in place (an UPDATE writes a new
// one with a new ctid and xmin), so a cached rendering is never stale, whoever changed the row
// (any request, the liveness job, another replica) and without being told. With 1,000 fogs,
// PostgreSQL's text output of 70 columns and our JSON building were ~13 ms of the ~18 ms of
// each list; now a list reads three narrow columns and renders only the fogs that changed.
// Shared by every server of the process: keys are row identities of random uuids.
class fog_json_cache {
 public:
  using piece = std::shared_ptr<const std::string>;
  // Bound on the cached text; past it the cache starts over (deleted fogs' entries go too).
  static constexpr size_t max_bytes = size_t{64} << 20;

  piece find(const std::string& uuid, std::string_view version) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(uuid);
    if (it == entries_.end() || it->second.version != version) return nullptr;
    return it->second.json;
  }
  void put(const std::string& uuid, std::string version, piece json) {
    std::lock_guard lock(mutex_);
    if (bytes_ + json->size() > max_bytes) {
      entries_.clear();
      bytes_ = 0;
    }
    auto& e = entries_[uuid];
    if (e.json) bytes_ -= e.json->size();
    bytes_ += json->size();
    e.version = std::move(version);
    e.json = std::move(json);
  }

 private:
  struct entry {
    std::string version;
    piece json;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  size_t bytes_ = 0;
};

fog_json_cache& fog_cache() {
  static fog_json_cache cache;
  return cache;
}

// fog_json_columns() without edgeResources, which must be the last column.
const std::string& fog_row_columns() {
  static const std::string columns = [] {
    std::string c = fog_json_columns();
    std::string er = ", " + fog_edge_resources_sql() + " AS \"edgeResources\"";
    if (!c.ends_with(er)) throw std::logic_error("fog_json_columns: edgeResources not last");
    c.resize(c.size() - er.size());
    return c;
  }();
  return columns;
}

// GET /iofog-list with filters: everything in one query, the filters over the fogs' JSON.
http_response fog_list_filtered(request_context& ctx) {
  static const std::string columns =
      fog_row_columns() + ", coalesce(er.list, '[]'::json) AS \"edgeResources\"";
  std::string sql = "SELECT j.* FROM (SELECT " + columns +
                    ", f.created_at AS _created, f.uuid AS _uuid FROM fogs f " +
                    fog_edge_resources_join_sql() + " WHERE f.user_id = $1";
  std::vector<std::optional<std::string>> params = {std::to_string(ctx.user_id)};
  if (const auto* sys = ctx.req.query_param("system"); sys != nullptr && *sys == "true") {
    sql += " AND f.is_system";
  }
  sql += ") j WHERE true";
  // filters[i][key] / [value] / [condition] (equals | has) over the fog's JSON fields.
  for (int i = 0;; ++i) {
    std::string prefix = "filters[" + std::to_string(i) + "]";
    const auto* key = ctx.req.query_param(prefix + "[key]");
    if (key == nullptr) break;
    const auto* value = ctx.req.query_param(prefix + "[value]");
    const auto* condition = ctx.req.query_param(prefix + "[condition]");
    std::string cond = condition != nullptr ? *condition : "equals";
    if (cond != "equals" && cond != "has")
      throw_format("filters[" + std::to_string(i) + "][condition]");
    params.emplace_back(*key);
    params.emplace_back(value != nullptr ? *value : "");
    std::string k = "$" + std::to_string(params.size() - 1);
    std::string v = "$" + std::to_string(params.size());
    if (cond == "equals") {
      sql += " AND (to_json(j) ->> " + k + ") = " + v;
    } else {
      sql += " AND strpos(to_json(j) ->> " + k + ", " + v + ") > 0";
    }
  }
  sql += " ORDER BY j._created, j._uuid";
  auto rows = pexec(ctx.tx(), sql, pqxx::prepare::make_dynamic_params(params));
  return raw_json_response(200, "{\"fogs\":" + result_to_json_array(rows) + "}");
}

http_response fog_list(request_context& ctx) {
  if (ctx.req.query_param("filters[0][key]") != nullptr) return fog_list_filtered(ctx);
  bool system_only = false;
  if (const auto* sys = ctx.req.query_param("system"); sys != nullptr && *sys == "true") {
    system_only = true;
  }
  // Which fogs, in order, which version of each row, and their edge resources.
  auto rows = pexec(ctx.tx(),
                    "SELECT f.uuid, f.xmin::text || ':' || f.ctid::text, "
                    "coalesce(er.list, '[]'::json) FROM fogs f " +
                        fog_edge_resources_join_sql() +
                        " WHERE f.user_id = $1 AND (f.is_system OR NOT $2) "
                        "ORDER BY f.created_at, f.uuid",
                    ctx.user_id, system_only);
  auto& cache = fog_cache();
  std::vector<fog_json_cache::piece> pieces(rows.size());
  std::string missing = "{";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[static_cast<pqxx::result::size_type>(i)];
    pieces[i] = cache.find(row[0].c_str(), std::string_view(row[1].c_str(), row[1].size()));
    if (!pieces[i]) {
      if (missing.size() > 1) missing += ',';
      missing += row[0].c_str();  // fog uuids: hex and dashes, nothing to quote
    }
  }
  if (missing.size() > 1) {
    missing += '}';
    // The rows read now may be newer than the versions above (a concurrent update): they are
    // cached under their own version and served, as a single query would have seen them.
    auto fresh = pexec(ctx.tx(),
                       "SELECT f.uuid AS _uuid, f.xmin::text || ':' || f.ctid::text AS _version, " +
                           fog_row_columns() + " FROM fogs f WHERE f.uuid = ANY($1::text[])",
                       missing);
    json_row_writer writer(fresh);
    std::unordered_map<std::string, fog_json_cache::piece> rendered;
    for (const auto& row : fresh) {
      std::string json;
      json.reserve(2048);
      writer.append(json, row);
      json.pop_back();  // the closing brace: edgeResources follow
      auto p = std::make_shared<const std::string>(std::move(json));
      cache.put(row[0].c_str(), row[1].c_str(), p);
      rendered.emplace(row[0].c_str(), std::move(p));
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (pieces[i]) continue;
      auto it = rendered.find(rows[static_cast<pqxx::result::size_type>(i)][0].c_str());
      if (it != rendered.end()) pieces[i] = it->second;  // else deleted meanwhile: left out
    }
  }
  size_t size = 16;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (pieces[i]) size += pieces[i]->size() + rows[static_cast<int>(i)][2].size() + 20;
  }
  std::string out;
  out.reserve(size);
  out += "{\"fogs\":[";
  bool first = true;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!pieces[i]) continue;
    if (!first) out += ',';
    first = false;
    out += *pieces[i];
    out += ",\"edgeResources\":";
    const auto& er = rows[static_cast<int>(i)][2];
    out.append(er.c_str(), er.size());
    out += '}';
  }
  out += "]}";
  return raw_json_response(200, std::move(out));
}

http_response fog_get(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto rows = pexec(ctx.tx(),
                    "SELECT row_to_json(j)::text FROM (SELECT " + fog_json_columns() +
                        " FROM fogs f WHERE f.uuid = $1 AND f.user_id = $2) j",
                    uuid, ctx.user_id);
  if (rows.empty()) invalid_fog(uuid);
  return raw_json_response(200, rows[0][0].c_str());
}

http_response fog_create(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto name = r.str("name", true, 1);
  r.integer("fogType", true);
  auto values = read_fields(r, fog_user_fields());
  validate_router(ctx, "", router_state{}, r);

  std::string uuid = new_uuid();
  std::string mode = r.str("routerMode").value_or("edge");
  if (mode != "none" && find_value(values, "messaging_port") == nullptr) {
    values.emplace_back("messaging_port", "5672");
  }
  const auto* is_system = find_value(values, "is_system");
  bool general_path = is_system != nullptr && is_system->has_value() && **is_system == "true";
  if (general_path) check_duplicate_name(ctx, *name, "");

  // A new non-system fog with a router: the row and its router in one statement (migrations 0010,
  // 0015): the INSERT links it to the default router itself (instead of rewriting the row) and
  // hands the row to fogmesh_create_fog_router. No agent runs the fog yet, so there are no change
  // rows; its own sequence still moves as with raise_change().
  const bool own_router = !general_path && mode != "none";
  if (own_router && find_value(values, "upstream_routers") == nullptr) {
    values.emplace_back("upstream_routers", "{}");
  }
  // Otherwise the row, and (unless the name is taken) nothing else: the duplicate-name check is
  // part of the INSERT.
  std::vector<std::optional<std::string>> params = {uuid, std::to_string(ctx.user_id), *name};
  std::string cols = "uuid, user_id";
  std::string vals = "$1, $2";
  for (auto& [col, val] : values) {
    params.push_back(val);
    std::string param = "$" + std::to_string(params.size());
    cols += ", " + col;
    vals += ", " + (own_router && col == "upstream_routers"
                        ? "fogmesh_upstream_or_default(" + param + "::text[])"
                        : param);
  }
  std::string insert = "INSERT INTO fogs (" + cols + ") SELECT " + vals +
                       " WHERE NOT EXISTS (SELECT 1 FROM fogs WHERE user_id = $2 AND name = $3)";
  if (own_router) {
    params.push_back(new_uuid());  // the router microservice's
    insert = "WITH f AS (" + insert +
             " RETURNING fogs AS fog) SELECT fogmesh_create_fog_router(fog, $" +
             std::to_string(params.size()) + ") FROM f";
  } else {
    insert += " RETURNING 1";
  }
  pqxx::result inserted;
  try {
    inserted = pexec(ctx.tx(), insert, pqxx::prepare::make_dynamic_params(params));
  } catch (const pqxx::unique_violation& e) {
    unique_violation_error(e, *name);
  } catch (const pqxx::not_null_violation&) {
    throw validation_error("A required field is null");
  }
  if (inserted.empty()) throw validation_error("Duplicate name '" + *name + "'");
  if (!general_path) {
    if (own_router) fogs_changed_by_request().push_back(uuid);
    return json_response(201, json::object{{"uuid", uuid}});
  }
  // A system fog may become the default router, which re-links other routers: the general path.
  // No agent runs this fog yet, and a new agent syncs everything at its start: creating its
  // router microservice is no news for it (other agents still hear of what changes for them).
  quiet_changes(ctx.tx(), uuid);
  sync_fog_router(ctx.tx(), uuid, public_ports_of(ctx.app.options()));
  quiet_changes(ctx.tx(), "");
  return json_response(201, json::object{{"uuid", uuid}});
}

http_response fog_patch(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto rows = pexec(
      ctx.tx(),
      "SELECT router_mode, host, inter_router_port IS NOT NULL, edge_router_port IS NOT NULL, "
      "is_system FROM fogs WHERE uuid = $1 AND user_id = $2 FOR UPDATE",
      uuid, ctx.user_id);
  if (rows.empty()) invalid_fog(uuid);
  router_state current;
  current.mode = rows[0][0].c_str();
  if (!rows[0][1].is_null()) current.host = rows[0][1].c_str();
  current.has_inter_port = rows[0][2].as<bool>();
  current.has_edge_port = rows[0][3].as<bool>();
  current.is_system = rows[0][4].as<bool>();
  auto name = r.str("name", false, 1);
  if (name) check_duplicate_name(ctx, *name, uuid);
  auto values = read_fields(r, fog_user_fields());
  validate_router(ctx, uuid, current, r);
  try {
    exec_update(ctx.tx(), "fogs", values, "uuid = $1", {uuid});
  } catch (const pqxx::unique_violation& e) {
    unique_violation_error(e, name.value_or(""));
  } catch (const pqxx::not_null_violation&) {
    throw validation_error("A required field is null");
  }
  // Tell the agent what to re-read.
  bool router = false;
  bool config = false;
  for (const auto& [col, val] : values) {
    if (col == "router_mode" || col == "messaging_port" || col == "inter_router_port" ||
        col == "edge_router_port" || col == "upstream_routers" || col == "network_router" ||
        col == "host") {
      router = true;
    } else if (col != "name" && col != "location" && col != "description" && col != "tags") {
      config = true;
    }
  }
  if (router || find_value(values, "is_system") != nullptr)
    sync_fog_router(ctx.tx(), uuid, public_ports_of(ctx.app.options()));
  // extraHosts of other microservices may resolve through this fog's host.
  if (find_value(values, "host") != nullptr) raise_extra_host_dependents_of_fog(ctx.tx(), uuid);
  if (router)
    raise_change(ctx.tx(), uuid, {"config", "router_changed"});
  else if (config)
    raise_change(ctx.tx(), uuid, {"config"});
  return empty_response(204);
}

http_response fog_delete(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  owned_fog(ctx, uuid);
  // Its microservices go with it, as upstream (the foreign key alone would only unassign them).
  auto public_routers = public_port_routers(ctx.tx(), "m.iofog_uuid = $1", uuid);
  // Before the rows go: extraHosts elsewhere that name it, its microservices or its public ports.
  raise_extra_host_dependents_of_fog(ctx.tx(), uuid);
  remove_fog_router(ctx.tx(), uuid, public_ports_of(ctx.app.options()));
  pexec0(ctx.tx(), "DELETE FROM microservices WHERE iofog_uuid = $1", uuid);
  pexec0(ctx.tx(), "DELETE FROM fogs WHERE uuid = $1", uuid);
  fogs_changed_by_request().push_back(uuid);
  refresh_routers(ctx.tx(), public_routers);  // public routers of its microservices' ports
  // The agent's token went with the row: its next call gets 401, which it treats as
  // "deprovisioned".
  return empty_response(202);
}

http_response provisioning_key(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  owned_fog(ctx, uuid);
  std::string key = new_provision_key();
  auto row = pexec1(ctx.tx(),
                    "INSERT INTO fog_provision_keys (fog_uuid, key_hash, expires_at) "
                    "VALUES ($1, decode($2, 'hex'), now() + interval '20 minutes') "
                    "ON CONFLICT (fog_uuid) DO UPDATE SET key_hash = EXCLUDED.key_hash, "
                    "expires_at = EXCLUDED.expires_at "
                    "RETURNING (extract(epoch FROM expires_at) * 1000)::bigint",
                    uuid, token_digest_hex(key));
  return json_response(201, json::object{{"key", key}, {"expirationTime", row[0].as<int64_t>()}});
}

http_response version_command(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  const auto& cmd = ctx.param("cmd");
  if (cmd != "upgrade" && cmd != "rollback") {
    throw validation_error("Invalid version command '" + cmd + "'");
  }
  auto rows = pexec(
      ctx.tx(),
      "SELECT is_ready_to_upgrade, is_ready_to_rollback FROM fogs WHERE uuid = $1 AND user_id = $2",
      uuid, ctx.user_id);
  if (rows.empty()) invalid_fog(uuid);
  if (cmd == "upgrade" && !rows[0][0].as<bool>()) {
    throw validation_error("Can't upgrade version now. Latest is already installed");
  }
  if (cmd == "rollback" && !rows[0][1].as<bool>()) {
    throw validation_error("Can't rollback version now. There are no backups on agent");
  }
  pexec0(ctx.tx(), "UPDATE fogs SET version_command = $2 WHERE uuid = $1", uuid, cmd);
  raise_change(ctx.tx(), uuid, {"version"});
  return empty_response(204);
}

handler_fn flag_handler(const char* flag) {
  return [flag](request_context& ctx) {
    const auto& uuid = ctx.param("uuid");
    owned_fog(ctx, uuid);
    raise_change(ctx.tx(), uuid, {flag});
    return empty_response(204);
  };
}

handler_fn hal_handler(const char* column) {
  return [column](request_context& ctx) {
    const auto& uuid = ctx.param("uuid");
    auto rows = pexec(
        ctx.tx(), std::string("SELECT ") + column + " FROM fogs WHERE uuid = $1 AND user_id = $2",
        uuid, ctx.user_id);
    if (rows.empty()) invalid_fog(uuid);
    json::value info = nullptr;
    if (!rows[0][0].is_null()) info = rows[0][0].c_str();
    return json_response(200, json::object{{"info", info}});
  };
}

// --- SSH reverse tunnels (upstream's tunnel-service) ---

std::string config_value(request_context& ctx, const char* key, const std::string& fallback) {
  auto rows = pexec(ctx.tx(), "SELECT value FROM controller_config WHERE key = $1", key);
  return rows.empty() ? fallback : std::string(rows[0][0].c_str());
}

http_response tunnel_patch(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  owned_fog(ctx, uuid);
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto action = r.enumeration("action", {"open", "close"}, true);
  if (*action == "close") {
    pexec0(ctx.tx(), "UPDATE tunnels SET closed = true WHERE iofog_uuid = $1", uuid);
    raise_change(ctx.tx(), uuid, {"tunnel"});
    return empty_response(204);
  }
  // Settings: the request's, else the controller config's.
  std::string host = r.str("host").value_or(config_value(ctx, "tunnel-host", ""));
  if (host.empty()) {
    throw validation_error("Tunnel host is not configured (config key 'tunnel-host')");
  }
  std::string username = r.str("username").value_or(config_value(ctx, "tunnel-username", ""));
  std::string password = r.str("password").value_or(config_value(ctx, "tunnel-password", ""));
  std::string rsa_key = r.str("rsakey").value_or(config_value(ctx, "tunnel-rsa-key", ""));
  int64_t lport = 22;
  if (auto lp = r.integer("lport", false, 1, 65535)) {
    lport = *lp;
  } else {
    try {
      lport = std::stoll(config_value(ctx, "tunnel-lport", "22"));
    } catch (const std::exception&) {
      throw validation_error("Invalid config value for 'tunnel-lport'");
    }
  }
  int64_t start = 2000, end = 10000;
  std::string range = config_value(ctx, "tunnel-port-range", "2000-10000");
  try {
    auto dash = range.find('-');
    start = std::stoll(range.substr(0, dash));
    end = std::stoll(range.substr(dash + 1));
  } catch (const std::exception&) {
    throw validation_error("Invalid config value for 'tunnel-port-range'");
  }
  // A random free remote port on that host (other agents' open tunnels hold theirs).
  auto free = pexec(
      ctx.tx(),
      "SELECT c FROM generate_series($2::integer, $3::integer) c WHERE NOT EXISTS (SELECT 1 FROM "
      "tunnels t WHERE t.host = $1 AND t.rport = c AND NOT t.closed AND t.iofog_uuid <> $4) "
      "ORDER BY random() LIMIT 1",
      host, start, end, uuid);
  if (free.empty()) throw validation_error("No available tunnel port on '" + host + "'");
  try {
    pexec0(
        ctx.tx(),
        "INSERT INTO tunnels (iofog_uuid, username, password, host, rsa_key, lport, rport, closed) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, false) ON CONFLICT (iofog_uuid) DO UPDATE SET "
        "username = EXCLUDED.username, password = EXCLUDED.password, host = EXCLUDED.host, "
        "rsa_key = EXCLUDED.rsa_key, lport = EXCLUDED.lport, rport = EXCLUDED.rport, closed = "
        "false",
        uuid, username, password, host, rsa_key, lport, free[0][0].as<int64_t>());
  } catch (const pqxx::unique_violation&) {
    throw validation_error("No available tunnel port on '" + host + "'");
  }
  raise_change(ctx.tx(), uuid, {"tunnel"});
  return empty_response(204);
}

http_response tunnel_get(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  owned_fog(ctx, uuid);
  auto rows =
      pexec(ctx.tx(),
            "SELECT username, host, rport, lport, closed FROM tunnels WHERE iofog_uuid = $1", uuid);
  if (rows.empty()) throw not_found("Tunnel not found");
  return json_response(200, json::object{{"username", rows[0][0].c_str()},
                                         {"host", rows[0][1].c_str()},
                                         {"remotePort", rows[0][2].as<int64_t>()},
                                         {"localPort", rows[0][3].as<int64_t>()},
                                         {"status", rows[0][4].as<bool>() ? "closed" : "open"}});
}

json::object default_router_json(request_context& ctx) {
  auto rows = pexec(ctx.tx(), std::string("SELECT host, messaging_port, edge_router_port, "
                                          "inter_router_port FROM routers WHERE ") +
                                  default_router_where);
  if (rows.empty()) throw not_found("Invalid router 'default-router'");
  auto opt = [](const pqxx::field& f) -> json::value {
    if (f.is_null()) return nullptr;
    return f.as<int64_t>();
  };
  json::value host = nullptr;
  if (!rows[0][0].is_null()) host = rows[0][0].c_str();
  return json::object{{"host", host},
                      {"messagingPort", opt(rows[0][1])},
                      {"edgeRouterPort", opt(rows[0][2])},
                      {"interRouterPort", opt(rows[0][3])}};
}

http_response router_get(request_context& ctx) {
  return json_response(200, default_router_json(ctx));
}

// Upserts the default router (Kubernetes: the interior router is not an agent). When the
// default router is a fog's, that fog's router settings change.
http_response router_put(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto host = r.str("host", true, 1);
  int64_t messaging = r.integer("messagingPort", false, 1, 65535).value_or(5672);
  int64_t edge = r.integer("edgeRouterPort", false, 1, 65535).value_or(56722);
  int64_t inter = r.integer("interRouterPort", false, 1, 65535).value_or(56721);
  auto current = pexec(ctx.tx(), std::string("SELECT id, iofog_uuid FROM routers WHERE ") +
                                     default_router_where + " FOR UPDATE");
  if (!current.empty() && !current[0][1].is_null()) {
    std::string fog = current[0][1].c_str();
    pexec0(ctx.tx(),
           "UPDATE fogs SET host = $2, messaging_port = $3, edge_router_port = $4, "
           "inter_router_port = $5, updated_at = now() WHERE uuid = $1",
           fog, *host, messaging, edge, inter);
    sync_fog_router(ctx.tx(), fog, public_ports_of(ctx.app.options()));
    raise_change(ctx.tx(), fog, {"config", "router_changed"});
  } else {
    int64_t id = 0;
    if (current.empty()) {
      id = ctx.tx()
               .exec_params1(
                   "INSERT INTO routers (is_edge, host, messaging_port, edge_router_port, "
                   "inter_router_port, is_default) VALUES (false, $1, $2, $3, $4, true) "
                   "RETURNING id",
                   *host, messaging, edge, inter)[0]
               .as<int64_t>();
    } else {
      id = current[0][0].as<int64_t>();
      pexec0(ctx.tx(),
             "UPDATE routers SET host = $2, messaging_port = $3, edge_router_port = $4, "
             "inter_router_port = $5 WHERE id = $1",
             id, *host, messaging, edge, inter);
    }
    refresh_routers(ctx.tx(), {id});
    link_orphans_to_default(ctx.tx());
  }
  return json_response(200, default_router_json(ctx));
}

}  // namespace

void register_iofog_routes(app& a) {
  a.add_route({"PATCH", "/iofog/:uuid/tunnel", auth_kind::user, tunnel_patch,
               "Open or close the agent's SSH reverse tunnel ({action: open|close})", 204});
  a.add_route({"GET", "/iofog/:uuid/tunnel", auth_kind::user, tunnel_get,
               "The agent's SSH reverse tunnel"});
  a.add_route({"GET", "/router", auth_kind::user, router_get, "The default router"});
  a.add_route({"PUT", "/router", auth_kind::user, router_put,
               "Create or update the default router (Kubernetes)"});
  a.add_route({"GET", "/iofog-list", auth_kind::user, fog_list, "List agents"});
  a.add_route({"POST", "/iofog", auth_kind::user, fog_create, "Create an agent", 201});
  a.add_route({"GET", "/iofog/:uuid", auth_kind::user, fog_get, "Get an agent"});
  a.add_route({"PATCH", "/iofog/:uuid", auth_kind::user, fog_patch, "Update an agent", 204});
  a.add_route({"DELETE", "/iofog/:uuid", auth_kind::user, fog_delete, "Delete an agent", 202});
  a.add_route({"GET", "/iofog/:uuid/provisioning-key", auth_kind::user, provisioning_key,
               "New single-use provisioning key (20 min)", 201});
  a.add_route({"POST", "/iofog/:uuid/version/:cmd", auth_kind::user, version_command,
               "Upgrade or roll back the agent", 204});
  a.add_route({"POST", "/iofog/:uuid/reboot", auth_kind::user, flag_handler("reboot"),
               "Reboot the agent's host", 204});
  a.add_route({"POST", "/iofog/:uuid/prune", auth_kind::user, flag_handler("prune"),
               "Prune unused images on the agent", 204});
  a.add_route({"GET", "/iofog/:uuid/hal/hw", auth_kind::user, hal_handler("hw_info"),
               "Hardware info reported by the agent"});
  a.add_route({"GET", "/iofog/:uuid/hal/usb", auth_kind::user, hal_handler("usb_info"),
               "USB info reported by the agent"});
}

}  // namespace fogmesh::controller
