#include "fogmesh/router/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace fr = fogmesh::router;
using fr::config_error;
using fr::parse_config;

namespace {

// Runs `text` through parse_config expecting a config_error; returns it for inspection.
config_error expect_error(std::string_view text, const std::string& file = "test.conf") {
  try {
    parse_config(text, file);
  } catch (const config_error& e) {
    return e;
  }
  ADD_FAILURE() << "no config_error for:\n" << text;
  return config_error("", -1, "", "none");
}

std::string hostname_id() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string("Router.") + host;
}

std::filesystem::path examples_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "examples";
}

}  // namespace

// --- defaults ---------------------------------------------------------------------------------

TEST(config, empty_text_gives_defaults) {
  const fr::router_config c = parse_config("");
  EXPECT_EQ(c.file, "");
  EXPECT_EQ(c.router.id, hostname_id());
  EXPECT_EQ(c.router.mode, fr::router_mode::standalone);
  EXPECT_EQ(c.router.worker_threads, 0u);
  EXPECT_EQ(c.router.default_distribution, fr::distribution::balanced);
  EXPECT_EQ(c.router.line, 0);
  EXPECT_TRUE(c.listeners.empty());
  EXPECT_TRUE(c.other.empty());
  EXPECT_TRUE(c.ignored.empty());
}

