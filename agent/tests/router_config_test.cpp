// The router microservice's ioFog config → fogmesh-router config file, management diff,
// router recognition.
#include "router_config.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace fogmesh::agent {
namespace {

namespace json = boost::json;

// What ioFog's Controller puts in an edge router microservice's config (reference §4).
const char* iofog_edge = R"({"mode":"edge","id":"fog-1",
  "listeners":[{"role":"normal","host":"0.0.0.0","port":5672}],
  "connectors":[{"name":"default-router","role":"edge","host":"10.0.0.5","port":56722}]})";

const router_entity* find(const router_spec& s, const std::string& type, const std::string& name) {
  for (const auto& e : s.entities) {
    if (e.type == type && e.name == name) return &e;
  }
  return nullptr;
}

TEST(RouterConfig, IofogEdgeShape) {
  auto s = router_spec::from_iofog_json(std::string(iofog_edge), "other");
  EXPECT_EQ(s.mode, "edge");
  EXPECT_EQ(s.id, "fog-1");
  ASSERT_EQ(s.entities.size(), 2u);
  EXPECT_EQ(s.entities[0].type, "listener");
  EXPECT_EQ(s.entities[0].name, "listener/normal/0.0.0.0/5672");
  EXPECT_EQ(s.entities[0].attributes.at("port"), 5672);
  ASSERT_NE(find(s, "connector", "default-router"), nullptr);
  auto ep = s.management_endpoint();
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 5672);
}

TEST(RouterConfig, RouterUrlForContainers) {
  auto s = router_spec::from_iofog_json(std::string(iofog_edge), "other");
  auto ep = s.client_listener();
  EXPECT_EQ(ep.host, "0.0.0.0");
  EXPECT_EQ(router_url_for_container(ep.host, ep.port, false), "amqp://iofog:5672");
  EXPECT_EQ(router_url_for_container(ep.host, ep.port, true), "amqp://127.0.0.1:5672");
  EXPECT_EQ(router_url_for_container("", 5672, false), "amqp://iofog:5672");
  EXPECT_EQ(router_url_for_container("[::]", 5672, false), "amqp://iofog:5672");
  // A loopback-only listener: only host-network containers reach it.
  EXPECT_EQ(router_url_for_container("127.0.0.1", 5672, false), "");
  EXPECT_EQ(router_url_for_container("127.0.0.1", 5672, true), "amqp://127.0.0.1:5672");
  EXPECT_EQ(router_url_for_container("10.1.2.3", 5672, false), "amqp://10.1.2.3:5672");
  EXPECT_EQ(router_url_for_container("fd00::1", 5672, true), "amqp://[fd00::1]:5672");
  EXPECT_EQ(router_url_for_container("0.0.0.0", 0, false), "");
}

TEST(RouterConfig, RendersJsonConfigFile) {
  auto s = router_spec::from_iofog_json(std::string(iofog_edge), "");
  std::string text = s.render();
  ASSERT_EQ(text.rfind("# ", 0), 0u);
  auto file = json::parse(text.substr(text.find('\n') + 1)).as_array();
  ASSERT_EQ(file.size(), 3u);
  EXPECT_EQ(file[0].as_array()[0], "router");
  EXPECT_EQ(file[0].as_array()[1].as_object().at("mode"), "edge");
  EXPECT_EQ(file[0].as_array()[1].as_object().at("id"), "fog-1");
  EXPECT_EQ(file[1].as_array()[0], "listener");
  EXPECT_EQ(file[1].as_array()[1].as_object().at("name"), "listener/normal/0.0.0.0/5672");
  EXPECT_EQ(file[2].as_array()[0], "connector");
  EXPECT_EQ(file[2].as_array()[1].as_object().at("host"), "10.0.0.5");
}

TEST(RouterConfig, DefaultsAndStringForm) {
  // A JSON string inside a JSON string (how the microservice list carries it), no id, no mode.
  json::value v = json::string(R"({"listeners":[{"port":"amqp"}]})");
  auto s = router_spec::from_iofog_json(v, "fog-uuid");
  EXPECT_EQ(s.mode, "edge");
  EXPECT_EQ(s.id, "fog-uuid");
  EXPECT_EQ(s.management_endpoint().port, 5672);
}

