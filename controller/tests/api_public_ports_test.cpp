// Public ports: allocation from the configured range on a public router, uniqueness, release on
// delete, rendering in the router microservices' config (protocol http: httpListener on the
// public router / httpConnector on the microservice's agent router; tcp and `proxy: true`:
// tcpListener / tcpConnector), change flags on both agents, and GET /microservices/public-ports.
#include <thread>

#include "public_ports_fixture.hpp"

namespace fogmesh::controller::test {
namespace {

namespace json = boost::json;

class public_ports_api : public public_ports_fixture {};

TEST_F(public_ports_api, AllocatedRenderedAndReleased) {
  std::string token = new_user_token();
  std::string sys = create_fog(token, "sys",
                               R"("host":"10.5.0.1","isSystem":true,"routerMode":"interior",)"
                               R"("interRouterPort":56721,"edgeRouterPort":56722)");
  std::string e = create_fog(token, "edge", R"("host":"10.5.0.2")");
  std::string a_sys = provision_agent(token, sys);
  std::string a_e = provision_agent(token, e);
  ASSERT_EQ(post("/api/v3/application", R"({"name":"web","isActivated":true})", token).status, 201);
  ack(a_sys);
  ack(a_e);

  std::string srv =
      msvc(token, "web", e, "srv",
           R"([{"internal":80,"external":8080,"public":{"schemes":["http"],"protocol":"http"}},
               {"internal":22,"external":2222,"public":{"protocol":"tcp","router":{"port":6500}}},
               {"internal":53,"external":5353,"protocol":"udp"}])");
  auto m = get("/api/v3/microservices/" + srv, token).json();
  auto ports = m.at("ports").as_array();
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], parse(R"({"internal":22,"external":2222,"protocol":"tcp","proxy":false,
      "public":{"enabled":true,"schemes":["tcp"],"protocol":"tcp",
                "links":["tcp://10.5.0.1:6500"],"router":{"host":"default-router","port":6500}}})"));
  EXPECT_EQ(ports[1], parse(R"({"internal":53,"external":5353,"protocol":"udp"})"));
  EXPECT_EQ(ports[2], parse(R"({"internal":80,"external":8080,"protocol":"tcp","proxy":false,
      "public":{"enabled":true,"schemes":["http"],"protocol":"http",
                "links":["http://10.5.0.1:6000"],"router":{"host":"default-router","port":6000}}})"));
  EXPECT_EQ(get("/api/v3/microservices/" + srv + "/port-mapping", token).json().at("ports"),
            m.at("ports"));

  // The port manager's list.
  auto pub = get("/api/v3/microservices/public-ports", token);
  ASSERT_EQ(pub.status, 200) << pub.body;
  auto list = pub.json();
  ASSERT_EQ(list.as_array().size(), 2u);
  const auto* p6000 = find_port(list, 6000);
  const auto* p6500 = find_port(list, 6500);
  ASSERT_TRUE(p6000 && p6500) << pub.body;
  EXPECT_EQ(p6000->at("microserviceUuid").as_string(), srv);
  EXPECT_EQ(p6000->at("publicPort").at("protocol"), "http");
  EXPECT_EQ(p6500->at("publicPort").at("protocol"), "tcp");
  EXPECT_EQ(p6000->at("publicPort").at("hostId").as_string(), sys);
  std::string addr80(p6000->at("publicPort").at("queueName").as_string());
  std::string addr22(p6500->at("publicPort").at("queueName").as_string());
  EXPECT_EQ(addr80.size(), 32u);
  EXPECT_NE(addr80, addr22);

  // Rendered on both routers, by protocol; both agents are told.
  auto sys_cfg = router_config(token, sys);
  EXPECT_EQ(sys_cfg.at("httpListeners"),
            parse(R"([{"name":")" + addr80 + R"(-listener","host":"0.0.0.0","port":6000,
                        "address":")" +
                  addr80 + R"(","protocolVersion":"HTTP1"}])"));
  EXPECT_EQ(sys_cfg.at("tcpListeners"),
            parse(R"([{"name":")" + addr22 + R"(-listener","host":"0.0.0.0","port":6500,
                        "address":")" +
                  addr22 + R"("}])"));
  auto e_cfg = router_config(token, e);
  EXPECT_EQ(e_cfg.at("httpConnectors"),
            parse(R"([{"name":")" + addr80 + R"(-connector","host":"localhost","port":8080,
                        "address":")" +
                  addr80 + R"(","protocolVersion":"HTTP1"}])"));
  EXPECT_EQ(e_cfg.at("tcpConnectors"),
            parse(R"([{"name":")" + addr22 + R"(-connector","host":"localhost","port":2222,
                        "address":")" +
                  addr22 + R"("}])"));
  EXPECT_FALSE(sys_cfg.as_object().contains("tcpConnectors"));
  EXPECT_FALSE(sys_cfg.as_object().contains("httpConnectors"));
  EXPECT_FALSE(e_cfg.as_object().contains("tcpListeners"));
  EXPECT_FALSE(e_cfg.as_object().contains("httpListeners"));
  EXPECT_EQ(changes(a_sys).at("microserviceConfig"), true);
  EXPECT_EQ(changes(a_e).at("microserviceConfig"), true);
  ack(a_sys);
  ack(a_e);

  // Unique per public router: the next one gets 6001; a taken one is refused, nothing written.
  // POST answers the links it allocated ({internal, external, publicLink}, as upstream).
  auto other_r = post("/api/v3/microservices",
                      R"({"name":"other","application":"web","iofogUuid":")" + e +
                          R"(","images":[{"containerImage":"busybox","fogTypeId":1}],
                          "ports":[{"internal":81,"external":8081,"public":{"schemes":["https"]}}]})",
                      token);
  ASSERT_EQ(other_r.status, 201) << other_r.body;
  EXPECT_EQ(other_r.json().at("publicPorts"),
            parse(R"([{"internal":81,"external":8081,"publicLink":"https://10.5.0.1:6001"}])"));
  std::string other(other_r.json().at("uuid").as_string());
  EXPECT_NE(find_port(get("/api/v3/microservices/public-ports", token).json(), 6001), nullptr);
  std::string before = db().query("SELECT count(*) FROM microservice_public_ports") + "/" +
                       db().query("SELECT count(*) FROM microservices");
  expect_error(post("/api/v3/microservices",
                    R"({"name":"clash","application":"web","iofogUuid":")" + e +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":9001,"public":{"router":{"port":6500}}}]})",
                    token),
               400, "ValidationError", "Port '6500' is not available");
  expect_error(post("/api/v3/microservices",
                    R"({"name":"udp","application":"web","iofogUuid":")" + e +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":9002,"protocol":"udp","public":{}}]})",
                    token),
               400, "ValidationError", "must use protocol tcp");
  expect_error(post("/api/v3/microservices",
                    R"({"name":"scheme","application":"web","iofogUuid":")" + e +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":9003,"public":{"schemes":["tcp"]}}]})",
                    token),
               400, "ValidationError", "needs protocol 'tcp'");
  expect_error(post("/api/v3/microservices",
                    R"({"name":"host","application":"web","iofogUuid":")" + e +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":9004,"public":{"router":{"host":"nope"}}}]})",
                    token),
               400, "ValidationError", "Invalid router host 'nope'");
  // The public router's host ports are taken for that agent's own microservices.
  expect_error(post("/api/v3/microservices",
                    R"({"name":"local","application":"web","iofogUuid":")" + sys +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":6000}]})",
                    token),
               400, "ValidationError", "Port '6000' is not available");
  EXPECT_EQ(db().query("SELECT count(*) FROM microservice_public_ports") + "/" +
                db().query("SELECT count(*) FROM microservices"),
            before);

  // Removing the mapping releases the port: both routers drop it, both agents are told, and the
  // port is handed out again.
  ASSERT_EQ(del("/api/v3/microservices/" + srv + "/port-mapping/80", token).status, 204);
  EXPECT_EQ(find_port(get("/api/v3/microservices/public-ports", token).json(), 6000), nullptr);
  EXPECT_EQ(router_config(token, sys).at("httpListeners").as_array().size(), 1u);  // 6001
  EXPECT_EQ(router_config(token, sys).at("tcpListeners").as_array().size(), 1u);   // 6500
  EXPECT_EQ(router_config(token, e).at("httpConnectors").at(0).at("port"), 8081);
  EXPECT_EQ(router_config(token, e).at("tcpConnectors").as_array().size(), 1u);
  EXPECT_EQ(changes(a_sys).at("microserviceConfig"), true);
  EXPECT_EQ(changes(a_e).at("microserviceConfig"), true);
  ASSERT_EQ(post("/api/v3/microservices/" + srv + "/port-mapping",
                 R"({"internal":80,"external":8080,"proxy":true})", token)
                .status,
            201);
  auto again = get("/api/v3/microservices/" + srv, token).json().at("ports").as_array();
  EXPECT_EQ(again.back().at("public").at("router").at("port"), 6000);
  EXPECT_EQ(again.back().at("proxy"), true);
  // `proxy: true` says nothing of the protocol: carried as TCP.
  EXPECT_EQ(router_config(token, sys).at("tcpListeners").at(0).at("port"), 6000);
  EXPECT_EQ(router_config(token, e).at("tcpConnectors").at(0).at("port"), 8080);

  // Deleting microservices releases everything.
  ASSERT_EQ(del("/api/v3/microservices/" + srv, token).status, 204);
  ASSERT_EQ(del("/api/v3/microservices/" + other, token).status, 204);
  EXPECT_EQ(get("/api/v3/microservices/public-ports", token).json().as_array().size(), 0u);
  for (const char* key : {"tcpListeners", "httpListeners", "tcpConnectors", "httpConnectors"}) {
    EXPECT_FALSE(router_config(token, sys).as_object().contains(key)) << key;
    EXPECT_FALSE(router_config(token, e).as_object().contains(key)) << key;
  }
}

