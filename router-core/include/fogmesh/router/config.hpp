// The router's configuration: qdrouterd's config file format and entity/attribute names, so
// existing qdrouterd configs and the tools that write them (ioFog's agent, operators) work.
//
// Two syntaxes are accepted, detected from the first non-blank character:
//   brace:  `listener {\n    host: 0.0.0.0\n    port: amqp\n}` (values unquoted, `#` comments,
//           dict/list values as JSON on one line)
//   JSON:   `[["listener", {"host": "0.0.0.0", "port": 5672}], ...]`
// An unknown entity, an unknown attribute, or a bad value stops loading with a config_error
// naming the file, line and entity. Attribute names are qdrouterd's camelCase names; the
// hyphenated spellings qdrouterd also accepts (`worker-threads`) are accepted too.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fogmesh::router {

class config_error : public std::runtime_error {
 public:
  config_error(std::string file, int line, std::string entity, const std::string& message);
  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  const std::string& entity() const noexcept { return entity_; }

 private:
  std::string file_;
  int line_;
  std::string entity_;
};

enum class router_mode { standalone, interior, edge };
// uplink (fogmesh): a standalone router's client connection to another router (ours or
// qdrouterd), over which it attaches a link per local sender address, per local receiver address
// and one anonymous link, so its local clients reach that router's addresses and vice versa.
enum class connection_role { normal, inter_router, edge, route_container, uplink };
enum class distribution { balanced, closest, multicast, unavailable };
enum class strip_annotations { both, in, out, no };
enum class link_direction { in, out };

struct router_settings {
  std::string id;                          // default: "Router.<hostname>" style, see loader
  router_mode mode = router_mode::standalone;
  unsigned worker_threads = 0;             // 0 = number of cores
  distribution default_distribution = distribution::balanced;
  bool allow_unsettled_multicast = true;
  unsigned hello_interval_seconds = 1;
  unsigned hello_max_age_seconds = 3;
  unsigned ra_interval_seconds = 30;
  unsigned ra_interval_flux_seconds = 4;
  unsigned remote_ls_max_age_seconds = 60;
  std::string sasl_config_path, sasl_config_name;
  std::string debug_dump_file;
  int line = 0;
};

// Attributes shared by listener and connector.
struct endpoint_settings {
  std::string name;                        // defaults to "<type>/<host>:<port>"
  std::string host;                        // listener default "" = all interfaces
  std::string port = "amqp";               // number or service name ("amqp" = 5672, "amqps" = 5671)
  connection_role role = connection_role::normal;
  unsigned cost = 1;
  std::string ssl_profile;
  std::string sasl_mechanisms;             // space separated; empty = all configured
  bool authenticate_peer = false;
  bool require_ssl = false;
  std::uint32_t max_frame_size = 16384;    // clamped to >= 512 when loaded
  std::uint32_t max_sessions = 32768;
  std::uint32_t max_session_frames = 0;    // 0 = no session window limit from config
  std::uint32_t idle_timeout_seconds = 16;
  strip_annotations strip = strip_annotations::both;
  std::uint64_t max_message_size = 0;      // 0 = unlimited
  std::string sasl_username, sasl_password;  // connector only
  bool verify_hostname = true;             // connector only
  std::vector<std::string> failover_urls;  // listener: advertised in open; connector: fallbacks
  std::uint32_t link_capacity = 250;
  std::string http_root_dir;               // listener `http: true` (management/metrics)
  bool http = false;
  bool metrics = true;
  bool health_z = true;
  int line = 0;
};

struct listener_config : endpoint_settings {
  std::string users_file;                  // fogmesh extension: PLAIN credentials (user:argon2id)
};
struct connector_config : endpoint_settings {
  unsigned retry_delay_seconds = 2;        // fogmesh: first reconnect delay (doubles to 60s)
};

struct address_config {
  std::string name;
  std::string prefix;                      // exactly one of prefix/pattern is set
  std::string pattern;
  distribution dist = distribution::balanced;
  bool waypoint = false;
  std::optional<int> ingress_phase, egress_phase;
  std::optional<int> priority;             // 0..9
  bool enable_fallback = false;
  int line = 0;
};

struct link_route_config {
  std::string name;
  std::string prefix, pattern;             // exactly one set
  link_direction direction = link_direction::in;
  std::string connection;                  // connector/listener name
  std::string container_id;
  std::string add_external_prefix, del_external_prefix;
  int line = 0;
};

struct auto_link_config {
  std::string name;
  std::string address;
  link_direction direction = link_direction::in;
  std::optional<int> phase;
  std::string connection;
  std::string container_id;
  std::string external_address;
  bool fallback = false;
  int line = 0;
};

