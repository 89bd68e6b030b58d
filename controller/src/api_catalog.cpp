// Registries (passwords are write-only for users) and the microservice catalog (read side; the
// seeded SYSTEM items are the router and proxy).
#include "app.hpp"
#include "fog_model.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

// Registry changes matter to every agent of the user (public ones to every agent).
void touch_registry_fogs(request_context& ctx) {
  auto fogs = ctx.tx.exec_params("SELECT uuid FROM fogs WHERE user_id = $1", ctx.user_id);
  for (const auto& f : fogs) raise_change(ctx.tx, f[0].c_str(), {"registries"});
}

http_response registry_list(request_context& ctx) {
  auto row = ctx.tx.exec_params1(
      "SELECT coalesce(json_agg(json_build_object('id', id, 'url', url, 'isPublic', is_public, "
      "'secure', requires_cert, 'certificate', certificate, 'requiresCert', requires_cert, "
      "'username', username, 'userEmail', user_email, 'userId', user_id) ORDER BY id), "
      "'[]')::text FROM registries WHERE is_public OR user_id = $1",
      ctx.user_id);
  return raw_json_response(200, "{\"registries\":" + std::string(row[0].c_str()) + "}");
}

struct registry_input {
  std::optional<std::string> url, username, password, email, certificate;
  std::optional<bool> is_public, requires_cert;
};

registry_input read_registry(body_reader& r, bool create) {
  registry_input in;
  in.url = r.str("url", create, 1);
  in.is_public = r.boolean("isPublic");
  in.username = r.str("username");
  in.password = r.str("password");
  in.email = r.str("email");
  in.requires_cert = r.boolean("requiresCert");
  in.certificate = r.str("certificate");
  if (in.requires_cert.value_or(false) && (!in.certificate || in.certificate->empty())) {
    throw_missing("certificate");
  }
  return in;
}

http_response registry_create(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_registry(r, true);
  auto row = ctx.tx.exec_params1(
      "INSERT INTO registries (url, is_public, username, password, user_email, requires_cert, "
      "certificate, user_id) VALUES ($1, coalesce($2, false), coalesce($3, ''), coalesce($4, ''), "
      "coalesce($5, ''), coalesce($6, false), coalesce($7, ''), $8) RETURNING id",
      *in.url, in.is_public, in.username, in.password, in.email, in.requires_cert, in.certificate,
      ctx.user_id);
  touch_registry_fogs(ctx);
  return json_response(201, json::object{{"id", row[0].as<int64_t>()}});
}

void owned_registry(request_context& ctx, const std::string& id) {
  auto rows = ctx.tx.exec_params("SELECT 1 FROM registries WHERE id::text = $1 AND user_id = $2",
                                 id, ctx.user_id);
  // The seeded public registries belong to nobody and cannot be edited.
  if (rows.empty()) throw not_found("Invalid registry id '" + id + "'");
}

http_response registry_patch(request_context& ctx) {
  const auto& id = ctx.param("id");
  owned_registry(ctx, id);
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_registry(r, false);
  ctx.tx.exec_params0(
      "UPDATE registries SET url = coalesce($2, url), is_public = coalesce($3, is_public), "
      "username = coalesce($4, username), password = coalesce($5, password), user_email = "
      "coalesce($6, user_email), requires_cert = coalesce($7, requires_cert), certificate = "
      "coalesce($8, certificate) WHERE id::text = $1",
      id, in.url, in.is_public, in.username, in.password, in.email, in.requires_cert,
      in.certificate);
  touch_registry_fogs(ctx);
  return empty_response(204);
}

http_response registry_delete(request_context& ctx) {
  const auto& id = ctx.param("id");
  owned_registry(ctx, id);
  auto used =
      ctx.tx.exec_params("SELECT 1 FROM microservices WHERE registry_id::text = $1 LIMIT 1", id);
  if (!used.empty()) throw validation_error("Registry '" + id + "' is used by microservices");
  ctx.tx.exec_params0("DELETE FROM registries WHERE id::text = $1", id);
  touch_registry_fogs(ctx);
  return empty_response(204);
}

constexpr const char* catalog_json_sql =
    "json_build_object('id', c.id, 'name', c.name, 'description', c.description, 'category', "
    "c.category, 'configExample', c.config_example, 'publisher', c.publisher, 'diskRequired', "
    "c.disk_required, 'ramRequired', c.ram_required, 'picture', c.picture, 'isPublic', "
    "c.is_public, 'registryId', c.registry_id, 'userId', c.user_id, 'inputType', c.input_type, "
    "'outputType', c.output_type, 'images', coalesce((SELECT json_agg(json_build_object("
    "'containerImage', i.container_image, 'fogTypeId', i.fog_type_id) ORDER BY i.fog_type_id) "
    "FROM catalog_item_images i WHERE i.catalog_item_id = c.id), '[]'))";

http_response catalog_list(request_context& ctx) {
  auto row = ctx.tx.exec_params1("SELECT coalesce(json_agg(" + std::string(catalog_json_sql) +
                                     " ORDER BY c.id), '[]')::text FROM catalog_items c WHERE "
                                     "c.user_id IS NULL OR c.user_id = $1",
                                 ctx.user_id);
  return raw_json_response(200, "{\"catalogItems\":" + std::string(row[0].c_str()) + "}");
}

http_response catalog_get(request_context& ctx) {
  const auto& id = ctx.param("id");
  auto rows = ctx.tx.exec_params("SELECT " + std::string(catalog_json_sql) +
                                     "::text FROM catalog_items c WHERE c.id::text = $1 AND "
                                     "(c.user_id IS NULL OR c.user_id = $2)",
                                 id, ctx.user_id);
  if (rows.empty()) throw not_found("Invalid catalog item id '" + id + "'");
  return raw_json_response(200, rows[0][0].c_str());
}

}  // namespace

void register_catalog_routes(app& a) {
  a.add_route({"GET", "/registries", auth_kind::user, registry_list,
               "List registries (passwords are never returned)"});
  a.add_route({"POST", "/registries", auth_kind::user, registry_create, "Add a registry", 201});
  a.add_route(
      {"PATCH", "/registries/:id", auth_kind::user, registry_patch, "Update a registry", 204});
  a.add_route(
      {"DELETE", "/registries/:id", auth_kind::user, registry_delete, "Delete a registry", 204});
  a.add_route(
      {"GET", "/catalog/microservices", auth_kind::user, catalog_list, "List catalog items"});
  a.add_route(
      {"GET", "/catalog/microservices/:id", auth_kind::user, catalog_get, "Get a catalog item"});
}

}  // namespace fogmesh::controller
