// Applications, microservices (images, ports, volumes, env, cmd, extra hosts), registries,
// catalog, and what the agent receives from /agent/microservices and /agent/registries.
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using application_api = api_test;
namespace json = boost::json;

// The agent also receives its router microservice (api_router_test covers it).
json::array without_router(const json::value& list) {
  json::array out;
  for (const auto& m : list.as_array()) {
    if (m.at("isRouter") != json::value(true)) out.push_back(m);
  }
  return out;
}

constexpr const char* app_body = R"({
  "name": "demo-app", "description": "d", "isActivated": true,
  "microservices": [
    {"name": "producer", "agentName": "edge-a", "config": "{\"rate\":1}",
     "images": [{"containerImage": "busybox:x86", "fogTypeId": 1},
                {"containerImage": "busybox:arm", "fogTypeId": 2}],
     "ports": [{"internal": 80, "external": 8080, "protocol": "tcp"}],
     "volumeMappings": [{"hostDestination": "/data", "containerDestination": "/d",
                         "accessMode": "rw", "type": "bind"}],
     "env": [{"key": "A", "value": "1"}], "cmd": ["sh", "-c", "run"],
     "extraHosts": [{"name": "db", "address": "10.0.0.9"}]},
    {"name": "consumer", "agentName": "edge-a", "catalogItemId": 2}
  ],
  "routes": [{"name": "p-to-c", "from": "producer", "to": "consumer"}]
})";

