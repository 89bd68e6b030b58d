// Applications (and their legacy /flow alias, keyed by id), microservices with their images,
// ports, volumes, env, cmd and extra hosts, and the agent's view of them (/agent/microservices).
// Agents only receive microservices of activated applications; every change that affects an
// agent raises its change flags (see fog_model.hpp: raise_change).
#include <algorithm>
#include <map>

#include "app.hpp"
#include "auth.hpp"
#include "extra_hosts.hpp"
#include "fog_model.hpp"
#include "router_model.hpp"
#include "templates.hpp"
#include "validate.hpp"
#include "yaml_upload.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

// One port mapping as upstream shows it; public ones carry `public {enabled, schemes, protocol,
// links, router {host, port}}` (links use the public router's host; for a Kubernetes default
// router the `default-proxy-host` config key the port manager sets). A disabled public port
// shows its reserved allocation with `enabled: false`.
#define PORT_JSON_SQL                                                                         \
  "CASE WHEN pp.id IS NULL THEN json_build_object('internal', p.port_internal, 'external', "  \
  "p.port_external, 'protocol', CASE WHEN p.is_udp THEN 'udp' ELSE 'tcp' END) ELSE "          \
  "json_build_object('internal', p.port_internal, 'external', p.port_external, 'protocol', "  \
  "'tcp', 'public', json_build_object('enabled', pp.enabled, 'schemes', pp.schemes, "         \
  "'protocol', pp.protocol, 'links', (SELECT coalesce(json_agg(sc || '://' || coalesce("      \
  "hr.host, (SELECT value FROM controller_config WHERE key = 'default-proxy-host'), "         \
  "'undefined-proxy-host') || ':' || pp.public_port), '[]') FROM "                            \
  "jsonb_array_elements_text(pp.schemes) sc), 'router', json_build_object('host', CASE WHEN " \
  "coalesce(hr.is_default, true) THEN 'default-router' ELSE pp.host_key END, 'port', "        \
  "pp.public_port)), 'proxy', pp.is_proxy) END"
#define PORT_FROM_SQL                                                                          \
  " FROM microservice_ports p LEFT JOIN microservice_public_ports pp ON pp.microservice_uuid " \
  "= p.microservice_uuid AND pp.port_internal = p.port_internal LEFT JOIN routers hr ON "      \
  "hr.iofog_uuid = pp.host_key"

// Full microservice JSON, built by PostgreSQL; `m` is microservices, `a` its application.
constexpr const char* msvc_json_sql =
    "json_build_object("
    "'uuid', m.uuid, 'name', m.name, 'config', m.config, 'catalogItemId', m.catalog_item_id, "
    "'iofogUuid', m.iofog_uuid, 'application', a.name, 'applicationId', a.id, 'flowId', a.id, "
    "'rootHostAccess', m.root_host_access, 'logSize', m.log_size, 'rebuild', m.rebuild, "
    "'registryId', m.registry_id, 'userId', m.user_id, "
    "'images', coalesce((SELECT json_agg(json_build_object('containerImage', i.container_image, "
    "  'fogTypeId', i.fog_type_id) ORDER BY i.fog_type_id) FROM microservice_images i "
    "  WHERE i.microservice_uuid = m.uuid), '[]'), "
    "'ports', coalesce((SELECT json_agg(" PORT_JSON_SQL " ORDER BY p.port_internal) " PORT_FROM_SQL
    " WHERE p.microservice_uuid = m.uuid), '[]'), "
    "'volumeMappings', coalesce((SELECT json_agg(json_build_object('id', v.id, "
    "  'hostDestination', v.host_destination, 'containerDestination', v.container_destination, "
    "  'accessMode', v.access_mode, 'type', v.type) ORDER BY v.id) FROM microservice_volumes v "
    "  WHERE v.microservice_uuid = m.uuid), '[]'), "
    "'routes', coalesce((SELECT json_agg(r.dest_microservice_uuid ORDER BY r.id) FROM routes r "
    "  WHERE r.source_microservice_uuid = m.uuid), '[]'), "
    "'env', m.env, 'cmd', m.cmd, 'extraHosts', " USER_EXTRA_HOSTS_SQL
    ", "
    "'status', (SELECT json_build_object('status', s.status, 'percentage', s.percentage, "
    "  'errorMessage', s.error_message, 'containerId', s.container_id, 'startTime', s.start_time, "
    "  'operatingDuration', s.operating_duration, 'cpuUsage', s.cpu_usage, "
    "  'memoryUsage', s.memory_usage) FROM microservice_status s "
    "  WHERE s.microservice_uuid = m.uuid), "
    "'createdAt', m.created_at, 'updatedAt', m.updated_at)";

[[noreturn]] void invalid_msvc(const std::string& uuid) {
  throw not_found("Invalid microservice UUID '" + uuid + "'");
}

void check_name(const std::string& field, const std::string& name) {
  if (!is_dns_name(name)) throw_format(field);
}

struct app_row {
  int64_t id;
  bool activated;
  bool system;
};

app_row find_app(request_context& ctx, const std::string& name) {
  auto rows =
      pexec(ctx.tx(),
            "SELECT id, is_activated, is_system FROM applications WHERE name = $1 AND user_id = $2",
            name, ctx.user_id);
  if (rows.empty()) throw not_found("Invalid application name '" + name + "'");
  return {rows[0][0].as<int64_t>(), rows[0][1].as<bool>(), rows[0][2].as<bool>()};
}

// System applications (an agent's router) are managed by the controller alone.
app_row find_user_app(request_context& ctx, const std::string& name) {
  auto app = find_app(ctx, name);
  if (app.system) throw validation_error("Application '" + name + "' is a system application");
  return app;
}

// Raises flags on every agent that runs a microservice of the application.
void touch_app_fogs(request_context& ctx, int64_t app_id,
                    std::initializer_list<const char*> flags) {
  auto fogs = pexec(
      ctx.tx(),
      "SELECT DISTINCT iofog_uuid FROM microservices WHERE application_id = $1 AND iofog_uuid IS "
      "NOT NULL",
      app_id);
  for (const auto& f : fogs) raise_change(ctx.tx(), f[0].c_str(), flags);
}

struct public_input {
  std::string protocol = "http";  // http | tcp
  json::array schemes;
  std::optional<std::string> host;  // public router: fog uuid or default-router
  std::optional<int64_t> port;      // requested public port
  bool proxy = false;
  bool enabled = true;  // false: allocated and reported, not served
};

struct port_input {
  int64_t internal;
  int64_t external;
  bool udp;
  std::optional<public_input> pub;
};

port_input read_port(const json::value& v, const std::string& field) {
  if (!v.is_object()) throw_type_error(field, "object");
  body_reader r(v.as_object());
  port_input p{};
  p.internal = *r.integer("internal", true, 1, 65535);
  p.external = *r.integer("external", true, 1, 65535);
  auto proto = r.enumeration("protocol", {"tcp", "udp", "TCP", "UDP"});
  p.udp = proto && (*proto == "udp" || *proto == "UDP");
  // `public` or `proxy: true`: a port on a public router. `public: {enabled: false}` (or
  // `disabled: true`, what upstream's create path reads) allocates it without serving it.
  const auto* pub = r.obj("public");
  bool proxy = r.boolean("proxy").value_or(false);
  if (pub == nullptr && !proxy) return p;
  if (p.udp)
    throw validation_error("Public port for internal port '" + std::to_string(p.internal) +
                           "' must use protocol tcp");
  public_input pi;
  pi.proxy = proxy && pub == nullptr;
  if (pub != nullptr) {
    body_reader pr(*pub);
    pi.enabled = pr.boolean("enabled").value_or(true) && !pr.boolean("disabled").value_or(false);
    if (auto proto = pr.enumeration("protocol", {"http", "tcp", "HTTP", "TCP"})) {
      pi.protocol = (*proto == "tcp" || *proto == "TCP") ? "tcp" : "http";
    }
    if (auto schemes = pr.string_array("schemes")) {
      for (const auto& sc : *schemes) {
        // As upstream: an http public port only gets http(s) links.
        if (pi.protocol == "http" && sc.rfind("http", 0) != 0) {
          throw validation_error("Link scheme '" + sc + "' of public port for internal port '" +
                                 std::to_string(p.internal) + "' needs protocol 'tcp'");
        }
        pi.schemes.emplace_back(sc);
      }
    }
    if (const auto* router = pr.obj("router")) {
      body_reader rr(*router);
      pi.host = rr.str("host", false, 1);
      pi.port = rr.integer("port", false, 1, 65535);
    }
  }
  if (pi.schemes.empty()) pi.schemes.emplace_back(pi.protocol == "tcp" ? "tcp" : "https");
  p.pub = std::move(pi);
  return p;
}

