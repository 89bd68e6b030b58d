// Edge resources over real HTTP against a real PostgreSQL cluster: CRUD, versions, validation,
// linking to agents (tags, change flag, the agent's view, the fog's edgeResources), ownership.
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using edge_resource_api = api_test;
namespace json = boost::json;

const char* door = R"json({
  "name": "smart-door", "version": "1.0.0", "description": "A door",
  "interfaceProtocol": "https",
  "interface": {"endpoints": [{"name": "open", "method": "PUT", "url": "/open"},
                              {"name": "close", "method": "PUT", "url": "/close"}]},
  "display": {"name": "Smart Door", "icon": "door", "color": "rgb(90, 200, 250)"},
  "orchestrationTags": ["door", "entrance"], "custom": {"floor": 2}})json";

TEST_F(edge_resource_api, CapabilityProbe) {
  auto r = http(port(), "HEAD", "/api/v3/capabilities/edgeResources");
  EXPECT_EQ(r.status, 204);
}

TEST_F(edge_resource_api, CreateGetListUpdateDelete) {
  std::string token = new_user_token();
  auto c = post("/api/v3/edgeResource", door, token);
  ASSERT_EQ(c.status, 201) << c.body;
  auto created = c.json().as_object();
  EXPECT_EQ(created.at("name").as_string(), "smart-door");
  EXPECT_EQ(created.at("version").as_string(), "1.0.0");
  EXPECT_EQ(created.at("interfaceProtocol").as_string(), "https");
  EXPECT_EQ(created.at("display").at("color").as_string(), "rgb(90, 200, 250)");
  EXPECT_EQ(created.at("orchestrationTags"), (json::array{"door", "entrance"}));
  EXPECT_EQ(created.at("interface").at("endpoints").as_array().size(), 2u);
  EXPECT_EQ(created.at("custom").at("floor").as_int64(), 2);

  expect_error(post("/api/v3/edgeResource", door, token), 400, "ValidationError", "already exists");
  auto v2 = post("/api/v3/edgeResource",
                 R"({"name":"smart-door","version":"1.1.0","interfaceProtocol":"ws"})", token);
  ASSERT_EQ(v2.status, 201) << v2.body;

  auto l = get("/api/v3/edgeResources", token);
  ASSERT_EQ(l.status, 200);
  ASSERT_EQ(l.json().at("edgeResources").as_array().size(), 2u);
  auto versions = get("/api/v3/edgeResource/smart-door", token);
  ASSERT_EQ(versions.status, 200);
  EXPECT_EQ(versions.json().as_array().size(), 2u);
  EXPECT_EQ(get("/api/v3/edgeResource/nothing", token).json().as_array().size(), 0u);

  auto g = get("/api/v3/edgeResource/smart-door/1.0.0", token);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.json(), created);
  expect_error(get("/api/v3/edgeResource/smart-door/9.9.9", token), 404, "NotFoundError");

  // PUT changes what it names; the version stays.
  ASSERT_EQ(put("/api/v3/edgeResource/smart-door/1.0.0",
                R"({"description":"A better door","orchestrationTags":["door"],
                    "interface":{"endpoints":[{"name":"lock","method":"POST","url":"/lock"}]}})",
                token)
                .status,
            204);
  auto u = get("/api/v3/edgeResource/smart-door/1.0.0", token).json();
  EXPECT_EQ(u.at("description").as_string(), "A better door");
  EXPECT_EQ(u.at("orchestrationTags"), (json::array{"door"}));
  EXPECT_EQ(u.at("interface").at("endpoints").as_array()[0].at("name").as_string(), "lock");
  EXPECT_EQ(u.at("display").at("name").as_string(), "Smart Door");  // untouched
  expect_error(put("/api/v3/edgeResource/smart-door/1.0.0", R"({"version":"2.0.0"})", token), 400,
               "ValidationError");
  // PUT creates a missing version (iofogctl deploy).
  ASSERT_EQ(
      put("/api/v3/edgeResource/smart-door/2.0.0", R"({"interfaceProtocol":"http"})", token).status,
      204);
  EXPECT_EQ(get("/api/v3/edgeResource/smart-door/2.0.0", token).status, 200);

  ASSERT_EQ(del("/api/v3/edgeResource/smart-door/1.1.0", token).status, 204);
  expect_error(del("/api/v3/edgeResource/smart-door/1.1.0", token), 404, "NotFoundError");
  EXPECT_EQ(get("/api/v3/edgeResources", token).json().at("edgeResources").as_array().size(), 2u);

  // Another user sees nothing of it.
  std::string other = new_user_token();
  expect_error(get("/api/v3/edgeResource/smart-door/1.0.0", other), 404, "NotFoundError");
  EXPECT_EQ(get("/api/v3/edgeResources", other).json().at("edgeResources").as_array().size(), 0u);
}

