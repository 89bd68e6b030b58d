#include "fogmesh/ctl/resources.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

namespace fogmesh::ctl {

namespace {

// --- scalar typing (YAML 1.2 core schema) ---
// (Hand-written rather than std::regex: g++ 12's <regex> trips -Wmaybe-uninitialized under ASan.)

bool digits(const std::string& s, size_t& i) {
  size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i > start;
}

// [-+]?[0-9]+
bool is_integer_text(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  return digits(s, i) && i == s.size();
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_float_text(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits(s, i)) return false;
  } else {
    if (!digits(s, i)) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits(s, i);
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!digits(s, i)) return false;
  }
  return i == s.size();
}

// DNS labels separated by dots: [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool is_dns_name(const std::string& s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string::npos) end = s.size();
    if (end == start) return false;
    for (size_t i = start; i < end; ++i) {
      char c = s[i];
      bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && !(c == '-' && i != start && i + 1 != end)) return false;
    }
    start = end + 1;
    if (end == s.size()) break;
  }
  return true;
}

std::optional<json::value> typed_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
    return json::value(nullptr);
  if (s == "true" || s == "True" || s == "TRUE") return json::value(true);
  if (s == "false" || s == "False" || s == "FALSE") return json::value(false);
  if (is_integer_text(s)) {
    int64_t v = 0;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return json::value(v);
  }
  if (is_float_text(s)) {
    try {
      return json::value(std::stod(s));
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

json::value node_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.Scalar()] = node_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& e : n) a.push_back(node_to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      if (n.Tag() == "!") return json::value(n.Scalar());  // quoted
      if (auto v = typed_scalar(n.Scalar())) return *v;
      return json::value(n.Scalar());
    }
    default:
      return json::value(nullptr);
  }
}

// --- a field reader that names file, document and field in its errors ---

struct doc_ctx {
  std::string file;
  int document = 0;
  std::string kind;
  std::string name;
};

[[noreturn]] void fail(const doc_ctx& c, const std::string& field, const YAML::Node* node,
                       const std::string& problem) {
  std::string where = c.file + ": document " + std::to_string(c.document);
  if (!c.kind.empty()) {
    where += " (" + c.kind;
    if (!c.name.empty()) where += " '" + c.name + "'";
    where += ")";
  }
  std::string msg = where;
  if (!field.empty()) msg += ": field '" + field + "'";
  if (node != nullptr && node->IsDefined() && node->Mark().line >= 0) {
    msg += " (line " + std::to_string(node->Mark().line + 1) + ")";
  }
  msg += ": " + problem;
  throw spec_error(msg);
}