// A public port's allocation while its microservice's port list is replaced (PATCH, PUT
// /application): a port sent again keeps its public port and address, so a re-sent or
// re-enabled public port is served where it was.
struct kept_public_port {
  std::string host_key;
  int64_t public_port = 0;
  std::string address;
};

// Allocates the public side of a port mapping: the public router (named, else the default
// router), a free port from the configured range there (or the one asked for, or the `kept`
// one while it is free and fits the request) and an address (the kept one, else a new one).
void add_public_port(request_context& ctx, const std::string& uuid,
                     const std::optional<std::string>& fog, const port_input& p,
                     const kept_public_port* kept) {
  const auto& pub = *p.pub;
  if (!fog) throw validation_error("ioFog node is required.");
  auto mode = pexec1(ctx.tx(), "SELECT router_mode FROM fogs WHERE uuid = $1", *fog);
  if (std::string(mode[0].c_str()) == "none") {
    throw validation_error("Agent '" + *fog + "' has no router for public ports");
  }
  std::string host_name = pub.host.value_or(default_router_name);
  std::string host_key;
  if (host_name == default_router_name) {
    auto d = pexec(ctx.tx(),
                   std::string("SELECT iofog_uuid FROM routers WHERE ") + default_router_where);
    if (d.empty()) throw validation_error("Invalid router host 'default-router'");
    host_key = d[0][0].is_null() ? default_router_name : d[0][0].c_str();
  } else {
    auto h = pexec(
        ctx.tx(),
        "SELECT 1 FROM routers r JOIN fogs f ON f.uuid = r.iofog_uuid WHERE r.iofog_uuid = $1 "
        "AND (f.user_id = $2 OR f.is_system)",
        host_name, ctx.user_id);
    if (h.empty()) throw validation_error("Invalid router host '" + host_name + "'");
    host_key = host_name;
  }
  int64_t public_port = 0;
  if (kept && kept->host_key == host_key && (!pub.port || *pub.port == kept->public_port) &&
      public_port_free(ctx.tx(), host_key, kept->public_port)) {
    public_port = kept->public_port;
  } else if (pub.port) {
    if (!public_port_free(ctx.tx(), host_key, *pub.port)) {
      throw validation_error("Port '" + std::to_string(*pub.port) + "' is not available");
    }
    public_port = *pub.port;
  } else {
    auto next = first_free_public_port(ctx.tx(), host_key, public_ports_of(ctx.app.options()));
    if (!next) throw validation_error("No available public port on router '" + host_name + "'");
    public_port = *next;
  }
  std::string address;
  if (kept) {
    address = kept->address;
  } else {
    address = new_uuid();
    address.erase(std::remove(address.begin(), address.end(), '-'), address.end());
  }
  try {
    pexec0(ctx.tx(),
           "INSERT INTO microservice_public_ports (microservice_uuid, port_internal, host_key, "
           "public_port, address, protocol, schemes, is_proxy, enabled) VALUES ($1, $2, $3, $4, "
           "$5, $6, $7::jsonb, $8, $9)",
           uuid, p.internal, host_key, public_port, address, pub.protocol,
           json::serialize(pub.schemes), pub.proxy, pub.enabled);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Port '" + std::to_string(public_port) + "' is not available");
  }
}

void add_port(request_context& ctx, const std::string& uuid, const std::optional<std::string>& fog,
              const port_input& p, const kept_public_port* kept = nullptr) {
  if (fog) {
    auto used = pexec(
        ctx.tx(),
        "SELECT 1 FROM microservice_ports p JOIN microservices m ON m.uuid = p.microservice_uuid "
        "WHERE m.iofog_uuid = $1 AND p.port_external = $2 AND p.is_udp = $3",
        *fog, p.external, p.udp);
    // Public ports this agent's router listens on are taken too.
    auto public_used =
        pexec(ctx.tx(),
              "SELECT 1 FROM microservice_public_ports WHERE host_key = $1 AND public_port = $2",
              *fog, p.external);
    if (!used.empty() || (!p.udp && !public_used.empty())) {
      throw validation_error("Port '" + std::to_string(p.external) + "' is not available");
    }
  }
  try {
    pexec0(
        ctx.tx(),
        "INSERT INTO microservice_ports (microservice_uuid, port_internal, port_external, is_udp) "
        "VALUES ($1, $2, $3, $4)",
        uuid, p.internal, p.external, p.udp);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Port mapping for internal port '" + std::to_string(p.internal) +
                           "' already exists");
  }
  if (p.pub) add_public_port(ctx, uuid, fog, p, kept);
}

// Replaces a microservice's port mappings; public ports sent again keep their allocation.
void replace_ports(request_context& ctx, const std::string& uuid,
                   const std::optional<std::string>& fog, const json::array& ports) {
  std::map<int64_t, kept_public_port> kept;  // by internal port
  for (const auto& k : pexec(ctx.tx(),
                             "SELECT port_internal, host_key, public_port, address FROM "
                             "microservice_public_ports WHERE microservice_uuid = $1",
                             uuid)) {
    kept.emplace(k[0].as<int64_t>(),
                 kept_public_port{k[1].c_str(), k[2].as<int64_t>(), k[3].c_str()});
  }
  pexec0(ctx.tx(), "DELETE FROM microservice_ports WHERE microservice_uuid = $1", uuid);
  std::vector<port_input> inputs;
  for (const auto& p : ports) inputs.push_back(read_port(p, "ports"));
  // Kept allocations first: a new public port must not take the number of one that is kept.
  auto kept_of = [&kept](const port_input& p) -> const kept_public_port* {
    auto it = p.pub ? kept.find(p.internal) : kept.end();
    return it == kept.end() ? nullptr : &it->second;
  };
  std::stable_partition(inputs.begin(), inputs.end(),
                        [&](const port_input& p) { return kept_of(p) != nullptr; });
  for (const auto& p : inputs) add_port(ctx, uuid, fog, p, kept_of(p));
}

int64_t add_volume(request_context& ctx, const std::string& uuid, const json::value& v,
                   const std::string& field) {
  if (!v.is_object()) throw_type_error(field, "object");
  body_reader r(v.as_object());
  auto host = r.str("hostDestination", true, 1);
  auto container = r.str("containerDestination", true, 1);
  auto mode = r.str("accessMode", true, 1);
  auto type = r.enumeration("type", {"bind", "volume"}).value_or("bind");
  auto row =
      pexec1(ctx.tx(),
             "INSERT INTO microservice_volumes (microservice_uuid, host_destination, "
             "container_destination, access_mode, type) VALUES ($1, $2, $3, $4, $5) RETURNING id",
             uuid, *host, *container, *mode, type);
  return row[0].as<int64_t>();
}

