// Application templates: CRUD, feature probe, and instantiation with variables.
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using template_api = api_test;

constexpr const char* template_body = R"({
  "name": "web-tpl", "description": "a web server",
  "variables": [{"key": "image", "description": "container image", "defaultValue": "busybox:1"},
                {"key": "port", "defaultValue": 8080}],
  "application": {
    "microservices": [{"name": "web", "images": [{"containerImage": "{{ image }}", "fogTypeId": 1}],
                       "config": "{\"greeting\":\"hello from {{image}}\"}",
                       "ports": [{"internal": 80, "external": "{{port}}"}]}],
    "routes": []}
})";

TEST_F(template_api, CrudAndProbe) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  EXPECT_EQ(http(port(), "HEAD", "/api/v3/capabilities/applicationTemplates").status, 204);

  auto c = post("/api/v3/applicationTemplate", template_body, token);
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(c.json().at("name").as_string(), "web-tpl");
  expect_error(post("/api/v3/applicationTemplate", template_body, token), 400, "ValidationError",
               "Duplicate name 'web-tpl'");
  expect_error(post("/api/v3/applicationTemplate",
                    R"({"name":"x","variables":[{"description":"no key"}]})", token),
               400, "ValidationError", "Required field 'key' is missing");
  expect_error(post("/api/v3/applicationTemplate", R"({"name":"x","application":[]})", token), 400,
               "ValidationError", "Field 'application' is not of a type(s) object");

  auto list =
      get("/api/v3/applicationTemplates", token).json().at("applicationTemplates").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("variables").as_array().size(), 2u);
  EXPECT_EQ(get("/api/v3/applicationTemplates", other)
                .json()
                .at("applicationTemplates")
                .as_array()
                .size(),
            0u);
  expect_error(get("/api/v3/applicationTemplate/web-tpl", other), 404, "NotFoundError");

  EXPECT_EQ(
      patch("/api/v3/applicationTemplate/web-tpl", R"({"description":"changed"})", token).status,
      204);
  EXPECT_EQ(get("/api/v3/applicationTemplate/web-tpl", token).json().at("description").as_string(),
            "changed");
  // PUT creates when missing (iofogctl deploy), replaces otherwise.
  EXPECT_EQ(put("/api/v3/applicationTemplate/second", R"({"name":"second"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/applicationTemplates", token)
                .json()
                .at("applicationTemplates")
                .as_array()
                .size(),
            2u);
  EXPECT_EQ(del("/api/v3/applicationTemplate/second", token).status, 204);
  expect_error(del("/api/v3/applicationTemplate/second", token), 404, "NotFoundError");
}

TEST_F(template_api, ApplicationFromTemplate) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "edge-t");
  ASSERT_EQ(post("/api/v3/applicationTemplate", template_body, token).status, 201);
  auto c = post("/api/v3/application",
                R"({"name":"from-tpl","isActivated":true,
                    "template":{"name":"web-tpl","variables":[{"key":"port","value":9090}]}})",
                token);
  ASSERT_EQ(c.status, 201) << c.body;
  auto app = get("/api/v3/application/from-tpl", token).json();
  auto web = app.at("microservices").at(0);
  EXPECT_EQ(web.at("name").as_string(), "web");
  EXPECT_EQ(web.at("images").at(0).at("containerImage").as_string(), "busybox:1");  // default
  EXPECT_EQ(web.at("ports").at(0).at("external").as_int64(), 9090);                 // typed value
  EXPECT_EQ(web.at("config").as_string(), "{\"greeting\":\"hello from busybox:1\"}");

  // PUT (iofogctl deploy of an existing application) instantiates the template too; the
  // microservice matched by name keeps its uuid.
  ASSERT_EQ(put("/api/v3/application/from-tpl",
                R"({"name":"from-tpl","isActivated":true,
                    "template":{"name":"web-tpl","variables":[{"key":"port","value":9191}]}})",
                token)
                .status,
            204);
  auto replaced = get("/api/v3/application/from-tpl", token).json().at("microservices").at(0);
  EXPECT_EQ(replaced.at("uuid"), web.at("uuid"));
  EXPECT_EQ(replaced.at("ports").at(0).at("external").as_int64(), 9191);

  expect_error(
      post("/api/v3/application", R"({"name":"nope","template":{"name":"missing"}})", token), 404,
      "NotFoundError");
  expect_error(
      post(
          "/api/v3/application",
          R"({"name":"bad-port","template":{"name":"web-tpl","variables":[{"key":"port","value":"http"}]}})",
          token),
      400, "ValidationError");
  expect_error(get("/api/v3/application/bad-port", token), 404, "NotFoundError");
}