TEST_F(application_api, ApplicationLifecycleAndAgentView) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "edge-a");
  std::string agent = provision_agent(token, fog);  // type 1 (x86)

  auto c = post("/api/v3/application", app_body, token);
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(c.json().at("name").as_string(), "demo-app");

  auto g = get("/api/v3/application/demo-app", token);
  ASSERT_EQ(g.status, 200) << g.body;
  auto app = g.json();
  EXPECT_EQ(app.at("isActivated"), true);
  auto msvcs = app.at("microservices").as_array();
  ASSERT_EQ(msvcs.size(), 2u);
  auto producer = msvcs[0].as_object();
  EXPECT_EQ(producer.at("name").as_string(), "producer");
  EXPECT_EQ(producer.at("iofogUuid").as_string(), fog);
  EXPECT_EQ(producer.at("config").as_string(), "{\"rate\":1}");
  EXPECT_EQ(producer.at("images").as_array().size(), 2u);
  EXPECT_EQ(producer.at("ports").at(0).at("external").as_int64(), 8080);
  EXPECT_EQ(producer.at("env").at(0).at("key").as_string(), "A");
  EXPECT_EQ(producer.at("cmd").as_array().size(), 3u);
  EXPECT_EQ(producer.at("status").at("status").as_string(), "QUEUED");
  EXPECT_EQ(app.at("routes").at(0).at("to").as_string(), "consumer");
  std::string producer_uuid(producer.at("uuid").as_string());
  std::string consumer_uuid(msvcs[1].at("uuid").as_string());
  EXPECT_EQ(producer.at("routes").at(0).as_string(), consumer_uuid);
  EXPECT_EQ(msvcs[1].at("images").at(0).at("containerImage").as_string(),
            "ghcr.io/fogmesh/proxy:latest");  // from the catalog item

  auto list = get("/api/v3/application", token).json().at("applications").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(get("/api/v3/microservices?application=demo-app", token)
                .json()
                .at("microservices")
                .as_array()
                .size(),
            2u);

  // The agent sees both, with the x86 image, and knows the list changed.
  EXPECT_EQ(get("/api/v3/agent/config/changes", agent).json().at("microserviceList"), true);
  auto am = get("/api/v3/agent/microservices", agent);
  ASSERT_EQ(am.status, 200) << am.body;
  auto agent_msvcs = without_router(am.json().at("microservices"));
  ASSERT_EQ(agent_msvcs.size(), 2u);
  EXPECT_EQ(agent_msvcs[0].at("imageId").as_string(), "busybox:x86");
  EXPECT_EQ(agent_msvcs[0].at("portMappings").at(0).at("portExternal").as_int64(), 8080);
  EXPECT_EQ(agent_msvcs[0].at("extraHosts").at(0).as_string(), "db:10.0.0.9");
  EXPECT_EQ(agent_msvcs[0].at("routes").at(0).as_string(), consumer_uuid);
  EXPECT_EQ(agent_msvcs[1].at("isConsumer"), true);

  // Status reports land in the microservice's status.
  std::string status = R"({"daemonStatus":"RUNNING","microserviceStatus":"[{\"id\":\")" +
                       producer_uuid +
                       R"(\",\"status\":\"RUNNING\",\"containerId\":\"abc\",\"cpuUsage\":1.5}]"})";
  ASSERT_EQ(put("/api/v3/agent/status", status, agent).status, 204);
  auto ms = get("/api/v3/microservices/" + producer_uuid, token).json();
  EXPECT_EQ(ms.at("status").at("status").as_string(), "RUNNING");
  EXPECT_EQ(ms.at("status").at("containerId").as_string(), "abc");

  // Deactivated applications are not run, and their microservices say so at once: a report
  // the agent sent before it stopped them does not bring RUNNING back.
  ASSERT_EQ(patch("/api/v3/application/demo-app", R"({"isActivated":false})", token).status, 204);
  EXPECT_EQ(
      without_router(get("/api/v3/agent/microservices", agent).json().at("microservices")).size(),
      0u);
  auto producer_status = [&] {
    return std::string(get("/api/v3/microservices/" + producer_uuid, token)
                           .json()
                           .at("status")
                           .at("status")
                           .as_string());
  };
  EXPECT_EQ(producer_status(), "STOPPED");
  EXPECT_EQ(get("/api/v3/microservices/" + producer_uuid, token)
                .json()
                .at("status")
                .at("containerId")
                .as_string(),
            "");
  ASSERT_EQ(put("/api/v3/agent/status", status, agent).status, 204);
  EXPECT_EQ(producer_status(), "STOPPED");
  ASSERT_EQ(patch("/api/v3/application/demo-app", R"({"isActivated":true})", token).status, 204);
  EXPECT_EQ(producer_status(), "QUEUED");
  ASSERT_EQ(put("/api/v3/agent/status", status, agent).status, 204);
  EXPECT_EQ(producer_status(), "RUNNING");

  // Config-only edits raise microserviceConfig; rebuild is served once.
  auto ch = get("/api/v3/agent/config/changes", agent).json();
  ASSERT_EQ(
      patch("/api/v3/agent/config/changes",
            R"({"lastUpdated":")" + std::string(ch.at("lastUpdated").as_string()) + R"("})", agent)
          .status,
      204);
  ASSERT_EQ(
      patch("/api/v3/microservices/" + producer_uuid, R"({"config":"{\"rate\":2}"})", token).status,
      204);
  auto ch2 = get("/api/v3/agent/config/changes", agent).json();
  EXPECT_EQ(ch2.at("microserviceConfig"), true);
  EXPECT_EQ(ch2.at("microserviceList"), false);
  ASSERT_EQ(patch("/api/v3/microservices/" + producer_uuid, R"({"rebuild":true})", token).status,
            204);
  EXPECT_EQ(without_router(get("/api/v3/agent/microservices", agent).json().at("microservices"))
                .at(0)
                .at("rebuild"),
            true);
  EXPECT_EQ(without_router(get("/api/v3/agent/microservices", agent).json().at("microservices"))
                .at(0)
                .at("rebuild"),
            false);

  EXPECT_EQ(del("/api/v3/application/demo-app", token).status, 204);
  expect_error(get("/api/v3/application/demo-app", token), 404, "NotFoundError");
  expect_error(get("/api/v3/microservices/" + producer_uuid, token), 404, "NotFoundError");
  EXPECT_EQ(
      without_router(get("/api/v3/agent/microservices", agent).json().at("microservices")).size(),
      0u);
}

