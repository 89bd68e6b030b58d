// YAML documents -> canonical specs -> controller bodies, the reverse used by describe, and the
// messages of bad documents (file, document, field).
#include "fogmesh/ctl/resources.hpp"

#include <gtest/gtest.h>

#include "http_client.hpp"

namespace fogmesh::ctl {
namespace {

const char* app_yaml = R"(apiVersion: iofog.org/v2
kind: Application
metadata:
  name: health
spec:
  microservices:
  - name: monitor
    agent:
      name: edge-1
    images:
      x86: example/monitor:x86
      arm: example/monitor:arm
      registry: remote
    container:
      rootHostAccess: false
      ports:
      - {internal: 80, external: 5000}
      volumes:
      - {hostDestination: /tmp/data, containerDestination: /data}
      env:
      - {key: MODE, value: "1"}
      - {key: LEVEL, value: 3}
      extraHosts:
      - {name: db, address: 10.0.0.1}
      commands: [run, --fast]
    config:
      test_mode: true
      label: "Anonymous"
      rate: 1.5
      count: 7
  - name: viewer
    images:
      catalogId: 5
  routes:
  - from: monitor
    to: viewer
)";

resource only(const std::string& text) {
  auto docs = parse_documents(text, "app.yaml");
  EXPECT_EQ(docs.size(), 1u);
  return docs.at(0);
}

std::string error_of(const std::string& text) {
  try {
    parse_documents(text, "bad.yaml");
  } catch (const spec_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(resources, application_maps_to_the_controller_body) {
  auto r = only(app_yaml);
  EXPECT_EQ(r.k, kind::application);
  EXPECT_EQ(r.name, "health");
  auto body = application_body(r.name, r.spec);
  EXPECT_EQ(body.at("name"), "health");
  EXPECT_EQ(body.at("isActivated"), true);
  const auto& msvcs = body.at("microservices").as_array();
  ASSERT_EQ(msvcs.size(), 2u);
  const auto& m = msvcs[0].as_object();
  EXPECT_EQ(m.at("name"), "monitor");
  EXPECT_EQ(m.at("agentName"), "edge-1");
  EXPECT_EQ(m.at("registryId"), 1);
  EXPECT_EQ(
      json::serialize(m.at("images")),
      R"([{"containerImage":"example/monitor:x86","fogTypeId":1},{"containerImage":"example/monitor:arm","fogTypeId":2}])");
  EXPECT_EQ(json::serialize(m.at("ports")),
            R"([{"internal":80,"external":5000,"protocol":"tcp"}])");
  EXPECT_EQ(
      json::serialize(m.at("volumeMappings")),
      R"([{"hostDestination":"/tmp/data","containerDestination":"/data","accessMode":"rw","type":"bind"}])");
  // env values are strings whatever YAML type they were written as
  EXPECT_EQ(json::serialize(m.at("env")),
            R"([{"key":"MODE","value":"1"},{"key":"LEVEL","value":"3"}])");
  EXPECT_EQ(json::serialize(m.at("cmd")), R"(["run","--fast"])");
  EXPECT_EQ(json::serialize(m.at("extraHosts")), R"([{"name":"db","address":"10.0.0.1"}])");
  // config is sent as a JSON string, typed as YAML types it
  auto config = json::parse(m.at("config").as_string());
  EXPECT_EQ(config.at("test_mode"), true);
  EXPECT_EQ(config.at("label"), "Anonymous");
  EXPECT_EQ(config.at("rate"), 1.5);
  EXPECT_EQ(config.at("count"), 7);
  const auto& v = msvcs[1].as_object();
  EXPECT_EQ(v.at("catalogItemId"), 5);
  EXPECT_FALSE(v.contains("images"));
  EXPECT_FALSE(v.contains("agentName"));
  EXPECT_EQ(json::serialize(body.at("routes")),
            R"([{"name":"monitor-viewer","from":"monitor","to":"viewer"}])");
}

// What the controller answers for that application, reduced to a spec, equals the document's
// spec: deploy sees nothing to do, and describe prints YAML that parses to the same spec.
TEST(resources, controller_view_round_trips_to_the_same_spec) {
  auto r = only(app_yaml);
  auto api = json::parse(R"({"id":1,"name":"health","description":"","isActivated":true,
    "microservices":[
     {"uuid":"u1","name":"monitor","config":"{\"test_mode\":true,\"label\":\"Anonymous\",\"rate\":1.5E0,\"count\":7}",
      "catalogItemId":null,"iofogUuid":"fog-1","application":"health","rootHostAccess":false,"logSize":0,
      "registryId":1,"images":[{"containerImage":"example/monitor:x86","fogTypeId":1},
      {"containerImage":"example/monitor:arm","fogTypeId":2}],
      "ports":[{"internal":80,"external":5000,"protocol":"tcp"}],
      "volumeMappings":[{"id":4,"hostDestination":"/tmp/data","containerDestination":"/data","accessMode":"rw","type":"bind"}],
      "env":[{"key":"MODE","value":"1"},{"key":"LEVEL","value":"3"}],"cmd":["run","--fast"],
      "extraHosts":[{"name":"db","address":"10.0.0.1","value":"10.0.0.1"}],"status":{"status":"RUNNING"}},
     {"uuid":"u2","name":"viewer","config":"{}","catalogItemId":5,"iofogUuid":null,"registryId":1,
      "images":[{"containerImage":"x","fogTypeId":1}],"ports":[],"volumeMappings":[],"env":[],"cmd":[],
      "extraHosts":[],"rootHostAccess":false}],
    "routes":[{"name":"monitor-viewer","from":"monitor","to":"viewer"}]})");
  fog_name_map names{{"fog-1", "edge-1"}};
  auto spec = application_spec_from_api(api.as_object(), names);
  EXPECT_TRUE(same_spec(spec, r.spec)) << json::serialize(spec) << "\n" << json::serialize(r.spec);

  std::string described = to_yaml_document(kind::application, "health", "", spec);
  auto again = only(described);
  EXPECT_TRUE(same_spec(again.spec, r.spec)) << described;
  EXPECT_NE(described.find("apiVersion: iofog.org/v2"), std::string::npos);
}

// The controller adds to a public port what it allocated (router, port, links): a document that
// did not set those is still what runs, so a second deploy of it is a no-op.
std::string site_yaml(const std::string& public_protocol) {
  return R"(apiVersion: iofog.org/v2
kind: Application
metadata: {name: web}
spec:
  microservices:
  - name: site
    agent: {name: edge-1}
    images: {x86: example/site:1, registry: local}
    container:
      ports:
      - {internal: 8080, external: 18080, public: {schemes: [http], protocol: )" +
         public_protocol + "}}\n";
}

TEST(resources, public_port_fields_the_document_left_out_are_not_a_change) {
  auto r = only(site_yaml("http"));
  auto api = json::parse(R"({"name":"web","isActivated":true,"routes":[],"microservices":[
     {"uuid":"u1","name":"site","config":"{}","iofogUuid":"fog-1","application":"web","registryId":2,
      "images":[{"containerImage":"example/site:1","fogTypeId":1}],
      "ports":[{"internal":8080,"external":18080,"protocol":"tcp",
                "public":{"enabled":true,"schemes":["http"],"protocol":"http",
                          "links":["http://10.0.0.1:6000"],"router":{"host":"default-router","port":6000}}}],
      "volumeMappings":[],"env":[],"cmd":[],"extraHosts":[],"rootHostAccess":false}]})");
  fog_name_map names{{"fog-1", "edge-1"}};
  auto have = application_spec_from_api(api.as_object(), names);
  EXPECT_FALSE(same_spec(have, r.spec));
  drop_public_fields_not_asked_for(have, r.spec);
  EXPECT_TRUE(same_spec(have, r.spec)) << json::serialize(have) << "\n" << json::serialize(r.spec);

  // A field the document does set still counts: another protocol is a change.
  auto other = only(site_yaml("tcp"));
  auto have_again = application_spec_from_api(api.as_object(), names);
  drop_public_fields_not_asked_for(have_again, other.spec);
  EXPECT_FALSE(same_spec(have_again, other.spec));
}

TEST(resources, strings_that_look_like_other_types_stay_strings) {
  json::object spec{{"s1", "true"}, {"s2", "123"}, {"s3", ""}, {"s4", "null"}, {"s5", "- x"},
                    {"s6", "a: b"}, {"n", 2.0},    {"i", 3},   {"b", false}};
  auto back = yaml_text_to_json(to_yaml(spec));
  EXPECT_TRUE(same_spec(back, spec)) << to_yaml(spec);
  EXPECT_TRUE(back.at("n").is_double());
  EXPECT_TRUE(back.at("i").is_int64());
}

TEST(resources, microservice_kind_takes_application_from_name_or_spec) {
  auto r = only(R"(apiVersion: iofog.org/v2
kind: Microservice
metadata: {name: health/extra}
spec:
  images: {x86: a/b, registry: local}
  agent: {name: edge-1}
)");
  EXPECT_EQ(r.k, kind::microservice);
  EXPECT_EQ(r.name, "extra");
  EXPECT_EQ(r.spec.at("application"), "health");
  auto body = microservice_body(r.spec);
  EXPECT_EQ(body.at("application"), "health");
  EXPECT_EQ(body.at("name"), "extra");
  EXPECT_EQ(body.at("registryId"), 2);
  EXPECT_EQ(body.at("config"), "{}");
}

TEST(resources, registry_catalog_route_and_agent_bodies) {
  auto docs = parse_documents(R"(apiVersion: iofog.org/v2
kind: Registry
metadata: {name: mine}
spec: {url: registry.example.com, username: bob, password: secret1234, email: bob@example.com, private: true}
---
apiVersion: iofog.org/v2
kind: CatalogItem
metadata: {name: sensor}
spec: {description: A sensor, x86: example/sensor:1, registry: remote, configExample: '{"a":1}'}
---
apiVersion: iofog.org/v2
kind: Route
metadata: {name: health/r1}
spec: {from: monitor, to: viewer}
---
apiVersion: iofog.org/v2
kind: AgentConfig
metadata: {name: edge-1}
spec:
  host: 10.0.0.5
  agentType: x86
  memoryLimit: 1024
  latitude: 46.5
  routerConfig: {routerMode: edge, messagingPort: 5672}
)",
                              "multi.yaml");
  ASSERT_EQ(docs.size(), 4u);
  auto reg = registry_body(docs[0].spec);
  EXPECT_EQ(reg.at("url"), "registry.example.com");
  EXPECT_EQ(reg.at("isPublic"), false);
  EXPECT_EQ(reg.at("password"), "secret1234");
  auto cat = catalog_item_body(docs[1].name, docs[1].spec);
  EXPECT_EQ(cat.at("name"), "sensor");
  EXPECT_EQ(json::serialize(cat.at("images")),
            R"([{"containerImage":"example/sensor:1","fogTypeId":1}])");
  EXPECT_EQ(cat.at("configExample"), R"({"a":1})");
  EXPECT_EQ(cat.at("registryId"), 1);
  auto route = route_body(docs[2].name, docs[2].spec);
  EXPECT_EQ(json::serialize(route),
            R"({"name":"r1","application":"health","from":"monitor","to":"viewer"})");
  auto agent = agent_config_body(docs[3].name, docs[3].spec);
  EXPECT_EQ(agent.at("name"), "edge-1");
  EXPECT_EQ(agent.at("fogType"), 1);
  EXPECT_EQ(agent.at("routerMode"), "edge");
  EXPECT_EQ(agent.at("messagingPort"), 5672);
  EXPECT_EQ(agent.at("memoryLimit"), 1024);
  EXPECT_FALSE(agent.contains("routerConfig"));
  // The controller's fog (more fields, numbers as it stores them) matches what was asked.
  auto fog = json::parse(R"({"uuid":"f","name":"edge-1","host":"10.0.0.5","fogTypeId":1,
    "memoryLimit":1024.0,"latitude":46.5,"routerMode":"edge","messagingPort":5672,"cpuLimit":80})");
  EXPECT_TRUE(agent_config_matches(agent, fog.as_object()));
  fog.as_object()["memoryLimit"] = 2048;
  EXPECT_FALSE(agent_config_matches(agent, fog.as_object()));
  // describe of that fog deploys back to the same body
  auto described = to_yaml_document(kind::agent_config, "edge-1", "",
                                    agent_config_spec_from_api(fog.as_object()));
  auto again = only(described);
  EXPECT_TRUE(agent_config_matches(agent_config_body("edge-1", again.spec), fog.as_object()))
      << described;
}