// iofogctl's `kind: ApplicationTemplate` YAML through the multipart /yaml variants.
TEST_F(template_api, YamlUploads) {
  std::string token = new_user_token();
  const std::string yaml = R"(apiVersion: iofog.org/v3
kind: ApplicationTemplate
metadata:
  name: yaml-tpl
spec:
  description: from yaml
  variables:
    - key: image
      defaultValue: busybox:2
  application:
    microservices:
      - name: web
        images:
          x86: "{{ image }}"
        config:
          greeting: hello
    routes: []
)";
  const std::string count = "SELECT count(*) FROM application_templates";
  std::string before = db().query(count);
  expect_error(
      upload(port(), "POST", "/api/v3/applicationTemplate/yaml", "application", yaml, token), 400,
      "ValidationError", "Required field 'template' is missing");
  expect_error(post("/api/v3/applicationTemplate/yaml", yaml, token), 400, "ValidationError",
               "Invalid content type");
  expect_error(upload(port(), "POST", "/api/v3/applicationTemplate/yaml", "template",
                      "kind: Application\nmetadata: {name: x}\nspec: {}\n", token),
               400, "ValidationError", "Invalid kind Application");
  expect_error(upload(port(), "POST", "/api/v3/applicationTemplate/yaml", "template",
                      "kind: ApplicationTemplate\nmetadata: {name: x}\nspec: {}\n", token),
               400, "ValidationError", "Invalid YAML format");
  EXPECT_EQ(db().query(count), before);

  auto c = upload(port(), "POST", "/api/v3/applicationTemplate/yaml", "template", yaml, token);
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(c.json().at("name").as_string(), "yaml-tpl");
  expect_error(upload(port(), "POST", "/api/v3/applicationTemplate/yaml", "template", yaml, token),
               400, "ValidationError", "Duplicate name 'yaml-tpl'");
  auto t = get("/api/v3/applicationTemplate/yaml-tpl", token).json();
  EXPECT_EQ(t.at("description").as_string(), "from yaml");
  EXPECT_EQ(t.at("variables").at(0).at("defaultValue").as_string(), "busybox:2");
  EXPECT_EQ(t.at("application").at("microservices").at(0).at("images").at(0).at("containerImage"),
            "{{ image }}");

  std::string changed = yaml;
  changed.replace(changed.find("from yaml"), 9, "replaced");
  EXPECT_EQ(
      upload(port(), "PUT", "/api/v3/applicationTemplate/yaml/yaml-tpl", "template", changed, token)
          .status,
      204);
  EXPECT_EQ(get("/api/v3/applicationTemplate/yaml-tpl", token).json().at("description"),
            "replaced");

  ASSERT_EQ(post("/api/v3/application",
                 R"({"name":"from-yaml-tpl","template":{"name":"yaml-tpl"}})", token)
                .status,
            201);
  auto web = get("/api/v3/application/from-yaml-tpl", token).json().at("microservices").at(0);
  EXPECT_EQ(web.at("images").at(0).at("containerImage"), "busybox:2");
  EXPECT_EQ(web.at("config"), R"({"greeting":"hello"})");
}

}  // namespace
}  // namespace fogmesh::controller::test
