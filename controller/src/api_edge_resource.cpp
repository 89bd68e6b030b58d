// Edge resources: user-described devices or services with an HTTP/WebSocket interface, versioned
// (name + semver version, unique per user), linked to agents. Linking adds the resource's
// orchestration tags to the agent's tags (unlinking removes them) and raises the agent's
// `linkedEdgeResources` flag; the agent reads them from GET /agent/edgeResources.
#include <algorithm>
#include <string_view>

#include "app.hpp"
#include "fog_model.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

constexpr const char* resource_json_sql =
    "json_build_object('id', e.id, 'name', e.name, 'description', e.description, "
    "'version', e.version, 'interfaceProtocol', e.interface_protocol, "
    "'display', json_build_object('name', e.display_name, 'icon', e.display_icon, "
    "'color', e.display_color), 'orchestrationTags', to_json(e.orchestration_tags), "
    "'interface', e.interface, 'custom', e.custom)";

// `before` + the resource's JSON object (table alias e) + `after`. (Appended, not `+`-chained:
// g++ 12 -O2 reports a false out-of-bounds memcpy for the chained form.)
std::string resource_sql(std::string_view before, std::string_view after) {
  std::string sql;
  sql.append(before).append(resource_json_sql).append(after);
  return sql;
}

[[noreturn]] void resource_not_found(const std::string& name, const std::string& version) {
  throw not_found("Edge resource '" + name + "' version '" + version + "' not found");
}