TEST_F(application_api, ApplicationCreateIsAllOrNothing) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string fog = create_fog(token, "edge-a");
  std::string foreign_fog = create_fog(other, "theirs");
  std::string apps = db().query("SELECT count(*) FROM applications");
  std::string msvcs = db().query("SELECT count(*) FROM microservices");

  expect_error(post("/api/v3/application", "{", token), 400, "ValidationError");
  expect_error(post("/api/v3/application", R"({"description":"x"})", token), 400, "ValidationError",
               "Required field 'name' is missing");
  expect_error(post("/api/v3/application", R"({"name":"Bad_Name"})", token), 400, "ValidationError",
               "Invalid format for field 'name'");
  expect_error(post("/api/v3/application", R"({"name":"ok","isActivated":"yes"})", token), 400,
               "ValidationError", "Field 'isActivated' is not of a type(s) boolean");
  // Second microservice is broken: the application and the first microservice are not kept.
  expect_error(post("/api/v3/application",
                    R"({"name":"half","microservices":[
                         {"name":"good","images":[{"containerImage":"x","fogTypeId":1}]},
                         {"name":"bad"}]})",
                    token),
               400, "ValidationError", "Required field 'images' is missing");
  expect_error(post("/api/v3/application",
                    R"({"name":"half","microservices":[
                         {"name":"m","iofogUuid":")" +
                        foreign_fog + R"(","images":[{"containerImage":"x","fogTypeId":1}]}]})",
                    token),
               404, "NotFoundError", "Invalid ioFog UUID");
  expect_error(
      post(
          "/api/v3/application",
          R"({"name":"half","microservices":[
                         {"name":"a","iofogUuid":")" +
              fog +
              R"(","images":[{"containerImage":"x","fogTypeId":1}],"ports":[{"internal":1,"external":9000}]},
                         {"name":"b","iofogUuid":")" +
              fog +
              R"(","images":[{"containerImage":"x","fogTypeId":1}],"ports":[{"internal":2,"external":9000}]}]})",
          token),
      400, "ValidationError", "Port '9000' is not available");
  expect_error(
      post(
          "/api/v3/application",
          R"({"name":"half","microservices":[{"name":"a","images":[{"containerImage":"x","fogTypeId":1}]}],
                        "routes":[{"from":"a","to":"nobody"}]})",
          token),
      404, "NotFoundError", "Invalid microservice name 'nobody'");
  EXPECT_EQ(db().query("SELECT count(*) FROM applications"), apps);
  EXPECT_EQ(db().query("SELECT count(*) FROM microservices"), msvcs);

  ASSERT_EQ(post("/api/v3/application", R"({"name":"dup"})", token).status, 201);
  expect_error(post("/api/v3/application", R"({"name":"dup"})", token), 400, "ValidationError",
               "Duplicate name 'dup'");
  // Another user's application is invisible.
  expect_error(get("/api/v3/application/dup", other), 404, "NotFoundError");
  expect_error(patch("/api/v3/application/dup", R"({"isActivated":true})", other), 404,
               "NotFoundError");
  expect_error(del("/api/v3/application/dup", other), 404, "NotFoundError");
}

TEST_F(application_api, MicroservicePortsVolumesAndValidation) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string fog = create_fog(token, "edge-m");
  ASSERT_EQ(post("/api/v3/application", R"({"name":"svc"})", token).status, 201);
  std::string before = db().query("SELECT count(*) FROM microservices");

  expect_error(post("/api/v3/microservices",
                    R"({"name":"m1","images":[{"containerImage":"x","fogTypeId":1}]})", token),
               400, "ValidationError", "Required field 'application' is missing");
  expect_error(
      post("/api/v3/microservices",
           R"({"name":"m1","application":"nope","images":[{"containerImage":"x","fogTypeId":1}]})",
           token),
      404, "NotFoundError", "Invalid application name 'nope'");
  expect_error(
      post("/api/v3/microservices",
           R"({"name":"m1","application":"svc","images":[{"containerImage":"x","fogTypeId":3}]})",
           token),
      400, "ValidationError");
  expect_error(post("/api/v3/microservices",
                    R"({"name":"m1","application":"svc","catalogItemId":999})", token),
               404, "NotFoundError", "Invalid catalog item id '999'");
  expect_error(
      post(
          "/api/v3/microservices",
          R"({"name":"m1","application":"svc","images":[{"containerImage":"x","fogTypeId":1}],"ports":[{"internal":"80","external":80}]})",
          token),
      400, "ValidationError", "Field 'internal' is not of a type(s) integer");
  EXPECT_EQ(db().query("SELECT count(*) FROM microservices"), before);

  auto c = post("/api/v3/microservices",
                R"({"name":"m1","application":"svc","iofogUuid":")" + fog +
                    R"(","images":[{"containerImage":"x","fogTypeId":1}]})",
                token);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid(c.json().at("uuid").as_string());
  std::string base = "/api/v3/microservices/" + uuid;

  EXPECT_EQ(
      post(base + "/port-mapping", R"({"internal":80,"external":8081,"protocol":"tcp"})", token)
          .status,
      201);
  expect_error(post(base + "/port-mapping", R"({"internal":81,"external":8081})", token), 400,
               "ValidationError", "Port '8081' is not available");
  expect_error(post(base + "/port-mapping",
                    R"({"internal":81,"external":8082,"public":{"enabled":true,"protocol":"http",)"
                    R"("router":{"host":"no-such-agent"}}})",
                    token),
               400, "ValidationError", "Invalid router host 'no-such-agent'");
  auto ports = get(base + "/port-mapping", token).json().at("ports").as_array();
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].at("protocol").as_string(), "tcp");
  EXPECT_EQ(del(base + "/port-mapping/80", token).status, 204);
  expect_error(del(base + "/port-mapping/80", token), 404, "NotFoundError");

  auto v = post(
      base + "/volume-mapping",
      R"({"hostDestination":"/h","containerDestination":"/c","accessMode":"ro","type":"volume"})",
      token);
  ASSERT_EQ(v.status, 201) << v.body;
  auto vid = v.json().at("id").as_int64();
  expect_error(post(base + "/volume-mapping", R"({"hostDestination":"/h"})", token), 400,
               "ValidationError", "Required field 'containerDestination' is missing");
  EXPECT_EQ(get(base + "/volume-mapping", token).json().at("volumeMappings").as_array().size(), 1u);
  EXPECT_EQ(del(base + "/volume-mapping/" + std::to_string(vid), token).status, 204);

  // Ownership: 404 for someone else, and nothing changes.
  expect_error(get(base, other), 404, "NotFoundError", "Invalid microservice UUID");
  expect_error(patch(base, R"({"name":"stolen"})", other), 404, "NotFoundError");
  expect_error(post(base + "/port-mapping", R"({"internal":1,"external":2})", other), 404,
               "NotFoundError");
  expect_error(del(base, other), 404, "NotFoundError");
  expect_error(patch(base, R"({"logSize":"big"})", token), 400, "ValidationError");
  EXPECT_EQ(get(base, token).json().at("name").as_string(), "m1");

  EXPECT_EQ(patch(base, R"({"name":"m1-renamed","env":[{"key":"K","value":"V"}]})", token).status,
            204);
  auto m = get(base, token).json();
  EXPECT_EQ(m.at("name").as_string(), "m1-renamed");
  EXPECT_EQ(m.at("env").at(0).at("value").as_string(), "V");
  EXPECT_EQ(del(base, token, R"({"withCleanup":true})").status, 204);
  expect_error(get(base, token), 404, "NotFoundError");
}

