// Public ports over their life: `public.enabled: false` keeps the allocation (port and address
// reserved and reported, nothing rendered) and enabling it again serves the same port; port
// lists replaced by PATCH or PUT /application keep the allocations of the ports sent again; the
// public ports of a deleted public router move to the default router (same port when free there,
// else a new one; same address) and are released when the default router itself goes.
// Own executable: these tests decide whether a default router exists.
#include "public_ports_fixture.hpp"

namespace fogmesh::controller::test {
namespace {

namespace json = boost::json;

class public_port_lifecycle : public public_ports_fixture {};

TEST_F(public_port_lifecycle, DisabledKeepsItsAllocation) {
  std::string token = new_user_token();
  std::string hub = interior_fog(token, "hub", "10.9.0.1", 56791);
  std::string e = create_fog(token, "edge", R"("host":"10.9.0.2")");
  std::string a_hub = provision_agent(token, hub);
  std::string a_e = provision_agent(token, e);
  std::string other = create_fog(token, "other", R"("host":"10.9.0.3")");
  activated_app(token, "web");
  std::string on_hub = on_router(hub);
  std::string m = msvc(token, "web", e, "srv",
                       R"([{"internal":80,"external":8080,"public":{"enabled":false,)"
                       R"("protocol":"http",)" +
                           on_hub + R"(}},
                           {"internal":81,"external":8081,"public":{)" +
                           on_hub + "}}]");
  ASSERT_FALSE(HasFailure());
  // Allocated and reported with upstream's shape, enabled false.
  EXPECT_EQ(public_of(token, m, 80), parse(R"({"enabled":false,"schemes":["https"],
      "protocol":"http","links":["https://10.9.0.1:6000"],
      "router":{"host":")" + hub + R"(","port":6000}})"));
  EXPECT_EQ(public_of(token, m, 81).at("enabled"), true);
  EXPECT_EQ(public_of(token, m, 81).at("router").at("port"), 6001);
  std::string addr80 = address_of(6000, hub);
  ASSERT_EQ(addr80.size(), 32u);
  // Served by nobody: not rendered, not in the port manager's list.
  EXPECT_EQ(rendered(token, hub, "httpListeners"), ports{6001});
  EXPECT_EQ(rendered(token, e, "httpConnectors"), ports{8081});
  EXPECT_EQ(listed_public_ports(token), ports{6001});
  // But reserved: neither another public port nor a host port of the hub's agent gets it.
  expect_error(post("/api/v3/microservices",
                    R"({"name":"clash","application":"web","iofogUuid":")" + other +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":9001,"public":{"router":{"host":")" +
                        hub + R"(","port":6000}}}]})",
                    token),
               400, "ValidationError", "Port '6000' is not available");
  expect_error(post("/api/v3/microservices",
                    R"({"name":"local","application":"web","iofogUuid":")" + hub +
                        R"(","images":[{"containerImage":"b","fogTypeId":1}],
                        "ports":[{"internal":1,"external":6000}]})",
                    token),
               400, "ValidationError", "Port '6000' is not available");
  ack(a_hub);
  ack(a_e);

  // Enabled again (PATCH replaces the port list): the same port on the same address, rendered
  // on both routers, both agents told. 81 is sent again and keeps 6001.
  std::string both = R"({"ports":[{"internal":80,"external":8080,"public":{"enabled":true,)"
                     R"("protocol":"http",)" +
                     on_hub + R"(}},
                     {"internal":81,"external":8081,"public":{)" +
                     on_hub + "}}]}";
  ASSERT_EQ(patch("/api/v3/microservices/" + m, both, token).status, 204);
  EXPECT_EQ(public_of(token, m, 80).at("enabled"), true);
  EXPECT_EQ(public_of(token, m, 80).at("router").at("port"), 6000);
  EXPECT_EQ(address_of(6000, hub), addr80);
  EXPECT_EQ(public_of(token, m, 81).at("router").at("port"), 6001);
  EXPECT_EQ(rendered(token, hub, "httpListeners"), (ports{6000, 6001}));
  EXPECT_EQ(rendered(token, e, "httpConnectors"), (ports{8080, 8081}));
  EXPECT_EQ(router_config(token, hub).at("httpListeners").at(0).at("address").as_string(), addr80);
  EXPECT_EQ(listed_public_ports(token), (ports{6000, 6001}));
  EXPECT_EQ(changes(a_hub).at("microserviceConfig"), true);
  EXPECT_EQ(changes(a_e).at("microserviceConfig"), true);
  ack(a_hub);
  ack(a_e);

  // The same document again changes nothing the agents see.
  ASSERT_EQ(patch("/api/v3/microservices/" + m, both, token).status, 204);
  EXPECT_EQ(changes(a_hub).at("microserviceConfig"), false);
  ack(a_e);

  // Disabled through PUT /application (upstream's create input `disabled: true` too), kept.
  ASSERT_EQ(put("/api/v3/application/web",
                R"({"name":"web","isActivated":true,
                "microservices":[{"name":"srv","iofogUuid":")" +
                    e +
                    R"(","images":[{"containerImage":"busybox",
                "fogTypeId":1}],"ports":[{"internal":80,"external":8080,"public":{)" +
                    on_hub +
                    R"(}},{"internal":81,"external":8081,"public":{
                "disabled":true,)" +
                    on_hub + "}}]}]}",
                token)
                .status,
            204);
  EXPECT_EQ(public_of(token, m, 81).at("enabled"), false);
  EXPECT_EQ(public_of(token, m, 81).at("router").at("port"), 6001);
  EXPECT_EQ(rendered(token, hub, "httpListeners"), ports{6000});
  EXPECT_EQ(rendered(token, e, "httpConnectors"), ports{8080});
  EXPECT_EQ(changes(a_hub).at("microserviceConfig"), true);

  // A replaced list keeps the ports sent again even when a new public port comes first: the
  // new one does not take the released number of a kept one. 81 is not sent: released.
  ASSERT_EQ(patch("/api/v3/microservices/" + m,
                  R"({"ports":[{"internal":82,"external":8082,"public":{)" + on_hub +
                      R"(}},{"internal":80,"external":8080,"public":{)" + on_hub + "}}]}",
                  token)
                .status,
            204);
  EXPECT_EQ(public_of(token, m, 80).at("router").at("port"), 6000);
  EXPECT_EQ(address_of(6000, hub), addr80);
  EXPECT_EQ(public_of(token, m, 82).at("router").at("port"), 6001);
  EXPECT_NE(address_of(6001, hub), "");
  EXPECT_EQ(rendered(token, hub, "httpListeners"), (ports{6000, 6001}));

  // Asking for another public port moves it (same address), a UDP port cannot be public even
  // when disabled.
  ASSERT_EQ(patch("/api/v3/microservices/" + m,
                  R"({"ports":[{"internal":80,"external":8080,"public":{"router":{"host":")" + hub +
                      R"(","port":6100}}}]})",
                  token)
                .status,
            204);
  EXPECT_EQ(address_of(6100, hub), addr80);
  EXPECT_EQ(rendered(token, hub, "httpListeners"), ports{6100});
  expect_error(post("/api/v3/microservices/" + m + "/port-mapping",
                    R"({"internal":53,"external":5353,"protocol":"udp",
                        "public":{"enabled":false}})",
                    token),
               400, "ValidationError", "must use protocol tcp");
}

