#include "yaml_upload.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <optional>

#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A plain YAML scalar takes the JSON type it spells (YAML 1.2 core schema); quoted ones stay
// strings.
json::value scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "?") {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    try {
      size_t used = 0;
      long long i = std::stoll(s, &used, 10);
      if (used == s.size()) return static_cast<int64_t>(i);
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size() && s.find_first_of("0123456789") != std::string::npos) return d;
    } catch (const std::exception&) {
    }
  }
  return json::string(s);
}

json::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& item : n) a.push_back(to_json(item));
      return a;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(n);
    default:
      return nullptr;
  }
}

json::object load(const std::string& text, const char* kind) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw validation_error(std::string("Invalid YAML format: ") + e.what());
  }
  json::value v = to_json(doc);
  if (!v.is_object()) throw validation_error("Invalid YAML format");
  auto& o = v.as_object();
  const auto* k = o.if_contains("kind");
  if (k == nullptr || !k->is_string() || k->as_string() != kind) {
    throw validation_error("Invalid kind " + (k != nullptr && k->is_string()
                                                  ? std::string(k->as_string())
                                                  : std::string("undefined")));
  }
  const auto* meta = o.if_contains("metadata");
  const auto* spec = o.if_contains("spec");
  if (meta == nullptr || !meta->is_object() || spec == nullptr || !spec->is_object()) {
    throw validation_error("Invalid YAML format");
  }
  return o;
}

const json::value* path(const json::object& o, std::initializer_list<const char*> keys) {
  const json::value* v = nullptr;
  const json::object* cur = &o;
  for (const char* k : keys) {
    if (cur == nullptr) return nullptr;
    v = cur->if_contains(k);
    if (v == nullptr) return nullptr;
    cur = v->is_object() ? &v->as_object() : nullptr;
  }
  return v;
}

void copy_if(json::object& out, const char* to, const json::value* v) {
  if (v != nullptr && !v->is_null()) out[to] = *v;
}

// iofogctl's microservice spec -> the REST body.
json::object microservice_body(const json::object& m) {
  json::object out;
  copy_if(out, "name", m.if_contains("name"));
  copy_if(out, "application", m.if_contains("application"));
  if (const auto* cfg = m.if_contains("config"); cfg && !cfg->is_null()) {
    out["config"] = cfg->is_string() ? *cfg : json::value(json::serialize(*cfg));
  }
  copy_if(out, "agentName", path(m, {"agent", "name"}));
  if (const auto* images = m.if_contains("images"); images && images->is_object()) {
    const auto& im = images->as_object();
    const auto* catalog = im.if_contains("catalogId");
    if (catalog && catalog->is_int64() && catalog->as_int64() > 0) {
      out["catalogItemId"] = *catalog;
    } else {
      json::array list;
      for (auto [key, type] : {std::pair{"x86", 1}, std::pair{"arm", 2}}) {
        const auto* img = im.if_contains(key);
        if (img && img->is_string() && !img->as_string().empty()) {
          list.push_back(json::object{{"containerImage", *img}, {"fogTypeId", type}});
        }
      }
      out["images"] = std::move(list);
      int64_t registry = 1;
      if (const auto* reg = im.if_contains("registry"); reg && !reg->is_null()) {
        if (reg->is_int64()) {
          registry = reg->as_int64();
        } else if (reg->is_string() && lower(std::string(reg->as_string())) == "local") {
          registry = 2;
        } else if (reg->is_string() && lower(std::string(reg->as_string())) != "remote") {
          throw validation_error("Invalid registry '" + std::string(reg->as_string()) + "'");
        }
      }
      out["registryId"] = registry;
    }
  }
  copy_if(out, "rootHostAccess", path(m, {"container", "rootHostAccess"}));
  copy_if(out, "ports", path(m, {"container", "ports"}));
  copy_if(out, "volumeMappings", path(m, {"container", "volumes"}));
  copy_if(out, "env", path(m, {"container", "env"}));
  copy_if(out, "extraHosts", path(m, {"container", "extraHosts"}));
  if (const auto* cmd = path(m, {"container", "commands"}); cmd && !cmd->is_null()) {
    out["cmd"] = *cmd;
  } else {
    copy_if(out, "cmd", path(m, {"container", "cmd"}));
  }
  copy_if(out, "rebuild", m.if_contains("rebuild"));
  copy_if(out, "logSize", m.if_contains("logSize"));
  return out;
}

}  // namespace