// env [{key,value}] and cmd [string] are stored as given (jsonb) once their shape is checked
// (extraHosts: extra_hosts.hpp).
std::optional<std::string> read_env(body_reader& r) {
  const auto* a = r.array("env");
  if (a == nullptr) return std::nullopt;
  json::array out;
  for (const auto& e : *a) {
    if (!e.is_object()) throw_type_error("env", "object");
    body_reader er(e.as_object());
    out.push_back(
        json::object{{"key", *er.str("key", true)}, {"value", er.str("value").value_or("")}});
  }
  return json::serialize(out);
}

std::optional<std::string> read_cmd(body_reader& r) {
  auto cmd = r.string_array("cmd");
  if (!cmd) return std::nullopt;
  json::array out(cmd->begin(), cmd->end());
  return json::serialize(out);
}

std::optional<std::string> read_config(body_reader& r) {
  const auto& obj = r.object();
  auto it = obj.find("config");
  if (it == obj.end() || it->value().is_null()) return std::nullopt;
  if (it->value().is_string()) return std::string(it->value().as_string());
  // iofogctl sends a JSON string; accept an object too and store its text.
  if (it->value().is_object()) return json::serialize(it->value());
  throw_type_error("config", "string");
}

std::optional<std::string> resolve_fog(request_context& ctx, body_reader& r) {
  if (auto uuid = r.str("iofogUuid")) {
    auto rows =
        pexec(ctx.tx(), "SELECT 1 FROM fogs WHERE uuid = $1 AND user_id = $2", *uuid, ctx.user_id);
    if (rows.empty()) throw not_found("Invalid ioFog UUID '" + *uuid + "'");
    return uuid;
  }
  if (auto name = r.str("agentName")) {
    auto rows = pexec(ctx.tx(), "SELECT uuid FROM fogs WHERE name = $1 AND user_id = $2", *name,
                      ctx.user_id);
    if (rows.empty()) throw not_found("Invalid ioFog name '" + *name + "'");
    return std::string(rows[0][0].c_str());
  }
  return std::nullopt;
}

void replace_images(request_context& ctx, const std::string& uuid, const json::array& images) {
  if (images.size() > 2) throw validation_error("Field images does not meet maximum length of 2");
  write_images(ctx.tx(), "microservice_images", "microservice_uuid", uuid, images);
}

void check_catalog_and_registry(request_context& ctx, body_reader& r) {
  if (auto cid = r.integer("catalogItemId", false, 1)) {
    auto rows = pexec(
        ctx.tx(), "SELECT 1 FROM catalog_items WHERE id = $1 AND (user_id IS NULL OR user_id = $2)",
        *cid, ctx.user_id);
    if (rows.empty()) throw not_found("Invalid catalog item id '" + std::to_string(*cid) + "'");
  }
  if (auto rid = r.integer("registryId", false, 1)) {
    auto rows =
        pexec(ctx.tx(), "SELECT 1 FROM registries WHERE id = $1 AND (is_public OR user_id = $2)",
              *rid, ctx.user_id);
    if (rows.empty()) throw not_found("Invalid registry id '" + std::to_string(*rid) + "'");
  }
}

// Routers rendering this microservice's public ports (its agent's and the public ones).
std::set<int64_t> msvc_public_routers(request_context& ctx, const std::string& uuid) {
  return public_port_routers(ctx.tx(), "m.uuid = $1", uuid);
}

std::set<int64_t> app_public_routers(request_context& ctx, int64_t app_id) {
  return public_port_routers(ctx.tx(), "m.application_id = $1::integer", std::to_string(app_id));
}

std::set<int64_t> merged(std::set<int64_t> a, const std::set<int64_t>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

// Creates a microservice from a (validated here) body; returns its uuid.
std::string create_microservice(request_context& ctx, const json::object& body,
                                std::optional<int64_t> app_id) {
  body_reader r(body);
  auto name = r.str("name", true, 1);
  check_name("name", *name);
  auto config = read_config(r);
  if (!app_id) {
    std::string app_name;
    if (auto a = r.str("application")) {
      app_name = *a;
    } else if (auto flow = r.integer("flowId")) {
      auto rows = pexec(ctx.tx(), "SELECT name FROM applications WHERE id = $1 AND user_id = $2",
                        *flow, ctx.user_id);
      if (rows.empty()) throw not_found("Invalid flow id '" + std::to_string(*flow) + "'");
      app_name = rows[0][0].c_str();
    } else {
      throw_missing("application");
    }
    app_id = find_user_app(ctx, app_name).id;
  }
  auto fog = resolve_fog(ctx, r);
  check_catalog_and_registry(ctx, r);
  auto catalog_id = r.integer("catalogItemId", false, 1);
  const auto* images = r.array("images");
  if (!catalog_id && (images == nullptr || images->empty())) throw_missing("images");
  auto registry_id = r.integer("registryId", false, 1);
  auto root = r.boolean("rootHostAccess");
  auto log_size = r.integer("logSize", false, 0);
  auto env = read_env(r);
  auto cmd = read_cmd(r);
  auto hosts = read_extra_hosts(ctx.tx(), r, ctx.user_id);
  const auto* ports = r.array("ports");
  const auto* volumes = r.array("volumeMappings");

  auto dup = pexec(ctx.tx(), "SELECT 1 FROM microservices WHERE application_id = $1 AND name = $2",
                   *app_id, *name);
  if (!dup.empty()) throw validation_error("Duplicate name '" + *name + "'");

  std::string uuid = new_uuid();
  pexec0(
      ctx.tx(),
      "INSERT INTO microservices (uuid, name, config, catalog_item_id, registry_id, iofog_uuid, "
      "application_id, root_host_access, log_size, env, cmd, extra_hosts, user_id) VALUES ($1, "
      "$2, coalesce($3, '{}'), $4, coalesce($5, 1), $6, $7, coalesce($8, false), coalesce($9, 0), "
      "coalesce($10::jsonb, '[]'), coalesce($11::jsonb, '[]'), coalesce($12::jsonb, '[]'), $13)",
      uuid, *name, config, catalog_id, registry_id, fog, *app_id, root, log_size, env, cmd, hosts,
      ctx.user_id);
  pexec0(ctx.tx(), "INSERT INTO microservice_status (microservice_uuid) VALUES ($1)", uuid);
  if (catalog_id) {
    pexec0(ctx.tx(),
           "INSERT INTO microservice_images (microservice_uuid, fog_type_id, container_image) "
           "SELECT $1, fog_type_id, container_image FROM catalog_item_images "
           "WHERE catalog_item_id = $2",
           uuid, *catalog_id);
  } else {
    replace_images(ctx, uuid, *images);
  }
  if (ports != nullptr) {
    for (size_t i = 0; i < ports->size(); ++i) {
      add_port(ctx, uuid, fog, read_port((*ports)[i], "ports"));
    }
  }
  if (volumes != nullptr) {
    for (const auto& v : *volumes) add_volume(ctx, uuid, v, "volumeMappings");
  }
  if (fog) raise_change(ctx.tx(), *fog, {"microservice_list"});
  refresh_routers(ctx.tx(), msvc_public_routers(ctx, uuid));
  return uuid;
}

std::string app_json(request_context& ctx, const std::string& where, const std::string& param) {
  auto row = pexec1(
      ctx.tx(),
      "SELECT coalesce(json_agg(json_build_object('id', a.id, 'name', a.name, 'description', "
      "a.description, 'isActivated', a.is_activated, 'isSystem', a.is_system, 'userId', a.user_id, "
      "'microservices', coalesce((SELECT json_agg(" +
          std::string(msvc_json_sql) +
          " ORDER BY m.created_at, m.uuid) FROM microservices m WHERE m.application_id = a.id), "
          "'[]'), "
          "'routes', coalesce((SELECT json_agg(json_build_object('name', r.name, 'from', s.name, "
          "'to', d.name) ORDER BY r.id) FROM routes r JOIN microservices s ON s.uuid = "
          "r.source_microservice_uuid JOIN microservices d ON d.uuid = r.dest_microservice_uuid "
          "WHERE r.application_id = a.id), '[]')) ORDER BY a.id), '[]')::text "
          "FROM applications a WHERE a.user_id = $1 " +
          where,
      ctx.user_id, param);
  return row[0].c_str();
}

void add_routes(request_context& ctx, int64_t app_id, const json::array& routes) {
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].is_object()) throw_type_error("routes", "object");
    body_reader rr(routes[i].as_object());
    auto from = rr.str("from", true, 1);
    auto to = rr.str("to", true, 1);
    std::string name = rr.str("name").value_or(*from + "-" + *to);
    auto ids =
        pexec(ctx.tx(),
              "SELECT (SELECT uuid FROM microservices WHERE application_id = $1 AND name = $2), "
              "(SELECT uuid FROM microservices WHERE application_id = $1 AND name = $3)",
              app_id, *from, *to);
    if (ids[0][0].is_null()) throw not_found("Invalid microservice name '" + *from + "'");
    if (ids[0][1].is_null()) throw not_found("Invalid microservice name '" + *to + "'");
    try {
      pexec0(ctx.tx(),
             "INSERT INTO routes (name, application_id, source_microservice_uuid, "
             "dest_microservice_uuid) VALUES ($1, $2, $3, $4)",
             name, app_id, ids[0][0].c_str(), ids[0][1].c_str());
    } catch (const pqxx::unique_violation&) {
      throw validation_error("Duplicate name '" + name + "'");
    }
  }
}

