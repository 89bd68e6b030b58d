// Agent-facing endpoints (/agent/*): provisioning, config, status, change tracking with
// at-least-once acks and long-poll, version, HAL, node deletion. Authenticated by the fog token
// issued at provisioning (see app.cpp).
#include <algorithm>

#include "app.hpp"
#include "auth.hpp"
#include "extra_hosts.hpp"
#include "fog_model.hpp"
#include "router_model.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

// Keys of GET /agent/config/changes, in upstream's order, with their columns.
constexpr std::pair<const char*, const char*> change_flags[] = {
    {"config", "config"},
    {"version", "version"},
    {"reboot", "reboot"},
    {"deleteNode", "delete_node"},
    {"microserviceList", "microservice_list"},
    {"microserviceConfig", "microservice_config"},
    {"routing", "routing"},
    {"registries", "registries"},
    {"tunnel", "tunnel"},
    {"diagnostics", "diagnostics"},
    {"isImageSnapshot", "is_image_snapshot"},
    {"prune", "prune"},
    {"routerChanged", "router_changed"},
    {"linkedEdgeResources", "linked_edge_resources"},
};

http_response provision(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto key = r.str("key", true);
  auto type = r.integer("type", true);
  if (*type != 1 && *type != 2) throw validation_error("Field type is not one of enum values: 1,2");
  // Deleting the key in the same statement that finds it makes it single-use even under
  // concurrent provisioning attempts.
  auto rows = pexec(ctx.tx(),
                    "DELETE FROM fog_provision_keys WHERE key_hash = decode($1, 'hex') "
                    "RETURNING fog_uuid, expires_at < now()",
                    token_digest_hex(*key));
  if (rows.empty()) throw not_found("Invalid Provisioning Key");
  std::string uuid = rows[0][0].c_str();
  if (rows[0][1].as<bool>()) {
    // Commit the key's deletion anyway: an expired key is useless.
    ctx.tx().commit();
    throw auth_error("Expired Provisioning Key");
  }
  // Whatever is already assigned to the node must be runnable on its architecture. (A failure
  // rolls back the key's deletion: the user can fix the images and retry with the same key.)
  auto missing = pexec(
      ctx.tx(),
      "SELECT m.name FROM microservices m WHERE m.iofog_uuid = $1 AND NOT EXISTS (SELECT 1 FROM "
      "microservice_images i WHERE i.microservice_uuid = m.uuid AND i.fog_type_id = $2) LIMIT 1",
      uuid, *type);
  if (!missing.empty()) {
    throw validation_error("Microservice '" + std::string(missing[0][0].c_str()) +
                           "' has no image for agent type " + std::to_string(*type));
  }
  std::string token = new_token();
  // A re-provisioned node replaces the previous agent: its old token stops working.
  pexec0(ctx.tx(), "DELETE FROM fog_tokens WHERE fog_uuid = $1", uuid);
  fogs_changed_by_request().push_back(uuid);
  pexec0(ctx.tx(),
         "INSERT INTO fog_tokens (token_hash, fog_uuid, expires_at) "
         "VALUES (decode($1, 'hex'), $2, now() + interval '30 days')",
         token_digest_hex(token), uuid);
  pexec0(ctx.tx(),
         "UPDATE fogs SET fog_type_id = $2, last_active = $3, version_command = NULL, "
         "updated_at = now() WHERE uuid = $1",
         uuid, *type, now_ms());
  return json_response(200, json::object{{"uuid", uuid}, {"token", token}});
}

http_response deprovision(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  // The agent stops these containers: they show as DELETING until it reports otherwise.
  if (auto ids = r.string_array("microserviceUuids"); ids && !ids->empty()) {
    json::array list(ids->begin(), ids->end());
    pexec0(ctx.tx(),
           "UPDATE microservice_status s SET status = 'DELETING' FROM microservices m "
           "WHERE m.uuid = s.microservice_uuid AND m.iofog_uuid = $1 "
           "AND s.microservice_uuid IN (SELECT json_array_elements_text($2::json))",
           ctx.fog_uuid, json::serialize(list));
  }
  pexec0(ctx.tx(),
         "UPDATE fogs SET daemon_status = 'UNKNOWN', ip_address = '0.0.0.0', "
         "ip_address_external = '0.0.0.0', updated_at = now() WHERE uuid = $1",
         ctx.fog_uuid);
  pexec0(ctx.tx(), "DELETE FROM fog_tokens WHERE fog_uuid = $1", ctx.fog_uuid);
  fogs_changed_by_request().push_back(ctx.fog_uuid);
  return empty_response(204);
}

