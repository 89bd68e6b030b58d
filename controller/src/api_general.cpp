// General endpoints: status, feature probes, fog types, controller config, OpenAPI document.
#include "app.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

http_response status(request_context& ctx) {
  json::object o;
  o["status"] = "online";
  o["timestamp"] = now_ms();
  o["uptimeSec"] = static_cast<double>(now_ms() - ctx.app.started_at_ms()) / 1000.0;
  o["versions"] = json::object{{"controller", ctx.app.options().version}, {"ecnViewer", ""}};
  return json_response(200, o);
}

http_response fog_types(request_context&) {
  json::array types;
  auto add = [&](int id, const char* name, const char* image, const char* description) {
    types.push_back(json::object{{"id", id},
                                 {"name", name},
                                 {"image", image},
                                 {"description", description},
                                 {"networkCatalogItemId", nullptr},
                                 {"halCatalogItemId", nullptr},
                                 {"bluetoothCatalogItemId", nullptr}});
  };
  add(0, "Unspecified", "iointegrator0.jpg",
      "Unspecified device. Fog Type will be selected on provision");
  add(1, "Standard Linux (x86)", "iointegrator1.jpg",
      "A standard Linux server of at least moderate processing power and capacity. Compatible "
      "with common Linux types such as Ubuntu, Red Hat, and CentOS.");
  add(2, "ARM Linux", "iointegrator2.jpg",
      "A version of ioFog meant to run on Linux systems with ARM processors. Microservices for "
      "this ioFog type will be tailored to ARM systems.");
  return json_response(200, json::object{{"fogTypes", std::move(types)}});
}

// Settings that are secrets (the tunnel service's SSH credentials, handed to agents by
// GET /agent/tunnel): PUT /config stores them, but users only ever read them as `secret_mask`
// (or "" when empty). A PUT of the mask itself keeps the stored value, so a client that reads
// every setting and writes them back does not replace a secret with its mask.
constexpr std::string_view secret_mask = "********";

bool is_secret_key(std::string_view key) {
  return key == "tunnel-password" || key == "tunnel-rsa-key";
}

json::object config_entry(std::string_view key, std::string_view value) {
  if (is_secret_key(key) && !value.empty()) value = secret_mask;
  return json::object{{"key", key}, {"value", value}};
}

http_response config_list(request_context& ctx) {
  auto rows = ctx.tx().exec("SELECT key, value FROM controller_config ORDER BY key");
  json::array out;
  for (const auto& r : rows) out.push_back(config_entry(r[0].c_str(), r[1].c_str()));
  return json_response(200, out);
}

http_response config_get(request_context& ctx) {
  const auto& key = ctx.param("key");
  auto rows = pexec(ctx.tx(), "SELECT key, value FROM controller_config WHERE key = $1", key);
  if (rows.empty()) throw not_found("Invalid config key '" + key + "'");
  return json_response(200, config_entry(rows[0][0].c_str(), rows[0][1].c_str()));
}

http_response config_put(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto key = r.str("key", true, 1);
  auto value = r.str("value", true);
  if (is_secret_key(*key) && *value == secret_mask) {
    auto rows = pexec(ctx.tx(), "SELECT value FROM controller_config WHERE key = $1", *key);
    return json_response(200, config_entry(*key, rows.empty() ? "" : rows[0][0].c_str()));
  }
  pexec0(ctx.tx(),
         "INSERT INTO controller_config (key, value) VALUES ($1, $2) "
         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
         *key, *value);
  return json_response(200, config_entry(*key, *value));
}

