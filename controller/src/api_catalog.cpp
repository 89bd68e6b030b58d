// Registries (passwords are write-only for users) and the microservice catalog (read side; the
// seeded SYSTEM items are the router and proxy).
#include "app.hpp"
#include "fog_model.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

// A registry change flags the user's agents (upstream's rule: a public registry's change does not
// reach other users' agents until their next registries change or restart). Only fogs an agent
// runs or is about to run get a row: an agent fetches the registries when it starts, whatever
// the flags, and nothing acknowledges a fog's rows before its agent polls, so every change added
// one row per agentless fog for good. "About to run" is a provisioning key not used yet:
// provisioning deletes the key and adds the token in one transaction, so this statement sees one
// of them whenever it runs, and an agent whose first fetch missed this change finds the flag.
// One statement for all of them: a user may have thousands of agents.
void touch_registry_fogs(request_context& ctx) {
  auto fogs =
      pexec(ctx.tx(),
            "INSERT INTO change_tracking (fog_uuid, registries) SELECT uuid, true FROM fogs f "
            "WHERE user_id = $1 AND (EXISTS (SELECT 1 FROM fog_tokens t WHERE t.fog_uuid "
            "= f.uuid) OR EXISTS (SELECT 1 FROM fog_provision_keys k WHERE k.fog_uuid = "
            "f.uuid)) RETURNING fog_uuid",
            ctx.user_id);
  for (const auto& f : fogs) fogs_changed_by_request().emplace_back(f[0].c_str());
}