TEST_F(edge_resource_api, Validation) {
  std::string token = new_user_token();
  expect_error(post("/api/v3/edgeResource", R"({"version":"1.0.0"})", token), 400,
               "ValidationError", "Required field 'name' is missing");
  expect_error(post("/api/v3/edgeResource", R"({"name":"x"})", token), 400, "ValidationError",
               "Required field 'version' is missing");
  expect_error(post("/api/v3/edgeResource", R"({"name":"x","version":"one"})", token), 400,
               "ValidationError", "version");
  for (const char* bad : {"1.0", "01.0.0", "1.0.0-", "1.0.0+a..b", "1.x.0"}) {
    expect_error(post("/api/v3/edgeResource",
                      std::string(R"({"name":"x","version":")") + bad + "\"}", token),
                 400, "ValidationError", "version");
  }
  EXPECT_EQ(post("/api/v3/edgeResource", R"({"name":"pre","version":"v1.0.0-rc.1+build.5"})", token)
                .status,
            201);
  expect_error(post("/api/v3/edgeResource", R"({"name":"Bad Name","version":"1.0.0"})", token), 400,
               "ValidationError", "name");
  expect_error(post("/api/v3/edgeResource",
                    R"({"name":"x","version":"1.0.0","interfaceProtocol":"ftp"})", token),
               400, "ValidationError", "interfaceProtocol");
  expect_error(post("/api/v3/edgeResource",
                    R"({"name":"x","version":"1.0.0","orchestrationTags":"a"})", token),
               400, "ValidationError", "orchestrationTags");
  expect_error(
      post("/api/v3/edgeResource",
           R"({"name":"x","version":"1.0.0","interface":{"endpoints":[{"method":"FETCH"}]}})",
           token),
      400, "ValidationError", "method");
  expect_error(post("/api/v3/edgeResource", "{not json", token), 400, "ValidationError");
  EXPECT_EQ(get("/api/v3/edgeResources", token).json().at("edgeResources").as_array().size(), 1u);
  EXPECT_EQ(get("/api/v3/edgeResources").status, 401);
}

TEST_F(edge_resource_api, LinkToAgent) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "door-node", R"("tags":["site-a"])");
  std::string agent = provision_agent(token, fog);
  ASSERT_EQ(post("/api/v3/edgeResource", door, token).status, 201);
  ack(agent);  // start from a clean change state
  EXPECT_EQ(get("/api/v3/agent/edgeResources", agent).json().as_array().size(), 0u);

  ASSERT_EQ(post("/api/v3/edgeResource/smart-door/1.0.0/link", "{\"uuid\":\"" + fog + "\"}", token)
                .status,
            204);
  EXPECT_TRUE(changes(agent).at("linkedEdgeResources").as_bool());
  auto mine = get("/api/v3/agent/edgeResources", agent).json().as_array();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].at("name").as_string(), "smart-door");
  EXPECT_EQ(mine[0].at("interface").at("endpoints").as_array().size(), 2u);
  auto f = get("/api/v3/iofog/" + fog, token).json();
  EXPECT_EQ(f.at("tags"), (json::array{"site-a", "door", "entrance"}));
  ASSERT_EQ(f.at("edgeResources").as_array().size(), 1u);
  EXPECT_EQ(f.at("edgeResources").as_array()[0].at("version").as_string(), "1.0.0");
  auto listed = get("/api/v3/iofog-list", token).json().at("fogs").as_array();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], f);  // the list renders a fog exactly as GET /iofog/:uuid does

  // Changing the resource's tags retags the agent.
  ASSERT_EQ(
      put("/api/v3/edgeResource/smart-door/1.0.0", R"({"orchestrationTags":["portal"]})", token)
          .status,
      204);
  EXPECT_EQ(get("/api/v3/iofog/" + fog, token).json().at("tags"),
            (json::array{"site-a", "portal"}));

  // Someone else's fog, unknown fogs, unknown resources: 404, nothing linked.
  std::string other = new_user_token();
  std::string other_fog = create_fog(other, "theirs");
  expect_error(
      post("/api/v3/edgeResource/smart-door/1.0.0/link", "{\"uuid\":\"" + other_fog + "\"}", token),
      404, "NotFoundError", "Invalid ioFog UUID");
  expect_error(
      post("/api/v3/edgeResource/smart-door/1.0.0/link", "{\"uuid\":\"" + fog + "\"}", other), 404,
      "NotFoundError");
  expect_error(post("/api/v3/edgeResource/smart-door/1.0.0/link", "{}", token), 400,
               "ValidationError", "Required field 'uuid' is missing");

  ASSERT_EQ(
      del("/api/v3/edgeResource/smart-door/1.0.0/link", token, "{\"uuid\":\"" + fog + "\"}").status,
      204);
  EXPECT_EQ(get("/api/v3/agent/edgeResources", agent).json().as_array().size(), 0u);
  EXPECT_EQ(get("/api/v3/iofog/" + fog, token).json().at("tags"), (json::array{"site-a"}));
  expect_error(
      del("/api/v3/edgeResource/smart-door/1.0.0/link", token, "{\"uuid\":\"" + fog + "\"}"), 404,
      "NotFoundError");

  // Deleting a linked resource unlinks it and takes its tags away.
  ASSERT_EQ(post("/api/v3/edgeResource/smart-door/1.0.0/link", "{\"uuid\":\"" + fog + "\"}", token)
                .status,
            204);
  ASSERT_EQ(del("/api/v3/edgeResource/smart-door/1.0.0", token).status, 204);
  EXPECT_EQ(get("/api/v3/agent/edgeResources", agent).json().as_array().size(), 0u);
  EXPECT_EQ(get("/api/v3/iofog/" + fog, token).json().at("tags"), (json::array{"site-a"}));
}

}  // namespace
}  // namespace fogmesh::controller::test