// Dot-separated identifiers of [0-9A-Za-z-]+ (semver pre-release and build parts); `numeric`:
// each must be a number without leading zeros (the version core).
bool dotted_identifiers(std::string_view s, bool numeric) {
  size_t start = 0;
  for (;;) {
    size_t end = s.find('.', start);
    auto id = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (id.empty()) return false;
    for (char c : id) {
      bool digit = c >= '0' && c <= '9';
      if (numeric ? !digit
                  : !(digit || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return false;
    }
    if (numeric && id.size() > 1 && id[0] == '0') return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

// Semantic versioning 2.0 (a leading "v", as in iofogctl's examples, is accepted too).
bool is_semver(std::string_view v) {
  if (v.starts_with('v')) v.remove_prefix(1);
  size_t plus = v.find('+');
  if (plus != std::string_view::npos && !dotted_identifiers(v.substr(plus + 1), false))
    return false;
  v = v.substr(0, plus);
  size_t dash = v.find('-');
  if (dash != std::string_view::npos && !dotted_identifiers(v.substr(dash + 1), false))
    return false;
  auto core = v.substr(0, dash);
  if (std::count(core.begin(), core.end(), '.') != 2) return false;
  return dotted_identifiers(core, true);
}

struct resource_input {
  std::optional<std::string> name, version, description, protocol;
  std::optional<std::string> display_name, display_icon, display_color;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::string> interface_json;  // {"endpoints": [...]}
  std::optional<std::string> custom_json;
};

resource_input read_resource(body_reader& r, bool create) {
  resource_input in;
  in.name = r.str("name", create, 1);
  if (in.name && !is_dns_name(*in.name)) throw_format("name");
  in.version = r.str("version", create, 1);
  if (in.version && !is_semver(*in.version)) throw_format("version");
  in.description = r.str("description");
  in.protocol = r.enumeration("interfaceProtocol", {"http", "https", "ws", "wss"});
  if (const auto* d = r.obj("display")) {
    body_reader dr(*d);
    in.display_name = dr.str("name");
    in.display_icon = dr.str("icon");
    in.display_color = dr.str("color");
  }
  in.tags = r.string_array("orchestrationTags");
  if (const auto* i = r.obj("interface")) {
    body_reader ir(*i);
    json::array endpoints;
    if (const auto* eps = ir.array("endpoints")) {
      for (const auto& ep : *eps) {
        if (!ep.is_object()) throw_type_error("interface.endpoints", "object");
        body_reader er(ep.as_object());
        json::object out;
        if (auto n = er.str("name")) {
          if (!is_dns_name(*n)) throw_format("interface.endpoints.name");
          out["name"] = *n;
        }
        for (const char* key : {"description", "url", "requestType", "responseType",
                                "requestPayloadExample", "responsePayloadExample"}) {
          if (auto v = er.str(key)) out[key] = *v;
        }
        if (auto m = er.enumeration("method",
                                    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}))
          out["method"] = *m;
        endpoints.push_back(std::move(out));
      }
    }
    in.interface_json = json::serialize(json::object{{"endpoints", std::move(endpoints)}});
  }
  if (const auto* c = r.obj("custom")) in.custom_json = json::serialize(*c);
  return in;
}

std::optional<std::string> tags_json(const std::optional<std::vector<std::string>>& tags) {
  if (!tags) return std::nullopt;
  return json::serialize(json::array(tags->begin(), tags->end()));
}

// The resource's id, or 404.
int64_t find_resource(request_context& ctx, const std::string& name, const std::string& version,
                      bool for_update = false) {
  auto rows =
      pexec(ctx.tx(),
            std::string("SELECT id FROM edge_resources WHERE user_id = $1 AND name = $2 AND "
                        "version = $3") +
                (for_update ? " FOR UPDATE" : ""),
            ctx.user_id, name, version);
  if (rows.empty()) resource_not_found(name, version);
  return rows[0][0].as<int64_t>();
}

// Linked agents lose the resource's current tags (before a change or deletion) or gain them
// (after), and hear of it.
void retag_linked_agents(request_context& ctx, int64_t id, bool add) {
  auto fogs = pexec(
      ctx.tx(),
      add ? "UPDATE fogs f SET tags = f.tags || ARRAY(SELECT t FROM unnest(e.orchestration_tags) t "
            "WHERE t <> ALL(f.tags)) FROM edge_resources e, fog_edge_resources l "
            "WHERE e.id = $1 AND l.edge_resource_id = e.id AND l.iofog_uuid = f.uuid "
            "RETURNING f.uuid"
          : "UPDATE fogs f SET tags = ARRAY(SELECT t FROM unnest(f.tags) t "
            "WHERE t <> ALL(e.orchestration_tags)) FROM edge_resources e, fog_edge_resources l "
            "WHERE e.id = $1 AND l.edge_resource_id = e.id AND l.iofog_uuid = f.uuid "
            "RETURNING f.uuid",
      id);
  for (const auto& f : fogs) raise_change(ctx.tx(), f[0].c_str(), {"linked_edge_resources"});
}

http_response resource_list(request_context& ctx) {
  auto row = pexec1(ctx.tx(),
                    resource_sql("SELECT coalesce(json_agg(",
                                 " ORDER BY e.name, e.version), '[]')::text "
                                 "FROM edge_resources e WHERE e.user_id = $1"),
                    ctx.user_id);
  return raw_json_response(200, "{\"edgeResources\":" + std::string(row[0].c_str()) + "}");
}

// Every version of one resource (an empty list when there is none, as upstream).
http_response resource_versions(request_context& ctx) {
  auto row = pexec1(ctx.tx(),
                    resource_sql("SELECT coalesce(json_agg(",
                                 " ORDER BY e.version), '[]')::text "
                                 "FROM edge_resources e WHERE e.user_id = $1 AND e.name = $2"),
                    ctx.user_id, ctx.param("name"));
  return raw_json_response(200, row[0].c_str());
}

http_response resource_get(request_context& ctx) {
  const auto& name = ctx.param("name");
  const auto& version = ctx.param("version");
  auto rows = pexec(ctx.tx(),
                    resource_sql("SELECT ",
                                 "::text FROM edge_resources e WHERE e.user_id = $1 AND "
                                 "e.name = $2 AND e.version = $3"),
                    ctx.user_id, name, version);
  if (rows.empty()) resource_not_found(name, version);
  return raw_json_response(200, rows[0][0].c_str());
}

int64_t insert_resource(request_context& ctx, const resource_input& in) {
  auto rows = pexec(
      ctx.tx(),
      "INSERT INTO edge_resources (user_id, name, version, description, interface_protocol, "
      "interface, display_name, display_icon, display_color, orchestration_tags, custom) "
      "VALUES ($1, $2, $3, coalesce($4, ''), $5, coalesce($6::jsonb, '{\"endpoints\": []}'), $7, "
      "$8, $9, ARRAY(SELECT json_array_elements_text(coalesce($10, '[]')::json)), "
      "coalesce($11::jsonb, '{}')) ON CONFLICT (user_id, name, version) DO NOTHING RETURNING id",
      ctx.user_id, *in.name, *in.version, in.description, in.protocol, in.interface_json,
      in.display_name, in.display_icon, in.display_color, tags_json(in.tags), in.custom_json);
  if (rows.empty()) {
    throw validation_error("Edge resource '" + *in.name + "' version '" + *in.version +
                           "' already exists");
  }
  return rows[0][0].as<int64_t>();
}

http_response resource_create(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_resource(r, true);
  int64_t id = insert_resource(ctx, in);
  auto row =
      pexec1(ctx.tx(), resource_sql("SELECT ", "::text FROM edge_resources e WHERE e.id = $1"), id);
  return raw_json_response(201, row[0].c_str());
}

// PUT: changes what the body names (the version stays; renaming to a taken name/version is a
// 400); creates the resource when it does not exist, so `deploy` can always PUT.
http_response resource_update(request_context& ctx) {
  const auto& name = ctx.param("name");
  const auto& version = ctx.param("version");
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_resource(r, false);
  if (in.version && *in.version != version) {
    throw validation_error("The version of an edge resource cannot be changed");
  }
  auto existing = pexec(
      ctx.tx(),
      "SELECT id FROM edge_resources WHERE user_id = $1 AND name = $2 AND version = $3 FOR UPDATE",
      ctx.user_id, name, version);
  if (existing.empty()) {
    if (!in.version && !is_semver(version)) throw_format("version");
    if (!in.name) in.name = name;
    in.version = version;
    insert_resource(ctx, in);
    return empty_response(204);
  }
  int64_t id = existing[0][0].as<int64_t>();
  if (in.name && *in.name != name &&
      !ctx.tx()
           .exec_params("SELECT 1 FROM edge_resources WHERE user_id = $1 AND name = $2 AND "
                        "version = $3",
                        ctx.user_id, *in.name, version)
           .empty()) {
    throw validation_error("Edge resource '" + *in.name + "' version '" + version +
                           "' already exists");
  }
  if (in.tags) retag_linked_agents(ctx, id, false);
  // A new protocol without an interface starts with no endpoints.
  if (in.protocol && !in.interface_json) {
    auto same = pexec1(
        ctx.tx(),
        "SELECT interface_protocol IS NOT DISTINCT FROM $2 FROM edge_resources WHERE id = $1", id,
        *in.protocol);
    if (!same[0].as<bool>()) in.interface_json = R"({"endpoints":[]})";
  }
  bool display = in.display_name || in.display_icon || in.display_color;
  pexec0(ctx.tx(),
         "UPDATE edge_resources SET name = coalesce($2, name), "
         "description = coalesce($3, description), "
         "interface_protocol = coalesce($4, interface_protocol), "
         "interface = coalesce($5::jsonb, interface), "
         "display_name = CASE WHEN $6 THEN $7 ELSE display_name END, "
         "display_icon = CASE WHEN $6 THEN $8 ELSE display_icon END, "
         "display_color = CASE WHEN $6 THEN $9 ELSE display_color END, "
         "orchestration_tags = CASE WHEN $10::json IS NULL THEN orchestration_tags "
         "ELSE ARRAY(SELECT json_array_elements_text($10::json)) END, "
         "custom = coalesce($11::jsonb, custom) WHERE id = $1",
         id, in.name, in.description, in.protocol, in.interface_json, display, in.display_name,
         in.display_icon, in.display_color, tags_json(in.tags), in.custom_json);
  if (in.tags) {
    retag_linked_agents(ctx, id, true);
  } else {
    // The interface or display changed: linked agents re-read their resources.
    auto fogs = pexec(ctx.tx(),
                      "SELECT iofog_uuid FROM fog_edge_resources WHERE edge_resource_id = $1", id);
    for (const auto& f : fogs) raise_change(ctx.tx(), f[0].c_str(), {"linked_edge_resources"});
  }
  return empty_response(204);
}

http_response resource_delete(request_context& ctx) {
  int64_t id = find_resource(ctx, ctx.param("name"), ctx.param("version"), true);
  retag_linked_agents(ctx, id, false);
  pexec0(ctx.tx(), "DELETE FROM edge_resources WHERE id = $1", id);
  return empty_response(204);
}

// POST (link) / DELETE (unlink) /edgeResource/:name/:version/link {uuid}
handler_fn resource_link(bool link) {
  return [link](request_context& ctx) {
    auto body = parse_body(ctx.req);
    body_reader r(body);
    auto uuid = r.str("uuid", true, 1);
    int64_t id = find_resource(ctx, ctx.param("name"), ctx.param("version"));
    if (ctx.tx()
            .exec_params("SELECT 1 FROM fogs WHERE uuid = $1 AND user_id = $2 FOR UPDATE", *uuid,
                         ctx.user_id)
            .empty()) {
      throw not_found("Invalid ioFog UUID '" + *uuid + "'");
    }
    if (link) {
      pexec0(ctx.tx(),
             "INSERT INTO fog_edge_resources (iofog_uuid, edge_resource_id) VALUES ($1, $2) "
             "ON CONFLICT DO NOTHING",
             *uuid, id);
      pexec0(
          ctx.tx(),
          "UPDATE fogs f SET tags = f.tags || ARRAY(SELECT t FROM unnest(e.orchestration_tags) t "
          "WHERE t <> ALL(f.tags)) FROM edge_resources e WHERE e.id = $2 AND f.uuid = $1",
          *uuid, id);
    } else {
      auto gone =
          pexec(ctx.tx(),
                "DELETE FROM fog_edge_resources WHERE iofog_uuid = $1 AND edge_resource_id = $2 "
                "RETURNING 1",
                *uuid, id);
      if (gone.empty()) {
        throw not_found("Edge resource '" + ctx.param("name") + "' is not linked to agent '" +
                        *uuid + "'");
      }
      pexec0(ctx.tx(),
             "UPDATE fogs f SET tags = ARRAY(SELECT t FROM unnest(f.tags) t "
             "WHERE t <> ALL(e.orchestration_tags)) FROM edge_resources e "
             "WHERE e.id = $2 AND f.uuid = $1",
             *uuid, id);
    }
    raise_change(ctx.tx(), *uuid, {"linked_edge_resources"});
    return empty_response(204);
  };
}

// What the agent serves its microservices on its local API.
http_response agent_resources(request_context& ctx) {
  auto row = pexec1(ctx.tx(),
                    resource_sql("SELECT coalesce(json_agg(",
                                 " ORDER BY e.name, e.version), '[]')::text "
                                 "FROM edge_resources e JOIN fog_edge_resources l "
                                 "ON l.edge_resource_id = e.id WHERE l.iofog_uuid = $1"),
                    ctx.fog_uuid);
  return raw_json_response(200, row[0].c_str());
}

}  // namespace

const std::string& fog_edge_resources_sql() {
  static const std::string sql =
      resource_sql("coalesce((SELECT json_agg(",
                   " ORDER BY e.name, e.version) FROM fog_edge_resources l JOIN edge_resources e "
                   "ON e.id = l.edge_resource_id WHERE l.iofog_uuid = f.uuid), '[]'::json)");
  return sql;
}

const std::string& fog_edge_resources_join_sql() {
  static const std::string sql = resource_sql(
      "LEFT JOIN (SELECT l.iofog_uuid, json_agg(",
      " ORDER BY e.name, e.version) AS list FROM fog_edge_resources l JOIN edge_resources e "
      "ON e.id = l.edge_resource_id GROUP BY l.iofog_uuid) er ON er.iofog_uuid = f.uuid");
  return sql;
}

void register_edge_resource_routes(app& a) {
  a.add_route({"GET", "/edgeResources", auth_kind::user, resource_list, "List edge resources"});
  a.add_route(
      {"POST", "/edgeResource", auth_kind::user, resource_create, "Create an edge resource", 201});
  a.add_route({"GET", "/edgeResource/:name", auth_kind::user, resource_versions,
               "All versions of an edge resource"});
  a.add_route({"GET", "/edgeResource/:name/:version", auth_kind::user, resource_get,
               "Get one version of an edge resource"});
  a.add_route({"PUT", "/edgeResource/:name/:version", auth_kind::user, resource_update,
               "Update (or create) one version of an edge resource", 204});
  a.add_route({"DELETE", "/edgeResource/:name/:version", auth_kind::user, resource_delete,
               "Delete one version of an edge resource", 204});
  a.add_route({"POST", "/edgeResource/:name/:version/link", auth_kind::user, resource_link(true),
               "Link an edge resource to an agent {uuid}", 204});
  a.add_route({"DELETE", "/edgeResource/:name/:version/link", auth_kind::user, resource_link(false),
               "Unlink an edge resource from an agent {uuid}", 204});
  a.add_route({"HEAD", "/capabilities/edgeResources", auth_kind::none,
               [](request_context&) { return empty_response(204); },
               "Feature probe: edge resources are supported", 204})
      .needs_db = false;
  a.add_route({"GET", "/agent/edgeResources", auth_kind::agent, agent_resources,
               "Edge resources linked to this agent"});
}

}  // namespace fogmesh::controller