TEST(RouterConfig, PublicPortsAndKeyedShapes) {
  auto s = router_spec::from_iofog_json(std::string(R"({"mode":"interior","id":"i",
    "listeners":[{"role":"normal","port":5672},{"role":"inter-router","port":56721},{"role":"edge","port":56722}],
    "tcpListeners":[{"name":"pp-6001","host":"0.0.0.0","port":6001,"address":"q1"}],
    "bridges":{"tcpConnectors":{"svc-connector":{"host":"127.0.0.1","port":"8080","address":"svc","siteId":null}}},
    "httpListeners":{"web":{"port":6002,"address":"web"}}})"),
                                        "");
  EXPECT_EQ(s.mode, "interior");
  ASSERT_NE(find(s, "tcpListener", "pp-6001"), nullptr);
  const auto* c = find(s, "tcpConnector", "svc-connector");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->attributes.contains("siteId"));  // null = not set
  EXPECT_EQ(c->attributes.at("name"), "svc-connector");
  ASSERT_NE(find(s, "httpListener", "web"), nullptr);
  EXPECT_NE(find(s, "listener", "listener/inter-router//56721"), nullptr);
}

TEST(RouterConfig, Rejections) {
  EXPECT_THROW(router_spec::from_iofog_json(std::string("{not json"), ""), std::invalid_argument);
  EXPECT_THROW(router_spec::from_iofog_json(std::string(R"({"mode":"mesh"})"), ""),
               std::invalid_argument);
  EXPECT_THROW(router_spec::from_iofog_json(std::string(R"({"listeners":[{"port":"x"}]})"), ""),
               std::invalid_argument);
  EXPECT_THROW(router_spec::from_iofog_json(std::string(R"({"listeners":[1]})"), ""),
               std::invalid_argument);
}

TEST(RouterConfig, DiffAddsAPublicPortWithoutRestart) {
  auto a = router_spec::from_iofog_json(std::string(iofog_edge), "");
  auto v = json::parse(iofog_edge).as_object();
  v["tcpListeners"] = json::array{json::object{{"name", "pp"}, {"port", 6000}, {"address", "q"}}};
  auto b = router_spec::from_iofog_json(json::value(v), "");
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a.needs_restart_for(b));
  auto d = diff(a, b);
  EXPECT_TRUE(d.remove.empty());
  ASSERT_EQ(d.create.size(), 1u);
  EXPECT_EQ(d.create[0].type, "tcpListener");
  EXPECT_EQ(d.create[0].name, "pp");
  auto back = diff(b, a);
  ASSERT_EQ(back.remove.size(), 1u);
  EXPECT_TRUE(back.create.empty());
}

// The controller renders an http public port as httpListener (public router) / httpConnector
// (the microservice's agent router): both pass through with every attribute, and switching a
// port between the TCP and the HTTP pair, or dropping it (disabled), is done through management
// (delete, then create), without a restart.
TEST(RouterConfig, HttpPublicPortsThroughManagement) {
  auto base = json::parse(iofog_edge).as_object();
  auto with = [&base](const char* key, const char* name, bool http) {
    auto v = base;
    json::object e{{"name", name}, {"host", "localhost"}, {"port", 8080}, {"address", "a1"}};
    if (http) e["protocolVersion"] = "HTTP1";
    v[key] = json::array{e};
    return router_spec::from_iofog_json(json::value(v), "");
  };
  auto plain = router_spec::from_iofog_json(json::value(base), "");
  auto tcp = with("tcpConnectors", "a1-connector", false);
  auto http = with("httpConnectors", "a1-connector", true);
  const auto* c = find(http, "httpConnector", "a1-connector");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->attributes.at("protocolVersion"), "HTTP1");
  EXPECT_EQ(c->attributes.at("address"), "a1");
  auto file = json::parse(http.render().substr(http.render().find('\n') + 1)).as_array();
  EXPECT_EQ(file.back().as_array()[0], "httpConnector");
  EXPECT_EQ(file.back().as_array()[1].as_object().at("port"), 8080);

  EXPECT_FALSE(tcp.needs_restart_for(http));
  auto d = diff(tcp, http);
  ASSERT_EQ(d.remove.size(), 1u);
  EXPECT_EQ(d.remove[0].type, "tcpConnector");
  ASSERT_EQ(d.create.size(), 1u);
  EXPECT_EQ(d.create[0].type, "httpConnector");
  EXPECT_EQ(d.create[0].name, "a1-connector");

  auto listener = with("httpListeners", "a1-listener", true);
  EXPECT_FALSE(plain.needs_restart_for(listener));
  EXPECT_FALSE(listener.needs_restart_for(plain));
  auto gone = diff(listener, plain);
  ASSERT_EQ(gone.remove.size(), 1u);
  EXPECT_EQ(gone.remove[0].type, "httpListener");
  EXPECT_TRUE(gone.create.empty());
}