TEST(config, listener_defaults) {
  const auto c = parse_config("listener {\n}\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  const fr::listener_config& l = c.listeners[0];
  EXPECT_EQ(l.host, "");
  EXPECT_EQ(l.port, "amqp");
  EXPECT_EQ(l.name, "listener/:amqp");
  EXPECT_EQ(l.role, fr::connection_role::normal);
  EXPECT_EQ(l.cost, 1u);
  EXPECT_EQ(l.max_frame_size, 16384u);
  EXPECT_EQ(l.max_sessions, 32768u);
  EXPECT_EQ(l.max_session_frames, 0u);
  EXPECT_EQ(l.idle_timeout_seconds, 16u);
  EXPECT_EQ(l.link_capacity, 250u);
  EXPECT_EQ(l.strip, fr::strip_annotations::both);
  EXPECT_FALSE(l.authenticate_peer);
  EXPECT_TRUE(l.metrics);
  EXPECT_TRUE(l.health_z);
  EXPECT_EQ(l.line, 1);
}

TEST(config, connector_defaults) {
  const auto c = parse_config("connector {\n  port: 5673\n}\n");
  ASSERT_EQ(c.connectors.size(), 1u);
  EXPECT_EQ(c.connectors[0].host, "127.0.0.1");
  EXPECT_EQ(c.connectors[0].name, "connector/127.0.0.1:5673");
  EXPECT_EQ(c.connectors[0].retry_delay_seconds, 2u);
  EXPECT_TRUE(c.connectors[0].verify_hostname);
}

TEST(config, max_frame_size_is_clamped_and_zeros_mean_default) {
  const auto c =
      parse_config("listener {\n maxFrameSize: 100\n maxSessions: 0\n linkCapacity: 0\n}\n");
  EXPECT_EQ(c.listeners[0].max_frame_size, 512u);
  EXPECT_EQ(c.listeners[0].max_sessions, 32768u);
  EXPECT_EQ(c.listeners[0].link_capacity, 250u);
}

TEST(config, resolve_port) {
  EXPECT_EQ(fr::resolve_port("amqp"), 5672);
  EXPECT_EQ(fr::resolve_port("amqps"), 5671);
  EXPECT_EQ(fr::resolve_port("0"), 0);
  EXPECT_EQ(fr::resolve_port("65535"), 65535);
  EXPECT_EQ(fr::resolve_port("56721"), 56721);
  EXPECT_FALSE(fr::resolve_port("65536"));
  EXPECT_FALSE(fr::resolve_port("-1"));
  EXPECT_FALSE(fr::resolve_port(""));
  EXPECT_FALSE(fr::resolve_port("http"));
  EXPECT_FALSE(fr::resolve_port("56 72"));
  EXPECT_FALSE(fr::resolve_port("0000005672"));
}

// --- brace syntax --------------------------------------------------------------------------------

TEST(config, brace_syntax_all_entities) {
  const auto c = parse_config(R"(# full-line comment
router {
    mode: interior          # trailing comment
    id: R1
    workerThreads: 4
    defaultDistribution: closest
    allowUnsettledMulticast: no
    helloIntervalSeconds: 2
    helloMaxAgeSeconds: 6
    raIntervalSeconds: 31
    raIntervalFluxSeconds: 5
    remoteLsMaxAgeSeconds: 61
    saslConfigPath: /etc/sasl2
    saslConfigName: qdrouterd
    debugDumpFile: /tmp/dump
}

sslProfile {
    name: tls
    certFile: /etc/cert.pem
    privateKeyFile: /etc/key.pem
    caCertFile: /etc/ca.pem
    password: secret
    passwordFile: /etc/pw
    ciphers: HIGH
    protocols: TLSv1.2 TLSv1.3
    uidFormat: cou
}

listener {
    name: amqps-in
    host: 0.0.0.0
    port: amqps
    role: normal
    sslProfile: tls
    requireSsl: yes
    authenticatePeer: YES
    saslMechanisms: EXTERNAL PLAIN
    maxFrameSize: 65536
    maxSessions: 100
    maxSessionFrames: 10
    idleTimeoutSeconds: 0
    stripAnnotations: no
    linkCapacity: 1000
    maxMessageSize: 1048576
    failoverUrls: amqp://a:5672, amqps://b:5671
    usersFile: /etc/fogmesh/users
}

listener {
    host: 127.0.0.1
    port: 8080
    http: true
    httpRootDir: /usr/share/console
    metrics: false
    healthz: false
}

connector {
    name: peer
    host: peer.example
    port: 56721
    role: inter-router
    cost: 5
    saslUsername: u
    saslPassword: p
    verifyHostname: False
    retryDelaySeconds: 3
    failoverUrls: ["amqp://x:1", "amqp://y:2"]
}

address {
    name: a1
    prefix: queue
    distribution: balanced
    waypoint: true
    ingressPhase: 0
    egressPhase: 1
    priority: 9
    enableFallback: yes
}

address {
    pattern: news/#/sports   # the '#' in a pattern is a wildcard
    distribution: multicast
}

linkRoute {
    name: lr
    prefix: broker.
    direction: out
    connection: peer
    addExternalPrefix: ext.
    delExternalPrefix: broker.
}

autoLink {
    name: al
    address: q1
    direction: in
    phase: 1
    containerId: broker-1
    externalAddress: queue.q1
    fallback: true
}

log {
    module: ROUTER_CORE
    enable: trace+
    includeSource: true
    includeTimestamp: false
    outputFile: /var/log/router.log
}
)",
                              "full.conf");
  EXPECT_EQ(c.router.mode, fr::router_mode::interior);
  EXPECT_EQ(c.router.id, "R1");
  EXPECT_EQ(c.router.worker_threads, 4u);
  EXPECT_EQ(c.router.default_distribution, fr::distribution::closest);
  EXPECT_FALSE(c.router.allow_unsettled_multicast);
  EXPECT_EQ(c.router.hello_interval_seconds, 2u);
  EXPECT_EQ(c.router.hello_max_age_seconds, 6u);
  EXPECT_EQ(c.router.ra_interval_seconds, 31u);
  EXPECT_EQ(c.router.ra_interval_flux_seconds, 5u);
  EXPECT_EQ(c.router.remote_ls_max_age_seconds, 61u);
  EXPECT_EQ(c.router.sasl_config_path, "/etc/sasl2");
  EXPECT_EQ(c.router.sasl_config_name, "qdrouterd");
  EXPECT_EQ(c.router.debug_dump_file, "/tmp/dump");
  EXPECT_EQ(c.router.line, 2);

  ASSERT_EQ(c.ssl_profiles.size(), 1u);
  const auto& s = c.ssl_profiles[0];
  EXPECT_EQ(s.name, "tls");
  EXPECT_EQ(s.cert_file, "/etc/cert.pem");
  EXPECT_EQ(s.private_key_file, "/etc/key.pem");
  EXPECT_EQ(s.ca_cert_file, "/etc/ca.pem");
  EXPECT_EQ(s.password, "secret");
  EXPECT_EQ(s.password_file, "/etc/pw");
  EXPECT_EQ(s.ciphers, "HIGH");
  EXPECT_EQ(s.protocols, "TLSv1.2 TLSv1.3");
  EXPECT_EQ(s.uid_format, "cou");
  EXPECT_EQ(s.line, 18);

  ASSERT_EQ(c.listeners.size(), 2u);
  const auto& l = c.listeners[0];
  EXPECT_EQ(l.name, "amqps-in");
  EXPECT_EQ(l.host, "0.0.0.0");
  EXPECT_EQ(l.port, "amqps");
  EXPECT_EQ(fr::resolve_port(l.port), 5671);
  EXPECT_EQ(l.ssl_profile, "tls");
  EXPECT_TRUE(l.require_ssl);
  EXPECT_TRUE(l.authenticate_peer);
  EXPECT_EQ(l.sasl_mechanisms, "EXTERNAL PLAIN");
  EXPECT_EQ(l.max_frame_size, 65536u);
  EXPECT_EQ(l.max_sessions, 100u);
  EXPECT_EQ(l.max_session_frames, 10u);
  EXPECT_EQ(l.idle_timeout_seconds, 0u);
  EXPECT_EQ(l.strip, fr::strip_annotations::no);
  EXPECT_EQ(l.link_capacity, 1000u);
  EXPECT_EQ(l.max_message_size, 1048576u);
  EXPECT_EQ(l.failover_urls, (std::vector<std::string>{"amqp://a:5672", "amqps://b:5671"}));
  EXPECT_EQ(l.users_file, "/etc/fogmesh/users");
  const auto& h = c.listeners[1];
  EXPECT_TRUE(h.http);
  EXPECT_EQ(h.http_root_dir, "/usr/share/console");
  EXPECT_FALSE(h.metrics);
  EXPECT_FALSE(h.health_z);

  ASSERT_EQ(c.connectors.size(), 1u);
  const auto& k = c.connectors[0];
  EXPECT_EQ(k.name, "peer");
  EXPECT_EQ(k.role, fr::connection_role::inter_router);
  EXPECT_EQ(k.cost, 5u);
  EXPECT_EQ(k.sasl_username, "u");
  EXPECT_EQ(k.sasl_password, "p");
  EXPECT_FALSE(k.verify_hostname);
  EXPECT_EQ(k.retry_delay_seconds, 3u);
  EXPECT_EQ(k.failover_urls, (std::vector<std::string>{"amqp://x:1", "amqp://y:2"}));

  ASSERT_EQ(c.addresses.size(), 2u);
  const auto& a = c.addresses[0];
  EXPECT_EQ(a.name, "a1");
  EXPECT_EQ(a.prefix, "queue");
  EXPECT_EQ(a.dist, fr::distribution::balanced);
  EXPECT_TRUE(a.waypoint);
  EXPECT_EQ(a.ingress_phase, 0);
  EXPECT_EQ(a.egress_phase, 1);
  EXPECT_EQ(a.priority, 9);
  EXPECT_TRUE(a.enable_fallback);
  EXPECT_EQ(c.addresses[1].pattern, "news/#/sports");
  EXPECT_EQ(c.addresses[1].prefix, "");
  EXPECT_EQ(c.addresses[1].dist, fr::distribution::multicast);
  EXPECT_FALSE(c.addresses[1].priority);

  ASSERT_EQ(c.link_routes.size(), 1u);
  const auto& r = c.link_routes[0];
  EXPECT_EQ(r.name, "lr");
  EXPECT_EQ(r.prefix, "broker.");
  EXPECT_EQ(r.direction, fr::link_direction::out);
  EXPECT_EQ(r.connection, "peer");
  EXPECT_EQ(r.add_external_prefix, "ext.");
  EXPECT_EQ(r.del_external_prefix, "broker.");

  ASSERT_EQ(c.auto_links.size(), 1u);
  const auto& al = c.auto_links[0];
  EXPECT_EQ(al.name, "al");
  EXPECT_EQ(al.address, "q1");
  EXPECT_EQ(al.direction, fr::link_direction::in);
  EXPECT_EQ(al.phase, 1);
  EXPECT_EQ(al.container_id, "broker-1");
  EXPECT_EQ(al.external_address, "queue.q1");
  EXPECT_TRUE(al.fallback);

  ASSERT_EQ(c.logs.size(), 1u);
  EXPECT_EQ(c.logs[0].module, "ROUTER_CORE");
  EXPECT_EQ(c.logs[0].enable, "trace+");
  EXPECT_TRUE(c.logs[0].include_source);
  EXPECT_FALSE(c.logs[0].include_timestamp);
  EXPECT_EQ(c.logs[0].output_file, "/var/log/router.log");
  EXPECT_TRUE(c.ignored.empty());
}