TEST_F(public_ports_api, NamedPublicRouterMovesAndConfiguredRange) {
  std::string token = new_user_token();
  std::string hub = create_fog(token, "hub",
                               R"("host":"10.6.0.1","routerMode":"interior",)"
                               R"("interRouterPort":56761,"edgeRouterPort":56762)");
  std::string e1 = create_fog(token, "e1", R"("host":"10.6.0.2")");
  std::string e2 = create_fog(token, "e2", R"("host":"10.6.0.3")");
  std::string bare =
      post("/api/v3/iofog", R"({"name":"bare","fogType":1,"routerMode":"none"})", token)
          .json()
          .at("uuid")
          .as_string()
          .c_str();
  ASSERT_EQ(post("/api/v3/application", R"({"name":"svc"})", token).status, 201);
  std::string m =
      msvc(token, "svc", e1, "api",
           R"([{"internal":80,"external":8080,"public":{"router":{"host":")" + hub + R"("}}}])");
  auto port = get("/api/v3/microservices/" + m, token).json().at("ports").at(0).at("public");
  EXPECT_EQ(port.at("router"), parse(R"({"host":")" + hub + R"(","port":6000})"));
  EXPECT_EQ(port.at("links"), parse(R"(["https://10.6.0.1:6000"])"));
  EXPECT_EQ(router_config(token, hub).at("httpListeners").at(0).at("port"), 6000);
  EXPECT_EQ(router_config(token, e1).at("httpConnectors").at(0).at("port"), 8080);

  // Moving the microservice moves the connecting side to the new agent's router.
  std::string a1 = provision_agent(token, e1);
  std::string a2 = provision_agent(token, e2);
  ack(a1);
  ack(a2);
  ASSERT_EQ(patch("/api/v3/microservices/" + m, R"({"iofogUuid":")" + e2 + "\"}", token).status,
            204);
  EXPECT_FALSE(router_config(token, e1).as_object().contains("httpConnectors"));
  EXPECT_EQ(router_config(token, e2).at("httpConnectors").at(0).at("port"), 8080);
  EXPECT_EQ(changes(a1).at("microserviceConfig"), true);
  EXPECT_EQ(changes(a2).at("microserviceConfig"), true);

  // An agent without a router cannot have public ports.
  expect_error(post("/api/v3/microservices",
                    R"({"name":"nr","application":"svc","iofogUuid":")" + bare +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":9001,"public":{}}]})",
                    token),
               400, "ValidationError", "has no router for public ports");

  // (What deleting the public router does: api_public_port_lifecycle_test.)

  // The range is configurable: a controller with a two-port range runs out after two.
  auto options = default_options(db().conninfo());
  options.public_ports_start = 7100;
  options.public_ports_end = 7102;
  server small(options);
  small.start();
  std::string hub2 = create_fog(token, "hub2",
                                R"("host":"10.6.0.9","routerMode":"interior",)"
                                R"("interRouterPort":56771,"edgeRouterPort":56772)");
  auto create = [&](const std::string& name, int external) {
    return http(small.port(), "POST", "/api/v3/microservices",
                R"({"name":")" + name + R"(","application":"svc","iofogUuid":")" + e1 +
                    R"(","images":[{"containerImage":"b","fogTypeId":1}],"ports":[{"internal":1,)"
                    R"("external":)" +
                    std::to_string(external) + R"(,"public":{"router":{"host":")" + hub2 +
                    R"("}}}]})",
                token);
  };
  EXPECT_EQ(create("r1", 9101).status, 201);
  EXPECT_EQ(create("r2", 9102).status, 201);
  expect_error(create("r3", 9103), 400, "ValidationError", "No available public port");
  auto ports_now = get("/api/v3/microservices/public-ports", token).json();
  EXPECT_NE(find_port(ports_now, 7100), nullptr);
  EXPECT_NE(find_port(ports_now, 7101), nullptr);
  small.stop();
}