TEST(resources, errors_name_file_document_and_field) {
  std::string bad_field = error_of(R"(apiVersion: iofog.org/v2
kind: Application
metadata: {name: ok}
spec: {microservices: []}
---
apiVersion: iofog.org/v2
kind: Application
metadata: {name: second}
spec:
  microservices:
  - name: a
    images: {x86: a/b}
    container:
      ports:
      - {internal: 80, external: eighty}
)");
  {
    EXPECT_NE(bad_field.find("bad.yaml: document 2"), std::string::npos) << bad_field;
    EXPECT_NE(bad_field.find("Application 'second'"), std::string::npos) << bad_field;
    EXPECT_NE(bad_field.find("spec.microservices[0].container.ports[0].external"),
              std::string::npos)
        << bad_field;
    EXPECT_NE(bad_field.find("must be an integer"), std::string::npos) << bad_field;
    EXPECT_NE(bad_field.find("line 15"), std::string::npos) << bad_field;
  }

  std::string missing = error_of(
      "apiVersion: iofog.org/v2\nkind: Application\nmetadata: {name: x}\nspec:\n  microservices:\n "
      " - name: a\n");
  EXPECT_NE(missing.find("document 1"), std::string::npos) << missing;
  EXPECT_NE(missing.find("spec.microservices[0].images"), std::string::npos) << missing;
  EXPECT_NE(missing.find("required field is missing"), std::string::npos) << missing;

  std::string typo = error_of(
      "apiVersion: iofog.org/v2\nkind: Application\nmetadata: {name: x}\nspec:\n  microservice: "
      "[]\n");
  EXPECT_NE(typo.find("spec.microservice'"), std::string::npos) << typo;
  EXPECT_NE(typo.find("unknown field"), std::string::npos) << typo;

  std::string kind_err =
      error_of("apiVersion: iofog.org/v2\nkind: Aplication\nmetadata: {name: x}\nspec: {}\n");
  EXPECT_NE(kind_err.find("unknown kind 'Aplication'"), std::string::npos) << kind_err;

  std::string route = error_of(
      "apiVersion: iofog.org/v2\nkind: Application\nmetadata: {name: x}\nspec:\n  microservices:\n"
      "  - {name: a, images: {x86: i}}\n  routes:\n  - {from: a, to: b}\n");
  EXPECT_NE(route.find("spec.routes[0].to"), std::string::npos) << route;
  EXPECT_NE(route.find("no microservice named 'b'"), std::string::npos) << route;

  std::string name = error_of(
      "apiVersion: iofog.org/v2\nkind: Application\nmetadata: {name: Bad_Name}\nspec: {}\n");
  EXPECT_NE(name.find("metadata.name"), std::string::npos) << name;

  std::string syntax = error_of("apiVersion: iofog.org/v2\nkind: Route\n---\nkind: [unclosed\n");
  EXPECT_NE(syntax.find("invalid YAML"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("document 2"), std::string::npos) << syntax;

  std::string ssh = error_of(
      "apiVersion: iofog.org/v2\nkind: Agent\nmetadata: {name: a}\nspec: {host: h, ssh: {user: "
      "u}}\n");
  EXPECT_NE(ssh.find("spec.ssh.keyFile"), std::string::npos) << ssh;
  std::string package = error_of(
      "apiVersion: iofog.org/v2\nkind: Agent\nmetadata: {name: a}\nspec: {host: h, ssh: {keyFile: "
      "k}, package: {version: 3}}\n");
  EXPECT_NE(package.find("spec.package"), std::string::npos) << package;
  std::string relative = error_of(
      "apiVersion: iofog.org/v2\nkind: Agent\nmetadata: {name: a}\nspec: {host: h, ssh: {keyFile: "
      "k}, installDir: opt}\n");
  EXPECT_NE(relative.find("absolute path"), std::string::npos) << relative;
  std::string no_ssh = error_of(
      "apiVersion: iofog.org/v2\nkind: Agent\nmetadata: {name: a}\nspec: {host: h, installDir: "
      "/opt}\n");
  EXPECT_NE(no_ssh.find("only used with ssh"), std::string::npos) << no_ssh;
}

// kind Agent with spec.ssh is a remote install: defaults filled in (user root, port 22,
// installDir /usr/local), the AgentConfig fields under config.
TEST(resources, remote_agent_spec) {
  auto docs = parse_documents(
      "apiVersion: iofog.org/v2\nkind: Agent\nmetadata: {name: edge-9}\nspec:\n  host: 10.0.0.9\n"
      "  ssh: {keyFile: ~/.ssh/id_ed25519}\n  installDir: /opt/fogmesh/\n  config: {agentType: "
      "arm}\n",
      "remote.yaml");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].k, kind::remote_agent);
  EXPECT_STREQ(kind_name(docs[0].k), "Agent");
  EXPECT_EQ(json::serialize(docs[0].spec.at("ssh")),
            R"({"user":"root","keyFile":"~/.ssh/id_ed25519","port":22})");
  EXPECT_EQ(docs[0].spec.at("installDir"), "/opt/fogmesh");
  EXPECT_EQ(docs[0].spec.at("config").at("host"), "10.0.0.9");
  EXPECT_EQ(docs[0].spec.at("config").at("agentType"), "arm");
}