TEST(config, brace_on_next_line_quotes_and_crlf) {
  const auto c = parse_config(
      "router\n{\n  id: \"quoted#id\"  # c\n}\r\nlistener\r\n\r\n  {  # c\r\n  host: '::1'\r\n"
      "  port: \"5673\"  # c\r\n}\r\n");
  EXPECT_EQ(c.router.id, "quoted#id");
  EXPECT_EQ(c.router.line, 1);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].host, "::1");
  EXPECT_EQ(c.listeners[0].port, "5673");
  EXPECT_EQ(c.listeners[0].line, 5);
}

TEST(config, comment_needs_preceding_whitespace) {
  const auto c = parse_config("address {\n prefix: a#b # real comment\n}\n");
  EXPECT_EQ(c.addresses[0].prefix, "a#b");
  // The '#' glued to the value is kept, so the enum check sees it.
  const auto e = expect_error("address {\n prefix: a\n distribution: closest#x\n}\n");
  EXPECT_EQ(e.line(), 3);
}

TEST(config, ipv6_wildcard_host_is_not_json) {
  const auto c = parse_config("listener {\n host: [::]\n port: 0\n}\n");
  EXPECT_EQ(c.listeners[0].host, "[::]");
  EXPECT_EQ(c.listeners[0].port, "0");
}

