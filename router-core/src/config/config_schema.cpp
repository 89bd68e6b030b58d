// The entity/attribute schema (names, types, defaults and ranges as in qdrouterd 1.19's
// qdrouter.json, plus two fogmesh extensions) and the conversion of generic entities into the
// typed router_config.
//
// Validation happens in two steps so that every error can name a line: each attribute is
// checked on its own against the schema (line of the attribute), then each entity's
// cross-attribute rules (line of the entity's opening).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "config/config_json.hpp"
#include "fogmesh/router/config.hpp"

namespace fogmesh::router {

config_error::config_error(std::string file, int line, std::string entity,
                           const std::string& message)
    : std::runtime_error(file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " +
                         (entity.empty() ? std::string() : "in '" + entity + "': ") + message),
      file_(std::move(file)),
      line_(line),
      entity_(std::move(entity)) {}

const attribute_schema* entity_schema::find(std::string_view attribute) const {
  for (const attribute_schema& a : attributes) {
    if (a.name == attribute) return &a;
  }
  return nullptr;
}

namespace {

constexpr std::int64_t u32_max = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::string_view qpid_prefix = "org.apache.qpid.dispatch.";

// --- schema construction helpers ---------------------------------------------------------------

attribute_schema str(std::string name, std::string def = {}) {
  attribute_schema a;
  a.name = std::move(name);
  a.default_value = std::move(def);
  return a;
}
attribute_schema integer(std::string name, std::string def, std::int64_t min, std::int64_t max) {
  attribute_schema a = str(std::move(name), std::move(def));
  a.type = attribute_type::integer;
  a.min = min;
  a.max = max;
  return a;
}
attribute_schema boolean(std::string name, std::string def = {}) {
  attribute_schema a = str(std::move(name), std::move(def));
  a.type = attribute_type::boolean;
  return a;
}
attribute_schema enumeration(std::string name, std::string def, std::vector<std::string> allowed) {
  attribute_schema a = str(std::move(name), std::move(def));
  a.type = attribute_type::enumeration;
  a.allowed = std::move(allowed);
  return a;
}
attribute_schema list(std::string name) {
  attribute_schema a = str(std::move(name));
  a.type = attribute_type::list;
  return a;
}
attribute_schema map(std::string name) {
  attribute_schema a = str(std::move(name));
  a.type = attribute_type::map;
  return a;
}
attribute_schema alias(std::string name, std::string target) {
  attribute_schema a = str(std::move(name));
  a.alias_of = std::move(target);
  return a;
}
attribute_schema ignored(attribute_schema a) {
  a.implemented = false;
  return a;
}
attribute_schema required(attribute_schema a) {
  a.required = true;
  return a;
}

const std::vector<std::string> distributions = {"multicast", "closest", "balanced", "unavailable"};
const std::vector<std::string> directions = {"in", "out"};

// listener and connector share most of qdrouter.json's connection attributes.
std::vector<attribute_schema> endpoint_attributes(bool listener) {
  std::vector<attribute_schema> v = {
      str("name"),
      str("host", listener ? "" : "127.0.0.1"),
      str("port", "amqp"),
      // "uplink" (connector only, fogmesh): a plain client connection to another router through
      // which this standalone router's addresses are reached (fogmesh-proxy).
      enumeration("role", "normal",
                  {"normal", "inter-router", "route-container", "edge", "uplink"}),
      integer("cost", "1", 1, std::numeric_limits<std::int32_t>::max()),
      str("sslProfile"),
      str("saslMechanisms"),
      integer("maxFrameSize", "16384", 0, u32_max),
      integer("maxSessions", "32768", 0, 65536),
      integer("maxSessionFrames", "0", 0, u32_max),
      integer("idleTimeoutSeconds", "16", 0, u32_max),
      enumeration("stripAnnotations", "both", {"in", "out", "both", "no"}),
      integer("linkCapacity", "250", 0, u32_max),
      integer("maxMessageSize", "0", 0, i64_max),  // qdrouterd has it in policy; we allow it here
      list("failoverUrls"),
      alias("failoverList", "failoverUrls"),
      alias("addr", "host"),
      ignored(enumeration("socketAddressFamily", "", {"IPv4", "IPv6"})),
      alias("protocolFamily", "socketAddressFamily"),
      ignored(str("messageLoggingComponents", "none")),
      ignored(str("policyVhost")),
      ignored(map("openProperties")),
  };
  if (listener) {
    for (attribute_schema& a : std::vector<attribute_schema>{
             boolean("authenticatePeer", "false"),
             boolean("requireSsl", "false"),
             boolean("http", "false"),
             str("httpRootDir"),
             boolean("metrics", "true"),
             boolean("healthz", "true"),
             str("usersFile"),  // fogmesh extension
             ignored(boolean("requireEncryption", "false")),
             ignored(integer("initialHandshakeTimeoutSeconds", "0", 0, u32_max)),
             ignored(boolean("multiTenant", "false")),
             ignored(boolean("websockets", "true")),
             ignored(str("saslPlugin")),
             ignored(str("trustedCertsFile")),
         }) {
      v.push_back(std::move(a));
    }
  } else {
    for (attribute_schema& a : std::vector<attribute_schema>{
             str("saslUsername"),
             str("saslPassword"),
             boolean("verifyHostname", "true"),
             integer("retryDelaySeconds", "2", 1, 3600),  // fogmesh extension
             ignored(boolean("allowRedirect", "true")),
         }) {
      v.push_back(std::move(a));
    }
  }
  return v;
}

std::vector<entity_schema> build_schema() {
  std::vector<entity_schema> s;
  s.push_back({"router",
               "router",
               true,
               false,
               {
                   str("name"),
                   str("id"),
                   alias("routerId", "id"),
                   enumeration("mode", "standalone", {"standalone", "interior", "edge"}),
                   integer("workerThreads", "0", 0, 1024),
                   enumeration("defaultDistribution", "balanced", distributions),
                   boolean("allowUnsettledMulticast", "true"),
                   integer("helloIntervalSeconds", "1", 1, 3600),
                   integer("helloMaxAgeSeconds", "3", 1, 3600),
                   integer("raIntervalSeconds", "30", 1, 86400),
                   integer("raIntervalFluxSeconds", "4", 1, 86400),
                   integer("remoteLsMaxAgeSeconds", "60", 1, 86400),
                   str("saslConfigPath"),
                   alias("saslConfigDir", "saslConfigPath"),
                   str("saslConfigName"),
                   str("debugDumpFile"),
                   alias("debugDump", "debugDumpFile"),
                   ignored(str("area", "0")),
                   ignored(boolean("allowResumableLinkRoute", "true")),
                   ignored(boolean("timestampsInUTC", "false")),
                   ignored(str("timestampFormat")),
                   ignored(str("metadata")),
                   ignored(integer("mobileAddrMaxAge", "60", 0, u32_max)),
                   ignored(str("dataConnectionCount", "auto")),
               }});
  s.push_back({"listener", "listener", false, false, endpoint_attributes(true)});
  s.push_back({"connector", "connector", false, false, endpoint_attributes(false)});
  s.push_back({"address",
               "router.config.address",
               false,
               false,
               {
                   str("name"),
                   str("prefix"),
                   str("pattern"),
                   enumeration("distribution", "balanced", distributions),
                   boolean("waypoint", "false"),
                   integer("ingressPhase", "", 0, 9),
                   integer("egressPhase", "", 0, 9),
                   integer("priority", "", 0, 9),
                   boolean("enableFallback", "false"),
               }});
  s.push_back({"linkRoute",
               "router.config.linkRoute",
               false,
               false,
               {
                   str("name"),
                   str("prefix"),
                   str("pattern"),
                   required(enumeration("direction", "", directions)),
                   alias("dir", "direction"),
                   str("connection"),
                   str("containerId"),
                   str("addExternalPrefix"),
                   str("delExternalPrefix"),
                   ignored(enumeration("distribution", "linkBalanced", {"linkBalanced"})),
               }});
  s.push_back({"autoLink",
               "router.config.autoLink",
               false,
               false,
               {
                   str("name"),
                   required(str("address")),
                   alias("addr", "address"),
                   required(enumeration("direction", "", directions)),
                   alias("dir", "direction"),
                   integer("phase", "", 0, 9),
                   str("connection"),
                   str("containerId"),
                   str("externalAddress"),
                   alias("externalAddr", "externalAddress"),
                   boolean("fallback", "false"),
               }});
  s.push_back({"sslProfile",
               "sslProfile",
               false,
               false,
               {
                   required(str("name")),
                   str("certFile"),
                   str("privateKeyFile"),
                   alias("keyFile", "privateKeyFile"),
                   str("caCertFile"),
                   alias("certDb", "caCertFile"),
                   str("password"),
                   str("passwordFile"),
                   str("ciphers"),
                   str("protocols"),
                   str("uidFormat"),
                   ignored(str("uidNameMappingFile")),
                   alias("displayNameFile", "uidNameMappingFile"),
               }});
  s.push_back({"log",
               "log",
               false,
               false,
               {
                   str("name"),
                   required(enumeration(
                       "module", "",
                       {"ROUTER",   "ROUTER_CORE", "ROUTER_HELLO", "ROUTER_LS",   "ROUTER_MA",
                        "MESSAGE",  "SERVER",      "AGENT",        "AUTHSERVICE", "CONTAINER",
                        "ERROR",    "POLICY",      "HTTP",         "CONN_MGR",    "PYTHON",
                        "PROTOCOL", "TCP_ADAPTOR", "HTTP_ADAPTOR", "FLOW_LOG",    "DEFAULT"})),
                   str("enable"),
                   boolean("includeTimestamp", "true"),
                   boolean("includeSource", "false"),
                   str("outputFile"),
               }});
  // Carried through untouched: the adaptors/policy code (or nobody yet) interprets them.
  for (const auto& [name, long_name] : std::vector<std::pair<std::string, std::string>>{
           {"tcpListener", "tcpListener"},
           {"tcpConnector", "tcpConnector"},
           {"httpListener", "httpListener"},
           {"httpConnector", "httpConnector"},
           {"policy", "policy"},
           {"vhost", "vhost"},
           {"vhostUserGroupSettings", "vhostUserGroupSettings"},
           {"exchange", "router.config.exchange"},
           {"binding", "router.config.binding"},
           {"authServicePlugin", "authServicePlugin"},
           {"console", "console"},
           {"site", "site"},
       }) {
    s.push_back({name, long_name, false, true, {}});
  }
  return s;
}

// qdrouterd's camelcase(): `worker-threads` → `workerThreads`.
std::string camel_case(std::string_view name) {
  std::string out;
  bool upper = false;
  for (const char c : name) {
    if (c == '-') {
      upper = !out.empty();
      continue;
    }
    out += (upper && c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// --- attribute validation ------------------------------------------------------------------------

struct checked_value {
  std::string text;
  bool structured = false;
  int line = 0;
  std::int64_t number = 0;
  bool flag = false;
};

std::optional<std::int64_t> parse_int(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view s) {
  const std::string l = lower(s);
  if (l == "true" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "no" || l == "off") return false;
  return std::nullopt;
}

// An entity's attributes after the per-attribute checks, keyed by canonical name.
class attribute_set {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  int line(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? 0 : it->second.line;
  }
  const checked_value* get(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }
  void str(const std::string& name, std::string& out) const {
    if (const checked_value* v = get(name)) out = v->text;
  }
  template <typename T>
  void num(const std::string& name, T& out) const {
    if (const checked_value* v = get(name)) out = static_cast<T>(v->number);
  }
  void opt_num(const std::string& name, std::optional<int>& out) const {
    if (const checked_value* v = get(name)) out = static_cast<int>(v->number);
  }
  void flag(const std::string& name, bool& out) const {
    if (const checked_value* v = get(name)) out = v->flag;
  }
  std::map<std::string, checked_value>& values() { return values_; }

 private:
  std::map<std::string, checked_value> values_;
};

class loader {
 public:
  loader(const std::string& file, router_config& cfg) : file_(file), cfg_(cfg) {}

  [[noreturn]] void fail(int line, const std::string& entity, const std::string& message) const {
    throw config_error(file_, line, entity, message);
  }

  void load(const std::vector<config_entity>& entities) {
    const entity_schema* router_schema = find_entity_schema("router");
    int router_line = 0;
    std::vector<std::pair<const entity_schema*, const config_entity*>> typed;
    for (const config_entity& e : entities) {
      const entity_schema* schema = find_entity_schema(e.type);
      if (!schema) {
        std::vector<std::string> names;
        for (const entity_schema& s : config_schema()) names.push_back(s.name);
        fail(e.line, e.type, "unknown entity type '" + e.type + "'; known types: " + join(names));
      }
      if (schema == router_schema) {
        if (router_line) {
          fail(e.line, "router",
               "only one 'router' entity is allowed (first at line " + std::to_string(router_line) +
                   ")");
        }
        router_line = e.line;
      }
      typed.emplace_back(schema, &e);
    }
    // sslProfiles may come after the listeners that use them (qdrouterd configures them first).
    for (const auto& [schema, e] : typed) {
      if (schema->name != "sslProfile") continue;
      for (const config_attribute& a : e->attributes) {
        if (camel_case(a.name) == "name") ssl_profiles_.insert(a.value);
      }
    }
    bool have_router = false;
    for (const auto& [schema, e] : typed) {
      if (schema->carried) {
        carry(*schema, *e);
        continue;
      }
      attribute_set attrs = check(*schema, *e);
      const std::string& t = schema->name;
      if (t == "router") {
        build_router(attrs, e->line);
        have_router = true;
      } else if (t == "listener") {
        build_listener(attrs, e->line);
      } else if (t == "connector") {
        build_connector(attrs, e->line);
      } else if (t == "address") {
        build_address(attrs, e->line);
      } else if (t == "linkRoute") {
        build_link_route(attrs, e->line);
      } else if (t == "autoLink") {
        build_auto_link(attrs, e->line);
      } else if (t == "sslProfile") {
        build_ssl_profile(attrs, e->line);
      } else if (t == "log") {
        build_log(attrs, e->line);
      }
    }
    if (!have_router) build_router(attribute_set{}, 0);
    for (const connector_config& c : cfg_.connectors) {
      if (c.role == connection_role::uplink && cfg_.router.mode != router_mode::standalone) {
        fail(c.line, "connector",
             "role 'uplink' needs router mode 'standalone' (an edge router reaches its interior "
             "through role 'edge')");
      }
    }
  }

 private:
  void carry(const entity_schema& schema, const config_entity& e) {
    generic_entity g;
    g.type = schema.name;
    g.line = e.line;
    std::map<std::string, int> seen;
    for (const config_attribute& a : e.attributes) {
      const std::string name = camel_case(a.name);
      check_duplicate(seen, name, a, schema.name);
      g.attributes[name] = a.value;
    }
    cfg_.other.push_back(std::move(g));
  }

  void check_duplicate(std::map<std::string, int>& seen, const std::string& name,
                       const config_attribute& a, const std::string& entity) const {
    const auto [it, inserted] = seen.emplace(name, a.line);
    if (!inserted) {
      fail(a.line, entity,
           "attribute '" + name + "' given twice (first at line " + std::to_string(it->second) +
               ")");
    }
  }

  std::string unknown_attribute_message(const entity_schema& schema, const std::string& name) {
    std::vector<std::string> names;
    std::string suggestion;
    for (const attribute_schema& a : schema.attributes) {
      if (!a.alias_of.empty()) continue;
      names.push_back(a.name);
      if (lower(a.name) == lower(name)) suggestion = a.name;
    }
    std::sort(names.begin(), names.end());
    std::string msg = "unknown attribute '" + name + "'";
    if (!suggestion.empty()) msg += " (did you mean '" + suggestion + "'?)";
    return msg + "; allowed: " + join(names);
  }

  attribute_set check(const entity_schema& schema, const config_entity& e) {
    attribute_set out;
    std::map<std::string, int> seen;
    for (const config_attribute& a : e.attributes) {
      const std::string name = camel_case(a.name);
      const attribute_schema* s = schema.find(name);
      if (!s) fail(a.line, schema.name, unknown_attribute_message(schema, name));
      if (!s->alias_of.empty()) s = schema.find(s->alias_of);
      check_duplicate(seen, s->name, a, schema.name);
      checked_value v{a.value, a.structured, a.line, 0, false};
      check_value(schema, *s, a, v);
      if (!s->implemented) cfg_.ignored.push_back({schema.name, s->name, a.line});
      out.values().emplace(s->name, std::move(v));
    }
    for (const attribute_schema& s : schema.attributes) {
      if (s.required && !out.has(s.name)) {
        fail(e.line, schema.name, "missing required attribute '" + s.name + "'");
      }
    }
    return out;
  }

  void check_value(const entity_schema& schema, const attribute_schema& s,
                   const config_attribute& a, checked_value& v) const {
    const std::string shown = a.value.size() > 60 ? a.value.substr(0, 60) + "..." : a.value;
    switch (s.type) {
      case attribute_type::string:
        return;
      case attribute_type::integer: {
        const auto n = a.structured ? std::nullopt : parse_int(a.value);
        if (!n)
          fail(a.line, schema.name, "'" + s.name + "' must be an integer, got '" + shown + "'");
        if (*n < s.min || *n > s.max) {
          fail(a.line, schema.name,
               "'" + s.name + "' must be between " + std::to_string(s.min) + " and " +
                   std::to_string(s.max) + ", got " + std::to_string(*n));
        }
        v.number = *n;
        return;
      }
      case attribute_type::boolean: {
        const auto b = a.structured ? std::nullopt : parse_bool(a.value);
        if (!b) {
          fail(a.line, schema.name,
               "'" + s.name + "' must be a boolean (true/false/yes/no), got '" + shown + "'");
        }
        v.flag = *b;
        return;
      }
      case attribute_type::enumeration:
        if (std::find(s.allowed.begin(), s.allowed.end(), a.value) == s.allowed.end()) {
          fail(a.line, schema.name,
               "'" + s.name + "' must be one of " + join(s.allowed) + ", got '" + shown + "'");
        }
        return;
      case attribute_type::list:
        // A JSON list, or qdrouterd's comma-separated string form.
        if (a.structured && a.value.front() != '[') {
          fail(a.line, schema.name,
               "'" + s.name + "' must be a JSON list or a comma-separated string");
        }
        return;
      case attribute_type::map:
        if (!a.structured || a.value.front() != '{') {
          fail(a.line, schema.name, "'" + s.name + "' must be a JSON object, got '" + shown + "'");
        }
        return;
    }
  }

  static bool valid_router_id(std::string_view id) {
    return !id.empty() && std::none_of(id.begin(), id.end(), [](char c) {
      return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    });
  }

  static std::string default_router_id() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string id = "Router.";
    for (const char* p = host; *p; ++p) {
      const auto u = static_cast<unsigned char>(*p);
      id += (u <= 0x20 || u == 0x7f) ? '_' : *p;
    }
    return id == "Router." ? "Router.fogmesh" : id;
  }

  void build_router(const attribute_set& a, int line) {
    router_settings& r = cfg_.router;
    r.line = line;
    a.str("id", r.id);
    if (!a.has("id")) {
      r.id = default_router_id();
    } else if (!valid_router_id(r.id)) {
      fail(a.line("id"), "router",
           "'id' must be non-empty with no whitespace or control characters");
    }
    if (const checked_value* v = a.get("mode")) {
      r.mode = v->text == "interior" ? router_mode::interior
               : v->text == "edge"   ? router_mode::edge
                                     : router_mode::standalone;
    }
    a.num("workerThreads", r.worker_threads);
    if (const checked_value* v = a.get("defaultDistribution"))
      r.default_distribution = to_distribution(v->text);
    a.flag("allowUnsettledMulticast", r.allow_unsettled_multicast);
    a.num("helloIntervalSeconds", r.hello_interval_seconds);
    a.num("helloMaxAgeSeconds", r.hello_max_age_seconds);
    a.num("raIntervalSeconds", r.ra_interval_seconds);
    a.num("raIntervalFluxSeconds", r.ra_interval_flux_seconds);
    a.num("remoteLsMaxAgeSeconds", r.remote_ls_max_age_seconds);
    a.str("saslConfigPath", r.sasl_config_path);
    a.str("saslConfigName", r.sasl_config_name);
    a.str("debugDumpFile", r.debug_dump_file);
  }

  static distribution to_distribution(const std::string& s) {
    if (s == "closest") return distribution::closest;
    if (s == "multicast") return distribution::multicast;
    if (s == "unavailable") return distribution::unavailable;
    return distribution::balanced;
  }

  static link_direction to_direction(const checked_value* v) {
    return v && v->text == "out" ? link_direction::out : link_direction::in;
  }

  std::vector<std::string> failover_urls(const checked_value& v, const std::string& entity) const {
    std::vector<std::string> out;
    if (v.structured) {
      std::size_t pos = 0;
      int line = v.line;
      const config_detail::json_value j = config_detail::parse_json_value(v.text, pos, line);
      for (const config_detail::json_value& item : j.items) {
        if (item.type != config_detail::json_value::kind::string) {
          fail(v.line, entity, "'failoverUrls' list items must be strings");
        }
        out.push_back(item.text);
      }
      return out;
    }
    std::string_view rest = v.text;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) out.emplace_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return out;
  }

  void check_name(const std::string& type, const attribute_set& a) {
    const checked_value* v = a.get("name");
    if (!v) return;
    const auto [it, inserted] = names_[type].emplace(v->text, v->line);
    if (!inserted) {
      fail(v->line, type,
           "name '" + v->text + "' already used by another " + type + " (line " +
               std::to_string(it->second) + ")");
    }
  }

  void build_endpoint(const char* type, const attribute_set& a, int line, endpoint_settings& ep) {
    ep.line = line;
    check_name(type, a);
    a.str("host", ep.host);
    a.str("port", ep.port);
    if (!resolve_port(ep.port)) {
      fail(a.line("port"), type,
           "'port' must be a number 0-65535 or a known service name (amqp, amqps), got '" +
               ep.port + "'");
    }
    if (!a.has("name")) ep.name = std::string(type) + "/" + ep.host + ":" + ep.port;
    a.str("name", ep.name);
    if (const checked_value* v = a.get("role")) {
      ep.role = v->text == "inter-router"      ? connection_role::inter_router
                : v->text == "edge"            ? connection_role::edge
                : v->text == "route-container" ? connection_role::route_container
                : v->text == "uplink"          ? connection_role::uplink
                                               : connection_role::normal;
      if (ep.role == connection_role::uplink && std::string_view(type) == "listener") {
        fail(v->line, type, "role 'uplink' is for connectors: this router connects up");
      }
    }
    a.num("cost", ep.cost);
    a.str("sslProfile", ep.ssl_profile);
    if (a.has("sslProfile") && !ssl_profiles_.count(ep.ssl_profile)) {
      std::vector<std::string> known(ssl_profiles_.begin(), ssl_profiles_.end());
      fail(a.line("sslProfile"), type,
           "sslProfile '" + ep.ssl_profile + "' is not defined" +
               (known.empty() ? std::string(" (no sslProfile entities)")
                              : "; defined: " + join(known)));
    }
    a.str("saslMechanisms", ep.sasl_mechanisms);
    a.flag("authenticatePeer", ep.authenticate_peer);
    a.flag("requireSsl", ep.require_ssl);
    a.num("maxFrameSize", ep.max_frame_size);
    ep.max_frame_size = std::max<std::uint32_t>(ep.max_frame_size, 512);  // as qdrouterd
    a.num("maxSessions", ep.max_sessions);
    if (ep.max_sessions == 0) ep.max_sessions = 32768;  // qdrouterd: 0 selects the default
    a.num("maxSessionFrames", ep.max_session_frames);
    a.num("idleTimeoutSeconds", ep.idle_timeout_seconds);
    if (const checked_value* v = a.get("stripAnnotations")) {
      ep.strip = v->text == "in"    ? strip_annotations::in
                 : v->text == "out" ? strip_annotations::out
                 : v->text == "no"  ? strip_annotations::no
                                    : strip_annotations::both;
    }
    a.num("maxMessageSize", ep.max_message_size);
    a.str("saslUsername", ep.sasl_username);
    a.str("saslPassword", ep.sasl_password);
    a.flag("verifyHostname", ep.verify_hostname);
    if (const checked_value* v = a.get("failoverUrls")) ep.failover_urls = failover_urls(*v, type);
    a.num("linkCapacity", ep.link_capacity);
    if (ep.link_capacity == 0) ep.link_capacity = 250;  // 0 = unset, as in qdrouterd
    a.str("httpRootDir", ep.http_root_dir);
    a.flag("http", ep.http);
    a.flag("metrics", ep.metrics);
    a.flag("healthz", ep.health_z);
  }

  void build_listener(const attribute_set& a, int line) {
    listener_config l;
    build_endpoint("listener", a, line, l);
    a.str("usersFile", l.users_file);
    cfg_.listeners.push_back(std::move(l));
  }

  void build_connector(const attribute_set& a, int line) {
    connector_config c;
    c.host = "127.0.0.1";  // qdrouterd's connector default; a listener's "" means all interfaces
    build_endpoint("connector", a, line, c);
    a.num("retryDelaySeconds", c.retry_delay_seconds);
    cfg_.connectors.push_back(std::move(c));
  }

  void prefix_or_pattern(const char* type, const attribute_set& a, int line, std::string& prefix,
                         std::string& pattern) {
    const bool has_prefix = a.has("prefix"), has_pattern = a.has("pattern");
    if (has_prefix == has_pattern) {
      fail(line, type,
           std::string("needs exactly one of 'prefix' or 'pattern' (got ") +
               (has_prefix ? "both" : "neither") + ")");
    }
    a.str("prefix", prefix);
    a.str("pattern", pattern);
    // An empty prefix would silently capture every address: almost surely a templating slip.
    if (prefix.empty() && pattern.empty()) {
      const char* which = has_prefix ? "prefix" : "pattern";
      fail(a.line(which), type, std::string("'") + which + "' must not be empty");
    }
  }

  void build_address(const attribute_set& a, int line) {
    address_config c;
    c.line = line;
    check_name("address", a);
    a.str("name", c.name);
    prefix_or_pattern("address", a, line, c.prefix, c.pattern);
    if (const checked_value* v = a.get("distribution")) c.dist = to_distribution(v->text);
    a.flag("waypoint", c.waypoint);
    a.opt_num("ingressPhase", c.ingress_phase);
    a.opt_num("egressPhase", c.egress_phase);
    a.opt_num("priority", c.priority);
    a.flag("enableFallback", c.enable_fallback);
    cfg_.addresses.push_back(std::move(c));
  }

  void connection_or_container(const char* type, const attribute_set& a, int line, bool need_one,
                               std::string& connection, std::string& container) {
    const bool has_conn = a.has("connection"), has_cont = a.has("containerId");
    if (has_conn && has_cont) {
      fail(line, type, "give only one of 'connection' or 'containerId', not both");
    }
    if (need_one && !has_conn && !has_cont) {
      fail(line, type, "needs 'connection' (a connector/listener name) or 'containerId'");
    }
    a.str("connection", connection);
    a.str("containerId", container);
    if (has_conn && connection.empty()) {
      fail(a.line("connection"), type, "'connection' must not be empty");
    }
    if (has_cont && container.empty()) {
      fail(a.line("containerId"), type, "'containerId' must not be empty");
    }
  }

  void build_link_route(const attribute_set& a, int line) {
    link_route_config c;
    c.line = line;
    check_name("linkRoute", a);
    a.str("name", c.name);
    prefix_or_pattern("linkRoute", a, line, c.prefix, c.pattern);
    c.direction = to_direction(a.get("direction"));
    // Without either, the route points at whichever router in the network has the container.
    connection_or_container("linkRoute", a, line, false, c.connection, c.container_id);
    a.str("addExternalPrefix", c.add_external_prefix);
    a.str("delExternalPrefix", c.del_external_prefix);
    cfg_.link_routes.push_back(std::move(c));
  }

  void build_auto_link(const attribute_set& a, int line) {
    auto_link_config c;
    c.line = line;
    check_name("autoLink", a);
    a.str("name", c.name);
    a.str("address", c.address);
    if (c.address.empty()) fail(a.line("address"), "autoLink", "'address' must not be empty");
    c.direction = to_direction(a.get("direction"));
    a.opt_num("phase", c.phase);
    connection_or_container("autoLink", a, line, true, c.connection, c.container_id);
    a.str("externalAddress", c.external_address);
    a.flag("fallback", c.fallback);
    cfg_.auto_links.push_back(std::move(c));
  }

  void build_ssl_profile(const attribute_set& a, int line) {
    ssl_profile_config c;
    c.line = line;
    check_name("sslProfile", a);
    a.str("name", c.name);
    a.str("certFile", c.cert_file);
    a.str("privateKeyFile", c.private_key_file);
    a.str("caCertFile", c.ca_cert_file);
    a.str("password", c.password);
    a.str("passwordFile", c.password_file);
    a.str("ciphers", c.ciphers);
    a.str("protocols", c.protocols);
    a.str("uidFormat", c.uid_format);
    cfg_.ssl_profiles.push_back(std::move(c));
  }

  void build_log(const attribute_set& a, int line) {
    log_config c;
    c.line = line;
    a.str("module", c.module);
    const auto [it, inserted] = log_modules_.emplace(c.module, line);
    if (!inserted) {
      fail(a.line("module"), "log",
           "log module '" + c.module + "' configured twice (first at line " +
               std::to_string(it->second) + ")");
    }
    a.str("enable", c.enable);
    a.flag("includeSource", c.include_source);
    a.flag("includeTimestamp", c.include_timestamp);
    a.str("outputFile", c.output_file);
    cfg_.logs.push_back(std::move(c));
  }

  const std::string& file_;
  router_config& cfg_;
  std::set<std::string> ssl_profiles_;
  std::map<std::string, std::map<std::string, int>> names_;
  std::map<std::string, int> log_modules_;
};

}  // namespace

const std::vector<entity_schema>& config_schema() {
  static const std::vector<entity_schema> schema = build_schema();
  return schema;
}

const entity_schema* find_entity_schema(std::string_view type) {
  std::string name = camel_case(type);
  if (std::string_view(name).substr(0, qpid_prefix.size()) == qpid_prefix) {
    name.erase(0, qpid_prefix.size());
  }
  for (const entity_schema& s : config_schema()) {
    if (s.name == name || s.long_name == name) return &s;
  }
  return nullptr;
}

std::optional<std::uint16_t> resolve_port(std::string_view port) {
  if (port == "amqp") return 5672;
  if (port == "amqps") return 5671;
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

router_config parse_config(std::string_view text, const std::string& file) {
  router_config cfg;  // cfg.file stays "" for text, as the header documents
  loader(file, cfg).load(parse_config_entities(text, file));
  return cfg;
}

router_config build_config(const std::vector<config_entity>& entities, const std::string& file) {
  router_config cfg;
  loader(file, cfg).load(entities);
  return cfg;
}

router_config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path, 0, "", std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw config_error(path, 0, "", "read error");
  router_config cfg = parse_config(buf.str(), path);
  cfg.file = path;
  return cfg;
}

}  // namespace fogmesh::router
