// Router topology: a Router row and router microservice per fog, the default router (system fog
// or PUT /router), upstream validation, re-parenting on deletion, the change flags agents see and
// /agent/config's routerHost/routerPort. The default router is global, so the tests of this file
// run in order and each leaves no default router of its own making behind.
#include <algorithm>

#include "../src/migrations.hpp"  // the compiled-in migrations (not public API)
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

namespace json = boost::json;

class router_api : public api_test {
 protected:
  json::value fog(const std::string& token, const std::string& uuid) {
    return get("/api/v3/iofog/" + uuid, token).json();
  }
};

TEST_F(router_api, KubernetesDefaultRouterWithPutRouter) {
  std::string token = new_user_token();
  expect_error(get("/api/v3/router", token), 404, "NotFoundError", "default-router");
  // Without a default router an edge router stands alone; naming the default is an error.
  std::string e = create_fog(token, "k8s-edge", R"("host":"10.1.0.2")");
  EXPECT_EQ(fog(token, e).at("upstreamRouters"), json::array{});
  EXPECT_EQ(router_config(token, e),
            parse(R"({"mode":"edge","id":")" + e +
                  R"(","listeners":[{"role":"normal","host":"0.0.0.0","port":5672}]})"));
  expect_error(
      post("/api/v3/iofog",
           R"({"name":"x","fogType":1,"host":"h","upstreamRouters":["default-router"]})", token),
      404, "NotFoundError", "Invalid router 'default-router'");
  std::string agent = provision_agent(token, e);
  ack(agent);

  expect_error(put("/api/v3/router", R"({"messagingPort":5672})", token), 400, "ValidationError",
               "Required field 'host' is missing");
  auto p = put("/api/v3/router", R"({"host":"router.k8s.local","edgeRouterPort":45672})", token);
  ASSERT_EQ(p.status, 200) << p.body;
  auto g = get("/api/v3/router", token);
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(g.json(), parse(R"({"host":"router.k8s.local","messagingPort":5672,
                                 "edgeRouterPort":45672,"interRouterPort":56721})"));
  // The lone edge router is linked to the new default router, and its agent is told.
  EXPECT_EQ(fog(token, e).at("upstreamRouters"), json::array{"default-router"});
  EXPECT_EQ(router_config(token, e).at("connectors"),
            parse(R"([{"name":"default-router","role":"edge","host":"router.k8s.local",
                       "port":45672}])"));
  auto c = changes(agent);
  EXPECT_EQ(c.at("microserviceConfig"), true);
  EXPECT_EQ(c.at("routerChanged"), true);
  ack(agent);

  // Updating the default router re-renders its downstream routers.
  ASSERT_EQ(put("/api/v3/router", R"({"host":"router2.k8s.local"})", token).status, 200);
  EXPECT_EQ(router_config(token, e).at("connectors").at(0).at("host"), "router2.k8s.local");
  EXPECT_EQ(changes(agent).at("microserviceConfig"), true);

  // Leave no default router behind for the next tests.
  EXPECT_EQ(del("/api/v3/iofog/" + e, token).status, 202);
  db().query("DELETE FROM routers WHERE iofog_uuid IS NULL");
}