// kind ControlPlane: defaults (controller-N names, ssh user root and port 22, API port 51121,
// installDir /usr/local); several controllers need a shared database; iofogctl's package and
// system agent are refused with what to do instead.
TEST(resources, remote_control_plane_spec) {
  auto docs = parse_documents(R"(apiVersion: iofog.org/v2
kind: ControlPlane
metadata: {name: cp}
spec:
  iofogUser: {email: a@example.com, password: password123}
  controllers:
  - {host: 10.0.0.2, ssh: {keyFile: ~/.ssh/k}}
  - {name: second, host: 10.0.0.3, ssh: {user: ops, keyFile: k, port: 2222}}
  database: {host: pg, user: iofog, password: pw}
)",
                              "cp.yaml");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].k, kind::remote_control_plane);
  const auto& s = docs[0].spec;
  EXPECT_EQ(s.at("controllers").at(0).at("name"), "controller-1");
  EXPECT_EQ(s.at("controllers").at(0).at("ssh").at("user"), "root");
  EXPECT_EQ(s.at("controllers").at(0).at("ssh").at("port"), 22);
  EXPECT_EQ(s.at("controllers").at(1).at("ssh").at("port"), 2222);
  EXPECT_EQ(s.at("controller").at("port"), 51121);
  EXPECT_EQ(s.at("installDir"), "/usr/local");
  EXPECT_EQ(s.at("database").at("port"), 5432);
  EXPECT_EQ(s.at("database").at("databaseName"), "iofog");

  auto error_of = [](const std::string& text) {
    try {
      parse_documents(text, "cp.yaml");
    } catch (const spec_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string head =
      "apiVersion: iofog.org/v2\nkind: ControlPlane\nmetadata: {name: cp}\nspec:\n"
      "  iofogUser: {email: a@example.com, password: password123}\n";
  std::string two = error_of(head +
                             "  controllers:\n  - {host: a, ssh: {keyFile: k}}\n"
                             "  - {host: b, ssh: {keyFile: k}}\n");
  EXPECT_NE(two.find("several controllers need spec.database"), std::string::npos) << two;
  std::string dup = error_of(head +
                             "  database: {host: pg, user: u}\n  controllers:\n"
                             "  - {name: x, host: a, ssh: {keyFile: k}}\n"
                             "  - {name: x, host: b, ssh: {keyFile: k}}\n");
  EXPECT_NE(dup.find("spec.controllers[1].name"), std::string::npos) << dup;
  std::string none = error_of(head + "  controllers: []\n");
  EXPECT_NE(none.find("needs at least one controller"), std::string::npos) << none;
  std::string package = error_of(head +
                                 "  controllers:\n  - {host: a, ssh: {keyFile: k}}\n"
                                 "  package: {version: 3}\n");
  EXPECT_NE(package.find("spec.package"), std::string::npos) << package;
  std::string no_key = error_of(head + "  controllers:\n  - {host: a, ssh: {user: u}}\n");
  EXPECT_NE(no_key.find("spec.controllers[0].ssh.keyFile"), std::string::npos) << no_key;
  std::string mysql = error_of(head +
                               "  controllers:\n  - {host: a, ssh: {keyFile: k}}\n"
                               "  database: {provider: mysql, host: h, user: u}\n");
  EXPECT_NE(mysql.find("spec.database.provider"), std::string::npos) << mysql;
}

// `describe controlplane` prints to_yaml_document() of the deployed canonical spec: for each
// control plane kind, that text parses back to the same kind, name and spec (so deploying it
// again is deploying the same thing).
TEST(resources, control_plane_documents_round_trip) {
  const char* user =
      "  iofogUser: {name: Ada, surname: Lovelace, email: a@example.com, "
      "password: change-me-please}\n";
  for (std::string body :
       {std::string("kind: LocalControlPlane\nmetadata: {name: local}\nspec:\n") + user +
            "  controller: {port: 51121}\n",
        std::string("kind: LocalControlPlane\nmetadata: {name: boxed}\nspec:\n") + user +
            "  controller: {port: 0, bind: 127.0.0.1, container: {image: "
            "localhost/fogmesh-controller:dev}}\n",
        std::string("kind: ControlPlane\nmetadata: {name: cp}\nspec:\n") + user +
            "  controllers:\n  - {host: 10.0.0.2, ssh: {keyFile: ~/.ssh/k}}\n"
            "  - {name: second, host: 10.0.0.3, ssh: {user: ops, keyFile: k, port: 2222}}\n"
            "  database: {host: pg, user: iofog, password: pw}\n",
        std::string("kind: KubernetesControlPlane\nmetadata: {name: iofog}\nspec:\n") + user +
            "  config: /etc/kube/config\n  replicas: {controller: 2}\n"
            "  database: {host: pg, user: iofog, password: pw}\n"
            "  services: {controller: {type: ClusterIP}, router: {ip: 10.1.1.1}}\n"
            "  images: {controller: reg/ctl:1, operator: reg/op:1}\n"}) {
    auto first = parse_documents("apiVersion: iofog.org/v2\n" + body, "cp.yaml");
    ASSERT_EQ(first.size(), 1u);
    std::string described = to_yaml_document(first[0].k, first[0].name, "", first[0].spec);
    auto again = parse_documents(described, "described.yaml");
    ASSERT_EQ(again.size(), 1u) << described;
    EXPECT_EQ(again[0].k, first[0].k) << described;
    EXPECT_EQ(again[0].name, first[0].name);
    EXPECT_EQ(json::serialize(again[0].spec), json::serialize(first[0].spec)) << described;
  }
}

// controller.container (iofogctl's local controller in a container): an image is required;
// registry credentials are refused with the field named (log in with the engine's CLI instead).
TEST(resources, local_control_plane_container) {
  const std::string head =
      "apiVersion: iofog.org/v2\nkind: LocalControlPlane\nmetadata: {name: c}\nspec:\n"
      "  iofogUser: {name: Ada, surname: Lovelace, email: a@example.com, password: pw123456}\n";
  auto r = parse_documents(head + "  controller: {container: {image: reg/ctl:1}}\n", "c.yaml");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(json::serialize(r[0].spec.at("controller")),
            R"({"port":51121,"bind":"0.0.0.0","container":{"image":"reg/ctl:1"}})");
  std::string no_image = error_of(head + "  controller: {container: {}}\n");
  EXPECT_NE(no_image.find("spec.controller.container.image"), std::string::npos) << no_image;
  std::string creds = error_of(
      head + "  controller: {container: {image: a, credentials: {user: u, password: p}}}\n");
  EXPECT_NE(creds.find("spec.controller.container.credentials"), std::string::npos) << creds;
  EXPECT_NE(creds.find("podman login"), std::string::npos) << creds;
}

TEST(resources, endpoint_parsing) {
  auto ep = endpoint::parse("http://10.1.2.3:51121/api/v3/");
  EXPECT_EQ(ep.host, "10.1.2.3");
  EXPECT_EQ(ep.port, "51121");
  EXPECT_EQ(ep.base, "");
  EXPECT_EQ(endpoint::parse("controller.local").port, "51121");
  EXPECT_THROW(endpoint::parse("https://x:1"), std::invalid_argument);
  EXPECT_THROW(endpoint::parse("http://x:abc"), std::invalid_argument);
}

}  // namespace
}  // namespace fogmesh::ctl