class reader {
 public:
  reader(const doc_ctx& c, YAML::Node node, std::string path)
      : c_(c), node_(std::move(node)), path_(std::move(path)) {}

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  std::string field(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  [[noreturn]] void fail_at(const std::string& key, const std::string& problem) const {
    YAML::Node n = has(key) ? node_[key] : node_;
    fail(c_, field(key), &n, problem);
  }

  bool has(const std::string& key) const {
    return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
  }

  // Unknown keys are refused: a typo must not deploy something else than meant.
  void allow(std::initializer_list<const char*> keys) const {
    std::set<std::string> ok(keys.begin(), keys.end());
    for (const auto& kv : node_) {
      std::string k = kv.first.Scalar();
      if (ok.count(k) == 0) {
        std::string list;
        for (const auto& a : ok) list += (list.empty() ? "" : ", ") + a;
        YAML::Node key_node = kv.first;
        fail(c_, field(k), &key_node, "unknown field (allowed here: " + list + ")");
      }
    }
  }

  reader map(const std::string& key, bool required = false) const {
    if (!has(key)) {
      if (required) fail(c_, field(key), &node_, "required field is missing");
      return reader(c_, YAML::Node(YAML::NodeType::Map), field(key));
    }
    YAML::Node n = node_[key];
    if (!n.IsMap()) fail(c_, field(key), &n, "must be a map (key: value lines)");
    return reader(c_, n, field(key));
  }

  std::vector<reader> list(const std::string& key, bool required = false) const {
    std::vector<reader> out;
    if (!has(key)) {
      if (required) fail(c_, field(key), &node_, "required field is missing");
      return out;
    }
    YAML::Node n = node_[key];
    if (!n.IsSequence()) fail(c_, field(key), &n, "must be a list (- item lines)");
    for (size_t i = 0; i < n.size(); ++i) {
      out.emplace_back(c_, n[i], field(key) + "[" + std::to_string(i) + "]");
    }
    return out;
  }

  std::optional<std::string> str(const std::string& key, bool required = false) const {
    if (!has(key)) {
      if (required) fail(c_, field(key), &node_, "required field is missing");
      return std::nullopt;
    }
    YAML::Node n = node_[key];
    if (!n.IsScalar()) fail(c_, field(key), &n, "must be a string");
    return n.Scalar();
  }

  std::optional<int64_t> integer(const std::string& key, bool required = false,
                                 int64_t min = INT64_MIN, int64_t max = INT64_MAX) const {
    if (!has(key)) {
      if (required) fail(c_, field(key), &node_, "required field is missing");
      return std::nullopt;
    }
    YAML::Node n = node_[key];
    auto v = n.IsScalar() && n.Tag() != "!" ? typed_scalar(n.Scalar()) : std::nullopt;
    if (!v || !v->is_int64()) fail(c_, field(key), &n, "must be an integer");
    int64_t i = v->as_int64();
    if (i < min || i > max) {
      fail(c_, field(key), &n,
           "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return i;
  }

  std::optional<double> number(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    YAML::Node n = node_[key];
    auto v = n.IsScalar() && n.Tag() != "!" ? typed_scalar(n.Scalar()) : std::nullopt;
    if (!v || !(v->is_int64() || v->is_double())) fail(c_, field(key), &n, "must be a number");
    return v->is_int64() ? static_cast<double>(v->as_int64()) : v->as_double();
  }

  std::optional<bool> boolean(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    YAML::Node n = node_[key];
    auto v = n.IsScalar() && n.Tag() != "!" ? typed_scalar(n.Scalar()) : std::nullopt;
    if (!v || !v->is_bool()) fail(c_, field(key), &n, "must be true or false");
    return v->as_bool();
  }

  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    for (const auto& e : list(key)) {
      if (!e.node().IsScalar()) fail(c_, e.path(), &e.node(), "must be a string");
      out.push_back(e.node().Scalar());
    }
    return out;
  }

  // Raw value (free-form maps such as a microservice's config).
  json::value any(const std::string& key) const {
    return has(key) ? node_to_json(node_[key]) : json::value(nullptr);
  }

  const doc_ctx& ctx() const { return c_; }

 private:
  const doc_ctx& c_;
  YAML::Node node_;
  std::string path_;
};

void check_dns(const reader& r, const std::string& key, const std::string& value) {
  if (!is_dns_name(value)) {
    r.fail_at(key, "'" + value +
                       "' is not a valid name (lower-case letters, digits and '-', starting and "
                       "ending with a letter or digit)");
  }
}

// iofogUser {name, surname, email, password} of the control plane kinds.
json::object read_iofog_user(const reader& spec) {
  auto user = spec.map("iofogUser", true);
  user.allow({"name", "surname", "email", "password"});
  json::object u{{"name", user.str("name").value_or("fogmesh")},
                 {"surname", user.str("surname").value_or("operator")},
                 {"email", *user.str("email", true)},
                 {"password", *user.str("password", true)}};
  if (u["password"].as_string().size() < 8) {
    user.fail_at("password", "must be at least 8 characters");
  }
  return u;
}

// database {provider, host, port, user, password, databaseName}: an external PostgreSQL.
json::object read_database(const reader& spec) {
  auto db = spec.map("database");
  db.allow({"provider", "host", "port", "user", "password", "databaseName", "sslMode"});
  std::string provider = db.str("provider").value_or("postgres");
  if (provider != "postgres" && provider != "postgresql") {
    db.fail_at("provider",
               "'" + provider + "' is not supported: fogmesh-controller uses PostgreSQL");
  }
  json::object d{{"provider", "postgres"},
                 {"host", *db.str("host", true)},
                 {"port", db.integer("port", false, 1, 65535).value_or(5432)},
                 {"user", *db.str("user", true)},
                 {"password", db.str("password").value_or("")},
                 {"databaseName", db.str("databaseName").value_or("iofog")}};
  if (auto ssl = db.str("sslMode")) d["sslMode"] = *ssl;
  return d;
}

json::object read_ssh(const reader& parent) {
  auto ssh = parent.map("ssh", true);
  ssh.allow({"user", "keyFile", "port"});
  return json::object{{"user", ssh.str("user").value_or("root")},
                      {"keyFile", *ssh.str("keyFile", true)},
                      {"port", ssh.integer("port", false, 1, 65535).value_or(22)}};
}

// installDir: an absolute path without a trailing '/' (default /usr/local).
std::string read_install_dir(const reader& spec) {
  std::string dir = spec.str("installDir").value_or("/usr/local");
  if (dir.empty() || dir[0] != '/') spec.fail_at("installDir", "must be an absolute path");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// registry: remote | local | <id>  →  "remote" | "local" | id
json::value read_registry_ref(const reader& r, const std::string& key) {
  if (!r.has(key)) return json::value("remote");
  auto s = *r.str(key);
  if (s == "remote") return json::value("remote");
  if (s == "local") return json::value("local");
  auto v = typed_scalar(s);
  if (!v || !v->is_int64() || v->as_int64() < 1) {
    r.fail_at(key, "must be remote, local or a registry id");
  }
  if (v->as_int64() == 1) return json::value("remote");
  if (v->as_int64() == 2) return json::value("local");
  return *v;
}

int64_t registry_id(const json::value& ref) {
  if (ref.is_string()) return ref.as_string() == "local" ? 2 : 1;
  return ref.as_int64();
}

json::value registry_ref_from_id(const json::value& id) {
  if (!id.is_int64()) return json::value("remote");
  if (id.as_int64() == 2) return json::value("local");
  if (id.as_int64() == 1) return json::value("remote");
  return id;
}

// A config given as a JSON string is the same as the map it encodes.
json::value normalise_config(json::value v) {
  if (v.is_null()) return json::object{};
  if (v.is_string()) {
    boost::system::error_code ec;
    auto parsed = json::parse(v.as_string(), ec);
    if (!ec && parsed.is_object()) return parsed;
  }
  return v;
}

json::object read_microservice(const reader& r, bool standalone, bool app_in_name = false) {
  if (standalone) {
    r.allow({"name", "agent", "images", "container", "config", "application"});
  } else {
    r.allow({"name", "agent", "images", "container", "config"});
  }
  json::object m;
  if (standalone) {
    m["application"] = r.str("application", !app_in_name).value_or("");
  }
  if (!standalone || r.has("name")) {
    auto name = *r.str("name", true);
    check_dns(r, "name", name);
    m["name"] = name;
  }
  if (r.has("agent")) {
    auto agent = r.map("agent");
    agent.allow({"name", "config"});
    auto name = *agent.str("name", true);
    if (agent.has("config"))
      agent.fail_at("config",
                    "per-microservice agent config is not supported; use an AgentConfig document");
    m["agent"] = json::object{{"name", name}};
  }
  auto images = r.map("images", true);
  images.allow({"x86", "arm", "registry", "catalogId"});
  json::object img;
  if (images.has("catalogId")) {
    if (images.has("x86") || images.has("arm")) {
      images.fail_at("catalogId", "give either catalogId or x86/arm images, not both");
    }
    img["catalogId"] = *images.integer("catalogId", true, 1);
  } else {
    auto x86 = images.str("x86");
    auto arm = images.str("arm");
    if (!x86 && !arm) {
      r.fail_at("images", "needs an x86 or arm image (or a catalogId)");
    }
    if (x86) img["x86"] = *x86;
    if (arm) img["arm"] = *arm;
  }
  img["registry"] = read_registry_ref(images, "registry");
  m["images"] = img;

  auto c = r.map("container");
  c.allow({"rootHostAccess", "ports", "volumes", "env", "extraHosts", "commands"});
  json::object container;
  container["rootHostAccess"] = c.boolean("rootHostAccess").value_or(false);
  json::array ports;
  for (const auto& p : c.list("ports")) {
    p.allow({"internal", "external", "protocol", "public", "proxy"});
    json::object port{{"internal", *p.integer("internal", true, 1, 65535)},
                      {"external", *p.integer("external", true, 1, 65535)}};
    auto proto = p.str("protocol").value_or("tcp");
    for (auto& ch : proto) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (proto != "tcp" && proto != "udp") p.fail_at("protocol", "must be tcp or udp");
    port["protocol"] = proto;
    if (p.has("public")) port["public"] = p.any("public");
    if (auto proxy = p.boolean("proxy")) port["proxy"] = *proxy;
    ports.push_back(std::move(port));
  }
  container["ports"] = std::move(ports);
  json::array volumes;
  for (const auto& v : c.list("volumes")) {
    v.allow({"hostDestination", "containerDestination", "accessMode", "type"});
    auto type = v.str("type").value_or("bind");
    if (type != "bind" && type != "volume") v.fail_at("type", "must be bind or volume");
    volumes.push_back(json::object{{"hostDestination", *v.str("hostDestination", true)},
                                   {"containerDestination", *v.str("containerDestination", true)},
                                   {"accessMode", v.str("accessMode").value_or("rw")},
                                   {"type", type}});
  }
  container["volumes"] = std::move(volumes);
  json::array env;
  for (const auto& e : c.list("env")) {
    e.allow({"key", "value"});
    env.push_back(
        json::object{{"key", *e.str("key", true)}, {"value", e.str("value").value_or("")}});
  }
  container["env"] = std::move(env);
  json::array hosts;
  for (const auto& h : c.list("extraHosts")) {
    h.allow({"name", "address"});
    hosts.push_back(
        json::object{{"name", *h.str("name", true)}, {"address", *h.str("address", true)}});
  }
  container["extraHosts"] = std::move(hosts);
  json::array commands;
  for (auto& s : c.strings("commands")) commands.push_back(json::value(s));
  container["commands"] = std::move(commands);
  m["container"] = std::move(container);
  m["config"] = normalise_config(r.any("config"));
  return m;
}

json::object read_route_entry(const reader& r) {
  r.allow({"name", "from", "to"});
  auto from = *r.str("from", true);
  auto to = *r.str("to", true);
  std::string name = r.str("name").value_or(from + "-" + to);
  check_dns(r, "name", name);
  return json::object{{"name", name}, {"from", from}, {"to", to}};
}

json::object read_application(const reader& spec) {
  spec.allow({"description", "microservices", "routes"});
  json::object app;
  auto description = spec.str("description").value_or("");
  if (!description.empty()) app["description"] = description;
  json::array msvcs;
  std::set<std::string> names;
  for (const auto& m : spec.list("microservices")) {
    auto msvc = read_microservice(m, false);
    std::string name(msvc["name"].as_string());
    if (!names.insert(name).second) m.fail_at("name", "duplicate microservice name '" + name + "'");
    msvcs.push_back(std::move(msvc));
  }
  app["microservices"] = std::move(msvcs);
  json::array routes;
  for (const auto& r : spec.list("routes")) {
    auto route = read_route_entry(r);
    for (const char* end : {"from", "to"}) {
      std::string target(route[end].as_string());
      if (names.count(target) == 0) {
        r.fail_at(end, "no microservice named '" + target + "' in this application");
      }
    }
    routes.push_back(std::move(route));
  }
  app["routes"] = std::move(routes);
  return app;
}

// AgentConfig fields: YAML key -> JSON type check. Names as the controller's /iofog fields.
enum class ftype { str, integer, number, boolean, strings };
const std::vector<std::pair<const char*, ftype>>& agent_fields() {
  static const std::vector<std::pair<const char*, ftype>> f = {
      {"host", ftype::str},
      {"location", ftype::str},
      {"latitude", ftype::number},
      {"longitude", ftype::number},
      {"description", ftype::str},
      {"tags", ftype::strings},
      {"timeZone", ftype::str},
      {"networkInterface", ftype::str},
      {"dockerUrl", ftype::str},
      {"diskLimit", ftype::number},
      {"diskDirectory", ftype::str},
      {"memoryLimit", ftype::number},
      {"cpuLimit", ftype::number},
      {"logLimit", ftype::number},
      {"logDirectory", ftype::str},
      {"logFileCount", ftype::integer},
      {"logLevel", ftype::str},
      {"statusFrequency", ftype::integer},
      {"changeFrequency", ftype::integer},
      {"deviceScanFrequency", ftype::integer},
      {"bluetoothEnabled", ftype::boolean},
      {"watchdogEnabled", ftype::boolean},
      {"abstractedHardwareEnabled", ftype::boolean},
      {"dockerPruningFrequency", ftype::integer},
      {"availableDiskThreshold", ftype::number},
      {"upstreamRouters", ftype::strings},
      {"networkRouter", ftype::str},
      // The system agent's interior router is the controller's default router.
      {"isSystem", ftype::boolean},
  };
  return f;
}

json::object read_agent_config(const reader& r, std::initializer_list<const char*> extra = {}) {
  std::vector<const char*> allowed = {"agentType", "routerConfig"};
  for (const auto& [k, t] : agent_fields()) allowed.push_back(k);
  for (const char* e : extra) allowed.push_back(e);
  std::set<std::string> ok(allowed.begin(), allowed.end());
  for (const auto& kv : r.node()) {
    if (ok.count(kv.first.Scalar()) == 0) {
      r.fail_at(kv.first.Scalar(),
                "unknown field (an AgentConfig field such as host, "
                "description, agentType, routerConfig, dockerUrl, "
                "memoryLimit, logLevel...)");
    }
  }
  json::object out;
  for (const auto& [k, t] : agent_fields()) {
    if (!r.has(k)) continue;
    switch (t) {
      case ftype::str:
        out[k] = *r.str(k);
        break;
      case ftype::integer:
        out[k] = *r.integer(k);
        break;
      case ftype::number: {
        double d = *r.number(k);
        if (std::floor(d) == d && std::fabs(d) < 1e15) {
          out[k] = static_cast<int64_t>(d);
        } else {
          out[k] = d;
        }
        break;
      }
      case ftype::boolean:
        out[k] = *r.boolean(k);
        break;
      case ftype::strings: {
        json::array a;
        for (auto& s : r.strings(k)) a.push_back(json::value(s));
        out[k] = std::move(a);
        break;
      }
    }
  }
  if (auto t = r.str("agentType")) {
    if (*t != "auto" && *t != "x86" && *t != "arm")
      r.fail_at("agentType", "must be auto, x86 or arm");
    out["agentType"] = *t;
  }
  if (r.has("routerConfig")) {
    auto rc = r.map("routerConfig");
    rc.allow({"routerMode", "messagingPort", "edgeRouterPort", "interRouterPort"});
    json::object router;
    if (auto mode = rc.str("routerMode")) {
      if (*mode != "none" && *mode != "edge" && *mode != "interior") {
        rc.fail_at("routerMode", "must be none, edge or interior");
      }
      router["routerMode"] = *mode;
    }
    for (const char* p : {"messagingPort", "edgeRouterPort", "interRouterPort"}) {
      if (auto v = rc.integer(p, false, 1, 65535)) router[p] = *v;
    }
    out["routerConfig"] = std::move(router);
  }
  return out;
}

resource read_document(const YAML::Node& doc, const std::string& file, int index) {
  doc_ctx c{file, index, "", ""};
  if (!doc.IsMap())
    fail(c, "", &doc, "a document must be a map with apiVersion, kind, metadata and spec");
  reader top(c, doc, "");
  top.allow({"apiVersion", "kind", "metadata", "spec"});
  auto api = *top.str("apiVersion", true);
  if (api != "iofog.org/v2" && api != "iofog.org/v3" && api != "iofog.org/v1") {
    top.fail_at("apiVersion", "'" + api + "' is not supported (use iofog.org/v2)");
  }
  auto kind_text = *top.str("kind", true);
  c.kind = kind_text;
  auto meta = top.map("metadata", true);
  meta.allow({"name", "namespace", "tags"});
  resource res;
  res.name = *meta.str("name", true);
  c.name = res.name;
  res.ns = meta.str("namespace").value_or("");
  res.file = file;
  res.document = index;
  auto spec = top.map("spec", kind_text != "Route" && kind_text != "LocalControlPlane");

  if (kind_text == "Application") {
    res.k = kind::application;
    check_dns(meta, "name", res.name);
    res.spec = read_application(spec);
  } else if (kind_text == "Microservice") {
    res.k = kind::microservice;
    // metadata.name may be "application/microservice" (as iofogctl prints it).
    std::string app, name = res.name;
    if (auto slash = res.name.find('/'); slash != std::string::npos) {
      app = res.name.substr(0, slash);
      name = res.name.substr(slash + 1);
    }
    res.spec = read_microservice(spec, true, !app.empty());
    if (!app.empty()) {
      if (spec.has("application") && res.spec["application"].as_string() != app) {
        spec.fail_at("application", "differs from the application in metadata.name");
      }
      res.spec["application"] = app;
    }
    check_dns(meta, "name", name);
    json::object ordered{{"application", res.spec["application"]}, {"name", name}};
    for (auto& kv : res.spec) {
      if (kv.key() != "application" && kv.key() != "name") ordered[kv.key()] = kv.value();
    }
    res.spec = std::move(ordered);
    res.name = name;
  } else if (kind_text == "Route") {
    res.k = kind::route;
    spec.allow({"application", "from", "to"});
    std::string app, name = res.name;
    if (auto slash = res.name.find('/'); slash != std::string::npos) {
      app = res.name.substr(0, slash);
      name = res.name.substr(slash + 1);
    }
    if (auto a = spec.str("application")) app = *a;
    if (app.empty())
      spec.fail_at("application",
                   "required field is missing (or name the route application/route)");
    check_dns(meta, "name", name);
    res.name = name;
    res.spec = json::object{
        {"application", app}, {"from", *spec.str("from", true)}, {"to", *spec.str("to", true)}};
  } else if (kind_text == "Registry") {
    res.k = kind::registry;
    spec.allow(
        {"id", "url", "username", "password", "email", "requiresCert", "certificate", "private"});
    json::object r;
    if (auto id = spec.integer("id", false, 3)) r["id"] = *id;
    r["url"] = *spec.str("url", true);
    r["username"] = spec.str("username").value_or("");
    r["email"] = spec.str("email").value_or("");
    r["private"] = spec.boolean("private").value_or(false);
    r["requiresCert"] = spec.boolean("requiresCert").value_or(false);
    r["certificate"] = spec.str("certificate").value_or("");
    if (r["requiresCert"].as_bool() && r["certificate"].as_string().empty()) {
      spec.fail_at("certificate", "required when requiresCert is true");
    }
    if (auto pw = spec.str("password")) r["password"] = *pw;
    res.spec = std::move(r);
  } else if (kind_text == "CatalogItem") {
    res.k = kind::catalog_item;
    spec.allow({"id", "name", "description", "x86", "arm", "registry", "configExample", "category",
                "publisher"});
    json::object item;
    if (auto n = spec.str("name"); n && *n != res.name) {
      spec.fail_at("name", "differs from metadata.name");
    }
    item["description"] = spec.str("description").value_or("");
    if (auto cat = spec.str("category")) item["category"] = *cat;
    if (auto pub = spec.str("publisher")) item["publisher"] = *pub;
    auto x86 = spec.str("x86");
    auto arm = spec.str("arm");
    if (!x86 && !arm) spec.fail_at("x86", "a catalog item needs an x86 or arm image");
    if (x86) item["x86"] = *x86;
    if (arm) item["arm"] = *arm;
    item["registry"] = read_registry_ref(spec, "registry");
    auto example = spec.any("configExample");
    if (example.is_null()) {
      item["configExample"] = "{}";
    } else if (example.is_string()) {
      item["configExample"] = example;
    } else if (spec.node()["configExample"].IsScalar()) {
      item["configExample"] = spec.node()["configExample"].Scalar();
    } else {
      item["configExample"] = json::serialize(example);
    }
    res.spec = std::move(item);
  } else if (kind_text == "AgentConfig") {
    res.k = kind::agent_config;
    check_dns(meta, "name", res.name);
    res.spec = read_agent_config(spec);
  } else if (kind_text == "Agent") {
    res.k = kind::agent;
    spec.allow({"host", "ssh", "package", "scripts", "config", "installDir", "localApiPort"});
    for (const char* upstream : {"package", "scripts"}) {
      if (spec.has(upstream)) {
        spec.fail_at(upstream,
                     "not supported: fogctl installs its own fogmesh-agent and fogmesh-router "
                     "binaries (see installDir)");
      }
    }
    json::object cfg = read_agent_config(spec.map("config"));
    if (auto host = spec.str("host")) cfg["host"] = *host;
    if (!spec.has("ssh")) {
      // Configures an agent that is already provisioned.
      for (const char* remote_only : {"installDir", "localApiPort"}) {
        if (spec.has(remote_only))
          spec.fail_at(remote_only, "only used with ssh (installing the agent)");
      }
      res.spec = std::move(cfg);
    } else {
      res.k = kind::remote_agent;
      check_dns(meta, "name", res.name);
      std::string host = *spec.str("host", true);
      json::object s;
      s["host"] = host;
      s["ssh"] = read_ssh(spec);
      // fogmesh extensions: where the binaries go (INSTALLDIR/bin; the configuration in
      // /etc/fogmesh/agent for /usr/local, else INSTALLDIR/etc/fogmesh/agent) and the agent's
      // local API port (default 54321; 0 picks a free one).
      s["installDir"] = read_install_dir(spec);
      if (auto port = spec.integer("localApiPort", false, 0, 65535)) s["localApiPort"] = *port;
      s["config"] = std::move(cfg);
      res.spec = std::move(s);
    }
  } else if (kind_text == "LocalControlPlane") {
    res.k = kind::local_control_plane;
    spec.allow({"iofogUser", "controller"});
    json::object s;
    s["iofogUser"] = read_iofog_user(spec);
    auto ctl = spec.map("controller");
    ctl.allow({"port", "bind", "container"});
    json::object c{{"port", ctl.integer("port", false, 0, 65535).value_or(51121)},
                   {"bind", ctl.str("bind").value_or("0.0.0.0")}};
    if (ctl.has("container")) {
      // iofogctl's controller.container: the controller runs from an image in the local
      // container engine instead of as a native process.
      auto container = ctl.map("container");
      container.allow({"image", "credentials"});
      if (container.has("credentials")) {
        container.fail_at("credentials",
                          "not supported: log in to the image's registry with `podman login` "
                          "(or `docker login`) before deploying");
      }
      c["container"] = json::object{{"image", *container.str("image", true)}};
    }
    s["controller"] = std::move(c);
    res.spec = std::move(s);
  } else if (kind_text == "LocalAgent") {
    res.k = kind::local_agent;
    check_dns(meta, "name", res.name);
    spec.allow({"config", "container", "host", "localApiPort"});
    if (spec.has("container")) {
      spec.fail_at("container",
                   "running the agent as a container is not supported yet; "
                   "fogctl runs fogmesh-agent natively");
    }
    json::object cfg = read_agent_config(spec.map("config"));
    cfg["host"] = spec.str("host").value_or(
        cfg.contains("host") ? std::string(cfg["host"].as_string()) : "127.0.0.1");
    res.spec = json::object{{"config", std::move(cfg)}};
    // fogmesh extension: the agent's local API port (default 54321; 0 picks a free one).
    if (auto port = spec.integer("localApiPort", false, 0, 65535)) res.spec["localApiPort"] = *port;
  } else if (kind_text == "ControlPlane") {
    res.k = kind::remote_control_plane;
    spec.allow({"iofogUser", "controllers", "database", "controller", "installDir", "package",
                "systemAgent", "systemMicroservices"});
    if (spec.has("package")) {
      spec.fail_at("package",
                   "not supported: fogctl installs its own fogmesh-controller binary (see "
                   "installDir)");
    }
    for (const char* upstream : {"systemAgent", "systemMicroservices"}) {
      if (spec.has(upstream)) {
        spec.fail_at(upstream,
                     "not supported: deploy an Agent (with config.isSystem and routerMode "
                     "interior for the default router) next to the ControlPlane");
      }
    }
    json::object s;
    s["iofogUser"] = read_iofog_user(spec);
    json::array controllers;
    std::set<std::string> names;
    auto list = spec.list("controllers", true);
    if (list.empty()) spec.fail_at("controllers", "needs at least one controller");
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& c = list[i];
      c.allow({"name", "host", "ssh"});
      std::string name = c.str("name").value_or("controller-" + std::to_string(i + 1));
      check_dns(c, "name", name);
      if (!names.insert(name).second) c.fail_at("name", "'" + name + "' is named twice");
      controllers.push_back(
          json::object{{"name", name}, {"host", *c.str("host", true)}, {"ssh", read_ssh(c)}});
    }
    s["controllers"] = std::move(controllers);
    if (spec.has("database")) {
      s["database"] = read_database(spec);
    } else if (list.size() > 1) {
      spec.fail_at("controllers",
                   "several controllers need spec.database (an external PostgreSQL they share); "
                   "without it each would run its own embedded database");
    }
    // fogmesh extensions: the API port of every controller, where the binary goes.
    auto ctl = spec.map("controller");
    ctl.allow({"port"});
    s["controller"] = json::object{{"port", ctl.integer("port", false, 1, 65535).value_or(51121)}};
    s["installDir"] = read_install_dir(spec);
    res.spec = std::move(s);
  } else if (kind_text == "KubernetesControlPlane") {
    res.k = kind::kubernetes_control_plane;
    spec.allow({"config", "iofogUser", "replicas", "database", "services", "images", "ingresses"});
    json::object s;
    s["config"] = *spec.str("config", true);
    s["iofogUser"] = read_iofog_user(spec);
    auto replicas = spec.map("replicas");
    replicas.allow({"controller"});
    s["replicas"] =
        json::object{{"controller", replicas.integer("controller", false, 1, 50).value_or(1)}};
    if (spec.has("database")) {
      s["database"] = read_database(spec);
    } else if (s["replicas"].as_object()["controller"].as_int64() > 1) {
      replicas.fail_at("controller",
                       "more than one controller needs spec.database (an external PostgreSQL)");
    }
    json::object services;
    auto svcs = spec.map("services");
    svcs.allow({"controller", "router", "proxy"});
    for (const char* name : {"controller", "router", "proxy"}) {
      auto svc = svcs.map(name);
      svc.allow({"type", "ip", "address"});
      std::string type = svc.str("type").value_or("LoadBalancer");
      if (type != "LoadBalancer" && type != "ClusterIP" && type != "NodePort") {
        svc.fail_at("type", "must be LoadBalancer, ClusterIP or NodePort");
      }
      json::object o{{"type", type}};
      // iofogctl writes `ip`, the ControlPlane resource `address`.
      if (auto a = svc.str("address")) {
        o["address"] = *a;
      } else if (auto ip = svc.str("ip")) {
        o["address"] = *ip;
      }
      services[name] = std::move(o);
    }
    s["services"] = std::move(services);
    auto images = spec.map("images");
    images.allow({"controller", "router", "portManager", "proxy", "operator", "pullSecret",
                  "portRouter", "kubelet"});
    if (images.has("kubelet")) {
      images.fail_at("kubelet",
                     "fogctl does not deploy the kubelet: apply deploy/kubernetes/kubelet.yaml "
                     "(its image is set there)");
    }
    json::object imgs;
    for (const char* k :
         {"controller", "router", "portManager", "proxy", "operator", "pullSecret", "portRouter"}) {
      if (auto v = images.str(k)) imgs[k] = *v;
    }
    s["images"] = std::move(imgs);
    // The ControlPlane resource's ingresses (router address/ports agents use), passed through.
    if (spec.has("ingresses")) s["ingresses"] = spec.any("ingresses");
    res.spec = std::move(s);
  } else if (kind_text == "Controller" || kind_text == "ApplicationTemplate" ||
             kind_text == "Volume" || kind_text == "EdgeResource") {
    top.fail_at("kind", "kind " + kind_text + " is not supported by fogctl yet");
  } else {
    top.fail_at("kind", "unknown kind '" + kind_text +
                            "' (Application, Microservice, Route, Registry, CatalogItem, Agent, "
                            "AgentConfig, LocalControlPlane, ControlPlane, KubernetesControlPlane, "
                            "LocalAgent)");
  }
  return res;
}

// --- YAML emitting ---

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  if (typed_scalar(s)) return true;
  // Leading/trailing blanks and YAML indicators: quote rather than trust the emitter's choice.
  static const std::string indicators = "-?:,[]{}#&*!|>'\"%@`";
  if (indicators.find(s.front()) != std::string::npos) return true;
  if (std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back()))) {
    return true;
  }
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos ||
         s.find('\n') != std::string::npos;
}

void emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: {
      const auto& o = v.as_object();
      if (o.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& kv : o) {
        out << YAML::Key << std::string(kv.key());
        out << YAML::Value;
        emit(out, kv.value());
      }
      out << YAML::EndMap;
      return;
    }
    case json::kind::array: {
      const auto& a = v.as_array();
      if (a.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& e : a) emit(out, e);
      out << YAML::EndSeq;
      return;
    }
    case json::kind::string: {
      std::string s(v.as_string());
      if (s.find('\n') != std::string::npos) {
        out << YAML::DoubleQuoted << s;
      } else if (needs_quotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      return;
    }
    case json::kind::int64:
      out << v.as_int64();
      return;
    case json::kind::uint64:
      out << v.as_uint64();
      return;
    case json::kind::double_: {
      char buf[64];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.as_double());
      std::string s(buf, p);
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // stays a float
      out << s;
      return;
    }
    case json::kind::bool_:
      out << (v.as_bool() ? "true" : "false");
      return;
    case json::kind::null:
      out << YAML::Null;
      return;
  }
}

bool same_value(const json::value& a, const json::value& b) {
  auto is_num = [](const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); };
  if (is_num(a) && is_num(b)) return a.to_number<double>() == b.to_number<double>();
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.as_object();
    const auto& y = b.as_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      auto it = y.find(kv.key());
      if (it == y.end() || !same_value(kv.value(), it->value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.as_array();
    const auto& y = b.as_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!same_value(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;
}

std::string str_or(const json::object& o, const char* key, const std::string& def = "") {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return def;
  return std::string(it->value().as_string());
}

const json::array& arr_or_empty(const json::object& o, const char* key) {
  static const json::array empty;
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_array()) return empty;
  return it->value().as_array();
}

}  // namespace