TEST_F(application_api, RegistriesAndCatalog) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string fog = create_fog(token, "edge-r");
  std::string agent = provision_agent(token, fog);
  // No agent: registry changes leave it alone (its agent fetches the registries when it starts).
  std::string bare = create_fog(token, "edge-bare");
  // A provisioning key not used yet: its agent may start before a change commits.
  std::string keyed = create_fog(token, "edge-keyed");
  auto key = get("/api/v3/iofog/" + keyed + "/provisioning-key", token);
  ASSERT_EQ(key.status, 201) << key.body;
  auto registry_rows = [&](const std::string& fog_uuid) {
    return db().query("SELECT count(*) FROM change_tracking WHERE registries AND fog_uuid = '" +
                      fog_uuid + "'");
  };

  auto seeded = get("/api/v3/registries", token).json().at("registries").as_array();
  ASSERT_GE(seeded.size(), 2u);
  EXPECT_EQ(seeded[0].at("url").as_string(), "registry.hub.docker.com");
  EXPECT_EQ(seeded[1].at("url").as_string(), "from_cache");

  expect_error(post("/api/v3/registries", R"({"username":"u"})", token), 400, "ValidationError",
               "Required field 'url' is missing");
  auto c = post(
      "/api/v3/registries",
      R"({"url":"registry.example.com","username":"bob","password":"s3cret","email":"b@example.com","isPublic":false})",
      token);
  ASSERT_EQ(c.status, 201) << c.body;
  auto id = std::to_string(c.json().at("id").as_int64());
  auto list = get("/api/v3/registries", token);
  EXPECT_EQ(list.body.find("s3cret"), std::string::npos) << "password leaked: " << list.body;
  EXPECT_EQ(get("/api/v3/registries", other).body.find("registry.example.com"), std::string::npos);

  // The agent gets the credentials (it has to pull) and a registries change.
  EXPECT_EQ(get("/api/v3/agent/config/changes", agent).json().at("registries"), true);
  auto ar = get("/api/v3/agent/registries", agent);
  EXPECT_NE(ar.body.find("s3cret"), std::string::npos);

  expect_error(patch("/api/v3/registries/" + id, R"({"url":"x"})", other), 404, "NotFoundError");
  expect_error(patch("/api/v3/registries/1", R"({"url":"x"})", token), 404, "NotFoundError");
  EXPECT_EQ(patch("/api/v3/registries/" + id, R"({"username":"alice"})", token).status, 204);
  EXPECT_NE(get("/api/v3/registries", token).body.find("alice"), std::string::npos);
  EXPECT_EQ(del("/api/v3/registries/" + id, token).status, 204);
  EXPECT_EQ(get("/api/v3/registries", token).body.find("registry.example.com"), std::string::npos);
  EXPECT_EQ(registry_rows(bare), "0");
  EXPECT_EQ(registry_rows(keyed), "3");  // create, patch, delete
  auto keyed_agent =
      post("/api/v3/agent/provision",
           R"({"key":")" + std::string(key.json().at("key").as_string()) + R"(","type":1})");
  ASSERT_EQ(keyed_agent.status, 200) << keyed_agent.body;
  EXPECT_EQ(
      get("/api/v3/agent/config/changes", std::string(keyed_agent.json().at("token").as_string()))
          .json()
          .at("registries"),
      true);

  auto catalog = get("/api/v3/catalog/microservices", token);
  ASSERT_EQ(catalog.status, 200);
  auto items = catalog.json().at("catalogItems").as_array();
  ASSERT_GE(items.size(), 2u);
  EXPECT_EQ(items[0].at("category").as_string(), "SYSTEM");
  EXPECT_EQ(get("/api/v3/catalog/microservices/1", token).json().at("name").as_string(), "Router");
  expect_error(get("/api/v3/catalog/microservices/4242", token), 404, "NotFoundError");
}

