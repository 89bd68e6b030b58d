#include "router_config.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>
#include <stdexcept>

namespace fogmesh::agent {

namespace json = boost::json;

namespace {

// Top-level keys of the ioFog / Datasance router config and the entity type each holds.
const std::vector<std::pair<const char*, const char*>>& entity_keys() {
  static const std::vector<std::pair<const char*, const char*>> keys = {
      {"listeners", "listener"},         {"connectors", "connector"},
      {"sslProfiles", "sslProfile"},     {"addresses", "address"},
      {"linkRoutes", "linkRoute"},       {"autoLinks", "autoLink"},
      {"tcpListeners", "tcpListener"},   {"tcpConnectors", "tcpConnector"},
      {"httpListeners", "httpListener"}, {"httpConnectors", "httpConnector"},
  };
  return keys;
}

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  if (v.is_null()) return "";
  return json::serialize(v);
}

std::string attr(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v ? text_of(*v) : std::string();
}

int port_number(const std::string& port) {
  if (port.empty() || port == "amqp") return 5672;
  if (port == "amqps") return 5671;
  try {
    size_t used = 0;
    int p = std::stoi(port, &used);
    if (used == port.size() && p >= 0 && p <= 65535) return p;
  } catch (const std::exception&) {
  }
  return -1;
}

// Attribute values compared as text, so 5672 and "5672" are the same port.
bool same_attributes(const json::object& a, const json::object& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto* w = b.if_contains(k);
    if (!w || text_of(v) != text_of(*w)) return false;
  }
  return true;
}

