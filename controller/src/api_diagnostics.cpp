// Diagnostics, as upstream's diagnostic-service and agent-service have them: strace of a
// microservice (the user switches it on, the agent learns it through the `diagnostics` change
// flag, runs strace and pushes the output, the user reads it) and image snapshots (the user asks,
// the agent learns it through `isImageSnapshot`, uploads the container's image as a tar.gz, the
// user downloads it once). Ownership failures are 404 as everywhere; upstream v3.0.4 checks no
// owner here at all.
#include <sodium.h>

#include <algorithm>

#include "app.hpp"
#include "auth.hpp"
#include "fog_model.hpp"
#include "fogmesh/common/log.hpp"
#include "ftp_upload.hpp"
#include "validate.hpp"
#include "yaml_upload.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

// Snapshot bytes per row of microservice_image_snapshot_parts: a few MiB keeps each statement and
// its hex text small next to the whole upload.
constexpr size_t snapshot_part_bytes = 4 * 1024 * 1024;

// What an agent pushes is appended; the newest output is kept up to this size, so an agent left
// tracing cannot grow a row without bound (upstream appends forever).
constexpr int64_t strace_buffer_limit = 1024 * 1024;

// The fog of the user's microservice (empty when it is not on one); 404 when it is not theirs.
std::string owned_msvc_fog(request_context& ctx) {
  const auto& uuid = ctx.param("uuid");
  auto rows = pexec(ctx.tx(),
                    "SELECT coalesce(iofog_uuid, '') FROM microservices "
                    "WHERE uuid = $1 AND user_id = $2",
                    uuid, ctx.user_id);
  if (rows.empty()) throw not_found("Invalid microservice UUID '" + uuid + "'");
  return rows[0][0].c_str();
}

