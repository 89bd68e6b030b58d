#include "router_model.hpp"

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <vector>

#include "auth.hpp"
#include "db.hpp"
#include "fog_model.hpp"
#include "http.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

struct router_row {
  int64_t id = 0;
  std::optional<std::string> fog;  // null for a default router registered with PUT /router
  bool edge = true;
  std::string host;
  int64_t messaging_port = 5672;
  std::optional<int64_t> edge_port;
  std::optional<int64_t> inter_port;
  bool is_default = false;
};

constexpr const char* router_columns =
    "id, iofog_uuid, is_edge, coalesce(host, ''), messaging_port, edge_router_port, "
    "inter_router_port, is_default";

router_row to_router(const pqxx::row& r) {
  router_row out;
  out.id = r[0].as<int64_t>();
  if (!r[1].is_null()) out.fog = r[1].c_str();
  out.edge = r[2].as<bool>();
  out.host = r[3].c_str();
  out.messaging_port = r[4].as<int64_t>();
  if (!r[5].is_null()) out.edge_port = r[5].as<int64_t>();
  if (!r[6].is_null()) out.inter_port = r[6].as<int64_t>();
  out.is_default = r[7].as<bool>();
  return out;
}

template <class... Params>
std::optional<router_row> find_router(pqxx::work& tx, const std::string& where,
                                      const Params&... params) {
  auto rows = pexec(
      tx, std::string("SELECT ") + router_columns + " FROM routers WHERE " + where + " LIMIT 1",
      params...);
  if (rows.empty()) return std::nullopt;
  return to_router(rows[0]);
}

std::optional<router_row> default_router(pqxx::work& tx) {
  return find_router(tx, default_router_where);
}

json::object listener(const char* role, int64_t port) {
  return json::object{{"role", role}, {"host", "0.0.0.0"}, {"port", port}};
}

// What rendering a router's config reads besides its own row, fetched by refresh_routers for all
// the routers it re-renders at once: re-rendering every router linked to the default router
// (PUT /router) took ~9 statements per router, 10 s for 10,000 routers.
struct render_inputs {
  std::map<std::string, std::vector<std::string>> upstreams;  // fog -> upstream_routers
  // fog -> its public ports' entities: {"tcpListeners": [...], "httpConnectors": [...], ...}
  std::map<std::string, json::object> adaptors;
  std::map<std::string, std::optional<router_row>> dests;  // upstream name -> router (cache)
};

// The config keys of the public ports' entities, in the order the config lists them.
constexpr const char* adaptor_keys[] = {"tcpListeners", "tcpConnectors", "httpListeners",
                                        "httpConnectors"};

// The router an upstream name refers to; routers' rows do not change while refresh_routers
// renders, so each name is looked up once per call.
const std::optional<router_row>& upstream_router(pqxx::work& tx, render_inputs& in,
                                                 const std::string& ref) {
  auto it = in.dests.find(ref);
  if (it == in.dests.end()) {
    it = in.dests
             .emplace(ref, ref == default_router_name ? default_router(tx)
                                                      : find_router(tx, "iofog_uuid = $1", ref))
             .first;
  }
  return it->second;
}

// The router microservice's config, in upstream's key order.
json::object render(pqxx::work& tx, const router_row& r, render_inputs& in) {
  json::object cfg;
  cfg["mode"] = r.edge ? "edge" : "interior";
  cfg["id"] = r.fog ? *r.fog : std::string(default_router_name);
  json::array listeners{listener("normal", r.messaging_port)};
  if (!r.edge) {
    if (r.inter_port) listeners.push_back(listener("inter-router", *r.inter_port));
    if (r.edge_port) listeners.push_back(listener("edge", *r.edge_port));
  }
  cfg["listeners"] = std::move(listeners);
  if (!r.fog) return cfg;
  json::array connectors;
  for (const auto& ref : in.upstreams[*r.fog]) {
    const auto& dest = upstream_router(tx, in, ref);
    if (!dest || dest->id == r.id || dest->edge) continue;  // unresolved (no default yet)
    auto port = r.edge ? dest->edge_port : dest->inter_port;
    if (!port) continue;
    connectors.push_back(
        json::object{{"name", dest->fog ? *dest->fog : std::string(default_router_name)},
                     {"role", r.edge ? "edge" : "inter-router"},
                     {"host", dest->host},
                     {"port", *port}});
  }
  if (!connectors.empty()) cfg["connectors"] = std::move(connectors);
  // Public ports: the listening side on the public router, the connecting side on the router of
  // the microservice's agent, which reaches the container through its published host port.
  if (auto a = in.adaptors.find(*r.fog); a != in.adaptors.end()) {
    for (const char* key : adaptor_keys) {
      if (const auto* list = a->second.if_contains(key)) cfg[key] = *list;
    }
  }
  return cfg;
}