http_response registry_list(request_context& ctx) {
  auto row = pexec1(
      ctx.tx(),
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
  auto row = pexec1(
      ctx.tx(),
      "INSERT INTO registries (url, is_public, username, password, user_email, requires_cert, "
      "certificate, user_id) VALUES ($1, coalesce($2, false), coalesce($3, ''), coalesce($4, ''), "
      "coalesce($5, ''), coalesce($6, false), coalesce($7, ''), $8) RETURNING id",
      *in.url, in.is_public, in.username, in.password, in.email, in.requires_cert, in.certificate,
      ctx.user_id);
  touch_registry_fogs(ctx);
  return json_response(201, json::object{{"id", row[0].as<int64_t>()}});
}

void owned_registry(request_context& ctx, const std::string& id) {
  auto rows = pexec(ctx.tx(), "SELECT 1 FROM registries WHERE id::text = $1 AND user_id = $2", id,
                    ctx.user_id);
  // The seeded public registries belong to nobody and cannot be edited.
  if (rows.empty()) throw not_found("Invalid registry id '" + id + "'");
}

http_response registry_patch(request_context& ctx) {
  const auto& id = ctx.param("id");
  owned_registry(ctx, id);
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_registry(r, false);
  pexec0(ctx.tx(),
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
      pexec(ctx.tx(), "SELECT 1 FROM microservices WHERE registry_id::text = $1 LIMIT 1", id);
  if (!used.empty()) throw validation_error("Registry '" + id + "' is used by microservices");
  pexec0(ctx.tx(), "DELETE FROM registries WHERE id::text = $1", id);
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
  auto row = pexec1(ctx.tx(),
                    "SELECT coalesce(json_agg(" + std::string(catalog_json_sql) +
                        " ORDER BY c.id), '[]')::text FROM catalog_items c WHERE "
                        "c.user_id IS NULL OR c.user_id = $1",
                    ctx.user_id);
  return raw_json_response(200, "{\"catalogItems\":" + std::string(row[0].c_str()) + "}");
}

http_response catalog_get(request_context& ctx) {
  const auto& id = ctx.param("id");
  auto rows = pexec(ctx.tx(),
                    "SELECT " + std::string(catalog_json_sql) +
                        "::text FROM catalog_items c WHERE c.id::text = $1 AND "
                        "(c.user_id IS NULL OR c.user_id = $2)",
                    id, ctx.user_id);
  if (rows.empty()) throw not_found("Invalid catalog item id '" + id + "'");
  return raw_json_response(200, rows[0][0].c_str());
}

struct catalog_input {
  std::optional<std::string> name, description, category, publisher, picture, config_example;
  std::optional<int64_t> disk, ram, registry;
  std::optional<bool> is_public;
  std::optional<std::string> input_type, output_type;
  const json::array* images = nullptr;
};

std::optional<std::string> read_info_type(body_reader& r, std::string_view key) {
  const auto* o = r.obj(key);
  if (o == nullptr) return std::nullopt;
  body_reader t(*o);
  t.str("infoType");
  t.str("infoFormat");
  return json::serialize(*o);
}

catalog_input read_catalog(request_context& ctx, body_reader& r, bool create) {
  catalog_input in;
  in.name = r.str("name", create, 1);
  in.description = r.str("description");
  in.category = r.str("category");
  in.images = r.array("images", create);
  if (in.images != nullptr && (in.images->empty() || in.images->size() > 2)) {
    throw validation_error("Field images must hold 1 or 2 images");
  }
  in.publisher = r.str("publisher");
  in.disk = r.integer("diskRequired", false, 0);
  in.ram = r.integer("ramRequired", false, 0);
  in.picture = r.str("picture");
  in.is_public = r.boolean("isPublic");
  in.registry = r.integer("registryId", false, 1);
  in.config_example = r.str("configExample");
  in.input_type = read_info_type(r, "inputType");
  in.output_type = read_info_type(r, "outputType");
  if (in.registry) {
    auto rows =
        pexec(ctx.tx(), "SELECT 1 FROM registries WHERE id = $1 AND (is_public OR user_id = $2)",
              *in.registry, ctx.user_id);
    if (rows.empty()) throw not_found("Invalid registry id '" + std::to_string(*in.registry) + "'");
  }
  return in;
}

void write_catalog_images(request_context& ctx, int64_t id, const json::array& images) {
  write_images(ctx.tx(), "catalog_item_images", "catalog_item_id", std::to_string(id), images);
}

http_response catalog_create(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_catalog(ctx, r, true);
  if (!pexec(ctx.tx(), "SELECT 1 FROM catalog_items WHERE name = $1", *in.name).empty()) {
    throw duplicate_error("Duplicate name '" + *in.name + "'");
  }
  pqxx::result row;
  try {
    row = pexec(
        ctx.tx(),
        "INSERT INTO catalog_items (name, description, category, publisher, disk_required, "
        "ram_required, picture, is_public, registry_id, config_example, input_type, output_type, "
        "user_id) VALUES ($1, coalesce($2, ''), coalesce($3, ''), coalesce($4, ''), "
        "coalesce($5, 0), coalesce($6, 0), coalesce($7, 'images/shared/default.png'), "
        "coalesce($8, false), coalesce($9, 1), coalesce($10, '{}'), $11::jsonb, $12::jsonb, $13) "
        "RETURNING id",
        *in.name, in.description, in.category, in.publisher, in.disk, in.ram, in.picture,
        in.is_public, in.registry, in.config_example, in.input_type, in.output_type, ctx.user_id);
  } catch (const pqxx::unique_violation&) {
    throw duplicate_error("Duplicate name '" + *in.name + "'");
  }
  int64_t id = row[0][0].as<int64_t>();
  write_catalog_images(ctx, id, *in.images);
  return json_response(201, json::object{{"id", id}});
}

int64_t owned_catalog_item(request_context& ctx, const std::string& id) {
  // SYSTEM items (no owner) are read-only.
  auto rows = pexec(ctx.tx(), "SELECT id FROM catalog_items WHERE id::text = $1 AND user_id = $2",
                    id, ctx.user_id);
  if (rows.empty()) throw not_found("Invalid catalog item id '" + id + "'");
  return rows[0][0].as<int64_t>();
}

http_response catalog_patch(request_context& ctx) {
  int64_t id = owned_catalog_item(ctx, ctx.param("id"));
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto in = read_catalog(ctx, r, false);
  try {
    pexec0(
        ctx.tx(),
        "UPDATE catalog_items SET name = coalesce($2, name), description = coalesce($3, "
        "description), category = coalesce($4, category), publisher = coalesce($5, publisher), "
        "disk_required = coalesce($6, disk_required), ram_required = coalesce($7, ram_required), "
        "picture = coalesce($8, picture), is_public = coalesce($9, is_public), registry_id = "
        "coalesce($10, registry_id), config_example = coalesce($11, config_example), input_type = "
        "coalesce($12::jsonb, input_type), output_type = coalesce($13::jsonb, output_type) "
        "WHERE id = $1",
        id, in.name, in.description, in.category, in.publisher, in.disk, in.ram, in.picture,
        in.is_public, in.registry, in.config_example, in.input_type, in.output_type);
  } catch (const pqxx::unique_violation&) {
    throw duplicate_error("Duplicate name '" + *in.name + "'");
  }
  if (in.images != nullptr) write_catalog_images(ctx, id, *in.images);
  return empty_response(204);
}

http_response catalog_delete(request_context& ctx) {
  int64_t id = owned_catalog_item(ctx, ctx.param("id"));
  auto used = pexec(ctx.tx(), "SELECT 1 FROM microservices WHERE catalog_item_id = $1 LIMIT 1", id);
  if (!used.empty()) throw validation_error("Catalog item is used by microservices");
  pexec0(ctx.tx(), "DELETE FROM catalog_items WHERE id = $1", id);
  return empty_response(204);
}

}  // namespace

void register_catalog_routes(app& a) {
  a.add_route({"POST", "/catalog/microservices", auth_kind::user, catalog_create,
               "Create a catalog item", 201});
  a.add_route({"PATCH", "/catalog/microservices/:id", auth_kind::user, catalog_patch,
               "Update a catalog item", 204});
  a.add_route({"DELETE", "/catalog/microservices/:id", auth_kind::user, catalog_delete,
               "Delete a catalog item", 204});
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