void add_entities(router_spec& spec, const json::value& list, const std::string& type,
                  std::set<std::string>& names) {
  auto add = [&](const json::value& item, std::string key_name) {
    if (!item.is_object()) {
      throw std::invalid_argument("router config: every " + type + " must be an object");
    }
    router_entity e;
    e.type = type;
    e.attributes = item.get_object();
    e.attributes.erase("type");
    // Null values mean "not set": drop them rather than hand the router an empty value.
    for (auto it = e.attributes.begin(); it != e.attributes.end();) {
      it = it->value().is_null() ? e.attributes.erase(it) : std::next(it);
    }
    e.name = attr(e.attributes, "name");
    if (e.name.empty()) e.name = key_name;
    if (e.name.empty()) {
      if (type == "listener" || type == "connector") {
        std::string role = attr(e.attributes, "role");
        e.name = type + "/" + (role.empty() ? "normal" : role) + "/" + attr(e.attributes, "host") +
                 "/" + attr(e.attributes, "port");
      } else {
        e.name = type + "/" + std::to_string(spec.entities.size());
      }
    }
    std::string base = e.name;
    for (int n = 2; names.count(type + "\n" + e.name); ++n) e.name = base + "-" + std::to_string(n);
    names.insert(type + "\n" + e.name);
    e.attributes["name"] = e.name;
    spec.entities.push_back(std::move(e));
  };
  if (list.is_array()) {
    for (const auto& item : list.get_array()) add(item, "");
  } else if (list.is_object()) {
    for (const auto& [k, item] : list.get_object()) add(item, std::string(k));
  } else if (!list.is_null()) {
    throw std::invalid_argument("router config: '" + type +
                                "' entries must be an array or an object");
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

bool router_entity::operator==(const router_entity& o) const {
  return type == o.type && name == o.name && same_attributes(attributes, o.attributes);
}

bool router_spec::operator==(const router_spec& o) const {
  return mode == o.mode && id == o.id && same_attributes(router_extra, o.router_extra) &&
         entities == o.entities;
}

router_spec router_spec::from_iofog_json(const std::string& config, const std::string& default_id) {
  json::value v;
  try {
    v = json::parse(config.empty() ? std::string("{}") : config);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("router config is not JSON: ") + e.what());
  }
  return from_iofog_json(v, default_id);
}

router_spec router_spec::from_iofog_json(const json::value& config, const std::string& default_id) {
  if (config.is_string()) return from_iofog_json(std::string(config.get_string()), default_id);
  if (!config.is_object()) throw std::invalid_argument("router config must be a JSON object");
  const auto& o = config.get_object();
  router_spec spec;
  // {mode, id} at the top (ioFog) or in a "router" object.
  json::object router;
  if (auto* r = o.if_contains("router"); r && r->is_object()) router = r->get_object();
  for (const char* key : {"mode", "id"}) {
    if (auto* v = o.if_contains(key); v && !router.contains(key)) router[key] = *v;
  }
  spec.mode = attr(router, "mode");
  if (spec.mode.empty()) spec.mode = "edge";
  if (spec.mode != "edge" && spec.mode != "interior" && spec.mode != "standalone") {
    throw std::invalid_argument("router config: mode '" + spec.mode +
                                "' is not edge, interior or standalone");
  }
  spec.id = attr(router, "id");
  if (spec.id.empty()) spec.id = default_id;
  router.erase("mode");
  router.erase("id");
  router.erase("routerId");
  for (auto it = router.begin(); it != router.end();) {
    it = it->value().is_null() ? router.erase(it) : std::next(it);
  }
  spec.router_extra = std::move(router);

  std::set<std::string> names;
  for (const auto& [key, type] : entity_keys()) {
    if (auto* v = o.if_contains(key)) add_entities(spec, *v, type, names);
    if (auto* b = o.if_contains("bridges"); b && b->is_object()) {
      if (auto* v = b->get_object().if_contains(key)) add_entities(spec, *v, type, names);
    }
  }
  for (const auto& e : spec.entities) {
    if ((e.type == "listener" || e.type == "connector" || e.type.starts_with("tcp") ||
         e.type.starts_with("http")) &&
        e.attributes.contains("port") && port_number(attr(e.attributes, "port")) < 0) {
      throw std::invalid_argument("router config: " + e.type + " '" + e.name + "' has port '" +
                                  attr(e.attributes, "port") + "'");
    }
  }
  return spec;
}

std::string router_spec::render() const {
  json::array file;
  json::object router = router_extra;
  router["mode"] = mode;
  router["id"] = id;
  file.push_back(json::array{"router", router});
  for (const auto& e : entities) file.push_back(json::array{json::string(e.type), e.attributes});
  std::string out =
      "# generated by fogmesh-agent from the router microservice's config; "
      "changes here are overwritten\n";
  out += "[\n";
  for (size_t i = 0; i < file.size(); ++i) {
    out += "    " + json::serialize(file[i]) + (i + 1 < file.size() ? ",\n" : "\n");
  }
  out += "]\n";
  return out;
}

router_spec::endpoint router_spec::management_endpoint() const {
  endpoint ep = client_listener();
  if (ep.port <= 0) return {};
  if (ep.host.empty() || ep.host == "0.0.0.0") ep.host = "127.0.0.1";
  if (ep.host == "::" || ep.host == "[::]") ep.host = "::1";
  return ep;
}

std::string router_url_for_container(const std::string& listen_host, int port, bool host_network) {
  if (port <= 0) return "";
  std::string host = listen_host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  bool wildcard = host.empty() || host == "0.0.0.0" || host == "::";
  bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  std::string target;
  if (wildcard || loopback) {
    if (!host_network && loopback) return "";  // the bridge's containers cannot reach it
    target = host_network ? "127.0.0.1" : "iofog";
  } else {
    target = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  }
  return "amqp://" + target + ":" + std::to_string(port);
}

router_spec::endpoint router_spec::client_listener() const {
  for (const auto& e : entities) {
    if (e.type != "listener") continue;
    std::string role = attr(e.attributes, "role");
    if (!role.empty() && role != "normal") continue;
    if (attr(e.attributes, "sslProfile") != "" && attr(e.attributes, "requireSsl") == "true")
      continue;
    if (attr(e.attributes, "authenticatePeer") == "true") continue;
    endpoint ep;
    ep.host = attr(e.attributes, "host");
    ep.port = port_number(attr(e.attributes, "port"));
    if (ep.port <= 0) continue;
    return ep;
  }
  return {};
}

bool router_spec::needs_restart_for(const router_spec& next) const {
  if (mode != next.mode || id != next.id || !same_attributes(router_extra, next.router_extra))
    return true;
  // Entities management cannot change (sslProfile, linkRoute...) need a restart too.
  auto d = diff(*this, next);
  for (const auto* list : {&d.remove, &d.create}) {
    for (const auto& e : *list) {
      if (!changeable_at_run_time(e.type)) return true;
    }
  }
  return false;
}

router_diff diff(const router_spec& from, const router_spec& to) {
  router_diff d;
  auto key = [](const router_entity& e) { return e.type + "\n" + e.name; };
  std::map<std::string, const router_entity*> old_by_key;
  std::map<std::string, const router_entity*> new_by_key;
  for (const auto& e : from.entities) old_by_key[key(e)] = &e;
  for (const auto& e : to.entities) new_by_key[key(e)] = &e;
  for (const auto& e : from.entities) {
    auto it = new_by_key.find(key(e));
    if (it == new_by_key.end() || !(*it->second == e)) d.remove.push_back(e);
  }
  for (const auto& e : to.entities) {
    auto it = old_by_key.find(key(e));
    if (it == old_by_key.end() || !(*it->second == e)) d.create.push_back(e);
  }
  return d;
}

bool changeable_at_run_time(const std::string& type) {
  static const std::set<std::string> types = {"listener",     "connector",    "address",
                                              "tcpListener",  "tcpConnector", "httpListener",
                                              "httpConnector"};
  return types.count(type) > 0;
}

bool is_router_microservice(const json::object& m) {
  for (const char* flag : {"isRouter", "isSystemRouter"}) {
    if (auto* v = m.if_contains(flag); v && v->is_bool()) return v->get_bool();
  }
  auto text = [&m](const char* key) {
    auto* v = m.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  if (lower(text("catalogItemName")) == "router") return true;
  if (auto* c = m.if_contains("catalogItem"); c && c->is_object()) {
    if (auto* n = c->get_object().if_contains("name");
        n && n->is_string() && lower(std::string(n->get_string())) == "router") {
      return true;
    }
  }
  if (lower(text("name")).starts_with("router for fog")) return true;
  // The image: [registry/]path/name[:tag][@digest]
  std::string image = lower(text("imageId"));
  if (image.empty()) image = lower(text("image"));
  if (auto at = image.find('@'); at != std::string::npos) image.resize(at);
  auto slash = image.rfind('/');
  if (auto colon = image.rfind(':');
      colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    image.resize(colon);
  }
  slash = image.rfind('/');
  std::string name = slash == std::string::npos ? image : image.substr(slash + 1);
  std::string path = slash == std::string::npos ? std::string() : image.substr(0, slash);
  if (name == "fogmesh-router") return true;
  bool iofog_path = path.find("iofog") != std::string::npos ||
                    path.find("fogmesh") != std::string::npos ||
                    path.find("datasance") != std::string::npos;
  return iofog_path && (name == "router" || name == "router-arm" || name == "router-x86");
}

}  // namespace fogmesh::agent