const char* kind_name(kind k) {
  switch (k) {
    case kind::application:
      return "Application";
    case kind::microservice:
      return "Microservice";
    case kind::route:
      return "Route";
    case kind::registry:
      return "Registry";
    case kind::catalog_item:
      return "CatalogItem";
    case kind::agent_config:
      return "AgentConfig";
    case kind::agent:
    case kind::remote_agent:
      return "Agent";
    case kind::local_control_plane:
      return "LocalControlPlane";
    case kind::remote_control_plane:
      return "ControlPlane";
    case kind::kubernetes_control_plane:
      return "KubernetesControlPlane";
    case kind::local_agent:
      return "LocalAgent";
  }
  return "?";
}

std::vector<resource> parse_documents(const std::string& text, const std::string& file) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    // Which document: count the separators before the error line.
    int line = e.mark.line;
    int doc = 1;
    std::istringstream in(text);
    std::string l;
    bool content = false;
    for (int i = 0; i < line && std::getline(in, l); ++i) {
      if (l.rfind("---", 0) == 0) {
        if (content) ++doc;
        content = false;
      } else if (!l.empty() && l[0] != '#') {
        content = true;
      }
    }
    throw spec_error(file + ": document " + std::to_string(doc) + " (line " +
                     std::to_string(line + 1) + "): invalid YAML: " + e.msg);
  }
  std::vector<resource> out;
  int index = 0;
  for (const auto& d : docs) {
    ++index;
    if (d.IsNull()) continue;
    out.push_back(read_document(d, file, index));
  }
  if (out.empty()) throw spec_error(file + ": no documents");
  return out;
}