std::optional<std::string> find_multipart_field(const http_request& req, std::string_view field) {
  const std::string* type = req.header("content-type");
  std::string boundary;
  if (type != nullptr && lower(*type).rfind("multipart/form-data", 0) == 0) {
    auto pos = lower(*type).find("boundary=");
    if (pos != std::string::npos) {
      boundary = type->substr(pos + 9);
      if (auto semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
      if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
        boundary = boundary.substr(1, boundary.size() - 2);
      }
    }
  }
  if (boundary.empty()) throw validation_error("Invalid content type");
  const std::string delim = "--" + boundary;
  const std::string& body = req.body;
  size_t pos = body.find(delim);
  while (pos != std::string::npos) {
    pos += delim.size();
    if (body.compare(pos, 2, "--") == 0) break;  // closing delimiter
    if (body.compare(pos, 2, "\r\n") == 0) pos += 2;
    size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) break;
    std::string head = lower(body.substr(pos, head_end - pos));
    size_t content = head_end + 4;
    size_t next = body.find("\r\n" + delim, content);
    if (next == std::string::npos) break;
    std::string want = "name=\"" + lower(std::string(field)) + "\"";
    if (head.find("content-disposition") != std::string::npos &&
        head.find(want) != std::string::npos) {
      return body.substr(content, next - content);
    }
    pos = next + 2;
  }
  return std::nullopt;
}

std::string multipart_field(const http_request& req, std::string_view field) {
  auto content = find_multipart_field(req, field);
  if (!content) throw validation_error("Required field '" + std::string(field) + "' is missing");
  return std::move(*content);
}

namespace {

// An application spec (upstream's parseAppYAML) -> the REST body, without the name.
json::object application_body(const json::object& spec) {
  json::object out;
  copy_if(out, "description", spec.if_contains("description"));
  // Upstream: `isActivated: app.isActivated || true`, so a YAML application always runs.
  out["isActivated"] = true;
  json::array msvcs;
  if (const auto* list = spec.if_contains("microservices"); list && list->is_array()) {
    for (const auto& m : list->as_array()) {
      if (!m.is_object()) throw validation_error("Invalid YAML format");
      msvcs.push_back(microservice_body(m.as_object()));
    }
  }
  out["microservices"] = std::move(msvcs);
  copy_if(out, "routes", spec.if_contains("routes"));
  copy_if(out, "template", spec.if_contains("template"));
  return out;
}

}  // namespace

json::object application_from_yaml(const std::string& yaml) {
  auto doc = load(yaml, "Application");
  json::object out = application_body(doc.at("spec").as_object());
  copy_if(out, "name", path(doc, {"metadata", "name"}));
  return out;
}

json::object application_template_from_yaml(const std::string& yaml) {
  auto doc = load(yaml, "ApplicationTemplate");
  const auto& spec = doc.at("spec").as_object();
  const auto* app = spec.if_contains("application");
  if (app == nullptr || !app->is_object()) throw validation_error("Invalid YAML format");
  json::object out;
  copy_if(out, "name", path(doc, {"metadata", "name"}));
  copy_if(out, "description", spec.if_contains("description"));
  copy_if(out, "variables", spec.if_contains("variables"));
  out["application"] = application_body(app->as_object());
  return out;
}

json::object microservice_from_yaml(const std::string& yaml) {
  auto doc = load(yaml, "Microservice");
  json::object out = microservice_body(doc.at("spec").as_object());
  if (const auto* name = path(doc, {"metadata", "name"}); name && name->is_string()) {
    std::string n(name->as_string());
    auto slash = n.find('/');
    if (slash == std::string::npos) {
      out["name"] = n;
    } else if (n.find('/', slash + 1) == std::string::npos) {
      out["application"] = n.substr(0, slash);
      out["name"] = n.substr(slash + 1);
    } else {
      throw validation_error("Invalid name " + n);
    }
  }
  return out;
}

}  // namespace fogmesh::controller
