// ioFog proxy mapping strings, config JSON and environment form -> router adaptor entities.
#include "fogmesh/proxy/proxy_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {

using namespace fogmesh::proxy;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const proxy_config_error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(proxy_config, iofog_mapping_strings) {
  auto a = parse_mapping("http:6000=>amqp:Q");
  EXPECT_EQ(a.role, proxy_mapping::side::listener);
  EXPECT_EQ(a.protocol, mapping_protocol::http);
  EXPECT_EQ(a.port, 6000);
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.address, "Q");

  auto b = parse_mapping("amqp:Q=>http:8080");
  EXPECT_EQ(b.role, proxy_mapping::side::connector);
  EXPECT_EQ(b.host, "localhost") << "ioFog relies on the proxy's default target host";
  EXPECT_EQ(b.port, 8080);

  auto c = parse_mapping("amqp:Q=>http:backend.local:8080");
  EXPECT_EQ(c.host, "backend.local");
  EXPECT_EQ(c.port, 8080);

  auto d = parse_mapping(" tcp:6001=>amqp:Q2 ");
  EXPECT_EQ(d.protocol, mapping_protocol::tcp);
  EXPECT_EQ(d.text, "tcp:6001=>amqp:Q2");

  auto e = parse_mapping("amqp:Q2=>tcp:[::1]:5432");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 5432);

  auto f = parse_mapping("HTTP:127.0.0.1:6000=>AMQP:MixedCase");
  EXPECT_EQ(f.host, "127.0.0.1");
  EXPECT_EQ(f.address, "MixedCase") << "addresses keep their case";
}

TEST(proxy_config, bad_mapping_strings_say_what_is_wrong) {
  const std::map<std::string, std::string> cases = {
      {"http:6000", "expected <source>=><target>"},
      {"http:6000=>amqp:Q=>tcp:1", "more than one"},
      {"6000=>amqp:Q", "source has no protocol"},
      {"http:6000=>Q", "target has no protocol"},
      {"http:6000=>tcp:7000", "one side must be amqp"},
      {"amqp:A=>amqp:B", "one side must be amqp and the other"},
      {"ftp:21=>amqp:Q", "unknown protocol \"ftp\""},
      {"http2:6000=>amqp:Q", "http2 mappings are not supported"},
      {"http:0=>amqp:Q", "port must be a number from 1 to 65535"},
      {"http:65536=>amqp:Q", "port must be a number"},
      {"http:80x=>amqp:Q", "port must be a number"},
      {"http:=>amqp:Q", "port must be a number"},
      {"http:6000=>amqp:", "empty AMQP address"},
      {"http:6000=>amqp:a b", "whitespace"},
      {"amqp:Q=>http::::1:80", "IPv6 addresses need brackets"},
      {"amqp:Q=>http:[::1]8080", "expected [ipv6]:port"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string message = error_of([&] { parse_mapping(text); });
    EXPECT_THAT(message, HasSubstr(expected)) << text;
    EXPECT_THAT(message, HasSubstr(text)) << "the error names the mapping";
  }
}

TEST(proxy_config, port_manager_list_and_bridge_host) {
  const char* env_host = "router.iofog.svc:5673";
  auto config = proxy_config_from_environment(
      "http:6000=>amqp:Q1,tcp:6001=>amqp:Q2,", [&](const char* name) -> const char* {
        return std::string(name) == "ICPROXY_BRIDGE_HOST" ? env_host : nullptr;
      });
  ASSERT_EQ(config.mappings.size(), 2u);
  EXPECT_EQ(config.mappings[1].address, "Q2");
  EXPECT_EQ(config.router.host, "router.iofog.svc");
  EXPECT_EQ(config.router.port, 5673);

  auto plain = proxy_config_from_environment("http:6000=>amqp:Q", [](const char*) -> const char* {
    return "router";
  });
  EXPECT_EQ(plain.router.host, "router");
  EXPECT_EQ(plain.router.port, 5672);

  auto none = proxy_config_from_environment("", [](const char*) -> const char* { return nullptr; });
  EXPECT_TRUE(none.mappings.empty());
  EXPECT_EQ(none.router.host, "localhost");

  EXPECT_THAT(error_of([] {
                proxy_config_from_environment("http:1=>amqp:Q", [](const char*) -> const char* {
                  return "router:notaport";
                });
              }),
              HasSubstr("ICPROXY_BRIDGE_HOST: bad port"));
}

TEST(proxy_config, iofog_microservice_json) {
  auto config = parse_proxy_json(R"({
    "mappings": ["amqp:abcdefabcdefabcdefabcdefabcdefab=>http:8080", "http:6000=>amqp:Q"],
    "networkRouter": {"host": "10.0.0.5", "port": 5672},
    "somethingIoFogAdds": true
  })");
  ASSERT_EQ(config.mappings.size(), 2u);
  EXPECT_EQ(config.mappings[0].address, "abcdefabcdefabcdefabcdefabcdefab");
  EXPECT_EQ(config.router.host, "10.0.0.5");

  auto string_port = parse_proxy_json(R"({"mappings": [], "networkRouter": {"host": "r", "port": "45672"}})");
  EXPECT_EQ(string_port.router.port, 45672);

  auto empty = parse_proxy_json("{}");
  EXPECT_TRUE(empty.mappings.empty());
}