TEST_F(router_api, SystemFogIsTheDefaultRouterAndEdgeRoutersConnectToIt) {
  std::string token = new_user_token();
  std::string sys = create_fog(token, "sys",
                               R"("host":"10.0.0.1","isSystem":true,"routerMode":"interior",)"
                               R"("interRouterPort":56721,"edgeRouterPort":56722)");
  ASSERT_FALSE(sys.empty());
  EXPECT_EQ(get("/api/v3/router", token).json(),
            parse(R"({"host":"10.0.0.1","messagingPort":5672,"edgeRouterPort":56722,
                      "interRouterPort":56721})"));
  EXPECT_EQ(fog(token, sys).at("upstreamRouters"), json::array{});
  EXPECT_EQ(router_config(token, sys),
            parse(R"({"mode":"interior","id":")" + sys + R"(","listeners":[
              {"role":"normal","host":"0.0.0.0","port":5672},
              {"role":"inter-router","host":"0.0.0.0","port":56721},
              {"role":"edge","host":"0.0.0.0","port":56722}]})"));

  std::string e = create_fog(token, "edge-1", R"("host":"10.0.0.2")");
  EXPECT_EQ(fog(token, e).at("upstreamRouters"), json::array{"default-router"});
  // Creating a fog (and its router) is no change for the agent it does not have yet.
  EXPECT_EQ(db().query("SELECT count(*) FROM change_tracking WHERE fog_uuid = '" + e + "'"), "0");
  auto m = router_msvc(token, e);
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m.at("name").as_string(), "Router for Fog " + e);
  EXPECT_EQ(m.at("iofogUuid").as_string(), e);
  EXPECT_EQ(m.at("application").as_string(), "system-" + e);
  EXPECT_EQ(m.at("ports"), parse(R"([{"internal":5672,"external":5672,"protocol":"tcp"}])"));
  EXPECT_EQ(parse(std::string(m.at("config").as_string())),
            parse(R"({"mode":"edge","id":")" + e + R"(",
              "listeners":[{"role":"normal","host":"0.0.0.0","port":5672}],
              "connectors":[{"name":")" +
                  sys + R"(","role":"edge","host":"10.0.0.1","port":56722}]})"));
  // Exactly upstream's key order (the agent may compare texts).
  EXPECT_EQ(std::string(m.at("config").as_string()).rfind(R"({"mode":"edge","id":")", 0), 0u);

  // The agent receives it (with isRouter) and its own router's address in /agent/config.
  std::string agent = provision_agent(token, e);
  auto list = get("/api/v3/agent/microservices", agent).json().at("microservices").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("isRouter"), true);
  EXPECT_EQ(list[0].at("uuid"), m.at("uuid"));
  EXPECT_EQ(list[0].at("config"), m.at("config"));
  EXPECT_EQ(list[0].at("portMappings"),
            parse(R"([{"portInternal":5672,"portExternal":5672,"isUdp":false}])"));
  auto cfg = get("/api/v3/agent/config", agent).json();
  EXPECT_EQ(cfg.at("routerHost"), "localhost");
  EXPECT_EQ(cfg.at("routerPort"), 5672);

  // System applications and microservices stay out of the user's lists and hands.
  EXPECT_EQ(get("/api/v3/application", token).json().at("applications").as_array().size(), 0u);
  EXPECT_EQ(get("/api/v3/microservices", token).json().at("microservices").as_array().size(), 0u);
  std::string router_uuid(m.at("uuid").as_string());
  expect_error(del("/api/v3/microservices/" + router_uuid, token), 400, "ValidationError");
  expect_error(patch("/api/v3/microservices/" + router_uuid, R"({"config":"{}"})", token), 400,
               "ValidationError");
  expect_error(del("/api/v3/application/system-" + e, token), 400, "ValidationError");
  // The router's ports are taken on that agent.
  ASSERT_EQ(post("/api/v3/application", R"({"name":"app-1"})", token).status, 201);
  expect_error(post("/api/v3/microservices",
                    R"({"name":"m","application":"app-1","iofogUuid":")" + e +
                        R"(","images":[{"containerImage":"x","fogTypeId":1}],
                        "ports":[{"internal":80,"external":5672}]})",
                    token),
               400, "ValidationError", "Port '5672' is not available");
}