std::string base64(const std::string& bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

http_response strace_patch(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  bool enable = *r.boolean("enable", true);
  std::string fog = owned_msvc_fog(ctx);
  if (fog.empty()) throw validation_error("Can't run strace for microservice without ioFog.");
  pexec0(ctx.tx(),
         "INSERT INTO microservice_straces (microservice_uuid, strace_run) VALUES ($1, $2) "
         "ON CONFLICT (microservice_uuid) DO UPDATE SET strace_run = excluded.strace_run",
         ctx.param("uuid"), enable);
  raise_change(ctx.tx(), fog, {"diagnostics"});
  return empty_response(204);
}

http_response strace_get(request_context& ctx) {
  json::object query;
  if (const auto* f = ctx.req.query_param("format")) query["format"] = *f;
  body_reader q(query);
  auto format = q.enumeration("format", {"string", "file"});
  owned_msvc_fog(ctx);
  auto rows =
      pexec(ctx.tx(), "SELECT buffer FROM microservice_straces WHERE microservice_uuid = $1",
            ctx.param("uuid"));
  if (rows.empty()) throw not_found("Strace data for this microservice not found");
  std::string data = rows[0][0].c_str();
  // Upstream's "file" format is the buffer written to a file and read back as base64.
  if (format == "file") data = base64(data);
  return json_response(200, json::object{{"data", data}});
}

// Upstream's "post strace to FTP": the buffer is stored as <ftpDestDir>/<microservice uuid> on
// the user's FTP server. A failed upload is upstream's 500 FtpError "FTP error: '...'", here
// naming the step and the server's reply (never the password). The request's read-only
// transaction stays open during the upload (at most a few step timeouts).
http_response strace_put(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  ftp_destination to;
  to.host = *r.str("ftpHost", true);
  to.port = static_cast<uint16_t>(*r.integer("ftpPort", true, 0, 65535));
  to.user = *r.str("ftpUser", true);
  to.password = *r.str("ftpPass", true);
  to.directory = *r.str("ftpDestDir", true);
  // CR/LF would smuggle commands of the caller's choosing into the FTP session.
  for (const auto& [field, value] :
       {std::pair{"ftpUser", &to.user}, {"ftpPass", &to.password}, {"ftpDestDir", &to.directory}}) {
    if (!ftp_safe_argument(*value)) throw_format(field);
  }
  owned_msvc_fog(ctx);
  const auto& uuid = ctx.param("uuid");
  auto rows =
      pexec(ctx.tx(), "SELECT buffer FROM microservice_straces WHERE microservice_uuid = $1", uuid);
  if (rows.empty()) throw not_found("Strace data for this microservice not found");
  std::string buffer = rows[0][0].c_str();
  static const auto log = fogmesh::log::get("controller.diagnostics");
  std::string where = to.host + ":" + std::to_string(to.port);
  try {
    ftp_upload(to, uuid, buffer);
  } catch (const ftp_error& e) {
    log->warn("strace of {} to FTP {}: {}", uuid, where, e.what());
    throw api_error(500, "FtpError", "FTP error: '" + std::string(e.what()) + "'");
  }
  log->info("strace of {} stored on FTP {} ({} bytes)", uuid, where, buffer.size());
  return empty_response(204);
}

http_response snapshot_post(request_context& ctx) {
  std::string fog = owned_msvc_fog(ctx);
  if (fog.empty())
    throw validation_error("Can not run image snapshot for microservice without ioFog.");
  pexec0(ctx.tx(),
         "INSERT INTO microservice_image_snapshots (microservice_uuid) VALUES ($1) "
         "ON CONFLICT (microservice_uuid) DO UPDATE SET image = NULL",
         ctx.param("uuid"));
  raise_change(ctx.tx(), fog, {"is_image_snapshot"});
  return empty_response(201);
}

// The uploaded tar.gz, once: like upstream, a download clears it.
http_response snapshot_get(request_context& ctx) {
  std::string fog = owned_msvc_fog(ctx);
  if (fog.empty())
    throw validation_error("Can not run image snapshot for microservice without ioFog.");
  const auto& uuid = ctx.param("uuid");
  auto head = pexec(ctx.tx(),
                    "SELECT image FROM microservice_image_snapshots "
                    "WHERE microservice_uuid = $1 AND image IS NOT NULL FOR UPDATE",
                    uuid);
  if (head.empty())
    throw validation_error("Image snapshot is not available for this microservice.");
  http_response resp;
  resp.status = 200;
  resp.content_type = "application/gzip";
  resp.body = pqxx::binarystring(head[0][0]).str();  // only rows from before migration 0018
  // Part by part, so that no result holds more than one part's hex text.
  for (int part = 0;; ++part) {
    auto rows = pexec(ctx.tx(),
                      "SELECT data FROM microservice_image_snapshot_parts "
                      "WHERE microservice_uuid = $1 AND part = $2",
                      uuid, part);
    if (rows.empty()) break;
    pqxx::binarystring data(rows[0][0]);
    resp.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  pexec0(ctx.tx(), "DELETE FROM microservice_image_snapshots WHERE microservice_uuid = $1", uuid);
  resp.headers.emplace_back("Content-Disposition", "attachment; filename=" + uuid + ".tar.gz");
  return resp;
}

http_response agent_strace_get(request_context& ctx) {
  auto rows = pexec(ctx.tx(),
                    "SELECT coalesce(json_agg(json_build_object('microserviceUuid', "
                    "s.microservice_uuid, 'straceRun', s.strace_run) ORDER BY m.created_at), "
                    "'[]')::text FROM microservice_straces s JOIN microservices m "
                    "ON m.uuid = s.microservice_uuid WHERE m.iofog_uuid = $1",
                    ctx.fog_uuid);
  return raw_json_response(200, "{\"straceValues\":" + std::string(rows[0][0].c_str()) + "}");
}

http_response agent_strace_put(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  const auto* data = r.array("straceData", true);
  for (const auto& item : *data) {
    if (!item.is_object()) throw validation_error("Field 'straceData' is not of a type(s) array");
    body_reader entry(item.as_object());
    auto uuid = entry.str("microserviceUuid", true);
    auto buffer = entry.str("buffer", true);
    // Only the agent's own microservices: another fog's uuid is "not found", as a missing one.
    auto updated =
        pexec(ctx.tx(),
              "UPDATE microservice_straces s SET buffer = right(s.buffer || $3, $4::int) "
              "FROM microservices m WHERE s.microservice_uuid = $1 "
              "AND m.uuid = s.microservice_uuid AND m.iofog_uuid = $2 RETURNING 1",
              *uuid, ctx.fog_uuid, *buffer, strace_buffer_limit);
    if (updated.empty()) throw not_found("Strace data for this microservice not found");
  }
  return empty_response(204);
}

http_response agent_snapshot_get(request_context& ctx) {
  auto rows = pexec(ctx.tx(),
                    "SELECT s.microservice_uuid FROM microservice_image_snapshots s "
                    "JOIN microservices m ON m.uuid = s.microservice_uuid "
                    "WHERE m.iofog_uuid = $1 AND s.image IS NULL ORDER BY m.created_at LIMIT 1",
                    ctx.fog_uuid);
  if (rows.empty()) throw not_found("Image snapshot not found");
  return json_response(200, json::object{{"uuid", rows[0][0].c_str()}});
}

// Multipart field `upstream`. Like upstream, the file answers every pending request of the fog
// (the agent snapshots one microservice per change flag). Stored in parts (migration 0018).
http_response agent_snapshot_put(request_context& ctx) {
  auto image = find_multipart_field(ctx.req, "upstream");
  if (!image) throw validation_error("Uploaded image snapshot file not found");
  auto pending = pexec(ctx.tx(),
                       "UPDATE microservice_image_snapshots s SET image = ''::bytea "
                       "FROM microservices m WHERE m.uuid = s.microservice_uuid "
                       "AND m.iofog_uuid = $1 AND s.image IS NULL RETURNING s.microservice_uuid",
                       ctx.fog_uuid);
  for (const auto& row : pending) {
    size_t offset = 0;
    int part = 0;
    do {
      size_t n = std::min(snapshot_part_bytes, image->size() - offset);
      pexec0(ctx.tx(),
             "INSERT INTO microservice_image_snapshot_parts (microservice_uuid, part, data) "
             "VALUES ($1, $2, $3)",
             row[0].c_str(), part++, pqxx::binarystring(image->data() + offset, n));
      offset += n;
    } while (offset < image->size());
  }
  return empty_response(204);
}

}  // namespace

bool may_upload_large_snapshot(db_pool& pool, const http_request& head) {
  const auto* header = head.header("authorization");
  if (header == nullptr || token_from_header(*header).empty()) return false;
  auto conn = pool.acquire();
  pqxx::read_transaction tx(*conn);
  // A valid agent token whose fog was asked for a snapshot (POST …/image-snapshot).
  return !pexec(tx,
                "SELECT 1 FROM fog_tokens t JOIN microservices m ON m.iofog_uuid = t.fog_uuid "
                "JOIN microservice_image_snapshots s ON s.microservice_uuid = m.uuid "
                "WHERE t.token_hash = decode($1, 'hex') AND t.expires_at > now() "
                "AND s.image IS NULL LIMIT 1",
                token_digest_hex(token_from_header(*header)))
              .empty();
}

void register_diagnostics_routes(app& a) {
  a.add_route({"PATCH", "/microservices/:uuid/strace", auth_kind::user, strace_patch,
               "Switch strace of a microservice on or off {enable}", 204});
  a.add_route({"GET", "/microservices/:uuid/strace", auth_kind::user, strace_get,
               "Strace output of a microservice; ?format=string|file (base64)"});
  a.add_route({"PUT", "/microservices/:uuid/strace", auth_kind::user, strace_put,
               "Upload the strace output to an FTP server "
               "{ftpHost, ftpPort, ftpUser, ftpPass, ftpDestDir}",
               204});
  a.add_route({"POST", "/microservices/:uuid/image-snapshot", auth_kind::user, snapshot_post,
               "Ask the agent for an image snapshot of a microservice", 201});
  a.add_route({"GET", "/microservices/:uuid/image-snapshot", auth_kind::user, snapshot_get,
               "Download the uploaded image snapshot (tar.gz), once"});
  a.add_route({"GET", "/agent/strace", auth_kind::agent, agent_strace_get,
               "Microservices to strace {straceValues}"});
  a.add_route({"PUT", "/agent/strace", auth_kind::agent, agent_strace_put,
               "Push strace output {straceData:[{microserviceUuid,buffer}]}", 204});
  a.add_route({"GET", "/agent/image-snapshot", auth_kind::agent, agent_snapshot_get,
               "Microservice whose image snapshot is wanted {uuid}"});
  a.add_route({"PUT", "/agent/image-snapshot", auth_kind::agent, agent_snapshot_put,
               "Upload an image snapshot (multipart field upstream)", 204});
}

}  // namespace fogmesh::controller