std::vector<resource> load_file(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return parse_documents(text.str(), "<stdin>");
  }
  errno = 0;
  std::ifstream in(path);
  // errno is open(2)'s: "No such file or directory", "Permission denied", ...
  if (!in) {
    throw spec_error(path + ": cannot read the file" +
                     (errno != 0 ? std::string(": ") + std::strerror(errno) : std::string()));
  }
  text << in.rdbuf();
  return parse_documents(text.str(), path);
}

json::value yaml_text_to_json(const std::string& yaml_text) {
  return node_to_json(YAML::Load(yaml_text));
}

std::string to_yaml(const json::value& v) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, v);
  return std::string(out.c_str()) + "\n";
}

std::string to_yaml_document(kind k, const std::string& name, const std::string& ns,
                             const json::object& spec) {
  json::object meta{{"name", name}};
  if (!ns.empty()) meta["namespace"] = ns;
  json::object doc{{"apiVersion", "iofog.org/v2"},
                   {"kind", kind_name(k)},
                   {"metadata", std::move(meta)},
                   {"spec", spec}};
  return to_yaml(doc);
}

// --- canonical -> bodies ---

json::object microservice_body(const json::object& m) {
  json::object b;
  b["name"] = m.at("name");
  const auto& images = m.at("images").as_object();
  if (images.contains("catalogId")) {
    b["catalogItemId"] = images.at("catalogId");
  } else {
    json::array imgs;
    if (images.contains("x86"))
      imgs.push_back(json::object{{"containerImage", images.at("x86")}, {"fogTypeId", 1}});
    if (images.contains("arm"))
      imgs.push_back(json::object{{"containerImage", images.at("arm")}, {"fogTypeId", 2}});
    b["images"] = std::move(imgs);
  }
  b["registryId"] = registry_id(images.at("registry"));
  if (auto it = m.find("agent"); it != m.end()) b["agentName"] = it->value().as_object().at("name");
  const auto& c = m.at("container").as_object();
  b["rootHostAccess"] = c.at("rootHostAccess");
  b["ports"] = c.at("ports");
  b["volumeMappings"] = c.at("volumes");
  b["env"] = c.at("env");
  b["extraHosts"] = c.at("extraHosts");
  b["cmd"] = c.at("commands");
  const auto& config = m.at("config");
  b["config"] = config.is_string() ? config : json::value(json::serialize(config));
  if (auto it = m.find("application"); it != m.end()) b["application"] = it->value();
  return b;
}