TEST_F(application_api, PutReplacesMicroservicesByName) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "edge-a");
  ASSERT_EQ(post("/api/v3/application", app_body, token).status, 201);
  auto before = get("/api/v3/application/demo-app", token).json();
  std::string producer(before.at("microservices").at(0).at("uuid").as_string());
  std::string consumer(before.at("microservices").at(1).at("uuid").as_string());

  // producer kept (same uuid, new config), consumer dropped, sink added, one new route.
  auto r = put("/api/v3/application/demo-app", R"({
    "name": "demo-app", "isActivated": true,
    "microservices": [
      {"name": "producer", "config": "{\"rate\":5}"},
      {"name": "sink", "agentName": "edge-a", "images": [{"containerImage": "sink:1", "fogTypeId": 1}]}],
    "routes": [{"name": "p-to-s", "from": "producer", "to": "sink"}]})",
               token);
  ASSERT_EQ(r.status, 204) << r.body;
  auto after = get("/api/v3/application/demo-app", token).json();
  auto msvcs = after.at("microservices").as_array();
  ASSERT_EQ(msvcs.size(), 2u);
  EXPECT_EQ(msvcs[0].at("uuid").as_string(), producer);
  EXPECT_EQ(msvcs[0].at("config").as_string(), "{\"rate\":5}");
  EXPECT_EQ(msvcs[1].at("name").as_string(), "sink");
  expect_error(get("/api/v3/microservices/" + consumer, token), 404, "NotFoundError");
  ASSERT_EQ(after.at("routes").as_array().size(), 1u);
  EXPECT_EQ(after.at("routes").at(0).at("to").as_string(), "sink");

  // A bad replacement changes nothing.
  expect_error(put("/api/v3/application/demo-app",
                   R"({"name":"demo-app","microservices":[{"name":"new-one"}]})", token),
               400, "ValidationError");
  EXPECT_EQ(get("/api/v3/application/demo-app", token).json().at("microservices").as_array().size(),
            2u);
  expect_error(put("/api/v3/application/nope", R"({"name":"nope"})", token), 404, "NotFoundError");
}

TEST_F(application_api, DeletingAnAgentDeletesItsMicroservices) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "edge-a");
  ASSERT_EQ(post("/api/v3/application", app_body, token).status, 201);
  auto msvcs = get("/api/v3/application/demo-app", token).json().at("microservices").as_array();
  ASSERT_EQ(msvcs.size(), 2u);
  EXPECT_EQ(del("/api/v3/iofog/" + fog, token).status, 202);
  for (const auto& m : msvcs) {
    expect_error(get("/api/v3/microservices/" + std::string(m.at("uuid").as_string()), token), 404,
                 "NotFoundError");
  }
  // The application itself stays, with its routes gone along with their microservices.
  auto app = get("/api/v3/application/demo-app", token).json();
  EXPECT_EQ(app.at("microservices").as_array().size(), 0u);
  EXPECT_EQ(app.at("routes").as_array().size(), 0u);
}

