// Application templates (/applicationTemplates, /applicationTemplate/:name) and their rendering
// into applications (POST /application with `template`).
#include "app.hpp"
#include "templates.hpp"
#include "validate.hpp"
#include "yaml_upload.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

constexpr const char* template_json_sql =
    "json_build_object('id', t.id, 'name', t.name, 'description', t.description, 'variables', "
    "t.variables, 'application', t.application_json, 'userId', t.user_id)";

[[noreturn]] void invalid_template(const std::string& name) {
  throw not_found("Invalid application template name '" + name + "'");
}

struct template_input {
  std::optional<std::string> name, description, variables, application;
};

template_input read_template(body_reader& r, bool name_required) {
  template_input in;
  in.name = r.str("name", name_required, 1);
  if (in.name && !is_dns_name(*in.name)) throw_format("name");
  in.description = r.str("description");
  if (const auto* vars = r.array("variables")) {
    for (const auto& v : *vars) {
      if (!v.is_object()) throw_type_error("variables", "object");
      body_reader vr(v.as_object());
      vr.str("key", true, 1);
      vr.str("description");
    }
    in.variables = json::serialize(*vars);
  }
  if (const auto* app = r.obj("application")) {
    body_reader ar(*app);
    ar.array("microservices");
    ar.array("routes");
    in.application = json::serialize(*app);
  }
  return in;
}

http_response template_list(request_context& ctx) {
  auto row = pexec1(ctx.tx(),
                    "SELECT coalesce(json_agg(" + std::string(template_json_sql) +
                        " ORDER BY t.id), '[]')::text FROM application_templates t "
                        "WHERE t.user_id = $1",
                    ctx.user_id);
  return raw_json_response(200, "{\"applicationTemplates\":" + std::string(row[0].c_str()) + "}");
}

http_response template_get(request_context& ctx) {
  const auto& name = ctx.param("name");
  auto rows = pexec(ctx.tx(),
                    "SELECT " + std::string(template_json_sql) +
                        "::text FROM application_templates t WHERE t.name = $1 "
                        "AND t.user_id = $2",
                    name, ctx.user_id);
  if (rows.empty()) invalid_template(name);
  return raw_json_response(200, rows[0][0].c_str());
}

http_response template_create_from(request_context& ctx, const json::object& body) {
  body_reader r(body);
  auto in = read_template(r, true);
  pqxx::result row;
  try {
    row = pexec(
        ctx.tx(),
        "INSERT INTO application_templates (name, description, variables, application_json, "
        "user_id) VALUES ($1, coalesce($2, ''), coalesce($3::jsonb, '[]'), coalesce($4::jsonb, "
        "'{}'), $5) RETURNING id",
        *in.name, in.description, in.variables, in.application, ctx.user_id);
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + *in.name + "'");
  }
  return json_response(201, json::object{{"id", row[0][0].as<int64_t>()}, {"name", *in.name}});
}

http_response template_create(request_context& ctx) {
  return template_create_from(ctx, parse_body(ctx.req));
}

// POST /applicationTemplate/yaml: multipart field `template` holding iofogctl's
// `kind: ApplicationTemplate` YAML.
http_response template_create_yaml(request_context& ctx) {
  return template_create_from(ctx,
                              application_template_from_yaml(multipart_field(ctx.req, "template")));
}

// PATCH changes the fields given; PUT replaces the template (creating it if missing, as iofogctl
// deploy expects).
http_response template_update_from(request_context& ctx, const json::object& body, bool replace) {
  const auto& name = ctx.param("name");
  body_reader r(body);
  auto in = read_template(r, replace);
  auto existing = pexec(
      ctx.tx(), "SELECT id FROM application_templates WHERE name = $1 AND user_id = $2 FOR UPDATE",
      name, ctx.user_id);
  if (existing.empty() && !replace) invalid_template(name);
  try {
    if (existing.empty()) {
      pexec0(ctx.tx(),
             "INSERT INTO application_templates (name, description, variables, application_json, "
             "user_id) VALUES ($1, coalesce($2, ''), coalesce($3::jsonb, '[]'), "
             "coalesce($4::jsonb, '{}'), $5)",
             *in.name, in.description, in.variables, in.application, ctx.user_id);
    } else if (replace) {
      pexec0(ctx.tx(),
             "UPDATE application_templates SET name = $2, description = coalesce($3, ''), "
             "variables = coalesce($4::jsonb, '[]'), application_json = coalesce($5::jsonb, '{}'), "
             "updated_at = now() WHERE id = $1",
             existing[0][0].as<int64_t>(), *in.name, in.description, in.variables, in.application);
    } else {
      pexec0(ctx.tx(),
             "UPDATE application_templates SET name = coalesce($2, name), description = "
             "coalesce($3, description), variables = coalesce($4::jsonb, variables), "
             "application_json = coalesce($5::jsonb, application_json), updated_at = now() "
             "WHERE id = $1",
             existing[0][0].as<int64_t>(), in.name, in.description, in.variables, in.application);
    }
  } catch (const pqxx::unique_violation&) {
    throw validation_error("Duplicate name '" + in.name.value_or(name) + "'");
  }
  return empty_response(204);
}