TEST(RouterConfig, DiffChangedConnectorIsDeleteThenCreate) {
  auto a = router_spec::from_iofog_json(std::string(iofog_edge), "");
  auto v = json::parse(iofog_edge).as_object();
  v["connectors"].as_array()[0].as_object()["host"] = "10.0.0.6";
  auto b = router_spec::from_iofog_json(json::value(v), "");
  auto d = diff(a, b);
  ASSERT_EQ(d.remove.size(), 1u);
  ASSERT_EQ(d.create.size(), 1u);
  EXPECT_EQ(d.create[0].attributes.at("host"), "10.0.0.6");
  EXPECT_FALSE(a.needs_restart_for(b));
  // Same values, number vs string: no change.
  v = json::parse(iofog_edge).as_object();
  v["listeners"].as_array()[0].as_object()["port"] = "5672";
  EXPECT_TRUE(diff(a, router_spec::from_iofog_json(json::value(v), "")).empty());
}

TEST(RouterConfig, ModeOrIdChangeRestarts) {
  auto a = router_spec::from_iofog_json(std::string(iofog_edge), "");
  auto v = json::parse(iofog_edge).as_object();
  v["mode"] = "interior";
  EXPECT_TRUE(a.needs_restart_for(router_spec::from_iofog_json(json::value(v), "")));
  v = json::parse(iofog_edge).as_object();
  v["id"] = "fog-2";
  EXPECT_TRUE(a.needs_restart_for(router_spec::from_iofog_json(json::value(v), "")));
  v = json::parse(iofog_edge).as_object();
  v["sslProfiles"] = json::array{json::object{{"name", "tls"}, {"certFile", "/x"}}};
  EXPECT_TRUE(a.needs_restart_for(router_spec::from_iofog_json(json::value(v), "")));
}

TEST(RouterConfig, RecognisesTheRouterMicroservice) {
  auto ms = [](const char* image) { return json::object{{"uuid", "u"}, {"imageId", image}}; };
  EXPECT_TRUE(is_router_microservice(ms("iofog/router")));
  EXPECT_TRUE(is_router_microservice(ms("iofog/router:3.0.0")));
  EXPECT_TRUE(is_router_microservice(ms("ghcr.io/eclipse-iofog/router:latest")));
  EXPECT_TRUE(is_router_microservice(ms("iofog/router-arm")));
  EXPECT_TRUE(is_router_microservice(ms("docker.io/iofog/router@sha256:abcd")));
  EXPECT_TRUE(is_router_microservice(ms("fogmesh-router")));
  EXPECT_FALSE(is_router_microservice(ms("iofog/proxy")));
  EXPECT_FALSE(is_router_microservice(ms("example/router")));
  EXPECT_FALSE(is_router_microservice(ms("busybox")));
  EXPECT_FALSE(is_router_microservice(ms("localhost:5000/router")));
  EXPECT_TRUE(
      is_router_microservice(json::object{{"uuid", "u"}, {"imageId", "x"}, {"isRouter", true}}));
  EXPECT_TRUE(is_router_microservice(json::object{{"uuid", "u"}, {"catalogItemName", "Router"}}));
  EXPECT_TRUE(is_router_microservice(json::object{{"uuid", "u"}, {"name", "Router for Fog abc"}}));
}

}  // namespace
}  // namespace fogmesh::agent