TEST(config, hyphenated_names) {
  const auto c = parse_config(
      "router {\n worker-threads: 3\n hello-max-age-seconds: 9\n}\n"
      "listener {\n idle-timeout-seconds: 5\n max-frame-size: 2048\n strip-annotations: in\n}\n"
      "ssl-profile {\n name: s\n cert-file: /c\n}\n"
      "link-route {\n prefix: p\n dir: in\n}\n"
      "auto-link {\n addr: q\n dir: out\n connection: c\n}\n");
  EXPECT_EQ(c.router.worker_threads, 3u);
  EXPECT_EQ(c.router.hello_max_age_seconds, 9u);
  EXPECT_EQ(c.listeners[0].idle_timeout_seconds, 5u);
  EXPECT_EQ(c.listeners[0].max_frame_size, 2048u);
  EXPECT_EQ(c.listeners[0].strip, fr::strip_annotations::in);
  EXPECT_EQ(c.ssl_profiles[0].cert_file, "/c");
  EXPECT_EQ(c.link_routes[0].direction, fr::link_direction::in);
  EXPECT_EQ(c.auto_links[0].address, "q");
  EXPECT_EQ(c.auto_links[0].direction, fr::link_direction::out);
}

TEST(config, deprecated_spellings_load) {
  const auto c = parse_config(
      "router {\n routerId: old\n saslConfigDir: /etc/sasl2\n}\n"
      "listener {\n addr: 10.0.0.1\n failoverList: amqp://f:1\n protocolFamily: IPv4\n}\n"
      "sslProfile {\n name: s\n keyFile: /k\n certDb: /ca\n}\n"
      "autoLink {\n addr: q\n dir: in\n externalAddr: x\n containerId: b\n}\n");
  EXPECT_EQ(c.router.id, "old");
  EXPECT_EQ(c.router.sasl_config_path, "/etc/sasl2");
  EXPECT_EQ(c.listeners[0].host, "10.0.0.1");
  EXPECT_EQ(c.listeners[0].failover_urls, std::vector<std::string>{"amqp://f:1"});
  EXPECT_EQ(c.ssl_profiles[0].private_key_file, "/k");
  EXPECT_EQ(c.ssl_profiles[0].ca_cert_file, "/ca");
  EXPECT_EQ(c.auto_links[0].external_address, "x");
  ASSERT_EQ(c.ignored.size(), 1u);  // protocolFamily → socketAddressFamily, not implemented
  EXPECT_EQ(c.ignored[0].attribute, "socketAddressFamily");
}

TEST(config, long_entity_names) {
  const auto c = parse_config(
      "router.config.address {\n prefix: a\n}\n"
      "router.config.linkRoute {\n pattern: b/*\n direction: in\n}\n"
      "org.apache.qpid.dispatch.router.config.autoLink {\n address: q\n direction: out\n"
      " connection: c\n}\n");
  EXPECT_EQ(c.addresses.size(), 1u);
  EXPECT_EQ(c.link_routes[0].pattern, "b/*");
  EXPECT_EQ(c.auto_links.size(), 1u);
}

TEST(config, known_but_unimplemented_attributes_are_ignored_and_listed) {
  const auto c = parse_config(
      "router {\n mode: edge\n timestampsInUTC: true\n allowResumableLinkRoute: false\n"
      " metadata: {\"site\": \"x\"}\n}\n"
      "listener {\n websockets: no\n multiTenant: yes\n openProperties: {\"k\": [1, 2]}\n}\n"
      "linkRoute {\n prefix: p\n direction: in\n distribution: linkBalanced\n}\n");
  EXPECT_EQ(c.router.mode, fr::router_mode::edge);
  ASSERT_EQ(c.ignored.size(), 7u);
  EXPECT_EQ(c.ignored[0].entity, "router");
  EXPECT_EQ(c.ignored[0].attribute, "timestampsInUTC");
  EXPECT_EQ(c.ignored[0].line, 3);
  EXPECT_EQ(c.ignored[2].attribute, "metadata");
  EXPECT_EQ(c.ignored[5].attribute, "openProperties");
  EXPECT_EQ(c.ignored[6].entity, "linkRoute");
}