// One side of a public port in its router's config, from a row (fog, address, port, is_http):
// an httpListener/httpConnector pair for `protocol: http` (the router's HTTP/1 adaptor, which
// carries WebSocket upgrades too), else a tcpListener/tcpConnector pair. `proxy: true` ports
// say nothing of their protocol: TCP, which carries anything.
void add_adaptor_entity(render_inputs& in, const pqxx::row& row, bool listener) {
  bool http = row[3].as<bool>();
  json::object e{{"name", std::string(row[1].c_str()) + (listener ? "-listener" : "-connector")},
                 {"host", listener ? "0.0.0.0" : "localhost"},
                 {"port", row[2].as<int64_t>()},
                 {"address", row[1].c_str()}};
  if (http) e["protocolVersion"] = "HTTP1";
  const char* key = http ? (listener ? "httpListeners" : "httpConnectors")
                         : (listener ? "tcpListeners" : "tcpConnectors");
  auto& list = in.adaptors[row[0].c_str()][key];
  if (!list.is_array()) list = json::array{};
  list.as_array().push_back(std::move(e));
}

// render_inputs of the fogs' routers, in three statements.
render_inputs fetch_render_inputs(pqxx::work& tx, const std::vector<std::string>& fogs) {
  render_inputs in;
  std::string array = pg_array_literal(fogs);
  for (const auto& row : pexec(tx,
                               "SELECT uuid, array_to_json(upstream_routers)::text FROM fogs "
                               "WHERE uuid = ANY($1::text[])",
                               array)) {
    auto& ups = in.upstreams[row[0].c_str()];
    json::value names = json::parse(row[1].c_str());
    for (const auto& u : names.as_array()) ups.emplace_back(u.as_string().c_str());
  }
  // Disabled public ports keep their allocation but are served by no router.
  for (const auto& l :
       pexec(tx,
             "SELECT host_key, address, public_port, protocol = 'http' AND NOT is_proxy "
             "FROM microservice_public_ports WHERE host_key = ANY($1::text[]) AND enabled "
             "ORDER BY host_key, public_port",
             array)) {
    add_adaptor_entity(in, l, true);
  }
  for (const auto& c :
       pexec(tx,
             "SELECT m.iofog_uuid, pp.address, p.port_external, pp.protocol = 'http' AND NOT "
             "pp.is_proxy FROM microservice_public_ports pp JOIN microservice_ports p ON "
             "p.microservice_uuid = pp.microservice_uuid AND p.port_internal = pp.port_internal "
             "JOIN microservices m ON m.uuid = pp.microservice_uuid WHERE m.iofog_uuid = "
             "ANY($1::text[]) AND pp.enabled ORDER BY m.iofog_uuid, pp.public_port, pp.address",
             array)) {
    add_adaptor_entity(in, c, false);
  }
  return in;
}

std::set<int64_t> listener_ports(const json::value& cfg) {
  std::set<int64_t> ports;
  if (!cfg.is_object()) return ports;
  const auto* l = cfg.as_object().if_contains("listeners");
  if (l == nullptr || !l->is_array()) return ports;
  for (const auto& e : l->as_array()) {
    if (!e.is_object()) continue;
    if (const auto* p = e.as_object().if_contains("port"); p && p->is_int64())
      ports.insert(p->as_int64());
  }
  return ports;
}

std::string system_app_name(const std::string& fog_uuid) {
  return "system-" + fog_uuid;
}