http_response config_get(request_context& ctx) {
  auto row = pexec1(
      ctx.tx(),
      "SELECT json_build_object("
      "'networkInterface', f.network_interface, 'dockerUrl', f.docker_url, "
      "'diskLimit', f.disk_limit, 'diskDirectory', f.disk_directory, "
      "'memoryLimit', f.memory_limit, 'cpuLimit', f.cpu_limit, 'logLimit', f.log_limit, "
      "'logDirectory', f.log_directory, 'logFileCount', f.log_file_count, "
      "'statusFrequency', f.status_frequency, 'changeFrequency', f.change_frequency, "
      "'deviceScanFrequency', f.device_scan_frequency, 'watchdogEnabled', f.watchdog_enabled, "
      "'latitude', f.latitude, 'longitude', f.longitude, 'logLevel', f.log_level, "
      "'availableDiskThreshold', f.available_disk_threshold, "
      "'dockerPruningFrequency', f.docker_pruning_frequency, "
      // The agent's own router when it has one, else its network router (or the system one).
      "'routerHost', CASE WHEN f.router_mode <> 'none' THEN 'localhost' ELSE n.host END, "
      "'routerPort', CASE WHEN f.router_mode <> 'none' THEN f.messaging_port "
      "                   ELSE n.messaging_port END, "
      "'timeZone', f.time_zone)::text "
      // One router by primary key: an OR of the fog's router and `is_default` read every
      // router (see default_router_where).
      "FROM fogs f LEFT JOIN routers n ON n.id = CASE WHEN f.network_router IS NULL OR "
      "f.network_router = 'default-router' THEN fogmesh_default_router_id() ELSE "
      "(SELECT x.id FROM routers x WHERE x.iofog_uuid = f.network_router) END "
      "WHERE f.uuid = $1",
      ctx.fog_uuid);
  return raw_json_response(200, row[0].c_str());
}

http_response config_patch(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto values = read_fields(r, fog_agent_config_fields());
  try {
    exec_update(ctx.tx(), "fogs", values, "uuid = $1", {ctx.fog_uuid});
  } catch (const pqxx::not_null_violation&) {
    throw validation_error("A required field is null");
  }
  return empty_response(204);
}

// count(*), bool_or(flag)..., lastUpdated over change_tracking rows `c` (alias).
std::string change_columns_sql(const char* alias) {
  std::string a = std::string(alias) + ".";
  std::string s = "count(" + a + "fog_uuid)";
  for (const auto& [key, col] : change_flags) s += ", bool_or(" + a + col + ")";
  s += ", to_char(max(" + a +
       "last_updated) AT TIME ZONE 'UTC', "
       "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
  return s;
}

http_response changes_get(request_context& ctx) {
  // Read the notifier's sequence before querying: a change committed after our query bumps it,
  // so the long-poll below cannot sleep through it.
  uint64_t seen = ctx.app.notifier().sequence(ctx.fog_uuid);
  int64_t wait_seconds = long_poll_wait_seconds(ctx.req, ctx.app.options());
  static const std::string sql =
      "SELECT " + change_columns_sql("c") + " FROM change_tracking c WHERE c.fog_uuid = $1";
  auto row = pexec1(ctx.tx(), sql, ctx.fog_uuid);
  bool any = row[0].as<int64_t>() > 0;
  // Until the sequence read above moves, polls with this token are answered from memory.
  if (!any) ctx.app.poll_cache().remember(ctx.token_digest, ctx.fog_uuid, seen);
  if (!any && !ctx.long_poll_final && wait_seconds > 0) {
    http_response hold;
    hold.long_poll = long_poll_request{ctx.fog_uuid, seen, wait_seconds * 1000};
    return hold;
  }
  return changes_response(row, 0);
}

http_response changes_ack(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto last = r.str("lastUpdated", true);
  // Only rows up to what the agent saw go: changes made while it worked stay for the next poll.
  try {
    pexec0(ctx.tx(),
           "DELETE FROM change_tracking WHERE fog_uuid = $1 AND last_updated <= $2::timestamptz",
           ctx.fog_uuid, *last);
  } catch (const pqxx::data_exception&) {
    throw_format("lastUpdated");
  }
  return empty_response(204);
}