TEST(config, generic_entities_are_carried_through) {
  const auto c = parse_config(
      "tcpListener {\n name: web\n port: 9090\n address: svc\n}\n"
      "policy {\n maxConnections: 100\n enableVhostPolicy: true\n}\n"
      "vhost {\n hostname: $default\n groups: {\"$default\": {\"users\": \"*\"}}\n}\n"
      "router.config.exchange {\n name: ex\n address: x\n}\n");
  ASSERT_EQ(c.other.size(), 4u);
  EXPECT_EQ(c.other[0].type, "tcpListener");
  EXPECT_EQ(c.other[0].attributes.at("port"), "9090");
  EXPECT_EQ(c.other[0].line, 1);
  EXPECT_EQ(c.other[1].attributes.at("enableVhostPolicy"), "true");
  EXPECT_EQ(c.other[2].attributes.at("groups"), R"({"$default":{"users":"*"}})");
  EXPECT_EQ(c.other[3].type, "exchange");
}

// --- JSON syntax ---------------------------------------------------------------------------------

TEST(config, json_syntax) {
  const auto c = parse_config(R"(# comment before the array
[
  ["router", {"mode": "interior", "id": "J1", "workerThreads": 2}],
  ["listener", {"host": "0.0.0.0", "port": 5672, "authenticatePeer": false,
                "failoverUrls": ["amqp://f:1"], "maxFrameSize": 1024}],
  ["address", {"prefix": "m", "distribution": "multicast", "priority": 3}],
  ["tcpConnector", {"host": "h", "port": 80, "address": "a", "extra": {"x": null}}],
  ["log", {"module": "DEFAULT", "enable": "info+", "outputFile": null}]
]
)",
                              "cfg.json");
  EXPECT_EQ(c.router.id, "J1");
  EXPECT_EQ(c.router.line, 3);
  EXPECT_EQ(c.router.worker_threads, 2u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, "5672");
  EXPECT_EQ(c.listeners[0].max_frame_size, 1024u);
  EXPECT_EQ(c.listeners[0].failover_urls, std::vector<std::string>{"amqp://f:1"});
  EXPECT_EQ(c.listeners[0].line, 4);
  EXPECT_EQ(c.addresses[0].priority, 3);
  EXPECT_EQ(c.other[0].attributes.at("port"), "80");
  EXPECT_EQ(c.other[0].attributes.at("extra"), R"({"x":null})");
  EXPECT_EQ(c.logs[0].output_file, "");
}

TEST(config, json_string_values_for_typed_attributes) {
  const auto c = parse_config(
      R"([["listener", {"port": "amqps", "maxFrameSize": "4096", "authenticatePeer": "yes"}]])");
  EXPECT_EQ(c.listeners[0].max_frame_size, 4096u);
  EXPECT_TRUE(c.listeners[0].authenticate_peer);
}

TEST(config, json_errors_have_lines) {
  auto e = expect_error("[\n  [\"listener\", {\"port\": 5672,}]\n]\n");
  EXPECT_EQ(e.line(), 2);
  e = expect_error("[\n  [\"listener\", {\"port\": 5672}],\n  [\"listener\"]\n]\n");
  EXPECT_EQ(e.line(), 3);
  e = expect_error("[\n [\"listener\",\n  {\"host\": \"x\",\n   \"bogus\": 1}]\n]");
  EXPECT_EQ(e.line(), 4);
  EXPECT_EQ(e.entity(), "listener");
  e = expect_error("[] trailing");
  EXPECT_EQ(e.line(), 1);
  e = expect_error(std::string(100, '[') + std::string(100, ']'));
  EXPECT_NE(std::string(e.what()).find("nested too deeply"), std::string::npos);
}

// --- validation errors ---------------------------------------------------------------------------