json::object application_body(const std::string& name, const json::object& spec) {
  json::object b{
      {"name", name}, {"description", str_or(spec, "description")}, {"isActivated", true}};
  json::array msvcs;
  for (const auto& m : arr_or_empty(spec, "microservices"))
    msvcs.push_back(microservice_body(m.as_object()));
  b["microservices"] = std::move(msvcs);
  b["routes"] = spec.contains("routes") ? spec.at("routes") : json::array{};
  return b;
}

json::object route_body(const std::string& name, const json::object& spec) {
  return json::object{{"name", name},
                      {"application", spec.at("application")},
                      {"from", spec.at("from")},
                      {"to", spec.at("to")}};
}

json::object registry_body(const json::object& spec) {
  json::object b{{"url", spec.at("url")},
                 {"isPublic", !spec.at("private").as_bool()},
                 {"username", spec.at("username")},
                 {"email", spec.at("email")},
                 {"requiresCert", spec.at("requiresCert")},
                 {"certificate", spec.at("certificate")}};
  if (auto it = spec.find("password"); it != spec.end()) b["password"] = it->value();
  return b;
}

json::object catalog_item_body(const std::string& name, const json::object& spec) {
  json::object b{{"name", name}, {"description", spec.at("description")}};
  if (auto it = spec.find("category"); it != spec.end()) b["category"] = it->value();
  if (auto it = spec.find("publisher"); it != spec.end()) b["publisher"] = it->value();
  json::array imgs;
  if (spec.contains("x86"))
    imgs.push_back(json::object{{"containerImage", spec.at("x86")}, {"fogTypeId", 1}});
  if (spec.contains("arm"))
    imgs.push_back(json::object{{"containerImage", spec.at("arm")}, {"fogTypeId", 2}});
  b["images"] = std::move(imgs);
  b["registryId"] = registry_id(spec.at("registry"));
  b["configExample"] = spec.at("configExample");
  return b;
}