http_response status_put(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto values = read_fields(r, fog_status_fields());
  // The controller's clock decides liveness: agents' clocks drift.
  bool has_last = false;
  std::optional<std::string> ip;
  for (auto& [col, val] : values) {
    if (col == "last_status_time") {
      val = std::to_string(now_ms());
      has_last = true;
    } else if (col == "ip_address") {
      ip = val;
    }
  }
  // A fog without a host is reached at the address its agent reports, and so are the extraHosts
  // resolved through it: when that address changes, their agents re-read them. One primary-key
  // lookup, only in reports that carry an address, and usually answering nothing.
  if (ip &&
      !pexec(ctx.tx(),
             "SELECT 1 FROM fogs WHERE uuid = $1 AND coalesce(host, '') = '' AND ip_address IS "
             "DISTINCT FROM $2",
             ctx.fog_uuid, *ip)
           .empty()) {
    raise_extra_host_dependents_of_fog(ctx.tx(), ctx.fog_uuid);
  }
  if (!has_last) values.emplace_back("last_status_time", std::to_string(now_ms()));
  try {
    exec_update(ctx.tx(), "fogs", values, "uuid = $1", {ctx.fog_uuid});
  } catch (const pqxx::not_null_violation&) {
    throw validation_error("A required field is null");
  }
  // microserviceStatus is a JSON string holding [{id, status, ...}]; only this agent's
  // microservices of started applications are updated (a stopped application's stay STOPPED
  // even when a report sent before the agent stopped them still says RUNNING).
  // (An agent running nothing sends "[]": no statement for it; status comes every 10 s.)
  if (auto ms = r.str("microserviceStatus"); ms && !ms->empty() && *ms != "[]") {
    boost::system::error_code ec;
    auto parsed = json::parse(*ms, ec);
    if (ec || !parsed.is_array()) throw_format("microserviceStatus");
    try {
      pexec0(
          ctx.tx(),
          "UPDATE microservice_status s SET status = coalesce(x.status, s.status), "
          "percentage = coalesce(x.percentage, s.percentage), "
          "error_message = coalesce(x.\"errorMessage\", ''), "
          "container_id = coalesce(x.\"containerId\", s.container_id), "
          "start_time = coalesce(x.\"startTime\"::bigint, s.start_time), "
          "operating_duration = coalesce(x.\"operatingDuration\"::bigint, s.operating_duration), "
          "cpu_usage = coalesce(x.\"cpuUsage\", s.cpu_usage), "
          "memory_usage = coalesce(x.\"memoryUsage\"::bigint, s.memory_usage) "
          "FROM json_to_recordset($2::json) AS x(id text, status text, percentage float8, "
          "\"errorMessage\" text, \"containerId\" text, \"startTime\" float8, "
          "\"operatingDuration\" float8, \"cpuUsage\" float8, \"memoryUsage\" float8) "
          "WHERE s.microservice_uuid = x.id AND EXISTS (SELECT 1 FROM microservices m "
          "JOIN applications a ON a.id = m.application_id "
          "WHERE m.uuid = x.id AND m.iofog_uuid = $1 AND a.is_activated)",
          ctx.fog_uuid, *ms);
    } catch (const pqxx::data_exception&) {
      throw_format("microserviceStatus");
    }
  }
  return empty_response(204);
}

http_response version_get(request_context& ctx) {
  auto row = pexec1(ctx.tx(), "SELECT version_command FROM fogs WHERE uuid = $1", ctx.fog_uuid);
  if (row[0].is_null()) throw not_found("Version command not found");
  // The upgrade script re-provisions the agent with this key.
  std::string key = new_provision_key();
  auto exp = pexec1(ctx.tx(),
                    "INSERT INTO fog_provision_keys (fog_uuid, key_hash, expires_at) "
                    "VALUES ($1, decode($2, 'hex'), now() + interval '20 minutes') "
                    "ON CONFLICT (fog_uuid) DO UPDATE SET key_hash = EXCLUDED.key_hash, "
                    "expires_at = EXCLUDED.expires_at "
                    "RETURNING (extract(epoch FROM expires_at) * 1000)::bigint",
                    ctx.fog_uuid, token_digest_hex(key));
  return json_response(200, json::object{{"versionCommand", row[0].c_str()},
                                         {"provisionKey", key},
                                         {"expirationTime", exp[0].as<int64_t>()}});
}

handler_fn hal_put(const char* column) {
  return [column](request_context& ctx) {
    auto body = parse_body(ctx.req);
    body_reader r(body);
    auto info = r.str("info", true);
    pexec0(ctx.tx(), std::string("UPDATE fogs SET ") + column + " = $2 WHERE uuid = $1",
           ctx.fog_uuid, *info);
    return empty_response(204);
  };
}