TEST_F(application_api, ProvisioningChecksImagesAndDeprovisionMarksDeleting) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "edge-x86-only");
  ASSERT_EQ(
      post("/api/v3/application",
           R"({"name":"x86-app","microservices":[{"name":"only-x86","agentName":"edge-x86-only",
                     "images":[{"containerImage":"x:1","fogTypeId":1}]}]})",
           token)
          .status,
      201);
  auto k = get("/api/v3/iofog/" + fog + "/provisioning-key", token);
  std::string key(k.json().at("key").as_string());
  // An ARM node cannot run it: refused, and the key survives for a corrected attempt.
  expect_error(post("/api/v3/agent/provision", R"({"key":")" + key + R"(","type":2})"), 400,
               "ValidationError", "Microservice 'only-x86' has no image for agent type 2");
  auto p = post("/api/v3/agent/provision", R"({"key":")" + key + R"(","type":1})");
  ASSERT_EQ(p.status, 200) << p.body;
  std::string agent(p.json().at("token").as_string());

  std::string uuid(get("/api/v3/application/x86-app", token)
                       .json()
                       .at("microservices")
                       .at(0)
                       .at("uuid")
                       .as_string());
  ASSERT_EQ(post("/api/v3/agent/deprovision", R"({"microserviceUuids":[")" + uuid + R"("]})", agent)
                .status,
            204);
  EXPECT_EQ(
      get("/api/v3/microservices/" + uuid, token).json().at("status").at("status").as_string(),
      "DELETING");
}

TEST_F(application_api, LegacyFlowAlias) {
  std::string token = new_user_token();
  auto c = post("/api/v3/flow", R"({"name":"old-style","description":"v2"})", token);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string id = std::to_string(c.json().at("id").as_int64());
  EXPECT_EQ(get("/api/v3/flow", token).json().at("flows").as_array().size(), 1u);
  EXPECT_EQ(get("/api/v3/flow/" + id, token).json().at("name").as_string(), "old-style");
  EXPECT_EQ(patch("/api/v3/flow/" + id, R"({"isActivated":true})", token).status, 204);
  EXPECT_EQ(get("/api/v3/application/old-style", token).json().at("isActivated"), true);
  // flowId is accepted where an application is expected.
  auto m =
      post("/api/v3/microservices",
           R"({"name":"m","flowId":)" + id + R"(,"images":[{"containerImage":"x","fogTypeId":1}]})",
           token);
  EXPECT_EQ(m.status, 201) << m.body;
  EXPECT_EQ(
      get("/api/v3/microservices?flowId=" + id, token).json().at("microservices").as_array().size(),
      1u);
  EXPECT_EQ(del("/api/v3/flow/" + id, token).status, 204);
  expect_error(get("/api/v3/flow/" + id, token), 404, "NotFoundError", "Invalid flow id");
}

TEST_F(application_api, RoutesEndpoints) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string fog = create_fog(token, "edge-a");
  std::string agent = provision_agent(token, fog);
  ASSERT_EQ(post("/api/v3/application", app_body, token).status, 201);
  auto app = get("/api/v3/application/demo-app", token).json();
  std::string producer(app.at("microservices").at(0).at("uuid").as_string());
  std::string consumer(app.at("microservices").at(1).at("uuid").as_string());

  auto list = get("/api/v3/routes", token).json().at("routes").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("application").as_string(), "demo-app");
  EXPECT_EQ(list[0].at("from").as_string(), "producer");
  EXPECT_EQ(get("/api/v3/routes", other).json().at("routes").as_array().size(), 0u);

  expect_error(
      post("/api/v3/routes", R"({"name":"back","from":"consumer","to":"producer"})", token), 400,
      "ValidationError", "Required field 'application' is missing");
  expect_error(
      post("/api/v3/routes",
           R"({"name":"back","from":"consumer","to":"ghost","application":"demo-app"})", token),
      404, "NotFoundError", "Invalid microservice name 'ghost'");
  expect_error(
      post("/api/v3/routes",
           R"({"name":"p-to-c","from":"producer","to":"consumer","application":"demo-app"})",
           token),
      400, "ValidationError", "Duplicate name 'p-to-c'");
  ASSERT_EQ(
      post("/api/v3/routes",
           R"({"name":"back","from":"consumer","to":"producer","application":"demo-app"})", token)
          .status,
      201);
  EXPECT_EQ(get("/api/v3/agent/config/changes", agent).json().at("routing"), true);
  auto back = get("/api/v3/routes/demo-app/back", token);
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.json().at("to").as_string(), "producer");
  expect_error(get("/api/v3/routes/demo-app/back", other), 404, "NotFoundError");
  EXPECT_EQ(patch("/api/v3/routes/demo-app/back", R"({"name":"back-2"})", token).status, 204);
  expect_error(get("/api/v3/routes/demo-app/back", token), 404, "NotFoundError");
  EXPECT_EQ(del("/api/v3/routes/demo-app/back-2", token).status, 204);

  // Legacy point-to-point routes.
  EXPECT_EQ(del("/api/v3/microservices/" + producer + "/routes/" + consumer, token).status, 204);
  EXPECT_EQ(get("/api/v3/microservices/" + producer, token).json().at("routes").as_array().size(),
            0u);
  EXPECT_EQ(post("/api/v3/microservices/" + producer + "/routes/" + consumer, "", token).status,
            201);
  EXPECT_EQ(get("/api/v3/microservices/" + producer, token).json().at("routes").at(0).as_string(),
            consumer);
  expect_error(post("/api/v3/microservices/" + producer + "/routes/" + consumer, "", other), 404,
               "NotFoundError");
}