TEST_F(router_api, InteriorUpstreamsValidationAndChangeFlags) {
  std::string token = new_user_token();
  // The system fog of the previous test belongs to another user; its router is still the
  // default router every user's fogs connect to.
  auto def = get("/api/v3/router", token).json();
  ASSERT_EQ(def.at("host"), "10.0.0.1");
  std::string sys_uuid = db().query("SELECT iofog_uuid FROM routers WHERE is_default");

  std::string i1 = create_fog(token, "interior-1",
                              R"("host":"10.0.0.3","routerMode":"interior",)"
                              R"("interRouterPort":56731,"edgeRouterPort":56732)");
  EXPECT_EQ(router_config(token, i1).at("connectors"),
            parse(R"([{"name":")" + sys_uuid +
                  R"(","role":"inter-router","host":"10.0.0.1","port":56721}])"));
  std::string e2 =
      create_fog(token, "edge-2", R"("host":"10.0.0.4","upstreamRouters":[")" + i1 + R"("])");
  EXPECT_EQ(fog(token, e2).at("upstreamRouters"), json::array{json::string(i1)});
  EXPECT_EQ(router_config(token, e2).at("connectors"),
            parse(R"([{"name":")" + i1 + R"(","role":"edge","host":"10.0.0.3","port":56732}])"));

  // Upstreams must be interior; a failed request writes nothing.
  std::string fogs_before = db().query("SELECT count(*) FROM fogs");
  std::string routers_before = db().query("SELECT count(*) FROM routers");
  std::string msvcs_before = db().query("SELECT count(*) FROM microservices");
  expect_error(
      post("/api/v3/iofog",
           R"({"name":"e3","fogType":1,"host":"h","upstreamRouters":[")" + e2 + R"("]})", token),
      400, "ValidationError", "is not an interior router");
  expect_error(patch("/api/v3/iofog/" + i1, R"({"routerMode":"edge"})", token), 400,
               "ValidationError", "downstream");
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs"), fogs_before);
  EXPECT_EQ(db().query("SELECT count(*) FROM routers"), routers_before);
  EXPECT_EQ(db().query("SELECT count(*) FROM microservices"), msvcs_before);
  EXPECT_EQ(fog(token, i1).at("routerMode"), "interior");

  std::string a1 = provision_agent(token, i1);
  std::string a2 = provision_agent(token, e2);
  ack(a1);
  ack(a2);
  // A new host for i1: e2's connector follows (config only); i1's agent re-reads its router.
  ASSERT_EQ(patch("/api/v3/iofog/" + i1, R"({"host":"10.0.0.33"})", token).status, 204);
  EXPECT_EQ(router_config(token, e2).at("connectors").at(0).at("host"), "10.0.0.33");
  auto c2 = changes(a2);
  EXPECT_EQ(c2.at("microserviceConfig"), true);
  EXPECT_EQ(c2.at("microserviceList"), false);
  EXPECT_EQ(changes(a1).at("routerChanged"), true);
  ack(a1);
  ack(a2);
  // A new listener port: i1's router is rebuilt with new port mappings; e2 follows.
  ASSERT_EQ(patch("/api/v3/iofog/" + i1, R"({"edgeRouterPort":56742})", token).status, 204);
  auto m1 = router_msvc(token, i1);
  EXPECT_EQ(m1.at("ports"), parse(R"([{"internal":5672,"external":5672,"protocol":"tcp"},
                                       {"internal":56731,"external":56731,"protocol":"tcp"},
                                       {"internal":56742,"external":56742,"protocol":"tcp"}])"));
  auto c1 = changes(a1);
  EXPECT_EQ(c1.at("microserviceList"), true);
  EXPECT_EQ(c1.at("routerChanged"), true);
  auto served = get("/api/v3/agent/microservices", a1).json().at("microservices").at(0);
  EXPECT_EQ(served.at("rebuild"), true);
  EXPECT_EQ(get("/api/v3/agent/microservices", a1).json().at("microservices").at(0).at("rebuild"),
            false);
  EXPECT_EQ(router_config(token, e2).at("connectors").at(0).at("port"), 56742);
  EXPECT_EQ(changes(a2).at("microserviceConfig"), true);
}