// --- applications ---

http_response app_list(request_context& ctx) {
  return raw_json_response(
      200, "{\"applications\":" + app_json(ctx, "AND NOT a.is_system AND $2 = $2", "") + "}");
}

http_response app_get(request_context& ctx) {
  const auto& name = ctx.param("name");
  std::string arr = app_json(ctx, "AND a.name = $2", name);
  if (arr == "[]") throw not_found("Invalid application name '" + name + "'");
  return raw_json_response(200, arr.substr(1, arr.size() - 2));
}

// The body of POST and PUT /application (and their /yaml forms).
struct application_input {
  std::string name;
  std::string description;
  bool activated = false;
  std::optional<json::array> microservices;
  std::optional<json::array> routes;
};

application_input read_application(request_context& ctx, const json::object& body,
                                   bool default_activated) {
  body_reader r(body);
  application_input in;
  in.name = *r.str("name", true, 1);
  check_name("name", in.name);
  in.description = r.str("description").value_or("");
  in.activated = r.boolean("isActivated").value_or(default_activated);
  const auto* msvcs = r.array("microservices");
  const auto* routes = r.array("routes");
  // With a template, its rendered microservices and routes are the application's.
  json::object rendered;
  if (const auto* tpl = r.obj("template")) {
    rendered = render_application_template(ctx, *tpl);
    body_reader tr(rendered);
    msvcs = tr.array("microservices");
    routes = tr.array("routes");
  }
  if (msvcs != nullptr) {
    for (const auto& m : *msvcs) {
      if (!m.is_object()) throw_type_error("microservices", "object");
    }
    in.microservices = *msvcs;
  }
  if (routes != nullptr) in.routes = *routes;
  return in;
}

http_response app_create_from(request_context& ctx, const json::object& body) {
  auto in = read_application(ctx, body, false);
  pqxx::result row;
  try {
    row = pexec(ctx.tx(),
                "INSERT INTO applications (name, description, is_activated, user_id) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                in.name, in.description, in.activated, ctx.user_id);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + in.name + "'");
  }
  int64_t id = row[0][0].as<int64_t>();
  // All-or-nothing: any failure below aborts the request's transaction.
  if (in.microservices) {
    for (const auto& m : *in.microservices) create_microservice(ctx, m.as_object(), id);
  }
  if (in.routes) add_routes(ctx, id, *in.routes);
  return json_response(201, json::object{{"id", id}, {"name", in.name}});
}

http_response app_create(request_context& ctx) {
  return app_create_from(ctx, parse_body(ctx.req));
}

http_response app_create_yaml(request_context& ctx) {
  return app_create_from(ctx, application_from_yaml(multipart_field(ctx.req, "application")));
}

// A stopped application's microservices are STOPPED at once: the agent removes their
// containers and stops reporting them, so their last report (RUNNING) would otherwise stay
// forever. Started again, they are QUEUED until their agent reports them.
void set_status_for_activation(request_context& ctx, int64_t app_id, bool activated) {
  pexec0(ctx.tx(),
         "UPDATE microservice_status s SET status = $2, percentage = 0, cpu_usage = 0, "
         "memory_usage = 0, container_id = '', operating_duration = 0, error_message = '' "
         "FROM microservices m WHERE s.microservice_uuid = m.uuid AND m.application_id = $1",
         app_id, activated ? "QUEUED" : "STOPPED");
}

http_response app_patch(request_context& ctx) {
  auto app = find_user_app(ctx, ctx.param("name"));
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto name = r.str("name", false, 1);
  if (name) check_name("name", *name);
  auto description = r.str("description");
  auto activated = r.boolean("isActivated");
  try {
    pexec0(ctx.tx(),
           "UPDATE applications SET name = coalesce($2, name), description = coalesce($3, "
           "description), is_activated = coalesce($4, is_activated), updated_at = now() "
           "WHERE id = $1",
           app.id, name, description, activated);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + *name + "'");
  }
  if (activated && *activated != app.activated) {
    touch_app_fogs(ctx, app.id, {"microservice_list"});
    set_status_for_activation(ctx, app.id, *activated);
  }
  return empty_response(204);
}

void update_microservice(request_context& ctx, const std::string& uuid, const json::object& body);

// Full replace (iofogctl deploy): microservices are matched by name (updated in place, keeping
// their uuids), missing ones are deleted, new ones created; routes are replaced.
http_response app_put_from(request_context& ctx, const json::object& body) {
  auto app = find_user_app(ctx, ctx.param("name"));
  // A template names the microservices and routes here too (iofogctl deploys it with PUT).
  auto in = read_application(ctx, body, app.activated);
  // Agents of the old set learn about removals too.
  touch_app_fogs(ctx, app.id, {"microservice_list", "routing"});
  auto public_before = app_public_routers(ctx, app.id);
  try {
    pexec0(ctx.tx(),
           "UPDATE applications SET name = $2, description = $3, is_activated = $4, updated_at = "
           "now() WHERE id = $1",
           app.id, in.name, in.description, in.activated);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + in.name + "'");
  }
  pexec0(ctx.tx(), "DELETE FROM routes WHERE application_id = $1", app.id);
  std::vector<std::string> keep;
  if (in.microservices) {
    for (const auto& m : *in.microservices) {
      body_reader mr(m.as_object());
      auto mname = mr.str("name", true, 1);
      auto existing =
          pexec(ctx.tx(), "SELECT uuid FROM microservices WHERE application_id = $1 AND name = $2",
                app.id, *mname);
      if (existing.empty()) {
        keep.push_back(create_microservice(ctx, m.as_object(), app.id));
      } else {
        keep.emplace_back(existing[0][0].c_str());
        update_microservice(ctx, keep.back(), m.as_object());
      }
    }
  }
  std::string keep_list = "{";
  for (size_t i = 0; i < keep.size(); ++i) keep_list += (i ? "," : "") + keep[i];
  keep_list += "}";
  pexec0(ctx.tx(),
         "DELETE FROM microservices WHERE application_id = $1 AND NOT (uuid = ANY($2::text[]))",
         app.id, keep_list);
  if (in.routes) add_routes(ctx, app.id, *in.routes);
  touch_app_fogs(ctx, app.id, {"microservice_list", "routing"});
  if (in.activated != app.activated) set_status_for_activation(ctx, app.id, in.activated);
  refresh_routers(ctx.tx(), merged(public_before, app_public_routers(ctx, app.id)));
  return empty_response(204);
}

