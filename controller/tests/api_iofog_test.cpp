// Fog (agent node) endpoints over real HTTP against a real PostgreSQL cluster.
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using iofog_api = api_test;
namespace json = boost::json;

TEST_F(iofog_api, CreateGetListPatchDelete) {
  std::string token = new_user_token();
  auto c = post(
      "/api/v3/iofog",
      R"({"name":"edge-1","fogType":1,"host":"10.0.0.5","tags":["a","b"],"latitude":12.5,"cpuLimit":60})",
      token);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid(c.json().at("uuid").as_string());

  auto g = get("/api/v3/iofog/" + uuid, token);
  ASSERT_EQ(g.status, 200) << g.body;
  auto f = g.json().as_object();
  EXPECT_EQ(f.at("uuid").as_string(), uuid);
  EXPECT_EQ(f.at("name").as_string(), "edge-1");
  EXPECT_EQ(f.at("host").as_string(), "10.0.0.5");
  EXPECT_EQ(f.at("routerMode").as_string(), "edge");
  EXPECT_EQ(f.at("messagingPort").as_int64(), 5672);
  EXPECT_EQ(f.at("cpuLimit").to_number<double>(), 60);
  EXPECT_EQ(f.at("latitude").to_number<double>(), 12.5);
  EXPECT_EQ(f.at("memoryLimit").to_number<double>(), 4096);  // default
  EXPECT_EQ(f.at("daemonStatus").as_string(), "UNKNOWN");
  EXPECT_EQ(f.at("fogTypeId").as_int64(), 1);
  EXPECT_EQ(f.at("tags"), (json::array{"a", "b"}));
  EXPECT_TRUE(f.at("edgeResources").is_array());

  auto l = get("/api/v3/iofog-list", token);
  ASSERT_EQ(l.status, 200);
  ASSERT_EQ(l.json().at("fogs").as_array().size(), 1u);

  EXPECT_EQ(
      patch("/api/v3/iofog/" + uuid, R"({"name":"edge-renamed","logLevel":"DEBUG"})", token).status,
      204);
  auto g2 = get("/api/v3/iofog/" + uuid, token).json();
  EXPECT_EQ(g2.at("name").as_string(), "edge-renamed");
  EXPECT_EQ(g2.at("logLevel").as_string(), "DEBUG");
  EXPECT_EQ(g2.at("host").as_string(), "10.0.0.5");

  EXPECT_EQ(del("/api/v3/iofog/" + uuid, token).status, 202);
  expect_error(get("/api/v3/iofog/" + uuid, token), 404, "NotFoundError",
               "Invalid ioFog UUID '" + uuid + "'");
  EXPECT_EQ(get("/api/v3/iofog-list", token).json().at("fogs").as_array().size(), 0u);
}

TEST_F(iofog_api, ListFiltersAndSystemFog) {
  std::string token = new_user_token();
  std::string sys = create_fog(
      token, "system-node",
      R"("isSystem":true,"routerMode":"interior","interRouterPort":56721,"edgeRouterPort":56722)");
  std::string a = create_fog(token, "alpha", R"("location":"Berlin")");
  std::string b = create_fog(token, "beta", R"("location":"Bern")");
  ASSERT_FALSE(sys.empty());

  auto system = get("/api/v3/iofog-list?system=true", token).json().at("fogs").as_array();
  ASSERT_EQ(system.size(), 1u);
  EXPECT_EQ(system[0].at("uuid").as_string(), sys);
  EXPECT_EQ(system[0].at("isSystem"), true);

  auto eq =
      get("/api/v3/"
          "iofog-list?filters[0][key]=name&filters[0][value]=alpha&filters[0][condition]=equals",
          token);
  ASSERT_EQ(eq.status, 200) << eq.body;
  ASSERT_EQ(eq.json().at("fogs").as_array().size(), 1u);
  EXPECT_EQ(eq.json().at("fogs").at(0).at("uuid").as_string(), a);
  auto has =
      get("/api/v3/iofog-list?filters%5B0%5D%5Bkey%5D=location&filters%5B0%5D%5Bvalue%5D=Ber"
          "&filters%5B0%5D%5Bcondition%5D=has",
          token);
  ASSERT_EQ(has.status, 200) << has.body;
  EXPECT_EQ(has.json().at("fogs").as_array().size(), 2u);

  // A second system fog is refused and nothing is written.
  std::string before = db().query("SELECT count(*) FROM fogs");
  expect_error(
      post(
          "/api/v3/iofog",
          R"({"name":"sys2","fogType":1,"host":"h","isSystem":true,"routerMode":"interior","interRouterPort":1,"edgeRouterPort":2})",
          token),
      400, "ValidationError");
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs"), before);

  // Upstreams must be interior routers the user can see.
  EXPECT_EQ(create_fog(token, "child", "\"upstreamRouters\":[\"" + sys + "\"]").empty(), false);
  expect_error(
      post("/api/v3/iofog",
           R"({"name":"bad-child","fogType":1,"host":"h","upstreamRouters":[")" + a + R"("]})",
           token),
      400, "ValidationError", "is not an interior router");
  (void)b;
}