TEST(config, unknown_attribute_names_file_line_entity_and_allowed) {
  const auto e = expect_error("router {\n  mode: edge\n}\nlistener {\n  host: x\n  prot: 5\n}\n",
                              "router.conf");
  EXPECT_EQ(e.file(), "router.conf");
  EXPECT_EQ(e.line(), 6);
  EXPECT_EQ(e.entity(), "listener");
  const std::string what = e.what();
  EXPECT_NE(what.find("router.conf:6"), std::string::npos) << what;
  EXPECT_NE(what.find("unknown attribute 'prot'"), std::string::npos) << what;
  EXPECT_NE(what.find("allowed:"), std::string::npos) << what;
  EXPECT_NE(what.find("port"), std::string::npos) << what;
}

TEST(config, unknown_attribute_suggests_case_fix) {
  const auto e = expect_error("router {\n  workerthreads: 2\n}\n");
  EXPECT_NE(std::string(e.what()).find("did you mean 'workerThreads'"), std::string::npos);
}

TEST(config, unknown_entity) {
  const auto e = expect_error("router {\n}\n\nlistner {\n  port: 1\n}\n");
  EXPECT_EQ(e.line(), 4);
  EXPECT_EQ(e.entity(), "listner");
  EXPECT_NE(std::string(e.what()).find("known types: router, listener"), std::string::npos);
}

TEST(config, bad_values) {
  struct bad_case {
    const char* text;
    int line;
    const char* entity;
    const char* fragment;
  };
  const bad_case cases[] = {
      {"router {\n mode: hub\n}\n", 2, "router", "standalone, interior, edge"},
      {"router {\n workerThreads: many\n}\n", 2, "router", "must be an integer"},
      {"router {\n id: has space\n}\n", 2, "router", "whitespace"},
      {"listener {\n port: 70000\n}\n", 2, "listener", "0-65535"},
      {"listener {\n port: http\n}\n", 2, "listener", "amqp, amqps"},
      {"listener {\n role: peer\n}\n", 2, "listener", "inter-router"},
      {"listener {\n authenticatePeer: maybe\n}\n", 2, "listener", "boolean"},
      {"listener {\n maxFrameSize: -1\n}\n", 2, "listener", "between 0 and 4294967295"},
      {"listener {\n maxFrameSize: 99999999999999999999999\n}\n", 2, "listener", "integer"},
      {"listener {\n cost: 0\n}\n", 2, "listener", "between 1"},
      {"listener {\n stripAnnotations: yes\n}\n", 2, "listener", "in, out, both, no"},
      {"listener {\n openProperties: x\n}\n", 2, "listener", "JSON object"},
      {"listener {\n sslProfile: nope\n}\n", 2, "listener", "not defined"},
      {"address {\n prefix: a\n priority: 10\n}\n", 3, "address", "between 0 and 9"},
      {"address {\n prefix: a\n distribution: flood\n}\n", 3, "address", "closest"},
      {"address {\n distribution: closest\n}\n", 1, "address", "got neither"},
      {"\naddress {\n prefix: a\n pattern: b\n}\n", 2, "address", "got both"},
      {"linkRoute {\n prefix: a\n}\n", 1, "linkRoute", "missing required attribute 'direction'"},
      {"linkRoute {\n direction: in\n}\n", 1, "linkRoute", "exactly one of 'prefix' or 'pattern'"},
      {"linkRoute {\n prefix: a\n direction: sideways\n}\n", 3, "linkRoute", "in, out"},
      {"autoLink {\n address: q\n direction: in\n}\n", 1, "autoLink", "'connection'"},
      {"autoLink {\n direction: in\n connection: c\n}\n", 1, "autoLink", "'address'"},
      {"autoLink {\n address: q\n dir: in\n connection: c\n containerId: d\n}\n", 1, "autoLink",
       "not both"},
      {"autoLink {\n address: q\n direction: in\n connection: c\n phase: 10\n}\n", 5, "autoLink",
       "between 0 and 9"},
      {"address {\n prefix:\n}\n", 2, "address", "must not be empty"},
      {"[[\"address\", {\"pattern\": \"\"}]]", 1, "address", "must not be empty"},
      {"autoLink {\n address: ''\n direction: in\n connection: c\n}\n", 2, "autoLink",
       "must not be empty"},
      {"autoLink {\n address: q\n direction: in\n connection:\n}\n", 4, "autoLink",
       "'connection' must not be empty"},
      {"linkRoute {\n prefix: q\n direction: in\n containerId: \"\"\n}\n", 4, "linkRoute",
       "'containerId' must not be empty"},
      {"sslProfile {\n certFile: x\n}\n", 1, "sslProfile", "'name'"},
      {"log {\n module: NOPE\n}\n", 2, "log", "DEFAULT"},
      {"log {\n enable: info+\n}\n", 1, "log", "'module'"},
      {"log {\n module: DEFAULT\n}\nlog {\n module: DEFAULT\n}\n", 5, "log", "twice"},
      {"listener {\n port: 1\n port: 2\n}\n", 3, "listener", "given twice (first at line 2)"},
      {"router {\n worker-threads: 1\n workerThreads: 2\n}\n", 3, "router", "given twice"},
      {"connector {\n name: a\n}\nconnector {\n name: a\n}\n", 5, "connector", "already used"},
      {"router {\n}\nrouter {\n}\n", 3, "router", "only one 'router'"},
      {"connector {\n authenticatePeer: yes\n}\n", 2, "connector", "unknown attribute"},
      {"listener {\n saslUsername: u\n}\n", 2, "listener", "unknown attribute"},
  };
  for (const bad_case& c : cases) {
    SCOPED_TRACE(c.text);
    const auto e = expect_error(c.text);
    EXPECT_EQ(e.line(), c.line);
    EXPECT_EQ(e.entity(), c.entity);
    EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
  }
}

