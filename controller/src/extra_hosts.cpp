#include "extra_hosts.hpp"

#include <vector>

#include "db.hpp"
#include "fog_model.hpp"
#include "http.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot = s.find('.'); dot != std::string::npos; dot = s.find('.', start)) {
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ".") + p;
  return s;
}

// Upstream's two messages (ErrorMessages.INVALID_HOST_TEMPLATE / NOT_FOUND_HOST_TEMPLATE), both
// validation errors.
[[noreturn]] void invalid_template(const std::vector<std::string>& args) {
  throw validation_error(joined(args) + " is not a valid host template");
}
[[noreturn]] void template_not_found(const std::string& what) {
  throw validation_error("Could not find " + what + " host template");
}

// Fills `out` with the target of ${Apps.<app>.<msvc>.local|public.<port>}.
void resolve_app_template(pqxx::work& tx, const std::vector<std::string>& args, int64_t user_id,
                          json::object& out) {
  if (args.size() < 4) invalid_template(args);
  auto app =
      pexec(tx, "SELECT id FROM applications WHERE name = $1 AND user_id = $2", args[1], user_id);
  if (app.empty()) template_not_found(args[1]);
  auto msvc = pexec(tx,
                    "SELECT uuid, iofog_uuid FROM microservices WHERE application_id = $1 AND "
                    "name = $2",
                    app[0][0].as<int64_t>(), args[2]);
  if (msvc.empty()) template_not_found(args[2]);
  out["templateType"] = "Apps";
  out["targetMicroserviceUuid"] = msvc[0][0].c_str();
  if (args[3] == "local") {
    if (args.size() != 4) invalid_template(args);
    if (msvc[0][1].is_null()) template_not_found(args[2]);  // not placed on an agent
    return;
  }
  if (args[3] != "public") invalid_template(args);
  if (args.size() != 5) invalid_template(args);
  const auto& port = args[4];
  bool numeric = !port.empty() && port.size() <= 5 &&
                 port.find_first_not_of("0123456789") == std::string::npos;
  if (!numeric || pexec(tx,
                        "SELECT 1 FROM microservice_public_ports WHERE microservice_uuid = $1 "
                        "AND public_port = $2",
                        msvc[0][0].c_str(), std::stoi(port))
                      .empty()) {
    template_not_found(port);
  }
  out["publicPort"] = std::stoi(port);
}

void raise_dependents(pqxx::work& tx, const std::string& sql, const std::string& uuid) {
  std::vector<std::string> fogs;
  for (const auto& row : pexec(tx, sql, uuid)) fogs.emplace_back(row[0].c_str());
  raise_changes(tx, fogs, {"microservice_config"});
}

}  // namespace

std::optional<std::string> read_extra_hosts(pqxx::work& tx, body_reader& r, int64_t user_id) {
  const auto* a = r.array("extraHosts");
  if (a == nullptr) return std::nullopt;
  json::array out;
  for (const auto& e : *a) {
    if (!e.is_object()) throw_type_error("extraHosts", "object");
    body_reader er(e.as_object());
    auto name = er.str("name", true, 1);
    auto address = er.str("address", true, 1);
    json::object host{{"name", *name}, {"address", *address}};
    // As upstream, only "${...}" is a template; anything else is a literal address.
    if (address->size() >= 3 && address->starts_with("${") && address->ends_with("}")) {
      auto args = split_dots(address->substr(2, address->size() - 3));
      if (args[0] == "Agents") {
        if (args.size() != 2) invalid_template(args);
        auto fog =
            pexec(tx, "SELECT uuid FROM fogs WHERE name = $1 AND user_id = $2", args[1], user_id);
        if (fog.empty()) template_not_found(args[1]);
        host["templateType"] = "Agents";
        host["targetFogUuid"] = fog[0][0].c_str();
      } else if (args[0] == "Apps") {
        resolve_app_template(tx, args, user_id, host);
      } else {
        invalid_template(args);
      }
    }
    out.push_back(std::move(host));
  }
  return json::serialize(out);
}

void raise_extra_host_dependents_of_fog(pqxx::work& tx, const std::string& fog_uuid) {
  raise_dependents(
      tx,
      "SELECT DISTINCT m.iofog_uuid FROM microservices m, jsonb_array_elements(m.extra_hosts) h "
      "WHERE m.iofog_uuid IS NOT NULL AND h ? 'templateType' AND ("
      "  h ->> 'targetFogUuid' = $1"
      "  OR EXISTS (SELECT 1 FROM microservices t WHERE t.uuid = h ->> 'targetMicroserviceUuid' "
      "    AND t.iofog_uuid = $1 AND NOT h ? 'publicPort')"
      "  OR EXISTS (SELECT 1 FROM microservice_public_ports pp WHERE pp.microservice_uuid = "
      "    h ->> 'targetMicroserviceUuid' AND pp.public_port = (h ->> 'publicPort')::integer "
      "    AND pp.host_key = $1))",
      fog_uuid);
}

void raise_extra_host_dependents_of_msvc(pqxx::work& tx, const std::string& msvc_uuid) {
  raise_dependents(tx,
                   "SELECT DISTINCT m.iofog_uuid FROM microservices m, "
                   "jsonb_array_elements(m.extra_hosts) h WHERE m.iofog_uuid IS NOT NULL AND "
                   "h ->> 'targetMicroserviceUuid' = $1",
                   msvc_uuid);
}

}  // namespace fogmesh::controller