http_response app_put(request_context& ctx) {
  return app_put_from(ctx, parse_body(ctx.req));
}

http_response app_put_yaml(request_context& ctx) {
  return app_put_from(ctx, application_from_yaml(multipart_field(ctx.req, "application")));
}

http_response app_delete(request_context& ctx) {
  auto app = find_user_app(ctx, ctx.param("name"));
  // Agents drop containers that are no longer in their list.
  touch_app_fogs(ctx, app.id, {"microservice_list", "routing"});
  auto public_before = app_public_routers(ctx, app.id);
  pexec0(ctx.tx(), "DELETE FROM applications WHERE id = $1", app.id);
  refresh_routers(ctx.tx(), public_before);
  return empty_response(204);
}

// --- microservices ---

struct msvc_row {
  std::optional<std::string> fog;
  bool system = false;
};

msvc_row owned_msvc(request_context& ctx, const std::string& uuid) {
  auto rows =
      pexec(ctx.tx(),
            "SELECT m.iofog_uuid, a.is_system FROM microservices m JOIN applications a ON a.id = "
            "m.application_id WHERE m.uuid = $1 AND m.user_id = $2 FOR UPDATE OF m",
            uuid, ctx.user_id);
  if (rows.empty()) invalid_msvc(uuid);
  msvc_row m;
  if (!rows[0][0].is_null()) m.fog = rows[0][0].c_str();
  m.system = rows[0][1].as<bool>();
  return m;
}

// A microservice the user may change (not a system one such as an agent's router).
msvc_row user_msvc(request_context& ctx, const std::string& uuid) {
  auto m = owned_msvc(ctx, uuid);
  if (m.system) throw validation_error("Microservice '" + uuid + "' is a system microservice");
  return m;
}

http_response msvc_list(request_context& ctx) {
  std::string where = "m.user_id = $1";
  std::vector<std::optional<std::string>> params = {std::to_string(ctx.user_id)};
  if (const auto* app = ctx.req.query_param("application")) {
    params.emplace_back(*app);
    where += " AND a.name = $2";
  } else if (const auto* flow = ctx.req.query_param("flowId")) {
    params.emplace_back(*flow);
    where += " AND a.id::text = $2";
  } else {
    where += " AND NOT a.is_system";  // an agent's router shows under ?application=system-<uuid>
  }
  auto row = pexec1(ctx.tx(),
                    "SELECT coalesce(json_agg(" + std::string(msvc_json_sql) +
                        " ORDER BY m.created_at, m.uuid), '[]')::text FROM "
                        "microservices m JOIN applications a ON a.id = "
                        "m.application_id WHERE " +
                        where,
                    pqxx::prepare::make_dynamic_params(params));
  return raw_json_response(200, "{\"microservices\":" + std::string(row[0].c_str()) + "}");
}

http_response msvc_get(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto rows =
      pexec(ctx.tx(),
            "SELECT " + std::string(msvc_json_sql) +
                "::text FROM microservices m JOIN applications a ON a.id = m.application_id "
                "WHERE m.uuid = $1 AND m.user_id = $2",
            uuid, ctx.user_id);
  if (rows.empty()) invalid_msvc(uuid);
  return raw_json_response(200, rows[0][0].c_str());
}

http_response msvc_create_from(request_context& ctx, const json::object& body) {
  std::string uuid = create_microservice(ctx, body, std::nullopt);
  auto name = body.at("name").as_string();
  json::object out{{"uuid", uuid}, {"name", name}};
  // Upstream answers the links of the public ports it allocated: {internal, external, publicLink}.
  auto row =
      pexec1(ctx.tx(),
             "SELECT " + std::string(msvc_json_sql) +
                 "::text FROM microservices m JOIN applications a ON a.id = m.application_id "
                 "WHERE m.uuid = $1",
             uuid);
  json::array public_ports;
  auto created = json::parse(row[0].c_str());
  for (const auto& p : created.at("ports").as_array()) {
    const auto* pub = p.as_object().if_contains("public");
    if (pub == nullptr || !pub->is_object()) continue;
    const auto* links = pub->as_object().if_contains("links");
    public_ports.push_back(json::object{
        {"internal", p.at("internal")},
        {"external", p.at("external")},
        {"publicLink", links != nullptr && links->is_array() && !links->as_array().empty()
                           ? links->as_array()[0]
                           : json::value(nullptr)}});
  }
  if (!public_ports.empty()) out["publicPorts"] = std::move(public_ports);
  return json_response(201, out);
}

http_response msvc_create(request_context& ctx) {
  return msvc_create_from(ctx, parse_body(ctx.req));
}

// The /yaml variants: a multipart upload of iofogctl YAML, then the same as the JSON endpoints.
http_response msvc_create_yaml(request_context& ctx) {
  return msvc_create_from(ctx, microservice_from_yaml(multipart_field(ctx.req, "microservice")));
}

http_response msvc_patch_yaml(request_context& ctx) {
  update_microservice(ctx, ctx.param("uuid"),
                      microservice_from_yaml(multipart_field(ctx.req, "microservice")));
  return empty_response(204);
}

http_response msvc_patch(request_context& ctx) {
  auto body = parse_body(ctx.req);
  update_microservice(ctx, ctx.param("uuid"), body);
  return empty_response(204);
}

// PATCH semantics: only present fields change; arrays (images, ports, volumes) are replaced.
void update_microservice(request_context& ctx, const std::string& uuid, const json::object& body) {
  auto current = user_msvc(ctx, uuid);
  auto public_before = msvc_public_routers(ctx, uuid);
  body_reader r(body);
  auto name = r.str("name", false, 1);
  if (name) check_name("name", *name);
  auto config = read_config(r);
  auto new_fog = resolve_fog(ctx, r);
  auto rebuild = r.boolean("rebuild");
  auto root = r.boolean("rootHostAccess");
  auto log_size = r.integer("logSize", false, 0);
  auto env = read_env(r);
  auto cmd = read_cmd(r);
  auto hosts = read_extra_hosts(ctx.tx(), r, ctx.user_id);
  const auto* images = r.array("images");
  const auto* volumes = r.array("volumeMappings");
  const auto* ports = r.array("ports");
  try {
    pexec0(ctx.tx(),
           "UPDATE microservices SET name = coalesce($2, name), config = coalesce($3, config), "
           "iofog_uuid = coalesce($4, iofog_uuid), rebuild = coalesce($5, rebuild), "
           "root_host_access = coalesce($6, root_host_access), log_size = coalesce($7, log_size), "
           "env = coalesce($8::jsonb, env), cmd = coalesce($9::jsonb, cmd), "
           "extra_hosts = coalesce($10::jsonb, extra_hosts), updated_at = now() WHERE uuid = $1",
           uuid, name, config, new_fog, rebuild, root, log_size, env, cmd, hosts);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + *name + "'");
  }
  if (images != nullptr) replace_images(ctx, uuid, *images);
  if (volumes != nullptr) {
    pexec0(ctx.tx(), "DELETE FROM microservice_volumes WHERE microservice_uuid = $1", uuid);
    for (const auto& v : *volumes) add_volume(ctx, uuid, v, "volumeMappings");
  }
  std::optional<std::string> fog = new_fog ? new_fog : current.fog;
  if (ports != nullptr) {
    replace_ports(ctx, uuid, fog, *ports);
  } else if (new_fog && new_fog != current.fog) {
    // Moving: the ports must be free on the new agent.
    auto clash = pexec(
        ctx.tx(),
        "SELECT p.port_external FROM microservice_ports p JOIN microservice_ports q ON "
        "q.port_external = p.port_external AND q.is_udp = p.is_udp JOIN microservices o ON o.uuid "
        "= q.microservice_uuid WHERE p.microservice_uuid = $1 AND o.iofog_uuid = $2 AND o.uuid <> "
        "$1",
        uuid, *new_fog);
    if (!clash.empty()) {
      throw validation_error("Port '" + std::string(clash[0][0].c_str()) + "' is not available");
    }
  }
  bool only_config = config && !name && !new_fog && !rebuild && !root && !log_size && !env &&
                     !cmd && !hosts && images == nullptr && volumes == nullptr && ports == nullptr;
  if (current.fog) {
    if (only_config)
      raise_change(ctx.tx(), *current.fog, {"microservice_config"});
    else
      raise_change(ctx.tx(), *current.fog, {"microservice_list", "microservice_config"});
  }
  if (new_fog && new_fog != current.fog) {
    raise_change(ctx.tx(), *new_fog, {"microservice_list", "microservice_config"});
    // ${Apps.<app>.<this>.local} elsewhere now resolves to the new agent's host.
    raise_extra_host_dependents_of_msvc(ctx.tx(), uuid);
  }
  // Public ports follow a moved microservice (connector side) and replaced port lists.
  refresh_routers(ctx.tx(), merged(public_before, msvc_public_routers(ctx, uuid)));
}