TEST_F(application_api, CatalogItemsCrud) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string body =
      R"({"name":"my-sensor","description":"reads","category":"SENSORS","images":[{"containerImage":"me/sensor:1","fogTypeId":1}],"configExample":"{}","inputType":{"infoType":"t","infoFormat":"f"}})";
  auto c = post("/api/v3/catalog/microservices", body, token);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string id = std::to_string(c.json().at("id").as_int64());
  expect_error(post("/api/v3/catalog/microservices", body, token), 409, "DuplicatePropertyError",
               "Duplicate name 'my-sensor'");
  expect_error(post("/api/v3/catalog/microservices", R"({"name":"x"})", token), 400,
               "ValidationError", "Required field 'images' is missing");
  expect_error(post("/api/v3/catalog/microservices",
                    R"({"name":"x","images":[{"containerImage":"i","fogTypeId":9}]})", token),
               400, "ValidationError");

  auto item = get("/api/v3/catalog/microservices/" + id, token).json();
  EXPECT_EQ(item.at("category").as_string(), "SENSORS");
  EXPECT_EQ(item.at("images").at(0).at("containerImage").as_string(), "me/sensor:1");
  expect_error(get("/api/v3/catalog/microservices/" + id, other), 404, "NotFoundError");
  expect_error(patch("/api/v3/catalog/microservices/1", R"({"name":"mine-now"})", token), 404,
               "NotFoundError");  // SYSTEM items are read-only

  EXPECT_EQ(
      patch(
          "/api/v3/catalog/microservices/" + id,
          R"({"description":"better","images":[{"containerImage":"me/sensor:2","fogTypeId":1},{"containerImage":"me/sensor:2-arm","fogTypeId":2}]})",
          token)
          .status,
      204);
  item = get("/api/v3/catalog/microservices/" + id, token).json();
  EXPECT_EQ(item.at("description").as_string(), "better");
  EXPECT_EQ(item.at("images").as_array().size(), 2u);

  // In use by a microservice: not deletable; afterwards it is.
  ASSERT_EQ(
      post("/api/v3/application",
           R"({"name":"uses-catalog","microservices":[{"name":"s","catalogItemId":)" + id + "}]}",
           token)
          .status,
      201);
  expect_error(del("/api/v3/catalog/microservices/" + id, token), 400, "ValidationError");
  ASSERT_EQ(del("/api/v3/application/uses-catalog", token).status, 204);
  EXPECT_EQ(del("/api/v3/catalog/microservices/" + id, token).status, 204);
  expect_error(get("/api/v3/catalog/microservices/" + id, token), 404, "NotFoundError");
}

TEST_F(application_api, YamlUploads) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "yaml-node");
  std::string app_yaml = R"(apiVersion: iofog.org/v2
kind: Application
metadata:
  name: yaml-app