TEST_F(router_api, DeletingARouterReparentsAndModeNoneUsesNetworkRouter) {
  std::string token = new_user_token();
  std::string sys_uuid = db().query("SELECT iofog_uuid FROM routers WHERE is_default");
  ASSERT_FALSE(sys_uuid.empty());
  std::string i1 =
      create_fog(token, "hub",
                 R"("host":"10.2.0.1","routerMode":"interior",)"
                 R"("interRouterPort":56751,"edgeRouterPort":56752,"messagingPort":5673)");
  std::string e1 =
      create_fog(token, "leaf", R"("host":"10.2.0.2","upstreamRouters":[")" + i1 + R"("])");
  std::string n1 =
      post("/api/v3/iofog",
           R"({"name":"bare","fogType":1,"routerMode":"none","networkRouter":")" + i1 + R"("})",
           token)
          .json()
          .at("uuid")
          .as_string()
          .c_str();
  // Mode none: no router of its own; the agent talks to its network router.
  EXPECT_TRUE(router_msvc(token, n1).is_null());
  EXPECT_EQ(db().query("SELECT count(*) FROM routers WHERE iofog_uuid = '" + n1 + "'"), "0");
  std::string an = provision_agent(token, n1);
  std::string ae = provision_agent(token, e1);
  auto cfg = get("/api/v3/agent/config", an).json();
  EXPECT_EQ(cfg.at("routerHost"), "10.2.0.1");
  EXPECT_EQ(cfg.at("routerPort"), 5673);
  ack(an);
  ack(ae);

  // Deleting the hub: leaf falls back to the default router, bare to the default router too.
  ASSERT_EQ(del("/api/v3/iofog/" + i1, token).status, 202);
  EXPECT_EQ(db().query("SELECT count(*) FROM routers WHERE iofog_uuid = '" + i1 + "'"), "0");
  EXPECT_EQ(db().query("SELECT count(*) FROM applications WHERE name = 'system-" + i1 + "'"), "0");
  EXPECT_EQ(fog(token, e1).at("upstreamRouters"), json::array{"default-router"});
  EXPECT_EQ(
      router_config(token, e1).at("connectors"),
      parse(R"([{"name":")" + sys_uuid + R"(","role":"edge","host":"10.0.0.1","port":56722}])"));
  auto ce = changes(ae);
  EXPECT_EQ(ce.at("routerChanged"), true);
  EXPECT_EQ(ce.at("microserviceConfig"), true);
  EXPECT_EQ(fog(token, n1).at("networkRouter"), "default-router");
  auto cn = changes(an);
  EXPECT_EQ(cn.at("routerChanged"), true);
  EXPECT_EQ(cn.at("config"), true);
  cfg = get("/api/v3/agent/config", an).json();
  EXPECT_EQ(cfg.at("routerHost"), "10.0.0.1");
  EXPECT_EQ(cfg.at("routerPort"), 5672);
  ack(ae);

  // Turning leaf's router off removes its router microservice (the agent drops it).
  ASSERT_EQ(patch("/api/v3/iofog/" + e1, R"({"routerMode":"none"})", token).status, 204);
  EXPECT_TRUE(router_msvc(token, e1).is_null());
  EXPECT_EQ(get("/api/v3/agent/microservices", ae).json().at("microservices").as_array().size(),
            0u);
  auto c = changes(ae);
  EXPECT_EQ(c.at("microserviceList"), true);
  EXPECT_EQ(c.at("routerChanged"), true);
  EXPECT_EQ(get("/api/v3/agent/config", ae).json().at("routerHost"), "10.0.0.1");
  // ... and turning it on again brings a fresh one.
  ASSERT_EQ(
      patch("/api/v3/iofog/" + e1, R"({"routerMode":"edge","host":"10.2.0.2"})", token).status,
      204);
  EXPECT_EQ(router_config(token, e1).at("mode"), "edge");
  EXPECT_EQ(get("/api/v3/agent/config", ae).json().at("routerHost"), "localhost");
  // An agent deleting itself takes its router along.
  std::string e1_router(router_msvc(token, e1).at("uuid").as_string());
  EXPECT_EQ(del("/api/v3/agent/delete-node", ae).status, 204);
  EXPECT_EQ(db().query("SELECT count(*) FROM microservices WHERE uuid = '" + e1_router + "'"), "0");
  EXPECT_EQ(db().query("SELECT count(*) FROM routers WHERE iofog_uuid = '" + e1 + "'"), "0");
}