// Generated from the route table, so the document cannot drift from what is served.
http_response openapi(request_context& ctx) {
  json::object paths;
  for (const auto& r : ctx.app.routes()) {
    std::string path = "/api/v3";
    json::array parameters;
    for (const auto& seg : r.segments) {
      path += "/";
      if (seg.starts_with(':')) {
        // (appended piecewise: g++ 12 -O3 warns about "{" + substr() as an overflow)
        path += '{';
        path.append(seg, 1);
        path += '}';
        parameters.push_back(json::object{{"name", seg.substr(1)},
                                          {"in", "path"},
                                          {"required", true},
                                          {"schema", json::object{{"type", "string"}}}});
      } else {
        path += seg;
      }
    }
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json::object op;
    op["summary"] = r.summary;
    if (!parameters.empty()) op["parameters"] = std::move(parameters);
    json::object responses;
    responses[std::to_string(r.success_status)] = json::object{{"description", "Success"}};
    responses["400"] = json::object{{"description", "ValidationError"}};
    if (r.auth != auth_kind::none) {
      responses["401"] = json::object{{"description", "AuthenticationError"}};
      op["security"] = json::array{
          json::object{{r.auth == auth_kind::user ? "userToken" : "agentToken", json::array{}}}};
    }
    responses["404"] = json::object{{"description", "NotFoundError"}};
    op["responses"] = std::move(responses);
    auto& entry = paths[path];
    if (!entry.is_object()) entry.emplace_object();
    entry.as_object()[method] = std::move(op);
  }
  json::object doc;
  doc["openapi"] = "3.0.3";
  doc["info"] = json::object{{"title", "fogmesh controller (ioFog v3 compatible)"},
                             {"version", ctx.app.options().version}};
  doc["paths"] = std::move(paths);
  auto key_scheme = json::object{{"type", "apiKey"}, {"in", "header"}, {"name", "Authorization"}};
  doc["components"] = json::object{
      {"securitySchemes", json::object{{"userToken", key_scheme}, {"agentToken", key_scheme}}}};
  return json_response(200, doc);
}

http_response metrics(request_context& ctx) {
  std::string out;
  auto metric = [&out](const char* name, const char* type, const char* help, std::int64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n";
    out += std::string("# TYPE ") + name + " " + type + "\n";
    out += std::string(name) + " " + std::to_string(value) + "\n";
  };
  metric("fogmesh_controller_uptime_seconds", "gauge", "Seconds since the controller started.",
         (now_ms() - ctx.app.started_at_ms()) / 1000);
  metric("fogmesh_controller_long_polls_waiting", "gauge", "Agent long-polls currently held.",
         static_cast<std::int64_t>(ctx.app.notifier().waiting()));
  metric("fogmesh_controller_long_polls_woken_batched_total", "counter",
         "Long-polls woken by a change and answered together with others (one query per batch).",
         static_cast<std::int64_t>(ctx.app.woken_batched()));
  metric("fogmesh_controller_woken_last_answered_ms", "gauge",
         "Unix time (ms) when the last woken long-poll's answer was handed to its connection.",
         static_cast<std::int64_t>(ctx.app.woken_last_answered_ms()));
  metric("fogmesh_controller_woken_delay_max_ms", "gauge",
         "Longest time from a long-poll's wake-up to its answer being handed to its connection, "
         "since start.",
         static_cast<std::int64_t>(ctx.app.woken_delay_max_ms()));
  out += "# HELP fogmesh_controller_responses_total HTTP responses by status class.\n";
  out += "# TYPE fogmesh_controller_responses_total counter\n";
  for (int c = 1; c <= 5; ++c) {
    out += "fogmesh_controller_responses_total{code=\"" + std::to_string(c) + "xx\"} " +
           std::to_string(ctx.app.responses(c)) + "\n";
  }
  http_response r = empty_response(200);
  r.body = std::move(out);
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

}  // namespace

void register_general_routes(app& a) {
  a.add_route({"GET", "/status", auth_kind::none, status, "Controller status"}).needs_db = false;
  a.add_route({"GET", "/email-activation", auth_kind::none,
               [](request_context&) {
                 return json_response(200, json::object{{"isEmailActivationEnabled", false}});
               },
               "Is email activation enabled"})
      .needs_db = false;
  a.add_route({"GET", "/fog-types", auth_kind::none, fog_types, "Agent types"}).needs_db = false;
  a.add_route({"GET", "/config", auth_kind::user, config_list,
               "List controller settings (secrets such as tunnel-password masked)"});
  a.add_route({"GET", "/config/:key", auth_kind::user, config_get,
               "Get a controller setting (secrets masked)"});
  a.add_route({"PUT", "/config", auth_kind::user, config_put, "Set a controller setting"});
  a.add_route(
       {"GET", "/metrics", auth_kind::none, metrics, "Prometheus metrics (also at /metrics)"})
      .needs_db = false;
  a.add_route({"GET", "/openapi.json", auth_kind::none, openapi, "This OpenAPI document"})
      .needs_db = false;
  a.add_route({"GET", "/docs", auth_kind::none, openapi, "This OpenAPI document"}).needs_db = false;
}

}  // namespace fogmesh::controller