TEST(config, syntax_errors) {
  struct bad_case {
    const char* text;
    int line;
    const char* fragment;
  };
  const bad_case cases[] = {
      {"listener {\n port: 1\n", 1, "missing its closing '}'"},
      {"listener\n\n", 1, "missing its closing '}'"},
      {"listener\nport: 5\n", 2, "expected '{'"},
      {"listener {\n port: 1\nconnector {\n}\n", 3, "missing '}' before new entity"},
      {"listener {\n port 1\n}\n", 2, "expected 'attribute: value'"},
      {"listener {\n host\n}\n", 2, "'}' closing 'listener' (line 1) is missing"},
      {"}\n", 1, "unexpected '}'"},
      {"port: 5672\n", 1, "outside an entity"},
      {"listener { port: 1 }\n", 1, "own line"},
      {"listener {\n host: \"unterminated\n}\n", 2, "bad quoted value"},
      {"listener {\n host: 'x' y\n}\n", 2, "after the quoted value"},
      {"listener {\n} extra\n", 2, "after '}'"},
      {"address {\n pattern: a b\n}\n", 2, "no spaces"},
      {"%%%\n", 1, "expected an entity name"},
  };
  for (const bad_case& c : cases) {
    SCOPED_TRACE(c.text);
    const auto e = expect_error(c.text);
    EXPECT_EQ(e.line(), c.line);
    EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
  }
}

// --- ioFog, examples, files ----------------------------------------------------------------------

// The shape ioFog's Controller generates for an edge fog's router (qpid-dispatch based
// iofog/router image): messaging listener, an edge connector to the upstream interior router.
TEST(config, iofog_generated_edge_router) {
  const auto c = parse_config(R"(router {
    mode: edge
    id: 7b5d2f3c-91aa-4a0e-8c61-0d2e4f6a9b11
    saslConfigDir: /etc/sasl2/
}
listener {
    role: normal
    host: 0.0.0.0
    port: 5672
    saslMechanisms: ANONYMOUS
    authenticatePeer: no
}
connector {
    name: default-router
    role: edge
    host: 10.2.0.15
    port: 56722
    saslMechanisms: ANONYMOUS
}
log {
    module: DEFAULT
    enable: info+
}
)");
  EXPECT_EQ(c.router.mode, fr::router_mode::edge);
  EXPECT_EQ(c.router.id, "7b5d2f3c-91aa-4a0e-8c61-0d2e4f6a9b11");
  EXPECT_EQ(c.listeners.at(0).port, "5672");
  EXPECT_EQ(c.connectors.at(0).name, "default-router");
  EXPECT_EQ(c.connectors.at(0).role, fr::connection_role::edge);
  EXPECT_EQ(fr::resolve_port(c.connectors.at(0).port), 56722);
}