TEST_F(public_port_lifecycle, RehostedOnTheDefaultRouterWhenTheirRouterGoes) {
  std::string token = new_user_token();
  ASSERT_EQ(db().query("SELECT count(*) FROM routers WHERE is_default"), "0");
  std::string sys = interior_fog(token, "sys", "10.10.0.1", 56801, R"(,"isSystem":true)");
  std::string hub = interior_fog(token, "hub", "10.10.0.2", 56811);
  std::string e = create_fog(token, "edge", R"("host":"10.10.0.3")");
  std::string a_sys = provision_agent(token, sys);
  std::string a_e = provision_agent(token, e);
  activated_app(token, "app");
  std::string on_hub = on_router(hub);
  // On hub: 80 -> 6000 (http), 81 -> 6005 (tcp, asked for), and hub's own microservice's 90 ->
  // 6001. On the default router: 6005 is taken by b, so 81 cannot keep its number there.
  std::string a = msvc(token, "app", e, "a",
                       R"([{"internal":80,"external":8080,"public":{"protocol":"http",)" + on_hub +
                           R"(}},{"internal":81,"external":8081,"public":{"protocol":"tcp",)"
                           R"("router":{"host":")" +
                           hub + R"(","port":6005}}}])");
  std::string local = msvc(token, "app", hub, "local",
                           R"([{"internal":90,"external":9090,"public":{)" + on_hub + "}}]");
  std::string b = msvc(token, "app", e, "b",
                       R"([{"internal":70,"external":7070,"public":{"router":{"port":6005}}}])");
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(public_of(token, local, 90).at("router").at("port"), 6001);
  std::string addr80 = address_of(6000, hub);
  std::string addr81 = address_of(6005, hub);
  std::string addr_b = address_of(6005, sys);
  ASSERT_EQ(addr80.size(), 32u);
  ASSERT_EQ(addr81.size(), 32u);
  EXPECT_EQ(rendered(token, sys, "httpListeners"), ports{6005});
  ack(a_sys);
  ack(a_e);
  auto e_before = router_config(token, e);

  ASSERT_EQ(del("/api/v3/iofog/" + hub, token).status, 202);
  // 80 keeps 6000 on the default router, 81 gets its first free port (6001), both keep their
  // addresses; hub's own microservice went with it.
  EXPECT_EQ(public_of(token, a, 80), parse(R"({"enabled":true,"schemes":["https"],
      "protocol":"http","links":["https://10.10.0.1:6000"],
      "router":{"host":"default-router","port":6000}})"));
  EXPECT_EQ(public_of(token, a, 81).at("router"),
            parse(R"({"host":"default-router","port":6001})"));
  EXPECT_EQ(public_of(token, a, 81).at("links"), parse(R"(["tcp://10.10.0.1:6001"])"));
  EXPECT_EQ(address_of(6000, sys), addr80);
  EXPECT_EQ(address_of(6001, sys), addr81);
  EXPECT_EQ(address_of(6005, sys), addr_b);
  EXPECT_EQ(listed_public_ports(token), (ports{6000, 6001, 6005}));
  auto sys_cfg = router_config(token, sys);
  EXPECT_EQ(sys_cfg.at("httpListeners"), parse(R"([{"name":")" + addr80 +
                                               R"(-listener","host":"0.0.0.0","port":6000,
                        "address":")" + addr80 +
                                               R"(","protocolVersion":"HTTP1"},
                      {"name":")" + addr_b + R"(-listener","host":"0.0.0.0","port":6005,
                        "address":")" + addr_b +
                                               R"(","protocolVersion":"HTTP1"}])"));
  EXPECT_EQ(sys_cfg.at("tcpListeners"),
            parse(R"([{"name":")" + addr81 + R"(-listener","host":"0.0.0.0","port":6001,
                        "address":")" +
                  addr81 + R"("}])"));
  // The connecting side is where it was; both agents re-read their configs.
  EXPECT_EQ(router_config(token, e).at("httpConnectors"), e_before.at("httpConnectors"));
  EXPECT_EQ(router_config(token, e).at("tcpConnectors"), e_before.at("tcpConnectors"));
  EXPECT_EQ(changes(a_sys).at("microserviceConfig"), true);
  EXPECT_EQ(changes(a_e).at("microserviceConfig"), true);
  ack(a_sys);
  ack(a_e);

  // The default router's own fog goes: with no default router left, its public ports are
  // released (the microservices keep plain ports) and the connectors go.
  ASSERT_EQ(del("/api/v3/iofog/" + sys, token).status, 202);
  EXPECT_EQ(listed_public_ports(token), ports{});
  EXPECT_TRUE(public_of(token, a, 80).is_null());
  EXPECT_TRUE(public_of(token, b, 70).is_null());
  for (const char* key : {"httpConnectors", "tcpConnectors"}) {
    EXPECT_FALSE(router_config(token, e).as_object().contains(key)) << key;
  }
  EXPECT_EQ(changes(a_e).at("microserviceConfig"), true);
  EXPECT_EQ(db().query("SELECT count(*) FROM microservice_public_ports WHERE host_key IN ('" + sys +
                       "', '" + hub + "')"),
            "0");
}

}  // namespace
}  // namespace fogmesh::controller::test