http_response msvc_delete(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto current = user_msvc(ctx, uuid);
  auto body = parse_body(ctx.req);
  body_reader r(body);
  r.boolean("withCleanup");
  auto public_before = msvc_public_routers(ctx, uuid);
  // extraHosts naming it stop resolving: their agents drop those /etc/hosts entries.
  raise_extra_host_dependents_of_msvc(ctx.tx(), uuid);
  pexec0(ctx.tx(), "DELETE FROM microservices WHERE uuid = $1", uuid);
  if (current.fog) raise_change(ctx.tx(), *current.fog, {"microservice_list", "routing"});
  refresh_routers(ctx.tx(), public_before);
  return empty_response(204);
}

http_response ports_get(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  owned_msvc(ctx, uuid);
  auto row = pexec1(ctx.tx(),
                    "SELECT coalesce(json_agg(" PORT_JSON_SQL
                    " ORDER BY p.port_internal), '[]')::text " PORT_FROM_SQL
                    " WHERE p.microservice_uuid = $1",
                    uuid);
  return raw_json_response(200, "{\"ports\":" + std::string(row[0].c_str()) + "}");
}

http_response ports_post(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto current = user_msvc(ctx, uuid);
  auto body = parse_body(ctx.req);
  add_port(ctx, uuid, current.fog, read_port(body, "body"));
  if (current.fog) raise_change(ctx.tx(), *current.fog, {"microservice_list"});
  refresh_routers(ctx.tx(), msvc_public_routers(ctx, uuid));
  return json_response(201, json::object{});
}

http_response ports_delete(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto current = user_msvc(ctx, uuid);
  const auto& port = ctx.param("internalPort");
  auto public_before = msvc_public_routers(ctx, uuid);
  auto rows = pexec(
      ctx.tx(),
      "DELETE FROM microservice_ports WHERE microservice_uuid = $1 AND port_internal::text = $2 "
      "RETURNING 1",
      uuid, port);
  if (rows.empty()) throw not_found("Port mapping not found: '" + port + "'");
  if (current.fog) raise_change(ctx.tx(), *current.fog, {"microservice_list"});
  refresh_routers(ctx.tx(), public_before);
  return empty_response(204);
}

http_response volumes_get(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  owned_msvc(ctx, uuid);
  auto row = pexec1(
      ctx.tx(),
      "SELECT coalesce(json_agg(json_build_object('id', id, 'hostDestination', host_destination, "
      "'containerDestination', container_destination, 'accessMode', access_mode, 'type', type) "
      "ORDER BY id), '[]')::text FROM microservice_volumes WHERE microservice_uuid = $1",
      uuid);
  return raw_json_response(200, "{\"volumeMappings\":" + std::string(row[0].c_str()) + "}");
}

http_response volumes_post(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto current = user_msvc(ctx, uuid);
  auto body = parse_body(ctx.req);
  int64_t id = add_volume(ctx, uuid, body, "body");
  if (current.fog) raise_change(ctx.tx(), *current.fog, {"microservice_list"});
  return json_response(201, json::object{{"id", id}});
}

http_response volumes_delete(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto current = user_msvc(ctx, uuid);
  const auto& id = ctx.param("id");
  auto rows = pexec(
      ctx.tx(),
      "DELETE FROM microservice_volumes WHERE microservice_uuid = $1 AND id::text = $2 RETURNING 1",
      uuid, id);
  if (rows.empty()) throw not_found("Volume mapping not found: '" + id + "'");
  if (current.fog) raise_change(ctx.tx(), *current.fog, {"microservice_list"});
  return empty_response(204);
}

// The port manager's view (GET /microservices/public-ports): every enabled public port of the
// user's microservices (a disabled one is served by nobody), upstream's {microserviceUuid,
// publicPort {protocol, queueName, publicPort}} plus where it lives. The answer carries an ETag;
// `?wait=N` with `If-None-Match` set to the last ETag holds the request until the list may have
// changed (or N seconds pass), so the port manager follows public ports without polling. Every
// public-port change re-renders the router config of the microservice's agent, which raises a
// change on that fog; the hold is woken by a change of any fog (change_notifier::any_key, on every
// replica through NOTIFY), and an answer after a wake-up that changed nothing is the same list with
// the same ETag.
http_response public_ports_list(request_context& ctx) {
  // Read before querying: a change committed after the query moves it, so the hold below
  // cannot sleep through it.
  uint64_t seen = ctx.app.notifier().sequence(change_notifier::any_key);
  int64_t wait_seconds = long_poll_wait_seconds(ctx.req, ctx.app.options());
  auto row = pexec1(
      ctx.tx(),
      "SELECT coalesce(json_agg(json_build_object('microserviceUuid', m.uuid, 'publicPort', "
      "json_build_object('protocol', pp.protocol, 'queueName', pp.address, 'publicPort', "
      "pp.public_port, 'hostId', CASE WHEN pp.host_key = 'default-router' THEN NULL ELSE "
      "pp.host_key END, 'schemes', pp.schemes, 'isTcp', pp.protocol = 'tcp', 'portInternal', "
      "p.port_internal, 'portExternal', p.port_external, 'iofogUuid', m.iofog_uuid, 'isProxy', "
      "pp.is_proxy)) ORDER BY pp.host_key, pp.public_port), '[]')::text "
      "FROM microservice_public_ports pp JOIN microservice_ports p ON p.microservice_uuid = "
      "pp.microservice_uuid AND p.port_internal = pp.port_internal JOIN microservices m ON m.uuid "
      "= pp.microservice_uuid WHERE m.user_id = $1 AND pp.enabled",
      ctx.user_id);
  std::string etag = "\"" + token_digest_hex(row[0].c_str()).substr(0, 32) + "\"";
  const auto* known = ctx.req.header("if-none-match");
  if (known && *known == etag && wait_seconds > 0 && !ctx.long_poll_final) {
    http_response hold;
    hold.long_poll = long_poll_request{change_notifier::any_key, seen, wait_seconds * 1000};
    return hold;
  }
  auto resp = raw_json_response(200, row[0].c_str());
  resp.headers.emplace_back("ETag", etag);
  return resp;
}

// --- agent side ---