http_response delete_node(request_context& ctx) {
  auto public_routers = public_port_routers(ctx.tx(), "m.iofog_uuid = $1", ctx.fog_uuid);
  raise_extra_host_dependents_of_fog(ctx.tx(), ctx.fog_uuid);  // before its rows go
  remove_fog_router(ctx.tx(), ctx.fog_uuid, public_ports_of(ctx.app.options()));
  pexec0(ctx.tx(), "DELETE FROM microservices WHERE iofog_uuid = $1", ctx.fog_uuid);
  pexec0(ctx.tx(), "DELETE FROM fogs WHERE uuid = $1", ctx.fog_uuid);
  fogs_changed_by_request().push_back(ctx.fog_uuid);
  refresh_routers(ctx.tx(), public_routers);
  return empty_response(204);
}

// The tunnel the agent must open (or keep closed); the only place its password goes out.
http_response tunnel_get(request_context& ctx) {
  auto rows = pexec(
      ctx.tx(),
      "SELECT json_build_object('username', username, 'password', password, 'host', host, "
      "'rsakey', rsa_key, 'lport', lport, 'rport', rport, 'closed', closed)::text FROM tunnels "
      "WHERE iofog_uuid = $1",
      ctx.fog_uuid);
  if (rows.empty()) throw not_found("Tunnel not found");
  return raw_json_response(200, "{\"tunnel\":" + std::string(rows[0][0].c_str()) + "}");
}

}  // namespace

int64_t long_poll_wait_seconds(const http_request& req, const server_options& options) {
  const auto* wait = req.query_param("wait");
  if (wait == nullptr) return 0;
  int64_t seconds = 0;
  try {
    size_t used = 0;
    seconds = std::stoll(*wait, &used);
    if (used != wait->size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    throw_format("wait");
  }
  return std::clamp<int64_t>(seconds, 0, options.max_long_poll_sec);
}

http_response no_changes_response() {
  static const std::string body = [] {
    json::object o;
    for (const auto& [key, col] : change_flags) o[key] = false;
    return json::serialize(o);
  }();
  return raw_json_response(200, body);
}

http_response changes_response(const pqxx::row& row, int first) {
  bool any = row[first].as<int64_t>() > 0;
  json::object o;
  int i = first + 1;
  for (const auto& [key, col] : change_flags) {
    o[key] = any && row[i].as<bool>();
    ++i;
  }
  if (any) o["lastUpdated"] = row[i].c_str();
  return json_response(200, o);
}

const std::string& woken_polls_sql() {
  // Tokens still valid (a revoked one answers 401 through the ordinary path), each with its
  // fog's pending changes; $1 is a text[] of token digests in hex.
  static const std::string sql =
      "SELECT encode(t.token_hash, 'hex'), t.fog_uuid, " + change_columns_sql("c") +
      " FROM fog_tokens t LEFT JOIN change_tracking c ON c.fog_uuid = t.fog_uuid "
      "WHERE t.token_hash IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) x) "
      "AND t.expires_at > now() GROUP BY t.token_hash, t.fog_uuid";
  return sql;
}

void register_agent_routes(app& a) {
  a.add_route({"POST", "/agent/provision", auth_kind::none, provision,
               "Exchange a provisioning key for an agent token"});
  a.add_route(
      {"POST", "/agent/deprovision", auth_kind::agent, deprovision, "Deprovision this agent", 204});
  a.add_route({"GET", "/agent/config", auth_kind::agent, config_get, "Agent configuration"});
  a.add_route({"PATCH", "/agent/config", auth_kind::agent, config_patch,
               "Agent pushes local config edits", 204});
  a.add_route({"GET", "/agent/config/changes", auth_kind::agent, changes_get,
               "Pending change flags; ?wait=N long-polls up to N seconds"});
  a.add_route({"PATCH", "/agent/config/changes", auth_kind::agent, changes_ack,
               "Acknowledge changes up to lastUpdated", 204});
  a.add_route({"PUT", "/agent/status", auth_kind::agent, status_put, "Agent status report", 204});
  a.add_route({"GET", "/agent/version", auth_kind::agent, version_get, "Pending version command"});
  a.add_route(
      {"PUT", "/agent/hal/hw", auth_kind::agent, hal_put("hw_info"), "Upload hardware info", 204});
  a.add_route(
      {"PUT", "/agent/hal/usb", auth_kind::agent, hal_put("usb_info"), "Upload USB info", 204});
  a.add_route({"DELETE", "/agent/delete-node", auth_kind::agent, delete_node,
               "Agent removes its node", 204});
  a.add_route({"GET", "/agent/tunnel", auth_kind::agent, tunnel_get, "SSH tunnel settings"});
}

}  // namespace fogmesh::controller