TEST_F(iofog_api, ValidationAndOwnership) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string uuid = create_fog(token, "mine");
  std::string before = db().query("SELECT count(*) FROM fogs");

  expect_error(post("/api/v3/iofog", "{oops", token), 400, "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"fogType":1,"host":"h"})", token), 400, "ValidationError",
               "Required field 'name' is missing");
  expect_error(post("/api/v3/iofog", R"({"name":"x","host":"h"})", token), 400, "ValidationError",
               "Required field 'fogType' is missing");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":"1","host":"h"})", token), 400,
               "ValidationError", "Field 'fogType' is not of a type(s) integer");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":7,"host":"h"})", token), 400,
               "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":1e300,"host":"h"})", token), 400,
               "ValidationError", "Field 'fogType' is not of a type(s) integer");
  expect_error(post("/api/v3/iofog",
                    R"({"name":"x","fogType":1,"host":"h","logFileCount":99999999999})", token),
               400, "ValidationError");
  expect_error(
      post("/api/v3/iofog", R"({"name":"x","fogType":1,"cpuLimit":"lots","host":"h"})", token), 400,
      "ValidationError", "Field 'cpuLimit' is not of a type(s) number");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":1,"tags":[1],"host":"h"})", token),
               400, "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":1})", token), 400, "ValidationError",
               "Required field 'host' is missing");
  expect_error(post("/api/v3/iofog",
                    R"({"name":"x","fogType":1,"host":"h","routerMode":"interior"})", token),
               400, "ValidationError", "Required field 'interRouterPort' is missing");
  expect_error(post("/api/v3/iofog",
                    R"({"name":"x","fogType":1,"host":"h","routerMode":"sideways"})", token),
               400, "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"name":"mine","fogType":1,"host":"h"})", token), 400,
               "ValidationError", "Duplicate name 'mine'");
  expect_error(
      post("/api/v3/iofog", R"({"name":"x","fogType":1,"host":"h","messagingPort":70000})", token),
      400, "ValidationError");
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs"), before);

  // Router mode none needs no host.
  EXPECT_EQ(
      post("/api/v3/iofog", R"({"name":"nohost","fogType":0,"routerMode":"none"})", token).status,
      201);

  // Another user's fog is indistinguishable from a missing one, and untouched.
  expect_error(get("/api/v3/iofog/" + uuid, other), 404, "NotFoundError", "Invalid ioFog UUID");
  expect_error(patch("/api/v3/iofog/" + uuid, R"({"name":"stolen"})", other), 404, "NotFoundError");
  expect_error(del("/api/v3/iofog/" + uuid, other), 404, "NotFoundError");
  expect_error(get("/api/v3/iofog/" + uuid + "/provisioning-key", other), 404, "NotFoundError");
  expect_error(post("/api/v3/iofog/" + uuid + "/reboot", "", other), 404, "NotFoundError");
  EXPECT_EQ(get("/api/v3/iofog-list", other).json().at("fogs").as_array().size(), 0u);
  EXPECT_EQ(get("/api/v3/iofog/" + uuid, token).json().at("name").as_string(), "mine");

  // PATCH validation leaves the row as it was.
  expect_error(patch("/api/v3/iofog/" + uuid, R"({"statusFrequency":"often"})", token), 400,
               "ValidationError", "Field 'statusFrequency' is not of a type(s) integer");
  expect_error(
      patch("/api/v3/iofog/" + uuid, R"({"name":"renamed","routerMode":"interior"})", token), 400,
      "ValidationError");
  EXPECT_EQ(get("/api/v3/iofog/" + uuid, token).json().at("name").as_string(), "mine");
  expect_error(patch("/api/v3/iofog/" + uuid, "[]", token), 400, "ValidationError");
}

