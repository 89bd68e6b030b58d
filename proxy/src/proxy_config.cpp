#include "fogmesh/proxy/proxy_config.hpp"

#include <charconv>
#include <cstdlib>
#include <set>

// The router's own small JSON reader: line numbers in errors and no extra dependency.
#include "config/config_json.hpp"

namespace fogmesh::proxy {

namespace {

namespace cj = fogmesh::router::config_detail;

[[noreturn]] void fail(std::string_view text, const std::string& reason) {
  throw proxy_config_error("proxy mapping \"" + std::string(text) + "\": " + reason);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool parse_port(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size() || value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// "[host:]PORT" with IPv6 literals in brackets ("[::1]:8080").
void parse_endpoint(std::string_view whole, std::string_view endpoint, std::string& host,
                    std::uint16_t& port) {
  std::string_view port_text = endpoint;
  if (!endpoint.empty() && endpoint.front() == '[') {
    const auto close = endpoint.find(']');
    if (close == std::string_view::npos || close + 1 >= endpoint.size() ||
        endpoint[close + 1] != ':') {
      fail(whole, "expected [ipv6]:port, got \"" + std::string(endpoint) + "\"");
    }
    host = std::string(endpoint.substr(1, close - 1));
    port_text = endpoint.substr(close + 2);
  } else if (const auto colon = endpoint.rfind(':'); colon != std::string_view::npos) {
    host = std::string(endpoint.substr(0, colon));
    port_text = endpoint.substr(colon + 1);
    if (host.empty() || host.find(':') != std::string::npos) {
      fail(whole, "bad host in \"" + std::string(endpoint) + "\" (IPv6 addresses need brackets)");
    }
  }
  if (!parse_port(port_text, port)) {
    fail(whole, "port must be a number from 1 to 65535, got \"" + std::string(port_text) + "\"");
  }
}

void check_address(std::string_view whole, std::string_view address) {
  if (address.empty()) fail(whole, "empty AMQP address");
  for (unsigned char c : address) {
    if (c <= 0x20 || c == 0x7f) fail(whole, "AMQP address contains whitespace or control characters");
  }
}

mapping_protocol protocol_of(std::string_view whole, std::string_view proto) {
  const std::string p = lower(proto);
  if (p == "http") return mapping_protocol::http;
  if (p == "tcp") return mapping_protocol::tcp;
  if (p == "http2") fail(whole, "http2 mappings are not supported (use tcp to carry HTTP/2)");
  if (p == "amqp") fail(whole, "one side must be amqp and the other http or tcp");
  fail(whole, "unknown protocol \"" + std::string(proto) + "\" (expected http, tcp or amqp)");
}

const char* entity_type(const proxy_mapping& m) {
  const bool http = m.protocol == mapping_protocol::http;
  if (m.role == proxy_mapping::side::listener) return http ? "httpListener" : "tcpListener";
  return http ? "httpConnector" : "tcpConnector";
}

const cj::json_value* member(const cj::json_value& object, std::string_view key) {
  for (const auto& m : object.members) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

void apply_router_host(std::string_view text, network_router& router, const char* what) {
  const auto t = trim(text);
  if (t.empty()) return;
  std::string host;
  std::uint16_t port = router.port;
  if (t.find(':') != std::string_view::npos && t.front() != '[' &&
      t.find(':') == t.rfind(':')) {
    const auto colon = t.find(':');
    host = std::string(t.substr(0, colon));
    if (!parse_port(t.substr(colon + 1), port)) {
      throw proxy_config_error(std::string(what) + ": bad port in \"" + std::string(t) + "\"");
    }
  } else {
    host = std::string(t);
  }
  if (host.empty()) throw proxy_config_error(std::string(what) + ": empty host");
  router.host = host;
  router.port = port;
}

}  // namespace

proxy_mapping parse_mapping(std::string_view text, const mapping_defaults& defaults) {
  const std::string_view whole = trim(text);
  const auto arrow = whole.find("=>");
  if (arrow == std::string_view::npos) fail(whole, "expected <source>=><target>, e.g. http:6000=>amqp:Q");
  if (whole.find("=>", arrow + 2) != std::string_view::npos) fail(whole, "more than one \"=>\"");
  const auto source = trim(whole.substr(0, arrow));
  const auto target = trim(whole.substr(arrow + 2));
  const auto source_colon = source.find(':');
  const auto target_colon = target.find(':');
  if (source_colon == std::string_view::npos) fail(whole, "source has no protocol (\"proto:...\")");
  if (target_colon == std::string_view::npos) fail(whole, "target has no protocol (\"proto:...\")");
  const std::string source_proto = lower(source.substr(0, source_colon));
  const std::string target_proto = lower(target.substr(0, target_colon));
  const auto source_rest = source.substr(source_colon + 1);
  const auto target_rest = target.substr(target_colon + 1);

  proxy_mapping m;
  m.text = std::string(whole);
  if (source_proto == "amqp" && target_proto == "amqp") {
    fail(whole, "one side must be amqp and the other http or tcp");
  }
  if (target_proto == "amqp") {
    m.role = proxy_mapping::side::listener;
    m.protocol = protocol_of(whole, source_proto);
    m.host = defaults.listen_host;
    parse_endpoint(whole, source_rest, m.host, m.port);
    check_address(whole, target_rest);
    m.address = std::string(target_rest);
  } else if (source_proto == "amqp") {
    m.role = proxy_mapping::side::connector;
    m.protocol = protocol_of(whole, target_proto);
    m.host = defaults.target_host;
    parse_endpoint(whole, target_rest, m.host, m.port);
    check_address(whole, source_rest);
    m.address = std::string(source_rest);
  } else {
    fail(whole, "one side must be amqp (\"amqp:ADDRESS\")");
  }
  return m;
}

std::vector<proxy_mapping> parse_mapping_list(std::string_view list,
                                              const mapping_defaults& defaults) {
  std::vector<proxy_mapping> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    if (!item.empty()) out.push_back(parse_mapping(item, defaults));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

void validate(const proxy_config& config) {
  std::set<std::pair<std::string, std::uint16_t>> ports;
  for (const auto& m : config.mappings) {
    if (m.role != proxy_mapping::side::listener) continue;
    // Two listeners on one port cannot both bind (0.0.0.0 overlaps every host).
    for (const auto& [host, port] : ports) {
      if (port == m.port && (host == m.host || host == "0.0.0.0" || m.host == "0.0.0.0")) {
        throw proxy_config_error("proxy mapping \"" + m.text + "\": port " +
                                 std::to_string(m.port) + " is already used by another mapping");
      }
    }
    ports.emplace(m.host, m.port);
  }
}

proxy_config parse_proxy_json(std::string_view json, const mapping_defaults& defaults) {
  cj::json_value root;
  try {
    std::size_t pos = 0;
    int line = 1;
    root = cj::parse_json_value(json, pos, line);
    cj::skip_json_space(json, pos, line);
    if (pos != json.size()) {
      throw proxy_config_error("proxy config JSON line " + std::to_string(line) +
                               ": unexpected text after the object");
    }
  } catch (const cj::json_error& e) {
    throw proxy_config_error("proxy config JSON line " + std::to_string(e.line) + ": " + e.message);
  }
  if (root.type != cj::json_value::kind::object) {
    throw proxy_config_error("proxy config JSON: expected an object with \"mappings\"");
  }
  proxy_config config;
  if (const auto* mappings = member(root, "mappings")) {
    if (mappings->type != cj::json_value::kind::array) {
      throw proxy_config_error("proxy config JSON line " + std::to_string(mappings->line) +
                               ": \"mappings\" must be an array of strings");
    }
    for (const auto& item : mappings->items) {
      if (item.type != cj::json_value::kind::string) {
        throw proxy_config_error("proxy config JSON line " + std::to_string(item.line) +
                                 ": each mapping must be a string like \"http:6000=>amqp:Q\"");
      }
      config.mappings.push_back(parse_mapping(item.text, defaults));
    }
  }
  if (const auto* router = member(root, "networkRouter")) {
    if (router->type != cj::json_value::kind::object) {
      throw proxy_config_error("proxy config JSON line " + std::to_string(router->line) +
                               ": \"networkRouter\" must be an object {\"host\", \"port\"}");
    }
    if (const auto* host = member(*router, "host")) {
      if (host->type != cj::json_value::kind::string || host->text.empty()) {
        throw proxy_config_error("proxy config JSON line " + std::to_string(host->line) +
                                 ": networkRouter.host must be a non-empty string");
      }
      config.router.host = host->text;
    }
    if (const auto* port = member(*router, "port")) {
      // ioFog writes numbers; strings holding a number are accepted too.
      if ((port->type != cj::json_value::kind::number &&
           port->type != cj::json_value::kind::string) ||
          !parse_port(port->text, config.router.port)) {
        throw proxy_config_error("proxy config JSON line " + std::to_string(port->line) +
                                 ": networkRouter.port must be a port number (1-65535)");
      }
    }
  }
  validate(config);
  return config;
}

proxy_config proxy_config_from_environment(
    std::string_view mappings, const std::function<const char*(const char*)>& getenv_fn,
    const mapping_defaults& defaults) {
  proxy_config config;
  config.mappings = parse_mapping_list(mappings, defaults);
  const char* host = getenv_fn ? getenv_fn("ICPROXY_BRIDGE_HOST") : std::getenv("ICPROXY_BRIDGE_HOST");
  if (host != nullptr) apply_router_host(host, config.router, "ICPROXY_BRIDGE_HOST");
  validate(config);
  return config;
}

std::vector<router::generic_entity> to_router_entities(const proxy_config& config) {
  std::vector<router::generic_entity> out;
  out.reserve(config.mappings.size());
  for (const auto& m : config.mappings) {
    router::generic_entity e;
    e.type = entity_type(m);
    e.attributes["name"] = m.text;
    e.attributes["host"] = m.host;
    e.attributes["port"] = std::to_string(m.port);
    e.attributes["address"] = m.address;
    if (m.protocol == mapping_protocol::http) e.attributes["protocolVersion"] = "HTTP1";
    out.push_back(std::move(e));
  }
  return out;
}

router::connector_config network_router_connector(const proxy_config& config) {
  router::connector_config c;
  c.host = config.router.host;
  c.port = std::to_string(config.router.port);
  c.name = "network-router/" + c.host + ":" + c.port;
  c.role = router::connection_role::uplink;
  return c;
}

std::string standalone_router_config(const proxy_config& config, const std::string& router_id) {
  const router::connector_config up = network_router_connector(config);
  std::string text = "router {\n    mode: standalone\n    id: " + router_id +
                     "\n    workerThreads: 1\n}\n"
                     "connector {\n    name: " +
                     up.name + "\n    host: " + up.host + "\n    port: " + up.port +
                     "\n    role: uplink\n}\n";
  for (const auto& e : to_router_entities(config)) {
    text += e.type + " {\n";
    for (const auto& [name, value] : e.attributes) text += "    " + name + ": " + value + "\n";
    text += "}\n";
  }
  return text;
}

}  // namespace fogmesh::proxy