struct ssl_profile_config {
  std::string name;
  std::string cert_file, private_key_file, ca_cert_file;
  std::string password, password_file;
  std::string ciphers, protocols;
  std::string uid_format;
  int line = 0;
};

struct log_config {
  std::string module;                      // "DEFAULT", "ROUTER", "SERVER", ...
  std::string enable;                      // "info+", "trace+", "none"...
  bool include_source = false;
  bool include_timestamp = true;
  std::string output_file;                 // "stderr", "syslog" or a path
  int line = 0;
};

// An entity the router core does not interpret but carries through (adaptor entities such as
// tcpListener/httpConnector, policy, vhost): attributes kept as strings (JSON text for dicts).
struct generic_entity {
  std::string type;
  std::map<std::string, std::string> attributes;
  int line = 0;
};

// A qdrouterd attribute that is valid but not implemented (e.g. `timestampsInUTC`): loading goes
// on, and the router logs these once at start-up so operators see what has no effect.
struct ignored_attribute {
  std::string entity;     // entity type, short name ("router", "listener")
  std::string attribute;  // camelCase name as in qdrouter.json
  int line = 0;
};

struct router_config {
  std::string file;                        // where it was loaded from ("" for text)
  router_settings router;
  std::vector<listener_config> listeners;
  std::vector<connector_config> connectors;
  std::vector<address_config> addresses;
  std::vector<link_route_config> link_routes;
  std::vector<auto_link_config> auto_links;
  std::vector<ssl_profile_config> ssl_profiles;
  std::vector<log_config> logs;
  // tcpListener, tcpConnector, httpListener, httpConnector, policy, vhost, ... in file order.
  std::vector<generic_entity> other;
  // Accepted-and-ignored qdrouterd attributes, in file order.
  std::vector<ignored_attribute> ignored;
};

// Parses config text. `file` is used in error messages only. Throws config_error.
router_config parse_config(std::string_view text, const std::string& file = "<config>");
// Reads and parses a file. Throws config_error (also for an unreadable file, line 0).
router_config load_config_file(const std::string& path);
// Resolves a port attribute ("5672", "amqp", "amqps") to a number; nullopt when unknown.
std::optional<std::uint16_t> resolve_port(std::string_view port);

// --- Generic (untyped) view, for the management agent and tools --------------------------------

// One `key: value` as written. Scalars are text (JSON numbers and booleans as their literal);
// dict/list values are compact JSON text with `structured` set. JSON nulls are dropped.
struct config_attribute {
  std::string name;  // as written (may be hyphenated)
  std::string value;
  bool structured = false;
  int line = 0;
};
struct config_entity {
  std::string type;  // as written ("listener", "router.config.address", "ssl-profile")
  std::vector<config_attribute> attributes;
  int line = 0;  // line of the entity's opening (`name {` or `["name", {...}]`)
};

// Syntax only (either syntax): no schema check. Throws config_error on malformed text.
std::vector<config_entity> parse_config_entities(std::string_view text,
                                                 const std::string& file = "<config>");
// Schema check and typing of already-parsed entities (management CREATE). Throws config_error.
router_config build_config(const std::vector<config_entity>& entities,
                           const std::string& file = "<management>");

enum class attribute_type { string, integer, boolean, enumeration, list, map };

struct attribute_schema {
  std::string name;                   // qdrouterd camelCase name
  attribute_type type = attribute_type::string;
  std::string default_value;          // as text; empty when there is none
  std::vector<std::string> allowed;   // enumeration values
  std::int64_t min = 0, max = 0;      // integer range, inclusive
  bool implemented = true;            // false: valid qdrouterd attribute, accepted and ignored
  bool required = false;
  std::string alias_of;               // deprecated spelling: the attribute it stands for
};

struct entity_schema {
  std::string name;       // short name: "router", "listener", "address", "tcpListener"
  std::string long_name;  // without "org.apache.qpid.dispatch.": "router.config.address"
  bool singleton = false;
  // Carried through into router_config::other without attribute checks (adaptors, policy...).
  bool carried = false;
  std::vector<attribute_schema> attributes;
  const attribute_schema* find(std::string_view attribute) const;
};

// Every entity type the loader knows, in a fixed order.
const std::vector<entity_schema>& config_schema();
// Looks up by short name, long name, "org.apache.qpid.dispatch." name or hyphenated spelling.
const entity_schema* find_entity_schema(std::string_view type);

}  // namespace fogmesh::router