// Agents in router mode none hear when the router they use moves, and only they: those naming
// the router (PATCH of its fog), those on the default router (PUT /router), not the others.
TEST_F(router_api, ModeNoneAgentsHearWhenTheirRouterMoves) {
  std::string token = new_user_token();
  ASSERT_EQ(db().query("SELECT count(*) FROM routers WHERE is_default AND iofog_uuid IS NOT NULL"),
            "1");  // the system fog's, from the tests above
  auto before = get("/api/v3/router", token);
  ASSERT_EQ(before.status, 200) << before.body;
  std::string hub = create_fog(token, "moving-hub",
                               R"("host":"10.3.0.1","routerMode":"interior",)"
                               R"("interRouterPort":56761,"edgeRouterPort":56762)");
  std::string named =
      create_fog(token, "uses-hub", R"("routerMode":"none","networkRouter":")" + hub + R"(")");
  std::string on_default = create_fog(token, "uses-default", R"("routerMode":"none")");
  std::string a_named = provision_agent(token, named);
  std::string a_default = provision_agent(token, on_default);
  ack(a_named);
  ack(a_default);

  ASSERT_EQ(patch("/api/v3/iofog/" + hub, R"({"host":"10.3.0.9"})", token).status, 204);
  auto c = changes(a_named);
  EXPECT_EQ(c.at("config"), true);
  EXPECT_EQ(c.at("routerChanged"), true);
  EXPECT_EQ(get("/api/v3/agent/config", a_named).json().at("routerHost"), "10.3.0.9");
  EXPECT_EQ(changes(a_default).at("routerChanged"), false);
  ack(a_named);

  auto moved = put("/api/v3/router", R"({"host":"10.3.0.77"})", token);
  ASSERT_EQ(moved.status, 200) << moved.body;
  c = changes(a_default);
  EXPECT_EQ(c.at("config"), true);
  EXPECT_EQ(c.at("routerChanged"), true);
  EXPECT_EQ(get("/api/v3/agent/config", a_default).json().at("routerHost"), "10.3.0.77");
  EXPECT_EQ(changes(a_named).at("routerChanged"), false);
  // The default router as it was, for the next tests.
  ASSERT_EQ(put("/api/v3/router", before.body, token).status, 200);
  EXPECT_EQ(get("/api/v3/router", token).body, before.body);
}

// Migration 0014 on a database that has fogs already (the upgrade path; a fresh database got it
// at start): the index is built, and the network-router lookups router_model.cpp makes use it,
// also in the generic plan a prepared statement switches to after five runs (PostgreSQL would
// rather read a table this small in full, hence enable_seqscan off: the index must be usable).
TEST_F(router_api, MigrationIndexesNetworkRoutersOfAnExistingDatabase) {
  std::string token = new_user_token();
  for (int i = 0; i < 20; ++i) {
    create_fog(token, "indexed-" + std::to_string(i), R"("routerMode":"none")");
  }
  db().query("DROP INDEX fogs_network_router");
  const auto& all = migrations();
  auto m = std::find_if(all.begin(), all.end(), [](const migration& x) { return x.version == 14; });
  ASSERT_NE(m, all.end());
  db().query(std::string(m->sql));
  EXPECT_EQ(db().query("SELECT count(*) FROM pg_indexes WHERE indexname = 'fogs_network_router'"),
            "1");
  auto plan = [&](const std::string& types, const std::string& sql, const std::string& args) {
    return db().query(
        "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan; "
        "PREPARE q(" +
        types + ") AS " + sql + "; EXPLAIN (FORMAT JSON) EXECUTE q(" + args + ")");
  };
  const std::string users = "SELECT uuid FROM fogs WHERE router_mode = 'none' AND ";
  auto named = plan("text", users + "(network_router = $1)", "'x'");
  EXPECT_NE(named.find(R"("Index Name": "fogs_network_router")"), std::string::npos) << named;
  EXPECT_NE(named.find(R"x("Index Cond": "(network_router = $1)")x"), std::string::npos) << named;
  auto on_default = plan("text",
                         users +
                             "(network_router IS NULL OR network_router = "
                             "ANY(ARRAY[$1::text, 'default-router']))",
                         "'x'");
  EXPECT_NE(on_default.find(R"("Index Name": "fogs_network_router")"), std::string::npos)
      << on_default;
  auto repoint = plan("text",
                      "UPDATE fogs SET network_router = 'default-router' WHERE network_router = "
                      "$1 RETURNING uuid",
                      "'x'");
  EXPECT_NE(repoint.find(R"("Index Name": "fogs_network_router")"), std::string::npos) << repoint;
}

}  // namespace
}  // namespace fogmesh::controller::test