// The fog's system application and router microservice; returns the microservice's uuid.
std::string ensure_router_microservice(pqxx::work& tx, const std::string& fog_uuid) {
  auto existing =
      pexec(tx, "SELECT uuid FROM microservices WHERE iofog_uuid = $1 AND catalog_item_id = $2",
            fog_uuid, router_catalog_item_id);
  if (!existing.empty()) return existing[0][0].c_str();
  auto app = pexec1(
      tx,
      "WITH owner AS (SELECT user_id FROM fogs WHERE uuid = $1), "
      "ins AS (INSERT INTO applications (name, description, is_activated, is_system, user_id) "
      "  SELECT $2, 'System microservices of agent ' || $1, true, true, user_id FROM owner "
      "  ON CONFLICT (user_id, name) DO NOTHING RETURNING id) "
      "SELECT id FROM ins UNION ALL SELECT a.id FROM applications a, owner o "
      "WHERE a.user_id = o.user_id AND a.name = $2 LIMIT 1",
      fog_uuid, system_app_name(fog_uuid));
  std::string uuid = new_uuid();
  pexec0(
      tx,
      "INSERT INTO microservices (uuid, name, config, catalog_item_id, registry_id, iofog_uuid, "
      "application_id, root_host_access, log_size, user_id) "
      "SELECT $1, 'Router for Fog ' || $2, '{}', c.id, c.registry_id, $2, $3, false, 1, f.user_id "
      "FROM catalog_items c, fogs f WHERE c.id = $4 AND f.uuid = $2",
      uuid, fog_uuid, app[0].as<int64_t>(), router_catalog_item_id);
  pexec0(tx, "INSERT INTO microservice_status (microservice_uuid) VALUES ($1)", uuid);
  pexec0(
      tx,
      "INSERT INTO microservice_images (microservice_uuid, fog_type_id, container_image) "
      "SELECT $1, fog_type_id, container_image FROM catalog_item_images WHERE catalog_item_id = $2",
      uuid, router_catalog_item_id);
  raise_change(tx, fog_uuid, {"microservice_list"});
  return uuid;
}

// Agents in router mode none that reach the mesh through this router (or the default router)
// re-read their config: raise_change() for each, in one statement (one NOTIFY batch, not one
// round trip per agent). Two texts rather than one with a boolean parameter: a prepared
// statement's generic plan could then not use migration 0014's index with an index condition.
void flag_network_router_users(pqxx::work& tx, const router_row& r) {
  std::string users =
      r.is_default
          ? "network_router IS NULL OR network_router = ANY(ARRAY[$1::text, 'default-router'])"
          : "network_router = $1";
  auto rows =
      pexec(tx,
            "WITH users AS (SELECT uuid FROM fogs WHERE router_mode = 'none' AND (" + users +
                ")), flagged AS (INSERT INTO change_tracking (fog_uuid, config, "
                "router_changed) SELECT uuid, true, true FROM users "
                "WHERE uuid IS DISTINCT FROM current_setting('fogmesh.quiet_fog', true)) "
                "SELECT uuid FROM users",
            r.fog.value_or(""));
  for (const auto& f : rows) fogs_changed_by_request().push_back(f[0].c_str());
}

// A candidate public port `c` is free on the public router $1 (see public_port_free).
constexpr const char* public_port_free_sql =
    "NOT EXISTS (SELECT 1 FROM microservice_public_ports x WHERE x.host_key = $1 AND "
    "x.public_port = c) AND NOT EXISTS (SELECT 1 FROM microservice_ports q JOIN microservices o "
    "ON o.uuid = q.microservice_uuid WHERE o.iofog_uuid = $1 AND q.port_external = c AND NOT "
    "q.is_udp)";

// The public ports `fog`'s router serves for microservices on other fogs move to the default
// router (see remove_fog_router); returns the routers to re-render. Those of the fog's own
// microservices go with them, and all of them go when there is no other default router.
std::set<int64_t> rehost_public_ports(pqxx::work& tx, const router_row& gone,
                                      const public_port_range& range) {
  const std::string& fog = *gone.fog;
  auto serving = public_port_routers(tx, "pp.host_key = $1", fog);
  auto def = default_router(tx);
  std::set<std::string> agents;
  if (def && def->id != gone.id) {
    std::string key = def->fog.value_or(default_router_name);
    auto hosted = pexec(tx,
                        "SELECT pp.id, pp.public_port, m.iofog_uuid FROM microservice_public_ports "
                        "pp JOIN microservices m ON m.uuid = pp.microservice_uuid WHERE "
                        "pp.host_key = $1 AND m.iofog_uuid IS DISTINCT FROM $1 "
                        "ORDER BY pp.public_port, pp.id",
                        fog);
    for (const auto& h : hosted) {
      std::optional<int64_t> port = h[1].as<int64_t>();
      if (!public_port_free(tx, key, *port)) port = first_free_public_port(tx, key, range);
      if (!port) break;  // the default router is full: the rest are released below
      pexec0(tx,
             "UPDATE microservice_public_ports SET host_key = $2, public_port = $3 WHERE id = $1",
             h[0].as<int64_t>(), key, *port);
      if (!h[2].is_null()) agents.emplace(h[2].c_str());
    }
    serving.insert(def->id);
  }
  pexec0(tx, "DELETE FROM microservice_public_ports WHERE host_key = $1", fog);
  // Their connectors did not change, but their public links (and what depends on them) did.
  raise_changes(tx, {agents.begin(), agents.end()}, {"microservice_config"});
  return serving;
}

}  // namespace