handler_fn template_update(bool replace) {
  return [replace](request_context& ctx) {
    return template_update_from(ctx, parse_body(ctx.req), replace);
  };
}

// PUT /applicationTemplate/yaml/:name replaces (or creates) from the YAML upload.
http_response template_put_yaml(request_context& ctx) {
  return template_update_from(
      ctx, application_template_from_yaml(multipart_field(ctx.req, "template")), true);
}

http_response template_delete(request_context& ctx) {
  const auto& name = ctx.param("name");
  auto rows = pexec(
      ctx.tx(), "DELETE FROM application_templates WHERE name = $1 AND user_id = $2 RETURNING 1",
      name, ctx.user_id);
  if (rows.empty()) invalid_template(name);
  return empty_response(204);
}

std::string as_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

// Replaces "{{ key }}" (spaces optional) placeholders; unknown keys are left as they are.
json::value render(const json::value& v, const std::map<std::string, json::value>& vars) {
  if (v.is_object()) {
    json::object out;
    for (const auto& [k, child] : v.as_object()) out[k] = render(child, vars);
    return out;
  }
  if (v.is_array()) {
    json::array out;
    for (const auto& child : v.as_array()) out.push_back(render(child, vars));
    return out;
  }
  if (!v.is_string()) return v;
  std::string s(v.as_string());
  std::string out;
  size_t pos = 0;
  bool whole = false;
  json::value whole_value;
  while (pos < s.size()) {
    size_t open = s.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = s.find("}}", open + 2);
    if (close == std::string::npos) break;
    std::string key = s.substr(open + 2, close - open - 2);
    key.erase(0, key.find_first_not_of(' '));
    key.erase(key.find_last_not_of(' ') + 1);
    out += s.substr(pos, open - pos);
    auto it = vars.find(key);
    if (it == vars.end()) {
      out += s.substr(open, close + 2 - open);
    } else {
      if (open == 0 && close + 2 == s.size()) {
        whole = true;
        whole_value = it->second;
      }
      out += as_text(it->second);
    }
    pos = close + 2;
  }
  if (whole) return whole_value;
  out += s.substr(std::min(pos, s.size()));
  return json::value(out);
}

}  // namespace

json::object render_application_template(request_context& ctx, const json::object& ref) {
  body_reader r(ref);
  auto name = r.str("name", true, 1);
  auto rows = pexec(
      ctx.tx(),
      "SELECT variables::text, application_json::text FROM application_templates WHERE name = $1 "
      "AND user_id = $2",
      *name, ctx.user_id);
  if (rows.empty()) invalid_template(*name);
  std::map<std::string, json::value> vars;
  json::value defaults = json::parse(rows[0][0].c_str());  // named: the loop must not outlive it
  for (const auto& v : defaults.as_array()) {
    const auto& o = v.as_object();
    if (const auto* d = o.if_contains("defaultValue")) {
      vars[std::string(o.at("key").as_string())] = *d;
    }
  }
  if (const auto* given = r.array("variables")) {
    for (const auto& v : *given) {
      if (!v.is_object()) throw_type_error("variables", "object");
      body_reader vr(v.as_object());
      auto key = vr.str("key", true, 1);
      const auto* value = v.as_object().if_contains("value");
      vars[*key] = value != nullptr ? *value : json::value(nullptr);
    }
  }
  json::value rendered = render(json::parse(rows[0][1].c_str()), vars);
  if (!rendered.is_object()) throw validation_error("Application template is not an object");
  return std::move(rendered.as_object());
}

void register_template_routes(app& a) {
  a.add_route({"GET", "/applicationTemplates", auth_kind::user, template_list,
               "List application templates"});
  a.add_route({"POST", "/applicationTemplate", auth_kind::user, template_create,
               "Create an application template", 201});
  a.add_route({"POST", "/applicationTemplate/yaml", auth_kind::user, template_create_yaml,
               "Create an application template from an iofogctl YAML upload (field 'template')",
               201});
  a.add_route({"PUT", "/applicationTemplate/yaml/:name", auth_kind::user, template_put_yaml,
               "Replace (or create) an application template from an iofogctl YAML upload", 204});
  a.add_route({"GET", "/applicationTemplate/:name", auth_kind::user, template_get,
               "Get an application template"});
  a.add_route({"PATCH", "/applicationTemplate/:name", auth_kind::user, template_update(false),
               "Update an application template", 204});
  a.add_route({"PUT", "/applicationTemplate/:name", auth_kind::user, template_update(true),
               "Replace (or create) an application template", 204});
  a.add_route({"DELETE", "/applicationTemplate/:name", auth_kind::user, template_delete,
               "Delete an application template", 204});
  a.add_route({"HEAD", "/capabilities/applicationTemplates", auth_kind::none,
               [](request_context&) { return empty_response(204); },
               "Feature probe: application templates are supported", 204})
      .needs_db = false;
}

}  // namespace fogmesh::controller