TEST(config, example_files_load) {
  const auto standalone = fr::load_config_file((examples_dir() / "standalone.conf").string());
  EXPECT_EQ(standalone.file, (examples_dir() / "standalone.conf").string());
  EXPECT_EQ(standalone.router.mode, fr::router_mode::standalone);
  ASSERT_EQ(standalone.listeners.size(), 1u);
  EXPECT_EQ(standalone.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(fr::resolve_port(standalone.listeners[0].port), 5672);
  ASSERT_EQ(standalone.addresses.size(), 3u);
  EXPECT_EQ(standalone.addresses[0].dist, fr::distribution::closest);
  EXPECT_EQ(standalone.addresses[1].dist, fr::distribution::multicast);
  EXPECT_EQ(standalone.addresses[2].dist, fr::distribution::balanced);

  const auto interior = fr::load_config_file((examples_dir() / "interior-iofog.conf").string());
  EXPECT_EQ(interior.router.mode, fr::router_mode::interior);
  EXPECT_EQ(interior.listeners.size(), 3u);
  EXPECT_EQ(interior.listeners[1].role, fr::connection_role::inter_router);
  EXPECT_EQ(interior.listeners[2].role, fr::connection_role::edge);

  const auto edge = fr::load_config_file((examples_dir() / "edge.json").string());
  EXPECT_EQ(edge.router.mode, fr::router_mode::edge);
  EXPECT_EQ(edge.connectors.size(), 2u);
  EXPECT_EQ(edge.addresses.at(0).dist, fr::distribution::multicast);
}

TEST(config, load_errors_name_the_file) {
  try {
    fr::load_config_file("/nonexistent/fogmesh.conf");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file(), "/nonexistent/fogmesh.conf");
    EXPECT_EQ(e.line(), 0);
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("fogmesh_config_test_" + std::to_string(getpid()) + ".conf");
  std::ofstream(path) << "router {\n  mode: edge\n  bogus: 1\n}\n";
  try {
    fr::load_config_file(path.string());
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file(), path.string());
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.entity(), "router");
  }
  std::filesystem::remove(path);
}

// --- generic view and schema ---------------------------------------------------------------------

TEST(config, generic_entities_keep_names_as_written) {
  const auto entities = fr::parse_config_entities(
      "ssl-profile {\n  name: s\n  cert-file: /c # x\n}\nlistener {\n  port:\n}\n");
  ASSERT_EQ(entities.size(), 2u);
  EXPECT_EQ(entities[0].type, "ssl-profile");
  ASSERT_EQ(entities[0].attributes.size(), 2u);
  EXPECT_EQ(entities[0].attributes[1].name, "cert-file");
  EXPECT_EQ(entities[0].attributes[1].value, "/c");
  EXPECT_EQ(entities[0].attributes[1].line, 3);
  EXPECT_EQ(entities[1].attributes[0].value, "");
}

TEST(config, schema_lookup) {
  const fr::entity_schema* s =
      fr::find_entity_schema("org.apache.qpid.dispatch.router.config.address");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "address");
  EXPECT_EQ(fr::find_entity_schema("link-route")->name, "linkRoute");
  EXPECT_EQ(fr::find_entity_schema("nope"), nullptr);
  const fr::entity_schema* l = fr::find_entity_schema("listener");
  ASSERT_NE(l, nullptr);
  ASSERT_NE(l->find("maxFrameSize"), nullptr);
  EXPECT_EQ(l->find("maxFrameSize")->default_value, "16384");
  EXPECT_EQ(l->find("maxFrameSize")->type, fr::attribute_type::integer);
  EXPECT_EQ(l->find("failoverList")->alias_of, "failoverUrls");
  EXPECT_FALSE(l->find("websockets")->implemented);
  EXPECT_TRUE(fr::find_entity_schema("router")->singleton);
  EXPECT_TRUE(fr::find_entity_schema("tcpListener")->carried);
}

// Every default the schema publishes (for management READ/CREATE) must itself be accepted.
TEST(config, schema_defaults_are_valid_values) {
  const std::map<std::string, std::string> base = {
      {"address", " prefix: x\n"},
      {"linkRoute", " prefix: x\n direction: in\n"},
      {"autoLink", " address: q\n direction: in\n connection: c\n"},
      {"sslProfile", " name: s\n"},
      {"log", " module: DEFAULT\n"},
  };
  int checked = 0;
  for (const fr::entity_schema& e : fr::config_schema()) {
    if (e.carried) continue;
    for (const fr::attribute_schema& a : e.attributes) {
      if (a.default_value.empty() || !a.alias_of.empty()) continue;
      const auto it = base.find(e.name);
      const std::string prefix = it == base.end() ? "" : it->second;
      if (prefix.find(" " + a.name + ":") != std::string::npos) continue;
      const std::string text =
          e.name + " {\n" + prefix + " " + a.name + ": " + a.default_value + "\n}\n";
      SCOPED_TRACE(text);
      EXPECT_NO_THROW(parse_config(text));
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

TEST(config, json_keys_may_be_hyphenated_too) {
  const auto c =
      parse_config(R"([["router", {"worker-threads": 7}], ["ssl-profile", {"name": "s"}]])");
  EXPECT_EQ(c.router.worker_threads, 7u);
  EXPECT_EQ(c.ssl_profiles.size(), 1u);
}