bool public_port_free(pqxx::work& tx, const std::string& host_key, int64_t port) {
  return !pexec(tx,
                std::string("SELECT 1 FROM (SELECT $2::integer AS c) s WHERE ") +
                    public_port_free_sql,
                host_key, port)
              .empty();
}

std::optional<int64_t> first_free_public_port(pqxx::work& tx, const std::string& host_key,
                                              const public_port_range& range) {
  auto next =
      pexec(tx,
            std::string("SELECT c FROM generate_series($2::integer, $3::integer - 1) c WHERE ") +
                public_port_free_sql + " ORDER BY c LIMIT 1",
            host_key, range.start, range.end);
  if (next.empty()) return std::nullopt;
  return next[0][0].as<int64_t>();
}

std::set<int64_t> downstream_routers(pqxx::work& tx, int64_t router_id) {
  std::set<int64_t> out;
  auto rows =
      pexec(tx,
            // Only interior routers have downstream ones (upstreams must be interior): an edge
            // router's lookup ends at once instead of scanning every fog, which every POST /iofog
            // did. `@>` (not `= ANY`) lets the GIN index on upstream_routers serve interior ones.
            "SELECT d.id FROM routers r JOIN fogs f ON f.router_mode <> 'none' AND "
            "((r.iofog_uuid IS NOT NULL AND f.upstream_routers @> ARRAY[r.iofog_uuid]) OR "
            " (r.is_default AND f.upstream_routers @> '{default-router}'::text[])) "
            "JOIN routers d ON d.iofog_uuid = f.uuid "
            "WHERE r.id = $1 AND d.id <> r.id AND NOT r.is_edge",
            router_id);
  for (const auto& row : rows) out.insert(row[0].as<int64_t>());
  return out;
}

std::set<int64_t> public_port_routers(pqxx::work& tx, const std::string& where_sql,
                                      const std::string& param) {
  std::set<int64_t> out;
  auto rows =
      pexec(tx,
            "SELECT r.id FROM microservice_public_ports pp JOIN microservices m ON m.uuid = "
            "pp.microservice_uuid JOIN routers r ON r.iofog_uuid = m.iofog_uuid OR r.iofog_uuid = "
            "pp.host_key WHERE " +
                where_sql,
            param);
  for (const auto& row : rows) out.insert(row[0].as<int64_t>());
  return out;
}

bool has_downstream_routers(pqxx::work& tx, const std::string& fog_uuid) {
  auto r = find_router(tx, "iofog_uuid = $1", fog_uuid);
  return r && !r->edge && !downstream_routers(tx, r->id).empty();
}