http_response agent_microservices(request_context& ctx) {
  // Activated applications only, and only microservices with an image for this agent's type.
  auto row = pexec1(
      ctx.tx(),
      "SELECT coalesce(json_agg(json_build_object("
      "'uuid', m.uuid, 'imageId', i.container_image, 'config', m.config, 'rebuild', m.rebuild, "
      "'rootHostAccess', m.root_host_access, 'logSize', m.log_size, 'registryId', m.registry_id, "
      "'portMappings', coalesce((SELECT json_agg(json_build_object('portInternal', "
      "  p.port_internal, 'portExternal', p.port_external, 'isUdp', p.is_udp) ORDER BY "
      "  p.port_internal) FROM microservice_ports p WHERE p.microservice_uuid = m.uuid), '[]'), "
      "'volumeMappings', coalesce((SELECT json_agg(json_build_object('hostDestination', "
      "  v.host_destination, 'containerDestination', v.container_destination, 'accessMode', "
      "  v.access_mode, 'type', v.type) ORDER BY v.id) FROM microservice_volumes v WHERE "
      "  v.microservice_uuid = m.uuid), '[]'), "
      "'imageSnapshot', CASE WHEN EXISTS (SELECT 1 FROM microservice_image_snapshots s WHERE "
      "  s.microservice_uuid = m.uuid AND s.image IS NULL) THEN 'get_image' ELSE '' END, "
      "'delete', false, 'deleteWithCleanup', false, "
      "'env', m.env, 'cmd', m.cmd, 'extraHosts', " AGENT_EXTRA_HOSTS_SQL
      ", "
      "'routes', coalesce((SELECT json_agg(r.dest_microservice_uuid ORDER BY r.id) FROM routes r "
      "  WHERE r.source_microservice_uuid = m.uuid), '[]'), "
      "'isConsumer', EXISTS (SELECT 1 FROM routes r WHERE r.dest_microservice_uuid = m.uuid), "
      // Extras: the agent runs the router microservice as its own fogmesh-router.
      "'catalogItemId', m.catalog_item_id, 'name', m.name, "
      "'isRouter', coalesce(m.catalog_item_id = 1 AND a.is_system, false)"
      ") ORDER BY m.created_at, m.uuid), '[]')::text "
      "FROM microservices m JOIN applications a ON a.id = m.application_id "
      "JOIN fogs f ON f.uuid = m.iofog_uuid "
      "JOIN microservice_images i ON i.microservice_uuid = m.uuid AND i.fog_type_id = "
      "f.fog_type_id "
      "WHERE m.iofog_uuid = $1 AND a.is_activated",
      ctx.fog_uuid);
  // `rebuild` is a one-shot order: served once, then cleared (as upstream).
  pexec0(ctx.tx(), "UPDATE microservices SET rebuild = false WHERE iofog_uuid = $1 AND rebuild",
         ctx.fog_uuid);
  return raw_json_response(200, "{\"microservices\":" + std::string(row[0].c_str()) + "}");
}

http_response agent_registries(request_context& ctx) {
  // Agents need the credentials to pull; this is the only place passwords leave the database.
  auto row = pexec1(
      ctx.tx(),
      "SELECT coalesce(json_agg(json_build_object('id', r.id, 'url', r.url, 'isPublic', "
      "r.is_public, 'secure', r.requires_cert, 'certificate', r.certificate, 'requiresCert', "
      "r.requires_cert, 'username', r.username, 'password', r.password, 'userEmail', "
      "r.user_email) ORDER BY r.id), '[]')::text FROM registries r JOIN fogs f ON f.uuid = $1 "
      "WHERE r.is_public OR r.user_id = f.user_id",
      ctx.fog_uuid);
  return raw_json_response(200, "{\"registries\":" + std::string(row[0].c_str()) + "}");
}

// --- routes ---

constexpr const char* route_obj_sql =
    "json_build_object('name', r.name, 'application', a.name, 'from', s.name, 'to', d.name)";
constexpr const char* route_from_sql =
    " FROM routes r JOIN applications a ON a.id = r.application_id "
    "JOIN microservices s ON s.uuid = r.source_microservice_uuid "
    "JOIN microservices d ON d.uuid = r.dest_microservice_uuid ";

// Both ends' agents re-read their routes.
void touch_route_fogs(request_context& ctx, const std::string& source, const std::string& dest) {
  auto fogs = pexec(
      ctx.tx(),
      "SELECT DISTINCT iofog_uuid FROM microservices WHERE uuid IN ($1, $2) AND iofog_uuid IS NOT "
      "NULL",
      source, dest);
  for (const auto& f : fogs) raise_change(ctx.tx(), f[0].c_str(), {"routing"});
}

std::string msvc_in_app(request_context& ctx, int64_t app_id, const std::string& name) {
  auto rows =
      pexec(ctx.tx(), "SELECT uuid FROM microservices WHERE application_id = $1 AND name = $2",
            app_id, name);
  if (rows.empty()) throw not_found("Invalid microservice name '" + name + "'");
  return rows[0][0].c_str();
}

struct route_row {
  int64_t id;
  std::string source;
  std::string dest;
};

route_row find_route(request_context& ctx, int64_t app_id, const std::string& name) {
  auto rows = pexec(ctx.tx(),
                    "SELECT id, source_microservice_uuid, dest_microservice_uuid FROM routes "
                    "WHERE application_id = $1 AND name = $2",
                    app_id, name);
  if (rows.empty()) throw not_found("Invalid route name '" + name + "'");
  return {rows[0][0].as<int64_t>(), rows[0][1].c_str(), rows[0][2].c_str()};
}

http_response routes_list(request_context& ctx) {
  auto row = pexec1(ctx.tx(),
                    "SELECT coalesce(json_agg(" + std::string(route_obj_sql) +
                        " ORDER BY r.id), '[]')::text" + route_from_sql + "WHERE a.user_id = $1",
                    ctx.user_id);
  return raw_json_response(200, "{\"routes\":" + std::string(row[0].c_str()) + "}");
}

http_response route_get(request_context& ctx) {
  auto app = find_app(ctx, ctx.param("app"));
  auto rows = pexec(ctx.tx(),
                    "SELECT " + std::string(route_obj_sql) + "::text" + route_from_sql +
                        "WHERE r.application_id = $1 AND r.name = $2",
                    app.id, ctx.param("name"));
  if (rows.empty()) throw not_found("Invalid route name '" + ctx.param("name") + "'");
  return raw_json_response(200, rows[0][0].c_str());
}

http_response route_create(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto name = r.str("name", true, 1);
  check_name("name", *name);
  auto from = r.str("from", true, 1);
  auto to = r.str("to", true, 1);
  auto app_name = r.str("application", true, 1);
  auto app = find_app(ctx, *app_name);
  json::array routes{json::object{{"name", *name}, {"from", *from}, {"to", *to}}};
  add_routes(ctx, app.id, routes);
  touch_route_fogs(ctx, msvc_in_app(ctx, app.id, *from), msvc_in_app(ctx, app.id, *to));
  return json_response(201, json::object{{"name", *name}});
}

http_response route_patch(request_context& ctx) {
  auto app = find_app(ctx, ctx.param("app"));
  auto route = find_route(ctx, app.id, ctx.param("name"));
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto name = r.str("name", false, 1);
  if (name) check_name("name", *name);
  auto from = r.str("from", false, 1);
  auto to = r.str("to", false, 1);
  std::string source = from ? msvc_in_app(ctx, app.id, *from) : route.source;
  std::string dest = to ? msvc_in_app(ctx, app.id, *to) : route.dest;
  try {
    pexec0(ctx.tx(),
           "UPDATE routes SET name = coalesce($2, name), source_microservice_uuid = $3, "
           "dest_microservice_uuid = $4 WHERE id = $1",
           route.id, name, source, dest);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + *name + "'");
  }
  touch_route_fogs(ctx, route.source, route.dest);
  touch_route_fogs(ctx, source, dest);
  return empty_response(204);
}

http_response route_delete(request_context& ctx) {
  auto app = find_app(ctx, ctx.param("app"));
  auto route = find_route(ctx, app.id, ctx.param("name"));
  pexec0(ctx.tx(), "DELETE FROM routes WHERE id = $1", route.id);
  touch_route_fogs(ctx, route.source, route.dest);
  return empty_response(204);
}