spec:
  microservices:
    - name: heart
      agent:
        name: yaml-node
      images:
        x86: busybox:1
        arm: busybox:arm
        registry: remote
      container:
        rootHostAccess: false
        ports:
          - internal: 80
            external: 9080
        volumes:
          - hostDestination: /tmp/h
            containerDestination: /data
            accessMode: rw
        env:
          - key: MODE
            value: "1"
        commands: ["run", "--fast"]
      config:
        rate: 5
        label: x
    - name: sink
      agent:
        name: yaml-node
      images:
        x86: busybox:2
        registry: local
  routes:
    - name: r1
      from: heart
      to: sink
)";
  // Not multipart, or the wrong kind: 400 and nothing written.
  std::string before = db().query("SELECT count(*) FROM applications");
  expect_error(post("/api/v3/application/yaml", R"({"name":"x"})", token), 400, "ValidationError",
               "Invalid content type");
  expect_error(upload(port(), "POST", "/api/v3/application/yaml", "application",
                      "kind: Microservice\nmetadata: {name: a}\nspec: {}\n", token),
               400, "ValidationError", "Invalid kind Microservice");
  expect_error(upload(port(), "POST", "/api/v3/application/yaml", "application",
                      "kind: Application\nspec: [oops\n", token),
               400, "ValidationError", "Invalid YAML format");
  expect_error(upload(port(), "POST", "/api/v3/application/yaml", "other", app_yaml, token), 400,
               "ValidationError", "Required field 'application' is missing");
  EXPECT_EQ(db().query("SELECT count(*) FROM applications"), before);

  auto c = upload(port(), "POST", "/api/v3/application/yaml", "application", app_yaml, token);
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(c.json().at("name"), "yaml-app");
  auto app = get("/api/v3/application/yaml-app", token).json();
  EXPECT_EQ(app.at("isActivated"), true);
  auto msvcs = app.at("microservices").as_array();
  ASSERT_EQ(msvcs.size(), 2u);
  const auto& heart = msvcs[0];
  EXPECT_EQ(heart.at("name"), "heart");
  EXPECT_EQ(heart.at("iofogUuid").as_string(), fog);
  EXPECT_EQ(heart.at("registryId"), 1);
  EXPECT_EQ(heart.at("images"), json::parse(R"([{"containerImage":"busybox:1","fogTypeId":1},
                            {"containerImage":"busybox:arm","fogTypeId":2}])"));
  EXPECT_EQ(heart.at("ports"),
            json::parse(R"([{"internal":80,"external":9080,"protocol":"tcp"}])"));
  EXPECT_EQ(heart.at("volumeMappings").at(0).at("containerDestination"), "/data");
  EXPECT_EQ(heart.at("env"), json::parse(R"([{"key":"MODE","value":"1"}])"));
  EXPECT_EQ(heart.at("cmd"), json::parse(R"(["run","--fast"])"));
  EXPECT_EQ(json::parse(heart.at("config").as_string()), json::parse(R"({"rate":5,"label":"x"})"));
  EXPECT_EQ(msvcs[1].at("registryId"), 2);
  EXPECT_EQ(app.at("routes"), json::parse(R"([{"name":"r1","from":"heart","to":"sink"}])"));
  std::string heart_uuid(heart.at("uuid").as_string());

  // PUT /application/yaml/:name replaces (microservices matched by name keep their uuid).
  std::string put_yaml = R"(kind: Application
metadata:
  name: yaml-app
spec:
  microservices:
    - name: heart
      agent: {name: yaml-node}
      images: {x86: "busybox:3"}
)";
  auto u =
      upload(port(), "PUT", "/api/v3/application/yaml/yaml-app", "application", put_yaml, token);
  ASSERT_EQ(u.status, 204) << u.body;
  app = get("/api/v3/application/yaml-app", token).json();
  ASSERT_EQ(app.at("microservices").as_array().size(), 1u);
  EXPECT_EQ(app.at("microservices").at(0).at("uuid").as_string(), heart_uuid);
  EXPECT_EQ(app.at("microservices").at(0).at("images").at(0).at("containerImage"), "busybox:3");

  // Microservices: "<application>/<name>" in metadata.name; PATCH by uuid.
  std::string msvc_yaml = R"(apiVersion: iofog.org/v2
kind: Microservice
metadata:
  name: yaml-app/extra
spec:
  agent:
    name: yaml-node
  images:
    x86: busybox:4
  container:
    env:
      - key: A
        value: b
)";
  auto m = upload(port(), "POST", "/api/v3/microservices/yaml", "microservice", msvc_yaml, token);
  ASSERT_EQ(m.status, 201) << m.body;
  std::string extra(m.json().at("uuid").as_string());
  auto got = get("/api/v3/microservices/" + extra, token).json();
  EXPECT_EQ(got.at("application"), "yaml-app");
  EXPECT_EQ(got.at("name"), "extra");
  std::string patch_yaml = R"(kind: Microservice
metadata:
  name: yaml-app/extra
spec:
  images:
    x86: busybox:5
)";
  auto pm = upload(port(), "PATCH", "/api/v3/microservices/yaml/" + extra, "microservice",
                   patch_yaml, token);
  ASSERT_EQ(pm.status, 204) << pm.body;
  EXPECT_EQ(
      get("/api/v3/microservices/" + extra, token).json().at("images").at(0).at("containerImage"),
      "busybox:5");
}

}  // namespace
}  // namespace fogmesh::controller::test