json::object agent_config_body(const std::string& name, const json::object& spec) {
  json::object b{{"name", name}};
  for (const auto& kv : spec) {
    if (kv.key() == "agentType") {
      auto t = kv.value().as_string();
      b["fogType"] = t == "x86" ? 1 : t == "arm" ? 2 : 0;
    } else if (kv.key() == "routerConfig") {
      for (const auto& r : kv.value().as_object()) b[r.key()] = r.value();
    } else {
      b[kv.key()] = kv.value();
    }
  }
  return b;
}

// --- API -> canonical ---

json::object microservice_spec_from_api(const json::object& api, const fog_name_map& fog_names,
                                        bool with_application) {
  json::object m;
  if (with_application) m["application"] = str_or(api, "application");
  m["name"] = str_or(api, "name");
  auto fog = api.find("iofogUuid");
  if (fog != api.end() && fog->value().is_string()) {
    std::string uuid(fog->value().as_string());
    auto n = fog_names.find(uuid);
    m["agent"] = json::object{{"name", n != fog_names.end() ? n->second : uuid}};
  }
  json::object img;
  auto cat = api.find("catalogItemId");
  if (cat != api.end() && cat->value().is_int64()) {
    img["catalogId"] = cat->value();
  } else {
    for (const auto& i : arr_or_empty(api, "images")) {
      const auto& o = i.as_object();
      auto type = o.at("fogTypeId").to_number<int64_t>();
      if (type == 1) img["x86"] = o.at("containerImage");
    }
    for (const auto& i : arr_or_empty(api, "images")) {
      const auto& o = i.as_object();
      auto type = o.at("fogTypeId").to_number<int64_t>();
      if (type == 2) img["arm"] = o.at("containerImage");
    }
  }
  img["registry"] =
      registry_ref_from_id(api.contains("registryId") ? api.at("registryId") : json::value(1));
  m["images"] = std::move(img);
  json::object c;
  c["rootHostAccess"] = api.contains("rootHostAccess") && api.at("rootHostAccess").is_bool()
                            ? api.at("rootHostAccess").as_bool()
                            : false;
  json::array ports;
  for (const auto& p : arr_or_empty(api, "ports")) {
    const auto& o = p.as_object();
    json::object port{{"internal", o.at("internal")},
                      {"external", o.at("external")},
                      {"protocol", str_or(o, "protocol", "tcp")}};
    if (auto it = o.find("public"); it != o.end() && !it->value().is_null())
      port["public"] = it->value();
    if (auto it = o.find("proxy"); it != o.end() && it->value().is_bool() && it->value().as_bool())
      port["proxy"] = true;
    ports.push_back(std::move(port));
  }
  c["ports"] = std::move(ports);
  json::array volumes;
  for (const auto& v : arr_or_empty(api, "volumeMappings")) {
    const auto& o = v.as_object();
    volumes.push_back(json::object{{"hostDestination", o.at("hostDestination")},
                                   {"containerDestination", o.at("containerDestination")},
                                   {"accessMode", o.at("accessMode")},
                                   {"type", str_or(o, "type", "bind")}});
  }
  c["volumes"] = std::move(volumes);
  json::array env;
  for (const auto& e : arr_or_empty(api, "env")) {
    const auto& o = e.as_object();
    env.push_back(json::object{{"key", o.at("key")}, {"value", str_or(o, "value")}});
  }
  c["env"] = std::move(env);
  json::array hosts;
  for (const auto& h : arr_or_empty(api, "extraHosts")) {
    const auto& o = h.as_object();
    hosts.push_back(json::object{{"name", o.at("name")}, {"address", o.at("address")}});
  }
  c["extraHosts"] = std::move(hosts);
  c["commands"] = arr_or_empty(api, "cmd");
  m["container"] = std::move(c);
  m["config"] = normalise_config(api.contains("config") ? api.at("config") : json::value(nullptr));
  return m;
}