TEST_F(iofog_api, ProvisioningKeysAndCommands) {
  std::string token = new_user_token();
  std::string uuid = create_fog(token, "cmd");
  auto k = get("/api/v3/iofog/" + uuid + "/provisioning-key", token);
  ASSERT_EQ(k.status, 201) << k.body;
  EXPECT_EQ(k.json().at("key").as_string().size(), 8u);
  EXPECT_TRUE(k.json().at("expirationTime").is_int64());
  // Keys are stored hashed, one per fog.
  EXPECT_EQ(db().query("SELECT count(*) FROM fog_provision_keys WHERE fog_uuid = '" + uuid + "'"),
            "1");

  EXPECT_EQ(post("/api/v3/iofog/" + uuid + "/reboot", "", token).status, 204);
  EXPECT_EQ(post("/api/v3/iofog/" + uuid + "/prune", "", token).status, 204);
  EXPECT_EQ(db().query("SELECT count(*) FROM change_tracking WHERE fog_uuid = '" + uuid +
                       "' AND (reboot OR prune)"),
            "2");
  // Fresh agents report isReadyToRollback = false.
  expect_error(post("/api/v3/iofog/" + uuid + "/version/rollback", "", token), 400,
               "ValidationError", "Can't rollback version now");
  expect_error(post("/api/v3/iofog/" + uuid + "/version/sideways", "", token), 400,
               "ValidationError");
  EXPECT_EQ(post("/api/v3/iofog/" + uuid + "/version/upgrade", "", token).status, 204);

  auto hw = get("/api/v3/iofog/" + uuid + "/hal/hw", token);
  ASSERT_EQ(hw.status, 200);
  EXPECT_TRUE(hw.json().at("info").is_null());
}

TEST_F(iofog_api, TunnelOpenCloseAndAgentView) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string f1 = create_fog(token, "tunnel-1");
  std::string f2 = create_fog(token, "tunnel-2");
  std::string f3 = create_fog(token, "tunnel-3");
  std::string agent = provision_agent(token, f1);
  expect_error(get("/api/v3/iofog/" + f1 + "/tunnel", token), 404, "NotFoundError",
               "Tunnel not found");
  expect_error(get("/api/v3/agent/tunnel", agent), 404, "NotFoundError", "Tunnel not found");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"sideways"})", token), 400,
               "ValidationError");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", "{}", token), 400, "ValidationError",
               "Required field 'action' is missing");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"open"})", token), 400,
               "ValidationError", "Tunnel host is not configured");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"open"})", other), 404,
               "NotFoundError", "Invalid ioFog UUID");

  for (auto [k, v] : {std::pair{"tunnel-host", "tunnel.example.com"},
                      std::pair{"tunnel-username", "fog"},
                      std::pair{"tunnel-port-range", "5000-5001"}}) {
    ASSERT_EQ(put("/api/v3/config", R"({"key":")" + std::string(k) + R"(","value":")" + v + "\"}",
                  token)
                  .status,
              200);
  }
  auto ch = get("/api/v3/agent/config/changes", agent).json();
  if (ch.as_object().contains("lastUpdated")) {
    patch("/api/v3/agent/config/changes",
          R"({"lastUpdated":")" + std::string(ch.at("lastUpdated").as_string()) + "\"}", agent);
  }
  ASSERT_EQ(
      patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"open","password":"s3cret"})", token)
          .status,
      204);
  EXPECT_EQ(get("/api/v3/agent/config/changes", agent).json().at("tunnel"), true);
  auto t = get("/api/v3/iofog/" + f1 + "/tunnel", token);
  ASSERT_EQ(t.status, 200) << t.body;
  auto tj = t.json();
  EXPECT_EQ(tj.at("username"), "fog");
  EXPECT_EQ(tj.at("host"), "tunnel.example.com");
  EXPECT_EQ(tj.at("localPort"), 22);
  EXPECT_EQ(tj.at("status"), "open");
  EXPECT_FALSE(tj.as_object().contains("password"));
  int64_t rport1 = tj.at("remotePort").as_int64();
  EXPECT_TRUE(rport1 == 5000 || rport1 == 5001) << rport1;
  auto at = get("/api/v3/agent/tunnel", agent);
  ASSERT_EQ(at.status, 200) << at.body;
  EXPECT_EQ(at.json().at("tunnel"),
            json::parse(R"({"username":"fog","password":"s3cret","host":"tunnel.example.com",
                            "rsakey":"","lport":22,"rport":)" +
                        std::to_string(rport1) + R"(,"closed":false})"));

  // Remote ports are unique among open tunnels: two fit the range, the third waits for a close.
  ASSERT_EQ(patch("/api/v3/iofog/" + f2 + "/tunnel", R"({"action":"open"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + f2 + "/tunnel", token).json().at("remotePort").as_int64(),
            rport1 == 5000 ? 5001 : 5000);
  expect_error(patch("/api/v3/iofog/" + f3 + "/tunnel", R"({"action":"open"})", token), 400,
               "ValidationError", "No available tunnel port");
  ASSERT_EQ(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"close"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + f1 + "/tunnel", token).json().at("status"), "closed");
  EXPECT_EQ(get("/api/v3/agent/tunnel", agent).json().at("tunnel").at("closed"), true);
  EXPECT_EQ(patch("/api/v3/iofog/" + f3 + "/tunnel", R"({"action":"open"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + f3 + "/tunnel", token).json().at("remotePort").as_int64(),
            rport1);
}

}  // namespace
}  // namespace fogmesh::controller::test