void refresh_routers(pqxx::work& tx, std::set<int64_t> router_ids) {
  std::set<int64_t> all = router_ids;
  for (int64_t id : router_ids) {
    auto down = downstream_routers(tx, id);
    all.insert(down.begin(), down.end());
  }
  if (all.empty()) return;
  // Concurrent requests re-rendering the same router would each miss the other's uncommitted
  // rows: lock the routers (in id order, one statement) first. Under READ COMMITTED the
  // statements after the lock see what the previous holder committed.
  std::string ids = "{";
  for (int64_t id : all) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
  ids += "}";
  pexec(tx, "SELECT id FROM routers WHERE id = ANY($1::integer[]) ORDER BY id FOR UPDATE", ids);
  // Each router with its router microservice's uuid and config, in one statement.
  struct rendered {
    router_row router;
    std::string msvc;    // empty: the fog has none yet
    std::string config;  // the current one
  };
  std::vector<rendered> routers;
  std::vector<std::string> fogs;
  for (const auto& row : pexec(tx,
                               std::string("SELECT ") + router_columns +
                                   ", m.uuid, m.config FROM routers r LEFT JOIN LATERAL "
                                   "(SELECT uuid, config FROM microservices WHERE iofog_uuid = "
                                   "r.iofog_uuid AND catalog_item_id = $2 LIMIT 1) m ON true "
                                   "WHERE r.id = ANY($1::integer[]) ORDER BY r.id",
                               ids, router_catalog_item_id)) {
    rendered r{to_router(row), row[8].is_null() ? "" : row[8].c_str(),
               row[9].is_null() ? "" : row[9].c_str()};
    if (!r.router.fog) continue;  // the Kubernetes default router has no microservice here
    fogs.push_back(*r.router.fog);
    routers.push_back(std::move(r));
  }
  render_inputs inputs = fetch_render_inputs(tx, fogs);
  std::vector<std::string> config_changed;
  std::vector<std::string> list_changed;
  json::object new_configs;  // router microservice uuid -> its new config
  for (auto& [r, msvc, before] : routers) {
    if (msvc.empty()) {
      msvc = ensure_router_microservice(tx, *r.fog);
      before = "{}";  // as it creates it
    }
    std::string next = json::serialize(render(tx, r, inputs));
    if (next == before) continue;
    boost::system::error_code ec;
    json::value old_cfg = json::parse(before, ec);
    json::value new_cfg = json::parse(next);
    bool listeners_changed = ec || listener_ports(old_cfg) != listener_ports(new_cfg);
    new_configs[msvc] = next;
    if (listeners_changed) {
      // As upstream: the router's ports are mapped on the host (internal = external), and a
      // changed listener set recreates them and rebuilds the router container.
      pexec0(tx, "DELETE FROM microservice_ports WHERE microservice_uuid = $1", msvc);
      for (int64_t port : listener_ports(new_cfg)) {
        pexec0(tx,
               "INSERT INTO microservice_ports (microservice_uuid, port_internal, port_external) "
               "VALUES ($1, $2, $2)",
               msvc, port);
      }
      pexec0(tx, "UPDATE microservices SET rebuild = true WHERE uuid = $1", msvc);
      list_changed.push_back(*r.fog);
    } else {
      config_changed.push_back(*r.fog);
    }
  }
  // The new configs in one statement (as a JSON object: no quoting of our own).
  if (!new_configs.empty()) {
    pexec0(tx,
           "UPDATE microservices m SET config = v.value, updated_at = now() "
           "FROM json_each_text($1::json) v WHERE m.uuid = v.key",
           json::serialize(new_configs));
  }
  raise_changes(tx, list_changed, {"microservice_list", "microservice_config"});
  raise_changes(tx, config_changed, {"microservice_config"});
}

void link_orphans_to_default(pqxx::work& tx) {
  auto def = default_router(tx);
  if (!def) return;
  auto rows =
      pexec(tx,
            "UPDATE fogs f SET upstream_routers = '{default-router}' FROM routers r "
            "WHERE r.iofog_uuid = f.uuid AND NOT r.is_default AND f.router_mode <> 'none' AND "
            "f.upstream_routers = '{}' RETURNING f.uuid, r.id");
  std::set<int64_t> ids;
  std::vector<std::string> linked;
  for (const auto& row : rows) {
    linked.emplace_back(row[0].c_str());
    ids.insert(row[1].as<int64_t>());
  }
  raise_changes(tx, linked, {"router_changed"});
  refresh_routers(tx, ids);
  flag_network_router_users(tx, *def);
}