json::object application_spec_from_api(const json::object& app, const fog_name_map& fog_names) {
  json::object s;
  auto description = str_or(app, "description");
  if (!description.empty()) s["description"] = description;
  json::array msvcs;
  for (const auto& m : arr_or_empty(app, "microservices")) {
    msvcs.push_back(microservice_spec_from_api(m.as_object(), fog_names, false));
  }
  s["microservices"] = std::move(msvcs);
  json::array routes;
  for (const auto& r : arr_or_empty(app, "routes")) {
    const auto& o = r.as_object();
    routes.push_back(
        json::object{{"name", o.at("name")}, {"from", o.at("from")}, {"to", o.at("to")}});
  }
  s["routes"] = std::move(routes);
  return s;
}

json::object route_spec_from_api(const json::object& route) {
  return json::object{
      {"application", route.at("application")}, {"from", route.at("from")}, {"to", route.at("to")}};
}

json::object registry_spec_from_api(const json::object& r) {
  return json::object{
      {"id", r.at("id")},
      {"url", str_or(r, "url")},
      {"username", str_or(r, "username")},
      {"email", str_or(r, "userEmail")},
      {"private",
       !(r.contains("isPublic") && r.at("isPublic").is_bool() && r.at("isPublic").as_bool())},
      {"requiresCert", r.contains("requiresCert") && r.at("requiresCert").is_bool() &&
                           r.at("requiresCert").as_bool()},
      {"certificate", str_or(r, "certificate")}};
}

json::object catalog_item_spec_from_api(const json::object& item) {
  json::object s{{"description", str_or(item, "description")}};
  auto category = str_or(item, "category");
  if (!category.empty()) s["category"] = category;
  auto publisher = str_or(item, "publisher");
  if (!publisher.empty()) s["publisher"] = publisher;
  for (const auto& i : arr_or_empty(item, "images")) {
    const auto& o = i.as_object();
    if (o.at("fogTypeId").to_number<int64_t>() == 1) s["x86"] = o.at("containerImage");
  }
  for (const auto& i : arr_or_empty(item, "images")) {
    const auto& o = i.as_object();
    if (o.at("fogTypeId").to_number<int64_t>() == 2) s["arm"] = o.at("containerImage");
  }
  s["registry"] =
      registry_ref_from_id(item.contains("registryId") ? item.at("registryId") : json::value(1));
  s["configExample"] = str_or(item, "configExample", "{}");
  return s;
}

json::object agent_config_spec_from_api(const json::object& fog) {
  json::object s;
  for (const auto& [k, t] : agent_fields()) {
    auto it = fog.find(k);
    if (it == fog.end() || it->value().is_null()) continue;
    if (t == ftype::strings && it->value().is_array() && it->value().as_array().empty()) continue;
    if (t == ftype::str && it->value().is_string() && it->value().as_string().empty()) continue;
    // Only the one system agent says so; every other agent's describe stays as it was.
    if (t == ftype::boolean && k == std::string_view("isSystem") &&
        it->value() == json::value(false))
      continue;
    s[k] = it->value();
  }
  if (auto it = fog.find("fogTypeId"); it != fog.end() && !it->value().is_null()) {
    auto t = it->value().to_number<int64_t>();
    s["agentType"] = t == 1 ? "x86" : t == 2 ? "arm" : "auto";
  }
  json::object router;
  for (const char* k : {"routerMode", "messagingPort", "edgeRouterPort", "interRouterPort"}) {
    auto it = fog.find(k);
    if (it != fog.end() && !it->value().is_null()) router[k] = it->value();
  }
  if (!router.empty()) s["routerConfig"] = std::move(router);
  return s;
}

bool agent_config_matches(const json::object& wanted, const json::object& fog) {
  for (const auto& kv : wanted) {
    std::string key(kv.key());
    if (key == "fogType") key = "fogTypeId";
    auto it = fog.find(key);
    json::value have = it == fog.end() ? json::value(nullptr) : it->value();
    if (!same_value(kv.value(), have)) return false;
  }
  return true;
}

bool same_spec(const json::value& a, const json::value& b) {
  return same_value(a, b);
}

namespace {

// Keeps in `current` only the keys `wanted` has, recursing into objects both sides hold.
void keep_keys_of(json::object& current, const json::object& wanted) {
  for (auto it = current.begin(); it != current.end();) {
    auto w = wanted.find(it->key());
    if (w == wanted.end()) {
      it = current.erase(it);
      continue;
    }
    if (it->value().is_object() && w->value().is_object())
      keep_keys_of(it->value().as_object(), w->value().as_object());
    ++it;
  }
}

void drop_public_fields_of_ports(json::object& current_container,
                                 const json::object& wanted_container) {
  auto have = current_container.find("ports");
  auto want = wanted_container.find("ports");
  if (have == current_container.end() || want == wanted_container.end()) return;
  if (!have->value().is_array() || !want->value().is_array()) return;
  auto& have_ports = have->value().as_array();
  const auto& want_ports = want->value().as_array();
  for (size_t i = 0; i < have_ports.size() && i < want_ports.size(); ++i) {
    if (!have_ports[i].is_object() || !want_ports[i].is_object()) continue;
    auto hp = have_ports[i].as_object().find("public");
    auto wp = want_ports[i].as_object().find("public");
    if (hp == have_ports[i].as_object().end() || wp == want_ports[i].as_object().end()) continue;
    if (hp->value().is_object() && wp->value().is_object())
      keep_keys_of(hp->value().as_object(), wp->value().as_object());
  }
}

void drop_public_fields_of_microservice(json::object& current, const json::object& wanted) {
  auto have = current.find("container");
  auto want = wanted.find("container");
  if (have == current.end() || want == wanted.end()) return;
  if (have->value().is_object() && want->value().is_object()) {
    drop_public_fields_of_ports(have->value().as_object(), want->value().as_object());
  }
}

}  // namespace

void drop_public_fields_not_asked_for(json::object& current_spec, const json::object& wanted_spec) {
  auto have = current_spec.find("microservices");
  auto want = wanted_spec.find("microservices");
  if (have == current_spec.end() || want == wanted_spec.end()) {
    drop_public_fields_of_microservice(current_spec, wanted_spec);
    return;
  }
  if (!have->value().is_array() || !want->value().is_array()) return;
  for (auto& m : have->value().as_array()) {
    if (!m.is_object()) continue;
    for (const auto& w : want->value().as_array()) {
      if (w.is_object() && w.as_object().contains("name") && m.as_object().contains("name") &&
          w.as_object().at("name") == m.as_object().at("name")) {
        drop_public_fields_of_microservice(m.as_object(), w.as_object());
      }
    }
  }
}

}  // namespace fogmesh::ctl