TEST(proxy_config, bad_json_names_the_line) {
  EXPECT_THAT(error_of([] { parse_proxy_json("{\n\"mappings\": [\n1\n]}"); }),
              HasSubstr("line 3: each mapping must be a string"));
  EXPECT_THAT(error_of([] { parse_proxy_json("{\"mappings\": \"http:1=>amqp:Q\"}"); }),
              HasSubstr("\"mappings\" must be an array"));
  EXPECT_THAT(error_of([] { parse_proxy_json("{\"networkRouter\": {\"port\": 70000}}"); }),
              HasSubstr("networkRouter.port must be a port number"));
  EXPECT_THAT(error_of([] { parse_proxy_json("{\"networkRouter\": {\"host\": 5}}"); }),
              HasSubstr("networkRouter.host must be a non-empty string"));
  EXPECT_THAT(error_of([] { parse_proxy_json("{\n\"mappings\": [\n"); }), HasSubstr("proxy config JSON line"));
  EXPECT_THAT(error_of([] { parse_proxy_json("[]"); }), HasSubstr("expected an object"));
  EXPECT_THAT(error_of([] { parse_proxy_json("{} x"); }), HasSubstr("unexpected text"));
  EXPECT_THAT(error_of([] { parse_proxy_json(R"({"mappings": ["http:6000=>amqp:A", "tcp:6000=>amqp:B"]})"); }),
              HasSubstr("port 6000 is already used"));
}

TEST(proxy_config, entities_for_the_router) {
  auto config = parse_proxy_json(R"({
    "mappings": ["http:6000=>amqp:Q", "amqp:Q=>http:web:8080", "tcp:6001=>amqp:T", "amqp:T=>tcp:5432"],
    "networkRouter": {"host": "edge-router", "port": 5672}})");
  const auto entities = to_router_entities(config);
  ASSERT_EQ(entities.size(), 4u);
  EXPECT_EQ(entities[0].type, "httpListener");
  EXPECT_EQ(entities[0].attributes.at("port"), "6000");
  EXPECT_EQ(entities[0].attributes.at("host"), "0.0.0.0");
  EXPECT_EQ(entities[0].attributes.at("address"), "Q");
  EXPECT_EQ(entities[0].attributes.at("protocolVersion"), "HTTP1");
  EXPECT_EQ(entities[0].attributes.at("name"), "http:6000=>amqp:Q");
  EXPECT_EQ(entities[1].type, "httpConnector");
  EXPECT_EQ(entities[1].attributes.at("host"), "web");
  EXPECT_EQ(entities[2].type, "tcpListener");
  EXPECT_EQ(entities[2].attributes.count("protocolVersion"), 0u);
  EXPECT_EQ(entities[3].type, "tcpConnector");
  EXPECT_EQ(entities[3].attributes.at("host"), "localhost");

  const auto connector = network_router_connector(config);
  EXPECT_EQ(connector.host, "edge-router");
  EXPECT_EQ(connector.port, "5672");
  EXPECT_EQ(connector.role, fogmesh::router::connection_role::uplink);

  // fogmesh-proxy's whole configuration loads as router config: uplink + the four adaptors.
  const auto standalone =
      fogmesh::router::parse_config(standalone_router_config(config, "proxy-1"));
  EXPECT_EQ(standalone.router.id, "proxy-1");
  EXPECT_EQ(standalone.router.worker_threads, 1u);
  ASSERT_EQ(standalone.connectors.size(), 1u);
  EXPECT_EQ(standalone.connectors[0].host, "edge-router");
  EXPECT_EQ(standalone.connectors[0].role, fogmesh::router::connection_role::uplink);
  EXPECT_EQ(standalone.other.size(), 4u);

  // The router's own loader accepts these entities as written in a config file.
  std::string text;
  for (const auto& e : entities) {
    text += e.type + " {\n";
    for (const auto& [k, v] : e.attributes) text += "    " + k + ": " + v + "\n";
    text += "}\n";
  }
  const auto loaded = fogmesh::router::parse_config(text);
  ASSERT_EQ(loaded.other.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(loaded.other[i].type, entities[i].type);
    EXPECT_EQ(loaded.other[i].attributes.at("address"), entities[i].attributes.at("address"));
    EXPECT_EQ(loaded.other[i].attributes.at("port"), entities[i].attributes.at("port"));
  }
}

}  // namespace