void sync_fog_router(pqxx::work& tx, const std::string& uuid, const public_port_range& range) {
  auto f = pexec1(
      tx,
      "SELECT router_mode, host, coalesce(messaging_port, 5672), edge_router_port, "
      "inter_router_port, is_system, cardinality(upstream_routers) FROM fogs WHERE uuid = $1",
      uuid);
  std::string mode = f[0].c_str();
  auto existing = find_router(tx, "iofog_uuid = $1", uuid);
  if (mode == "none") {
    if (existing) remove_fog_router(tx, uuid, range);
    return;
  }
  bool edge = mode == "edge";
  if (existing && !existing->edge && edge && !downstream_routers(tx, existing->id).empty()) {
    throw validation_error("Router of agent '" + uuid +
                           "' has downstream routers and cannot become an edge router");
  }
  std::optional<std::string> host;
  if (!f[1].is_null()) host = f[1].c_str();
  std::optional<int64_t> edge_port, inter_port;
  if (!edge && !f[3].is_null()) edge_port = f[3].as<int64_t>();
  if (!edge && !f[4].is_null()) inter_port = f[4].as<int64_t>();
  bool is_system = f[5].as<bool>();
  auto def = default_router(tx);
  // The system fog's interior router is the default router unless one exists already.
  bool make_default = !def && is_system && !edge;
  int64_t id = 0;
  if (!existing) {
    id = pexec1(tx,
                "INSERT INTO routers (iofog_uuid, is_edge, host, messaging_port, edge_router_port, "
                "inter_router_port, is_default) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                uuid, edge, host, f[2].as<int64_t>(), edge_port, inter_port, make_default)[0]
             .as<int64_t>();
  } else {
    id = existing->id;
    pexec0(
        tx,
        "UPDATE routers SET is_edge = $2, host = $3, messaging_port = $4, edge_router_port = $5, "
        "inter_router_port = $6, is_default = is_default OR $7 WHERE id = $1",
        id, edge, host, f[2].as<int64_t>(), edge_port, inter_port, make_default);
  }
  auto self = find_router(tx, "id = $1::integer", std::to_string(id));
  // No upstream named: the default router (upstream's rule), once there is one.
  if (!self->is_default && f[6].as<int64_t>() == 0 && (def || make_default)) {
    pexec0(tx, "UPDATE fogs SET upstream_routers = '{default-router}' WHERE uuid = $1", uuid);
  }
  ensure_router_microservice(tx, uuid);
  refresh_routers(tx, {id});
  if (existing &&
      (existing->host != self->host || existing->messaging_port != self->messaging_port))
    flag_network_router_users(tx, *self);
  if (make_default) link_orphans_to_default(tx);
}

void remove_fog_router(pqxx::work& tx, const std::string& uuid, const public_port_range& range) {
  auto r = find_router(tx, "iofog_uuid = $1", uuid);
  if (!r) return;
  std::set<int64_t> refresh;
  // Downstream routers: drop this upstream; with none left they use the default router.
  // (`@>`, not `= ANY`: the GIN index on upstream_routers serves it.)
  auto downs = pexec(
      tx,
      "UPDATE fogs f SET upstream_routers = CASE WHEN cardinality(array_remove(upstream_routers, "
      "$1)) = 0 THEN '{default-router}' ELSE array_remove(upstream_routers, $1) END "
      "WHERE upstream_routers @> ARRAY[$1::text] AND uuid <> $1 RETURNING uuid",
      uuid);
  for (const auto& d : downs) {
    raise_change(tx, d[0].c_str(), {"router_changed"});
    if (auto dr = find_router(tx, "iofog_uuid = $1", d[0].c_str())) refresh.insert(dr->id);
  }
  if (r->is_default) {
    // Routers linked to the default router lose their connector until a new default appears.
    auto more = downstream_routers(tx, r->id);
    refresh.insert(more.begin(), more.end());
  }
  // Agents without a router of their own that used this one now use the default router.
  auto users = pexec(
      tx,
      "UPDATE fogs SET network_router = 'default-router' WHERE network_router = $1 RETURNING uuid",
      uuid);
  for (const auto& u : users) raise_change(tx, u[0].c_str(), {"config", "router_changed"});
  if (r->is_default) flag_network_router_users(tx, *r);
  // Public ports this router served move to the default router (or are released: their
  // microservices keep plain ports).
  auto hosted = rehost_public_ports(tx, *r, range);
  refresh.insert(hosted.begin(), hosted.end());
  pexec0(tx, "DELETE FROM routers WHERE id = $1", r->id);
  // By owner and name: the (user_id, name) index (there is one system application per fog).
  pexec0(tx,
         "DELETE FROM applications a USING fogs f WHERE f.uuid = $2 AND a.user_id = f.user_id "
         "AND a.name = $1 AND a.is_system",
         system_app_name(uuid), uuid);
  raise_change(tx, uuid, {"microservice_list", "router_changed"});
  refresh.erase(r->id);
  refresh_routers(tx, refresh);
}

}  // namespace fogmesh::controller