// The port manager's long-poll: `?wait=N` with If-None-Match set to the last ETag is held until
// a public port appears or goes (woken through the change the agent's router config gets), then
// answered with the new list and a new ETag; a stale ETag is answered at once; a hold that no
// change ends is answered with the same list when N seconds pass.
TEST_F(public_ports_api, LongPollFollowsChanges) {
  std::string token = new_user_token();
  // The Kubernetes shape: a default router registered with PUT /router (unless an earlier test
  // of this suite made a system fog the default router already).
  if (get("/api/v3/router", token).status != 200) {
    ASSERT_EQ(put("/api/v3/router", R"({"host":"router.k8s.local"})", token).status, 200);
  }
  std::string e = create_fog(token, "lp-edge", R"("host":"10.7.0.2")");
  ASSERT_EQ(post("/api/v3/application", R"({"name":"lp","isActivated":true})", token).status, 201);
  auto held_polls = [&] {
    auto body = http(port(), "GET", "/metrics").body;
    auto at = body.find("\nfogmesh_controller_long_polls_waiting ");
    return at == std::string::npos ? -1 : std::stoi(body.substr(at + 39));
  };
  auto poll = [&](const std::string& etag, int wait) {
    return http(port(), "GET", "/api/v3/microservices/public-ports?wait=" + std::to_string(wait),
                "", token, {{"If-None-Match", etag}});
  };
  auto first = get("/api/v3/microservices/public-ports", token);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json(), parse("[]"));
  std::string empty_etag = first.header("etag");
  ASSERT_FALSE(empty_etag.empty());

  // Held until a public port is created.
  http_result woken;
  std::thread poller([&] { woken = poll(empty_etag, 300); });
  for (int i = 0; i < 6000 && held_polls() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(held_polls(), 1);
  std::string m = msvc(token, "lp", e, "srv", R"([{"internal":80,"external":8080,"public":{}}])");
  poller.join();
  ASSERT_EQ(woken.status, 200) << woken.body;
  ASSERT_EQ(woken.json().as_array().size(), 1u) << woken.body;
  EXPECT_EQ(woken.json().at(0).at("microserviceUuid").as_string(), m);
  std::string one_etag = woken.header("etag");
  EXPECT_NE(one_etag, empty_etag);

  // A stale ETag is answered at once with the current list.
  auto stale = poll(empty_etag, 300);
  EXPECT_EQ(stale.header("etag"), one_etag);

  // Held until the microservice (and its public port) goes.
  std::thread poller2([&] { woken = poll(one_etag, 300); });
  for (int i = 0; i < 6000 && held_polls() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(held_polls(), 1);
  ASSERT_EQ(del("/api/v3/microservices/" + m, token).status, 204);
  poller2.join();
  EXPECT_EQ(woken.json(), parse("[]")) << woken.body;
  EXPECT_EQ(woken.header("etag"), empty_etag);

  // Nothing changes: answered with the same list when the wait is over.
  auto quiet = poll(empty_etag, 1);
  EXPECT_EQ(quiet.status, 200);
  EXPECT_EQ(quiet.header("etag"), empty_etag);
  EXPECT_EQ(held_polls(), 0);
}

}  // namespace
}  // namespace fogmesh::controller::test