// Legacy point-to-point routes between two microservices of the same application.
http_response msvc_route_create(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  const auto& receiver = ctx.param("receiverUuid");
  owned_msvc(ctx, uuid);
  owned_msvc(ctx, receiver);
  auto apps =
      pexec(ctx.tx(),
            "SELECT s.application_id, s.application_id = d.application_id, s.name, d.name FROM "
            "microservices s, microservices d WHERE s.uuid = $1 AND d.uuid = $2",
            uuid, receiver);
  if (!apps[0][1].as<bool>()) {
    throw validation_error("Microservices of different applications cannot be routed");
  }
  std::string name = std::string(apps[0][2].c_str()) + "-" + apps[0][3].c_str();
  try {
    pexec0(ctx.tx(),
           "INSERT INTO routes (name, application_id, source_microservice_uuid, "
           "dest_microservice_uuid) VALUES ($1, $2, $3, $4)",
           name, apps[0][0].as<int64_t>(), uuid, receiver);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Route from '" + uuid + "' to '" + receiver + "' already exists");
  }
  touch_route_fogs(ctx, uuid, receiver);
  return empty_response(201);
}

http_response msvc_route_delete(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  const auto& receiver = ctx.param("receiverUuid");
  owned_msvc(ctx, uuid);
  auto rows = pexec(
      ctx.tx(),
      "DELETE FROM routes WHERE source_microservice_uuid = $1 AND dest_microservice_uuid = $2 "
      "RETURNING 1",
      uuid, receiver);
  if (rows.empty()) throw not_found("Route not found");
  touch_route_fogs(ctx, uuid, receiver);
  return empty_response(204);
}

// --- /flow: upstream's pre-v3 name for applications, addressed by numeric id ---

handler_fn by_flow_id(handler_fn inner) {
  return [inner = std::move(inner)](request_context& ctx) {
    const auto& id = ctx.param("id");
    auto rows =
        pexec(ctx.tx(), "SELECT name FROM applications WHERE id::text = $1 AND user_id = $2", id,
              ctx.user_id);
    if (rows.empty()) throw not_found("Invalid flow id '" + id + "'");
    ctx.params.emplace_back("name", rows[0][0].c_str());
    return inner(ctx);
  };
}

http_response flow_list(request_context& ctx) {
  return raw_json_response(
      200, "{\"flows\":" + app_json(ctx, "AND NOT a.is_system AND $2 = $2", "") + "}");
}

http_response flow_create(request_context& ctx) {
  http_response created = app_create(ctx);
  auto v = json::parse(created.body);
  return json_response(201, json::object{{"id", v.at("id")}});
}

}  // namespace

void register_application_routes(app& a) {
  a.add_route({"GET", "/flow", auth_kind::user, flow_list, "List flows (legacy applications)"});
  a.add_route({"POST", "/flow", auth_kind::user, flow_create, "Create a flow (legacy)", 201});
  a.add_route({"GET", "/flow/:id", auth_kind::user, by_flow_id(app_get), "Get a flow (legacy)"});
  a.add_route({"PATCH", "/flow/:id", auth_kind::user, by_flow_id(app_patch),
               "Update a flow (legacy)", 204});
  a.add_route({"DELETE", "/flow/:id", auth_kind::user, by_flow_id(app_delete),
               "Delete a flow (legacy)", 204});
  a.add_route({"GET", "/routes", auth_kind::user, routes_list, "List routes"});
  a.add_route({"POST", "/routes", auth_kind::user, route_create, "Create a route", 201});
  a.add_route({"GET", "/routes/:app/:name", auth_kind::user, route_get, "Get a route"});
  a.add_route({"PATCH", "/routes/:app/:name", auth_kind::user, route_patch, "Update a route", 204});
  a.add_route(
      {"DELETE", "/routes/:app/:name", auth_kind::user, route_delete, "Delete a route", 204});
  a.add_route({"POST", "/microservices/:uuid/routes/:receiverUuid", auth_kind::user,
               msvc_route_create, "Route a microservice's messages to another", 201});
  a.add_route({"DELETE", "/microservices/:uuid/routes/:receiverUuid", auth_kind::user,
               msvc_route_delete, "Remove a point-to-point route", 204});
  a.add_route({"GET", "/application", auth_kind::user, app_list, "List applications"});
  a.add_route({"POST", "/application", auth_kind::user, app_create,
               "Create an application with its microservices and routes", 201});
  a.add_route({"POST", "/application/yaml", auth_kind::user, app_create_yaml,
               "Create an application from an iofogctl YAML upload (field 'application')", 201});
  a.add_route({"PUT", "/application/yaml/:name", auth_kind::user, app_put_yaml,
               "Replace an application from an iofogctl YAML upload", 204});
  a.add_route({"GET", "/application/:name", auth_kind::user, app_get, "Get an application"});
  a.add_route({"PATCH", "/application/:name", auth_kind::user, app_patch,
               "Rename, describe, activate or deactivate an application", 204});
  a.add_route({"PUT", "/application/:name", auth_kind::user, app_put,
               "Replace an application (microservices matched by name)", 204});
  a.add_route({"DELETE", "/application/:name", auth_kind::user, app_delete,
               "Delete an application and its microservices", 204});

  a.add_route({"GET", "/microservices", auth_kind::user, msvc_list,
               "List microservices (?application=NAME)"});
  a.add_route(
      {"POST", "/microservices", auth_kind::user, msvc_create, "Create a microservice", 201});
  a.add_route({"POST", "/microservices/yaml", auth_kind::user, msvc_create_yaml,
               "Create a microservice from an iofogctl YAML upload (field 'microservice')", 201});
  a.add_route({"PATCH", "/microservices/yaml/:uuid", auth_kind::user, msvc_patch_yaml,
               "Update a microservice from an iofogctl YAML upload", 204});
  // Before /microservices/:uuid: the first matching route wins.
  a.add_route({"GET", "/microservices/public-ports", auth_kind::user, public_ports_list,
               "Public ports of the user's microservices (for the port manager); ?wait=N with "
               "If-None-Match: <ETag> long-polls until they change"});
  a.add_route({"GET", "/microservices/:uuid", auth_kind::user, msvc_get, "Get a microservice"});
  a.add_route({"PATCH", "/microservices/:uuid", auth_kind::user, msvc_patch,
               "Update or move a microservice", 204});
  a.add_route({"DELETE", "/microservices/:uuid", auth_kind::user, msvc_delete,
               "Delete a microservice", 204});
  a.add_route({"GET", "/microservices/:uuid/port-mapping", auth_kind::user, ports_get,
               "List port mappings"});
  a.add_route({"POST", "/microservices/:uuid/port-mapping", auth_kind::user, ports_post,
               "Add a port mapping", 201});
  a.add_route({"DELETE", "/microservices/:uuid/port-mapping/:internalPort", auth_kind::user,
               ports_delete, "Remove a port mapping", 204});
  a.add_route({"GET", "/microservices/:uuid/volume-mapping", auth_kind::user, volumes_get,
               "List volume mappings"});
  a.add_route({"POST", "/microservices/:uuid/volume-mapping", auth_kind::user, volumes_post,
               "Add a volume mapping", 201});
  a.add_route({"DELETE", "/microservices/:uuid/volume-mapping/:id", auth_kind::user, volumes_delete,
               "Remove a volume mapping", 204});

  a.add_route({"GET", "/agent/microservices", auth_kind::agent, agent_microservices,
               "Microservices this agent must run"});
  a.add_route({"GET", "/agent/registries", auth_kind::agent, agent_registries,
               "Registries (with credentials) for pulling images"});
}

}  // namespace fogmesh::controller
