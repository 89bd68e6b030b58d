// The real fogctl binary against the real fogmesh-controller binary (on a throwaway PostgreSQL
// cluster with fsync off): connect, deploy, get, describe -> redeploy is a no-op, update,
// delete, bad YAML deploys nothing, API errors show the controller's message, and a
// LocalControlPlane that fogctl starts and stops itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "api_client.hpp"
#include "fogctl_runner.hpp"
#include "fogmesh/common/free_port.hpp"
#include "fogmesh/controller/embedded_postgres.hpp"
#include "http_client.hpp"

namespace fogmesh::ctl {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::fogctl;
using test::result;
using test::slurp;

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/fogctl-test-XXXXXX";
    path = ::mkdtemp(tmpl);
    ::chmod(path.c_str(), 0755);  // the embedded cluster's user (postgres, under root) reaches it
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  std::string p = dir + "/" + name;
  std::ofstream(p) << text;
  return p;
}

std::string show(const result& r) {
  return "exit " + std::to_string(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// The controller binary on the shared cluster: --db, port 0, --port-file.
class controller_bin {
 public:
  controller_bin(const std::string& dir, const std::string& conninfo) {
    std::string port_file = dir + "/port";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int log = ::open((dir + "/controller.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execl(FOGMESH_CONTROLLER_BIN, FOGMESH_CONTROLLER_BIN, "--db", conninfo.c_str(), "--port",
              "0", "--bind", "127.0.0.1", "--port-file", port_file.c_str(), "--log-level",
              "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Waits for the port file (no deadline assertion: ctest's timeout ends a hung run).
    while (slurp(port_file).empty()) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("controller exited:\n" + slurp(dir + "/controller.log"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    port_ = std::stoi(slurp(port_file));
  }
  ~controller_bin() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class fogctl_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    dir_ = new temp_dir();
    controller::embedded_postgres_options o;
    o.dir = dir_->path + "/pg";
    o.durable = false;
    pg_ = new controller::embedded_postgres(o);
    pg_->start();
    ctl_ = new controller_bin(dir_->path, pg_->conninfo());
  }
  static void TearDownTestSuite() {
    delete ctl_;
    pg_->stop();
    delete pg_;
    delete dir_;
  }

 protected:
  void SetUp() override {
    home_ = std::make_unique<temp_dir>();
    static int n = 0;
    email_ = "user" + std::to_string(++n) + "-" + std::to_string(::getpid()) + "@example.com";
    api_client anon(endpoint::parse(ctl_->url()), "");
    anon.post("/user/signup", json::object{{"firstName", "Test"},
                                           {"lastName", "User"},
                                           {"email", email_},
                                           {"password", "password123"}});
    token_ = std::string(
        anon.post("/user/login", json::object{{"email", email_}, {"password", "password123"}})
            .as_object()
            .at("accessToken")
            .as_string());
  }
  const std::string& home() const { return home_->path; }
  // fogctl in the test's working directory, or in `cwd` (relative paths in documents).
  result run(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
             const std::string& cwd = "") {
    return fogctl(home(), args, env, cwd);
  }
  // Runs fogctl and expects exit `code` and `text` in what it printed (stdout when it exits 0,
  // else stderr).
  result expect_run(const std::vector<std::string>& args, int code, const std::string& text,
                    const std::vector<std::string>& env = {}) {
    auto r = run(args, env);
    EXPECT_EQ(r.code, code) << show(r);
    EXPECT_NE((code == 0 ? r.out : r.err).find(text), std::string::npos) << show(r);
    return r;
  }
  // The id (JSON text) of the item of `get what -o json` whose `key` is `value`; "" if none.
  std::string listed_id(const std::string& what, const char* key, const std::string& value) {
    auto r = run({"get", what, "-o", "json"});
    EXPECT_EQ(r.code, 0) << show(r);
    if (r.code != 0) return "";
    const json::value listed = json::parse(r.out);  // outlives the loop (not a temporary)
    for (const auto& item : listed.as_array()) {
      if (item.at(key) == value.c_str()) return json::serialize(item.at("id"));
    }
    ADD_FAILURE() << "no " << what << " with " << key << " " << value << ":\n" << r.out;
    return "";
  }
  // Until the only agent reports RUNNING (no deadline: ctest's timeout ends a hung run); fails
  // when its process `pid` exits first, with its log.
  void wait_agent_running(int pid, const std::string& log_file) {
    for (;;) {
      auto agents = run({"get", "agents", "-o", "json"});
      ASSERT_EQ(agents.code, 0) << show(agents);
      auto list = json::parse(agents.out).as_array();
      ASSERT_EQ(list.size(), 1u) << agents.out;
      if (list[0].at("daemonStatus") == "RUNNING") return;
      ASSERT_EQ(::kill(pid, 0), 0) << "agent exited:\n" << slurp(log_file);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  json::value api_get(const std::string& path) {
    return api_client(endpoint::parse(ctl_->url()), token_).get(path);
  }
  void connect() {
    auto r = run(
        {"connect", "--controller", ctl_->url(), "--email", email_, "--password", "password123"});
    ASSERT_EQ(r.code, 0) << show(r);
  }
  // Everything of this user the controller stores, with timestamps: equal snapshots mean
  // nothing was written.
  std::string snapshot() {
    return json::serialize(api_get("/application")) + json::serialize(api_get("/routes")) +
           json::serialize(api_get("/registries")) +
           json::serialize(api_get("/catalog/microservices")) +
           json::serialize(api_get("/iofog-list"));
  }

  static temp_dir* dir_;
  static controller::embedded_postgres* pg_;
  static controller_bin* ctl_;
  std::unique_ptr<temp_dir> home_;
  std::string email_, token_;
};

temp_dir* fogctl_test::dir_ = nullptr;
controller::embedded_postgres* fogctl_test::pg_ = nullptr;
controller_bin* fogctl_test::ctl_ = nullptr;

const char* full_yaml = R"(apiVersion: iofog.org/v2
kind: Application
metadata:
  name: demo
spec:
  microservices:
  - name: sensor
    agent: {name: edge-1}
    images:
      x86: localhost/sensor:1
      arm: localhost/sensor:arm
      registry: REGISTRY_ID
    container:
      ports:
      - {internal: 8080, external: 18080}
      env:
      - {key: MODE, value: fast}
      commands: [--interval, "5"]
    config:
      interval: 5
      label: "sensor one"
  - name: viewer
    agent: {name: edge-1}
    images:
      catalogId: CATALOG_ID
  routes:
  - name: sensor-to-viewer
    from: sensor
    to: viewer
)";

const char* infra_yaml = R"(apiVersion: iofog.org/v2
kind: AgentConfig
metadata: {name: edge-1}
spec:
  host: 127.0.0.1
  agentType: x86
  description: first edge node
  memoryLimit: 2048
---
apiVersion: iofog.org/v2
kind: Registry
metadata: {name: private-registry}
spec:
  url: registry.example.com
  username: bob
  password: secret-password
  email: bob@example.com
  private: true
---
apiVersion: iofog.org/v2
kind: CatalogItem
metadata: {name: viewer-image}
spec:
  description: The viewer
  x86: localhost/viewer:1
  registry: local
)";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

TEST_F(fogctl_test, connect_deploy_get_describe_redeploy_delete) {
  connect();
  struct stat sb {};
  ASSERT_EQ(::stat((home() + "/namespaces/default/token").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);

  // Agent record, registry and catalog item first (the application refers to their ids).
  auto infra = run({"deploy", "-f", write(home(), "infra.yaml", infra_yaml)});
  ASSERT_EQ(infra.code, 0) << show(infra);
  EXPECT_NE(infra.out.find("AgentConfig 'edge-1': created"), std::string::npos) << show(infra);
  EXPECT_NE(infra.out.find("Registry 'private-registry': created"), std::string::npos)
      << show(infra);
  std::string registry_id = listed_id("registries", "url", "registry.example.com");
  ASSERT_FALSE(registry_id.empty());
  std::string catalog_id = listed_id("catalog", "name", "viewer-image");
  ASSERT_FALSE(catalog_id.empty());

  std::string app =
      replace_all(replace_all(full_yaml, "REGISTRY_ID", registry_id), "CATALOG_ID", catalog_id);
  auto deployed = run({"deploy", "-f", write(home(), "app.yaml", app)});
  ASSERT_EQ(deployed.code, 0) << show(deployed);
  EXPECT_NE(deployed.out.find("Application 'demo': created"), std::string::npos) << show(deployed);

  // The controller holds what the YAML said.
  auto stored = api_get("/application/demo").as_object();
  EXPECT_EQ(stored.at("isActivated"), true);
  ASSERT_EQ(stored.at("microservices").as_array().size(), 2u);
  const auto& sensor = stored.at("microservices").as_array()[0].as_object();
  EXPECT_EQ(sensor.at("name"), "sensor");
  EXPECT_EQ(json::parse(sensor.at("config").as_string()).at("label"), "sensor one");
  EXPECT_EQ(json::serialize(sensor.at("registryId")), registry_id);
  EXPECT_EQ(json::serialize(sensor.at("cmd")), R"(["--interval","5"])");
  const auto& viewer = stored.at("microservices").as_array()[1].as_object();
  EXPECT_EQ(json::serialize(viewer.at("catalogItemId")), catalog_id);
  EXPECT_EQ(json::serialize(stored.at("routes")),
            R"([{"name":"sensor-to-viewer","from":"sensor","to":"viewer"}])");

  // Deploying the same files again writes nothing.
  std::string before = snapshot();
  auto again = run({"deploy", "-f", home() + "/app.yaml"});
  ASSERT_EQ(again.code, 0) << show(again);
  EXPECT_NE(again.out.find("Application 'demo': unchanged"), std::string::npos) << show(again);
  EXPECT_EQ(snapshot(), before);

  // get: tables and JSON.
  auto msvcs = run({"get", "microservices"});
  ASSERT_EQ(msvcs.code, 0) << show(msvcs);
  EXPECT_NE(msvcs.out.find("sensor"), std::string::npos) << msvcs.out;
  EXPECT_NE(msvcs.out.find("edge-1"), std::string::npos) << msvcs.out;
  EXPECT_NE(msvcs.out.find("18080:8080"), std::string::npos) << msvcs.out;
  auto all = run({"get", "all"});
  ASSERT_EQ(all.code, 0) << show(all);
  for (const char* s : {"demo", "sensor-to-viewer", "edge-1", "online"})
    EXPECT_NE(all.out.find(s), std::string::npos) << s << "\n" << all.out;
  auto routes = run({"get", "routes", "-o", "yaml"});
  ASSERT_EQ(routes.code, 0) << show(routes);
  EXPECT_NE(routes.out.find("from: sensor"), std::string::npos) << routes.out;

  // describe -> deploy is a no-op for every kind.
  std::vector<std::vector<std::string>> describes = {{"application", "demo"},
                                                     {"microservice", "demo/sensor"},
                                                     {"route", "demo/sensor-to-viewer"},
                                                     {"registry", registry_id},
                                                     {"catalogitem", "viewer-image"},
                                                     {"agent", "edge-1"}};
  for (const auto& d : describes) {
    auto desc = run({"describe", d[0], d[1]});
    ASSERT_EQ(desc.code, 0) << show(desc);
    EXPECT_NE(desc.out.find("apiVersion: iofog.org/v2"), std::string::npos) << desc.out;
    before = snapshot();
    auto re = run({"deploy", "-f", write(home(), "described.yaml", desc.out)});
    ASSERT_EQ(re.code, 0) << d[0] << "\n" << desc.out << show(re);
    EXPECT_NE(re.out.find(": unchanged"), std::string::npos) << d[0] << "\n"
                                                             << desc.out << show(re);
    EXPECT_EQ(snapshot(), before) << d[0] << " described as:\n" << desc.out;
  }

  // stop / start application flip isActivated.
  auto stop = run({"stop", "application", "demo"});
  ASSERT_EQ(stop.code, 0) << show(stop);
  EXPECT_EQ(api_get("/application/demo").at("isActivated"), false);
  auto start = run({"start", "application", "demo"});
  ASSERT_EQ(start.code, 0) << show(start);
  EXPECT_EQ(api_get("/application/demo").at("isActivated"), true);

  // A change is applied in place: microservice uuids are kept.
  std::string sensor_uuid(sensor.at("uuid").as_string());
  auto changed = run(
      {"deploy", "-f", write(home(), "app2.yaml", replace_all(app, "value: fast", "value: slow"))});
  ASSERT_EQ(changed.code, 0) << show(changed);
  EXPECT_NE(changed.out.find("Application 'demo': updated"), std::string::npos) << show(changed);
  auto updated = api_get("/application/demo").as_object();
  const auto& sensor2 = updated.at("microservices").as_array()[0].as_object();
  EXPECT_EQ(sensor2.at("uuid").as_string(), sensor_uuid);
  EXPECT_EQ(json::serialize(sensor2.at("env")), R"([{"key":"MODE","value":"slow"}])");

  // Standalone Microservice and Route documents.
  auto extra = run({"deploy", "-f", write(home(), "extra.yaml", R"(apiVersion: iofog.org/v2
kind: Microservice
metadata: {name: logger}
spec:
  application: demo
  images: {x86: localhost/logger:1, registry: local}
---
apiVersion: iofog.org/v2
kind: Route
metadata: {name: demo/sensor-to-logger}
spec: {from: sensor, to: logger}
)")});
  ASSERT_EQ(extra.code, 0) << show(extra);
  EXPECT_NE(extra.out.find("Microservice 'demo/logger': created"), std::string::npos)
      << show(extra);
  EXPECT_NE(extra.out.find("Route 'demo/sensor-to-logger': created"), std::string::npos)
      << show(extra);
  EXPECT_EQ(api_get("/routes/demo/sensor-to-logger").at("to"), "logger");

  // delete
  auto d1 = run({"delete", "route", "demo/sensor-to-logger"});
  ASSERT_EQ(d1.code, 0) << show(d1);
  EXPECT_THROW(api_get("/routes/demo/sensor-to-logger"), api_error);
  auto d2 = run({"delete", "microservice", "demo/logger"});
  ASSERT_EQ(d2.code, 0) << show(d2);
  auto d3 = run({"delete", "application", "demo"});
  ASSERT_EQ(d3.code, 0) << show(d3);
  EXPECT_THROW(api_get("/application/demo"), api_error);
  auto d4 = run({"delete", "catalogitem", "viewer-image"});
  ASSERT_EQ(d4.code, 0) << show(d4);
  auto d5 = run({"delete", "registry", registry_id});
  ASSERT_EQ(d5.code, 0) << show(d5);
  auto d6 = run({"delete", "agent", "edge-1"});
  ASSERT_EQ(d6.code, 0) << show(d6);
  EXPECT_EQ(api_get("/iofog-list").at("fogs").as_array().size(), 0u);
  expect_run({"delete", "application", "demo"}, 1, "Invalid application name 'demo'");

  auto bye = run({"disconnect"});
  ASSERT_EQ(bye.code, 0) << show(bye);
  auto after = run({"get", "applications"});
  EXPECT_EQ(after.code, 1);
  EXPECT_NE(after.err.find("not connected"), std::string::npos) << show(after);
}

TEST_F(fogctl_test, bad_yaml_deploys_nothing) {
  connect();
  std::string before = snapshot();
  auto r = expect_run({"deploy", "-f", write(home(), "bad.yaml", R"(apiVersion: iofog.org/v2
kind: Application
metadata: {name: fine}
spec:
  microservices:
  - {name: a, images: {x86: localhost/a:1}}
---
apiVersion: iofog.org/v2
kind: Application
metadata: {name: broken}
spec:
  microservices:
  - name: b
    images: {x86: localhost/b:1}
    container:
      ports:
      - {internal: 80}
)")},
                      1, "bad.yaml: document 2");
  EXPECT_NE(r.err.find("spec.microservices[0].container.ports[0].external"), std::string::npos)
      << show(r);
  EXPECT_NE(r.err.find("Nothing was deployed"), std::string::npos) << show(r);
  EXPECT_EQ(snapshot(), before);
  EXPECT_THROW(api_get("/application/fine"), api_error);
}

TEST_F(fogctl_test, api_errors_name_the_step_and_show_the_controller_message) {
  connect();
  // The first document deploys; the second fails on the controller (no such application).
  auto r = expect_run({"deploy", "-f", write(home(), "orphan.yaml", R"(apiVersion: iofog.org/v2
kind: Application
metadata: {name: first}
spec:
  microservices:
  - {name: a, images: {x86: localhost/a:1}}
---
apiVersion: iofog.org/v2
kind: Microservice
metadata: {name: orphan}
spec:
  application: nowhere
  images: {x86: localhost/a:1}
)")},
                      1, "document 2 (Microservice 'nowhere/orphan')");
  EXPECT_NE(r.err.find("create microservice 'nowhere/orphan'"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("Invalid application name 'nowhere'"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("1 of 2 documents deployed"), std::string::npos) << show(r);
  EXPECT_EQ(api_get("/application/first").at("name"), "first");

  expect_run(
      {"connect", "--controller", ctl_->url(), "--email", email_, "--password", "wrong-password"},
      1, "HTTP 401");
}

TEST_F(fogctl_test, usage_errors_and_help) {
  for (const char* verb :
       {"deploy", "get", "describe", "delete", "connect", "disconnect", "version", "start", "stop",
        "logs", "attach", "detach", "move", "completion"}) {
    auto h = run({verb, "--help"});
    EXPECT_EQ(h.code, 0) << verb << show(h);
    EXPECT_NE(h.out.find("Usage: fogctl"), std::string::npos) << verb << show(h);
  }
  expect_run({"deploy"}, 2, "-f FILE");
  expect_run({"frobnicate"}, 2, "unknown verb 'frobnicate'");
  auto what = run({"get", "gadgets"});
  EXPECT_EQ(what.code, 2) << show(what);
  auto fmt = run({"get", "agents", "-o", "xml"});
  EXPECT_EQ(fmt.code, 2) << show(fmt);
  expect_run({"version"}, 0, "fogctl ");
  expect_run({"deploy", "-f", home() + "/does-not-exist.yaml"}, 1,
             "cannot read the file: No such file or directory");
}

// `get namespaces`: every namespace of FOGMESH_HOME with its controller and what fogctl deployed
// there; a namespace appears with `connect` and goes with `delete controlplane`.
TEST_F(fogctl_test, get_namespaces_lists_the_connected_namespaces) {
  auto none = run({"get", "namespaces", "-o", "json"});
  ASSERT_EQ(none.code, 0) << show(none);
  EXPECT_EQ(json::parse(none.out), json::array{}) << none.out;
  connect();
  auto other = run({"-n", "other", "connect", "--controller", ctl_->url(), "--email", email_,
                    "--password", "password123"});
  ASSERT_EQ(other.code, 0) << show(other);
  auto listed = run({"get", "namespaces", "-o", "json"});
  ASSERT_EQ(listed.code, 0) << show(listed);
  EXPECT_EQ(json::parse(listed.out),
            json::parse(R"([{"name":"default","endpoint":")" + ctl_->url() +
                        R"(","controlPlane":"connected"},{"name":"other","endpoint":")" +
                        ctl_->url() + R"(","controlPlane":"connected"}])"))
      << listed.out;
  auto table = expect_run({"get", "namespaces"}, 0, "NAMESPACE");
  EXPECT_NE(table.out.find("other"), std::string::npos) << show(table);
  expect_run({"-n", "other", "delete", "controlplane"}, 0, "namespace 'other'");
  auto after = run({"get", "namespaces", "-o", "json"});
  ASSERT_EQ(after.code, 0) << show(after);
  EXPECT_EQ(json::parse(after.out).as_array().size(), 1u) << after.out;
  // disconnect forgets the namespace too (nothing else of it is kept here).
  expect_run({"disconnect"}, 0, "Disconnected namespace 'default'");
  auto empty = run({"get", "namespaces", "-o", "json"});
  ASSERT_EQ(empty.code, 0) << show(empty);
  EXPECT_EQ(json::parse(empty.out), json::array{}) << empty.out;
}

// fogctl starts fogmesh-controller itself (here on the test's cluster through
// FOGMESH_CONTROLLER_EXTRA_ARGS, to skip a second initdb), signs the user up, and stops it.
TEST_F(fogctl_test, local_control_plane_starts_and_stops_the_controller) {
  std::string yaml = R"(apiVersion: iofog.org/v2
kind: LocalControlPlane
metadata: {name: local}
spec:
  iofogUser: {name: Local, surname: Operator, email: local@example.com, password: local-password}
  controller: {port: 0, bind: 127.0.0.1}
)";
  // conninfo is "host=DIR port=N user=U dbname=D": the extra args split on blanks, so pass it
  // in libpq's URI form.
  std::map<std::string, std::string> kv;
  std::istringstream words(pg_->conninfo());
  for (std::string w; words >> w;) kv[w.substr(0, w.find('='))] = w.substr(w.find('=') + 1);
  std::string uri = "postgresql://" + kv["user"] + "@/" + kv["dbname"] + "?host=" + kv["host"] +
                    "&port=" + kv["port"];
  std::string extra = "FOGMESH_CONTROLLER_EXTRA_ARGS=--db " + uri;
  std::vector<std::string> env = {"FOGMESH_CONTROLLER_BIN=" FOGMESH_CONTROLLER_BIN, extra};
  expect_run({"describe", "controlplane"}, 1, "namespace 'default' has no control plane");
  auto r = run({"deploy", "-f", write(home(), "cp.yaml", yaml)}, env);
  ASSERT_EQ(r.code, 0) << show(r)
                       << slurp(home() + "/namespaces/default/controller/controller.log");
  EXPECT_NE(r.out.find("LocalControlPlane 'local': started"), std::string::npos) << show(r);
  std::string pid_text = slurp(home() + "/namespaces/default/controller/controller.pid");
  ASSERT_FALSE(pid_text.empty());
  int pid = std::stoi(pid_text);
  EXPECT_EQ(::kill(pid, 0), 0);

  // Idempotent: a second deploy finds it running.
  auto again = run({"deploy", "-f", home() + "/cp.yaml"}, env);
  ASSERT_EQ(again.code, 0) << show(again);
  EXPECT_NE(again.out.find("LocalControlPlane 'local': running"), std::string::npos) << show(again);
  // describe controlplane: the document as deployed, which deploys again to no change.
  auto described = expect_run({"describe", "controlplane", "local"}, 0, "kind: LocalControlPlane");
  EXPECT_NE(described.out.find("password: local-password"), std::string::npos) << show(described);
  expect_run({"deploy", "-f", write(home(), "described.yaml", described.out)}, 0,
             "LocalControlPlane 'local': running", env);
  expect_run({"describe", "controlplane", "other"}, 1, "has control plane 'local', not 'other'");

  auto ctls = run({"get", "controllers", "-o", "json"});
  ASSERT_EQ(ctls.code, 0) << show(ctls);
  auto list = json::parse(ctls.out).as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("status"), "online");
  EXPECT_EQ(list[0].at("local"), true);
  auto apps = run({"get", "applications"});
  EXPECT_EQ(apps.code, 0) << show(apps);
  expect_run({"logs", "controller", "--tail", "50"}, 0, "listening on 127.0.0.1");

  auto del = run({"delete", "controlplane"});
  ASSERT_EQ(del.code, 0) << show(del);
  // stop_background waited for it: the process is gone (a zombie child of ours does not count).
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  bool gone = stat.empty() || stat.find(") Z") != std::string::npos;  // exited (maybe unreaped)
  EXPECT_TRUE(gone) << stat;
  EXPECT_FALSE(fs::exists(home() + "/namespaces/default"));
}

// LocalAgent: fogctl creates the agent record, provisions a real fogmesh-agent with a key and
// starts it; the agent reports in; delete stops and deprovisions it. No container engine is
// needed for that (the agent keeps retrying its Docker socket).
TEST_F(fogctl_test, local_agent_is_provisioned_started_and_removed) {
#ifdef FOGMESH_AGENT_BIN
  std::string agent_bin = FOGMESH_AGENT_BIN;
#else
  const char* env_bin = std::getenv("FOGMESH_AGENT_BIN");
  if (env_bin == nullptr)
    GTEST_SKIP() << "fogmesh-agent is not in this build tree (set FOGMESH_AGENT_BIN)";
  std::string agent_bin = env_bin;
#endif
  std::map<std::string, std::string> kv;
  std::istringstream words(pg_->conninfo());
  for (std::string w; words >> w;) kv[w.substr(0, w.find('='))] = w.substr(w.find('=') + 1);
  std::string uri = "postgresql://" + kv["user"] + "@/" + kv["dbname"] + "?host=" + kv["host"] +
                    "&port=" + kv["port"];
  std::vector<std::string> env = {"FOGMESH_CONTROLLER_BIN=" FOGMESH_CONTROLLER_BIN,
                                  "FOGMESH_CONTROLLER_EXTRA_ARGS=--db " + uri,
                                  "FOGMESH_AGENT_BIN=" + agent_bin};
  std::string yaml = R"(apiVersion: iofog.org/v2
kind: LocalControlPlane
metadata: {name: local}
spec:
  iofogUser: {name: Agent, surname: Operator, email: agent-op@example.com, password: local-password}
  controller: {port: 0, bind: 127.0.0.1}
---
apiVersion: iofog.org/v2
kind: LocalAgent
metadata: {name: local-agent}
spec:
  localApiPort: 0
  config:
    agentType: x86
    dockerUrl: unix://HOME/no-engine.sock
    routerConfig: {routerMode: none}
)";
  yaml.replace(yaml.find("HOME"), 4, home());
  auto r = run({"deploy", "-f", write(home(), "agent.yaml", yaml)}, env);
  std::string agent_dir = home() + "/namespaces/default/agents/local-agent";
  ASSERT_EQ(r.code, 0) << show(r) << slurp(agent_dir + "/agent.log");
  EXPECT_NE(r.out.find("LocalAgent 'local-agent': created, provisioned, started"),
            std::string::npos)
      << show(r);
  int pid = std::stoi(slurp(agent_dir + "/agent.pid"));
  EXPECT_EQ(::kill(pid, 0), 0);

  // The agent reports to the controller (polled until it does; ctest's timeout bounds it).
  ASSERT_NO_FATAL_FAILURE(wait_agent_running(pid, agent_dir + "/agent.log"));
  auto again = run({"deploy", "-f", home() + "/agent.yaml"}, env);
  ASSERT_EQ(again.code, 0) << show(again);
  EXPECT_NE(again.out.find("LocalAgent 'local-agent': unchanged, running"), std::string::npos)
      << show(again);

  // detach: off the controller, the process keeps running deprovisioned; attach provisions it
  // again.
  auto detach = run({"detach", "agent", "local-agent"}, env);
  ASSERT_EQ(detach.code, 0) << show(detach);
  EXPECT_NE(detach.out.find("its process keeps running"), std::string::npos) << show(detach);
  EXPECT_EQ(::kill(pid, 0), 0) << slurp(agent_dir + "/agent.log");
  EXPECT_FALSE(fs::exists(agent_dir + "/config/identity.json"));
  auto listed = run({"get", "agents"});
  EXPECT_NE(listed.out.find("DETACHED"), std::string::npos) << show(listed);
  auto attach = run({"attach", "agent", "local-agent"}, env);
  ASSERT_EQ(attach.code, 0) << show(attach) << slurp(agent_dir + "/agent.log");
  EXPECT_NE(attach.out.find("Agent 'local-agent': attached (created, provisioned"),
            std::string::npos)
      << show(attach);
  EXPECT_FALSE(fs::exists(home() + "/namespaces/default/detached/local-agent.yaml"));
  pid = std::stoi(slurp(agent_dir + "/agent.pid"));
  ASSERT_NO_FATAL_FAILURE(wait_agent_running(pid, agent_dir + "/agent.log"));

  // logs microservice goes to the LocalAgent's container engine (none here: a clear error).
  auto app = run({"deploy", "-f", write(home(), "logged.yaml", R"(apiVersion: iofog.org/v2
kind: Application
metadata: {name: logged}
spec:
  microservices:
  - {name: talker, agent: {name: local-agent}, images: {x86: localhost/talker:1, registry: local}}
)")},
                 env);
  ASSERT_EQ(app.code, 0) << show(app);
  std::string talker_uuid(
      api_client(
          endpoint::parse(json::parse(slurp(home() + "/namespaces/default/controlplane.json"))
                              .at("endpoint")
                              .as_string()
                              .c_str()),
          slurp(home() + "/namespaces/default/token"))
          .get("/application/logged")
          .at("microservices")
          .at(0)
          .at("uuid")
          .as_string());
  auto logs = expect_run({"logs", "microservice", "logged/talker", "--tail", "5"}, 1,
                         "container iofog_" + talker_uuid, env);
  EXPECT_NE(logs.err.find("no-engine.sock"), std::string::npos) << show(logs);

  auto del = run({"delete", "agent", "local-agent"}, env);
  ASSERT_EQ(del.code, 0) << show(del);
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
  EXPECT_FALSE(fs::exists(agent_dir));
  auto agents = run({"get", "agents", "-o", "json"});
  EXPECT_EQ(json::parse(agents.out).as_array().size(), 0u) << agents.out;
  auto down = run({"delete", "controlplane"});
  EXPECT_EQ(down.code, 0) << show(down);
}

// move microservice, get edge-resources, detach/attach of an agent fogctl does not run, logs of
// a microservice on such an agent, and delete all (which keeps what is not the user's).
TEST_F(fogctl_test, move_edge_resources_detach_attach_and_delete_all) {
  connect();
  auto infra = run({"deploy", "-f", write(home(), "infra.yaml", std::string(infra_yaml) + R"(---
apiVersion: iofog.org/v2
kind: AgentConfig
metadata: {name: edge-2}
spec: {host: 127.0.0.2, agentType: x86}
---
apiVersion: iofog.org/v2
kind: AgentConfig
metadata: {name: edge-3}
spec: {host: 127.0.0.3, agentType: x86, description: soon detached}
---
apiVersion: iofog.org/v2
kind: Application
metadata: {name: demo}
spec:
  microservices:
  - {name: sensor, agent: {name: edge-1}, images: {x86: localhost/sensor:1, registry: local}}
)")});
  ASSERT_EQ(infra.code, 0) << show(infra);
  std::map<std::string, std::string> uuids;
  for (auto list = api_get("/iofog-list"); const auto& f : list.at("fogs").as_array()) {
    uuids[std::string(f.at("name").as_string())] = std::string(f.at("uuid").as_string());
  }
  ASSERT_EQ(uuids.size(), 3u);
  auto sensor_agent = [&] {
    return std::string(
        api_get("/application/demo").at("microservices").at(0).at("iofogUuid").as_string());
  };
  ASSERT_EQ(sensor_agent(), uuids["edge-1"]);

  // move microservice
  auto moved = run({"move", "microservice", "demo/sensor", "edge-2"});
  ASSERT_EQ(moved.code, 0) << show(moved);
  EXPECT_NE(moved.out.find("Microservice 'demo/sensor': moved from edge-1 to edge-2"),
            std::string::npos)
      << show(moved);
  EXPECT_EQ(sensor_agent(), uuids["edge-2"]);
  auto same = run({"move", "microservice", "sensor", "edge-2"});
  ASSERT_EQ(same.code, 0) << show(same);
  EXPECT_NE(same.out.find("unchanged"), std::string::npos) << show(same);
  expect_run({"move", "microservice", "demo/sensor", "edge-9"}, 1,
             "find agent 'edge-9': no such agent");
  auto bad_move = run({"move", "microservice", "demo/sensor"});
  EXPECT_EQ(bad_move.code, 2) << show(bad_move);

  // get edge-resources shows the agents a resource is linked to.
  api_client api(endpoint::parse(ctl_->url()), token_);
  api.post("/edgeResource", json::object{{"name", "thermo"},
                                         {"version", "1.2.0"},
                                         {"interfaceProtocol", "http"},
                                         {"description", "A thermometer"}});
  api.post("/edgeResource/thermo/1.2.0/link", json::object{{"uuid", uuids["edge-1"]}});
  auto edge = run({"get", "edge-resources"});
  ASSERT_EQ(edge.code, 0) << show(edge);
  for (const char* want : {"EDGE RESOURCE", "thermo", "1.2.0", "http", "edge-1", "A thermometer"}) {
    EXPECT_NE(edge.out.find(want), std::string::npos) << want << "\n" << edge.out;
  }
  auto edge_json = run({"get", "edge-resources", "-o", "json"});
  ASSERT_EQ(edge_json.code, 0) << show(edge_json);
  EXPECT_EQ(json::parse(edge_json.out).as_array().size(), 1u) << edge_json.out;

  // logs of a microservice on an agent fogctl does not run: the controller has no log API.
  auto logs = expect_run({"logs", "microservice", "demo/sensor"}, 1, "nor installed over SSH");
  EXPECT_NE(logs.err.find("docker logs iofog_"), std::string::npos) << show(logs);

  // detach: refused while microservices run there; else the record goes, the config stays.
  expect_run({"detach", "agent", "edge-2"}, 1, "runs microservices demo/sensor");
  auto detach = run({"detach", "agent", "edge-3"});
  ASSERT_EQ(detach.code, 0) << show(detach);
  EXPECT_NE(detach.out.find("Agent 'edge-3': detached"), std::string::npos) << show(detach);
  EXPECT_EQ(api_get("/iofog-list").at("fogs").as_array().size(), 2u);
  auto listed = run({"get", "agents"});
  EXPECT_NE(listed.out.find("edge-3"), std::string::npos) << show(listed);
  EXPECT_NE(listed.out.find("DETACHED"), std::string::npos) << show(listed);
  expect_run({"detach", "agent", "edge-3"}, 1, "detached already");
  auto attach = run({"attach", "agent", "edge-3"});
  ASSERT_EQ(attach.code, 0) << show(attach);
  EXPECT_NE(attach.out.find("fogmesh-agent provision "), std::string::npos) << show(attach);
  bool back = false;
  for (auto list = api_get("/iofog-list"); const auto& f : list.at("fogs").as_array()) {
    if (f.at("name") == "edge-3") back = f.at("description") == "soon detached";
  }
  EXPECT_TRUE(back) << json::serialize(api_get("/iofog-list"));
  auto not_detached = run({"attach", "agent", "edge-3"});
  EXPECT_EQ(not_detached.code, 1) << show(not_detached);
  auto detach_again = run({"detach", "agent", "edge-3"});  // delete all forgets it below
  ASSERT_EQ(detach_again.code, 0) << show(detach_again);

  // delete all: everything of the user, not the public registries and catalog items.
  size_t public_registries = 0;
  for (auto list = api_get("/registries"); const auto& g : list.at("registries").as_array())
    public_registries += g.at("userId").is_null();
  ASSERT_GT(public_registries, 0u);
  auto all = run({"delete", "all"});
  ASSERT_EQ(all.code, 0) << show(all);
  EXPECT_NE(
      all.out.find("deleted 1 application, 3 agents, 1 edge resource, 1 registry, 1 catalog item"),
      std::string::npos)
      << show(all);
  EXPECT_EQ(api_get("/application").at("applications").as_array().size(), 0u);
  EXPECT_EQ(api_get("/iofog-list").at("fogs").as_array().size(), 0u);
  EXPECT_EQ(api_get("/edgeResources").at("edgeResources").as_array().size(), 0u);
  EXPECT_EQ(api_get("/registries").at("registries").as_array().size(), public_registries);
  for (auto list = api_get("/catalog/microservices");
       const auto& c : list.at("catalogItems").as_array())
    EXPECT_TRUE(c.at("userId").is_null());
  EXPECT_FALSE(fs::exists(home() + "/namespaces/default/detached/edge-3.yaml"));
  auto empty = run({"delete", "all"});
  ASSERT_EQ(empty.code, 0) << show(empty);
  EXPECT_NE(empty.out.find("nothing to delete"), std::string::npos) << show(empty);
  auto still = run({"get", "controllers", "-o", "json"});  // the control plane stays
  EXPECT_NE(still.out.find("\"online\""), std::string::npos) << show(still);
}

// The bash script really completes (run in bash with the variables bash's completion sets).
TEST_F(fogctl_test, shell_completion_completes_verbs_kinds_and_flags) {
  auto script = run({"completion", "bash"});
  ASSERT_EQ(script.code, 0) << show(script);
  std::string file = write(home(), "fogctl.bash", script.out);
  auto complete = [&](const std::string& words, int cword) {
    std::string cmd = "bash -c 'source " + file + "; COMP_WORDS=(" + words +
                      "); COMP_CWORD=" + std::to_string(cword) +
                      "; _fogctl; echo \"${COMPREPLY[*]}\"' > " + home() + "/.completion 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string out = slurp(home() + "/.completion");
    return out.substr(0, out.find('\n'));
  };
  EXPECT_EQ(complete("fogctl de", 1), "deploy describe delete detach");
  EXPECT_EQ(complete("fogctl -n prod get ed", 4), "edge-resources");
  EXPECT_EQ(complete("fogctl delete a", 2), "all application agent");
  EXPECT_EQ(complete("fogctl logs m", 2), "microservice");
  EXPECT_EQ(complete("fogctl get agents -o j", 4), "json");
  EXPECT_EQ(complete("fogctl connect --c", 2), "--controller");
  auto zsh = run({"completion", "zsh"});
  ASSERT_EQ(zsh.code, 0) << show(zsh);
  EXPECT_NE(zsh.out.find("bashcompinit"), std::string::npos) << zsh.out;
  EXPECT_NE(zsh.out.find("complete -o default -F _fogctl fogctl"), std::string::npos) << zsh.out;
  auto fish = run({"completion", "fish"});
  EXPECT_EQ(fish.code, 2) << show(fish);
}

// A private sshd for the remote-install test: its own host key, authorized key and config in a
// temp dir, listening on 127.0.0.1 on a free port, in the foreground (-D) as our child.
class private_sshd {
 public:
  explicit private_sshd(const std::string& dir) : dir_(dir) {
    struct passwd* pw = ::getpwuid(::geteuid());
    user_ = pw != nullptr ? pw->pw_name : "root";
    for (const char* key : {"host_key", "client_key", "wrong_key"}) {
      std::string cmd =
          "ssh-keygen -q -t ed25519 -N '' -C fogctl-test -f " + dir + "/" + key + " > /dev/null";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("ssh-keygen failed: " + cmd);
    }
    std::ofstream(dir + "/authorized_keys") << slurp(dir + "/client_key.pub");
    ::chmod((dir + "/authorized_keys").c_str(), 0600);
    port_ = free_loopback_port();
    std::ofstream(dir + "/sshd_config")
        << "Port " << port_ << "\nListenAddress 127.0.0.1\nHostKey " << dir
        << "/host_key\nAuthorizedKeysFile " << dir
        << "/authorized_keys\nPasswordAuthentication no\n"
           "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
           "PermitRootLogin prohibit-password\n"
           // scp (OpenSSH 9) copies over SFTP, as Debian's default config allows.
           "Subsystem sftp /usr/lib/openssh/sftp-server\nPidFile "
        << dir << "/sshd.pid\n";
    // sshd refuses to start without its privilege separation directory (the package's service
    // creates it at boot; nothing runs it here).
    if (::geteuid() == 0) fs::create_directories("/run/sshd");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int log = ::open((dir + "/sshd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::string config = dir + "/sshd_config";
      ::execl(sshd_bin, sshd_bin, "-D", "-e", "-f", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Accepting connections (no deadline assertion: ctest's timeout ends a hung run).
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("sshd exited:\n" + slurp(dir + "/sshd.log"));
      }
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~private_sshd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  static constexpr const char* sshd_bin = "/usr/sbin/sshd";
  int port() const { return port_; }
  const std::string& user() const { return user_; }
  std::string key(const char* name) const { return dir_ + "/" + name; }
  std::string log() const { return slurp(dir_ + "/sshd.log"); }

 private:
  std::string dir_, user_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The fogmesh-agent binary the SSH tests install, or "" with `why_not` saying what is missing.
std::string agent_bin_for_ssh_tests(std::string& why_not) {
  if (!fs::exists(private_sshd::sshd_bin)) {
    why_not = std::string(private_sshd::sshd_bin) + " is not installed (package openssh-server)";
    return "";
  }
#ifdef FOGMESH_AGENT_BIN
  return FOGMESH_AGENT_BIN;
#else
  const char* env_bin = std::getenv("FOGMESH_AGENT_BIN");
  if (env_bin == nullptr) {
    why_not = "fogmesh-agent is not in this build tree (set FOGMESH_AGENT_BIN)";
    return "";
  }
  return env_bin;
#endif
}

// A document template for the private sshd: USER, PORT, KEY (the named key file) and PREFIX
// filled in. Placeholders that contain PORT (APIPORT) must be replaced first.
std::string for_sshd(const std::string& yaml, const private_sshd& sshd, const std::string& key,
                     const std::string& prefix) {
  return replace_all(replace_all(replace_all(replace_all(yaml, "USER", sshd.user()), "PORT",
                                             std::to_string(sshd.port())),
                                 "KEY", sshd.key(key.c_str())),
                     "PREFIX", prefix);
}

// An Agent installed over SSH from the private sshd's template (for_sshd), named NAME; no
// container engine behind its socket.
const char* ssh_agent_yaml = R"(apiVersion: iofog.org/v2
kind: Agent
metadata: {name: NAME}
spec:
  host: 127.0.0.1
  ssh: {user: USER, keyFile: KEY, port: PORT}
  installDir: PREFIX
  localApiPort: 0
  config: {agentType: x86, dockerUrl: "unix://PREFIX/no-engine.sock", routerConfig: {routerMode: none}}
)";

// What the SSH tests share: a deploy with the key sshd does not accept fails at the connect
// step, naming the host and showing ssh's message.
class fogctl_ssh_test : public fogctl_test {
 protected:
  void expect_refused_key(const std::string& wrong_yaml, const private_sshd& sshd,
                          const std::vector<std::string>& env) {
    auto wrong = run({"deploy", "-f", write(home(), "wrong.yaml", wrong_yaml)}, env);
    EXPECT_EQ(wrong.code, 1) << show(wrong);
    std::string where = "connect on " + sshd.user() + "@127.0.0.1:" + std::to_string(sshd.port());
    EXPECT_NE(wrong.err.find(where + ": ssh failed"), std::string::npos) << show(wrong);
    EXPECT_NE(wrong.err.find("Permission denied"), std::string::npos) << show(wrong);
  }
};

// kind Agent with spec.ssh: fogctl installs fogmesh-agent over SSH (a private sshd on
// loopback) into a temp prefix, provisions and starts it; the agent reports RUNNING. A wrong
// key fails at the connect step, names the host and shows ssh's message, and leaves nothing
// behind; the second deploy with the right key finishes; delete stops it over SSH.
TEST_F(fogctl_ssh_test, remote_agent_over_ssh_installs_provisions_and_deletes) {
  std::string why_not;
  std::string agent_bin = agent_bin_for_ssh_tests(why_not);
  if (agent_bin.empty()) GTEST_SKIP() << why_not;
  temp_dir ssh_dir;
  private_sshd sshd(ssh_dir.path);
  connect();
  std::string prefix = ssh_dir.path + "/prefix";
  std::string pid_file = prefix + "/var/lib/fogmesh/agent.pid";
  // Whatever happens below, the agent the test started over SSH does not outlive it.
  std::shared_ptr<void> reap(nullptr, [&](void*) {
    std::string pid = slurp(pid_file);
    if (!pid.empty() &&
        slurp("/proc/" + std::to_string(std::stoi(pid)) + "/cmdline").find(prefix) !=
            std::string::npos) {
      ::kill(std::stoi(pid), SIGKILL);
    }
  });
  std::string yaml = replace_all(ssh_agent_yaml, "NAME", "remote-1");
  std::vector<std::string> env = {"FOGMESH_AGENT_BIN=" + agent_bin};

  expect_refused_key(for_sshd(yaml, sshd, "wrong_key", prefix), sshd, env);
  EXPECT_EQ(api_get("/iofog-list").at("fogs").as_array().size(), 0u);
  EXPECT_FALSE(fs::exists(prefix));

  auto good =
      run({"deploy", "-f", write(home(), "good.yaml", for_sshd(yaml, sshd, "client_key", prefix))},
          env);
  ASSERT_EQ(good.code, 0) << show(good) << sshd.log()
                          << slurp(prefix + "/var/lib/fogmesh/agent.log");
  EXPECT_NE(good.out.find("Agent 'remote-1': created, binaries installed, provisioned, started "
                          "(background: no systemd)"),
            std::string::npos)
      << show(good);
  EXPECT_TRUE(fs::exists(prefix + "/bin/fogmesh-agent"));
  EXPECT_NE(slurp(home() + "/known_hosts").find("ssh-ed25519"), std::string::npos);
  int pid = std::stoi(slurp(pid_file));
  ASSERT_NO_FATAL_FAILURE(wait_agent_running(pid, prefix + "/var/lib/fogmesh/agent.log"));
  auto again = run({"deploy", "-f", home() + "/good.yaml"}, env);
  ASSERT_EQ(again.code, 0) << show(again);
  EXPECT_NE(again.out.find("Agent 'remote-1': unchanged, running"), std::string::npos)
      << show(again);
  EXPECT_EQ(std::stoi(slurp(pid_file)), pid);

  // Logs over SSH: the agent's log file, and a microservice's container through the remote
  // host's container CLI (no engine behind the socket here: its error names the container).
  auto agent_log = run({"logs", "agent", "remote-1", "--tail", "500"});
  ASSERT_EQ(agent_log.code, 0) << show(agent_log);
  EXPECT_NE(agent_log.out.find("provisioned as"), std::string::npos) << show(agent_log);
  auto app = run({"deploy", "-f", write(home(), "remote-app.yaml", R"(apiVersion: iofog.org/v2
kind: Application
metadata: {name: far}
spec:
  microservices:
  - {name: talker, agent: {name: remote-1}, images: {x86: localhost/talker:1, registry: local}}
)")});
  ASSERT_EQ(app.code, 0) << show(app);
  std::string talker(api_get("/application/far").at("microservices").at(0).at("uuid").as_string());
  auto msvc_log = expect_run({"logs", "microservice", "far/talker"}, 1,
                             "container iofog_" + talker + " on agent 'remote-1'");
  EXPECT_NE(msvc_log.err.find("the remote command exited"), std::string::npos) << show(msvc_log);

  // detach keeps the remote process (deprovisioned over SSH); attach provisions it again there.
  ASSERT_EQ(run({"delete", "application", "far"}).code, 0);
  auto detach = run({"detach", "agent", "remote-1"}, env);
  ASSERT_EQ(detach.code, 0) << show(detach);
  EXPECT_NE(detach.out.find("keeps running, deprovisioned"), std::string::npos) << show(detach);
  EXPECT_EQ(::kill(pid, 0), 0);
  EXPECT_FALSE(fs::exists(prefix + "/etc/fogmesh/agent/identity.json"));
  EXPECT_EQ(api_get("/iofog-list").at("fogs").as_array().size(), 0u);
  auto attach = run({"attach", "agent", "remote-1"}, env);
  ASSERT_EQ(attach.code, 0) << show(attach);
  EXPECT_NE(attach.out.find("Agent 'remote-1': attached (created, provisioned, running)"),
            std::string::npos)
      << show(attach);
  EXPECT_EQ(std::stoi(slurp(pid_file)), pid);
  ASSERT_NO_FATAL_FAILURE(wait_agent_running(pid, prefix + "/var/lib/fogmesh/agent.log"));

  auto del = run({"delete", "agent", "remote-1"}, env);
  ASSERT_EQ(del.code, 0) << show(del);
  EXPECT_NE(del.out.find("Stopped and deprovisioned fogmesh-agent 'remote-1'"), std::string::npos)
      << show(del);
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
  EXPECT_FALSE(fs::exists(prefix + "/etc/fogmesh/agent/identity.json"));
  EXPECT_EQ(api_get("/iofog-list").at("fogs").as_array().size(), 0u);
}

// Processes whose command line mentions `needle` (the test's install prefix).
std::vector<int> processes_mentioning(const std::string& needle) {
  std::vector<int> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = slurp(e.path().string() + "/cmdline");
    std::string stat = slurp(e.path().string() + "/stat");
    if (cmdline.find(needle) != std::string::npos && stat.find(") Z") == std::string::npos)
      pids.push_back(std::stoi(name));
  }
  return pids;
}

// SIGTERM to what the test started under `prefix` (the controller stops its PostgreSQL), then
// SIGKILL to what is left after 60 s.
void stop_processes_mentioning(const std::string& prefix) {
  for (int pid : processes_mentioning(prefix)) ::kill(pid, SIGTERM);
  for (int i = 0; i < 600 && !processes_mentioning(prefix).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int pid : processes_mentioning(prefix)) ::kill(pid, SIGKILL);
}

// kind ControlPlane: fogctl installs fogmesh-controller over SSH (the private sshd on loopback)
// into a temp prefix and starts it in the background (no systemd here) with its embedded
// PostgreSQL, signs the user up and connects the namespace; a wrong key fails at connect and
// leaves nothing; a redeploy leaves it running; an Agent installed over SSH against it is
// stopped and deprovisioned by `delete controlplane`, which then stops the controller and
// removes its data on the host. Both documents name their key relative to the directory
// deploy runs in (the sshd's); describe and delete run elsewhere and still find it.
TEST_F(fogctl_ssh_test, remote_control_plane_over_ssh_installs_starts_and_deletes) {
  std::string why_not;
  std::string agent_bin = agent_bin_for_ssh_tests(why_not);
  if (agent_bin.empty()) GTEST_SKIP() << why_not;
  temp_dir ssh_dir;
  private_sshd sshd(ssh_dir.path);
  std::string prefix = ssh_dir.path + "/prefix";
  std::shared_ptr<void> reap(nullptr, [&](void*) { stop_processes_mentioning(prefix); });
  int api_port = free_loopback_port();
  ASSERT_NE(api_port, 0);
  std::string yaml = R"(apiVersion: iofog.org/v2
kind: ControlPlane
metadata: {name: remote-cp}
spec:
  iofogUser: {name: Ada, surname: Lovelace, email: ada@example.com, password: change-me-please}
  controllers:
  - name: ctl-1
    host: 127.0.0.1
    ssh: {user: USER, keyFile: KEY, port: PORT}
  controller: {port: APIPORT}
  installDir: PREFIX
)";
  yaml = replace_all(yaml, "APIPORT", std::to_string(api_port));
  std::vector<std::string> env = {"FOGMESH_AGENT_BIN=" + agent_bin,
                                  std::string("FOGMESH_CONTROLLER_BIN=") + FOGMESH_CONTROLLER_BIN};
  std::string url = "http://127.0.0.1:" + std::to_string(api_port);

  expect_refused_key(for_sshd(yaml, sshd, "wrong_key", prefix), sshd, env);
  EXPECT_FALSE(fs::exists(prefix));
  EXPECT_FALSE(fs::exists(home() + "/namespaces/default/controlplane.json"));

  // keyFile: client_key, relative to ssh_dir (where deploy runs).
  std::string absolute_key = sshd.key("client_key");
  auto relative_key = [&](const std::string& doc) {
    return replace_all(doc, absolute_key, "client_key");
  };
  std::string good_file =
      write(home(), "good.yaml", relative_key(for_sshd(yaml, sshd, "client_key", prefix)));
  auto good = run({"deploy", "-f", good_file}, env, ssh_dir.path);
  ASSERT_EQ(good.code, 0) << show(good) << sshd.log()
                          << slurp(prefix + "/var/lib/fogmesh/controller.log");
  EXPECT_NE(good.out.find("ControlPlane 'remote-cp': ctl-1: binary installed, started "
                          "(background: no systemd) at " +
                          url),
            std::string::npos)
      << show(good);
  EXPECT_TRUE(fs::exists(prefix + "/bin/fogmesh-controller"));
  EXPECT_TRUE(fs::exists(prefix + "/var/lib/fogmesh-controller/pgdata"));
  int pid = std::stoi(slurp(prefix + "/var/lib/fogmesh/controller.pid"));
  auto controllers = run({"get", "controllers", "-o", "json"});
  ASSERT_EQ(controllers.code, 0) << show(controllers);
  auto list = json::parse(controllers.out).as_array();
  ASSERT_EQ(list.size(), 1u) << controllers.out;
  EXPECT_EQ(list[0].at("endpoint"), json::value(url));
  EXPECT_NE(list[0].at("status"), "unreachable");
  // The user fogctl signed up logs in on that controller.
  EXPECT_NO_THROW(api_client(endpoint::parse(url), "")
                      .post("/user/login", json::object{{"email", "ada@example.com"},
                                                        {"password", "change-me-please"}}));

  auto again = run({"deploy", "-f", good_file}, env, ssh_dir.path);
  ASSERT_EQ(again.code, 0) << show(again);
  EXPECT_NE(again.out.find("ControlPlane 'remote-cp': ctl-1: running at " + url), std::string::npos)
      << show(again);
  EXPECT_EQ(std::stoi(slurp(prefix + "/var/lib/fogmesh/controller.pid")), pid);
  // Stored with the key's absolute path: redeployed from the test's directory, not ssh_dir.
  auto described = expect_run({"describe", "controlplane"}, 0, "keyFile: " + absolute_key);
  EXPECT_EQ(described.out.find("keyFile: client_key"), std::string::npos) << described.out;
  expect_run({"deploy", "-f", write(home(), "described.yaml", described.out)}, 0,
             "ControlPlane 'remote-cp': ctl-1: running at " + url, env);
  auto log = run({"logs", "controller", "--tail", "200"});
  ASSERT_EQ(log.code, 0) << show(log);
  EXPECT_FALSE(log.out.empty()) << show(log);

  // An agent installed over SSH against this controller (the same host here).
  std::string agent_prefix = prefix + "/agent";
  std::string agent_yaml = replace_all(ssh_agent_yaml, "NAME", "far-1");
  auto agent = run({"deploy", "-f",
                    write(home(), "agent.yaml",
                          relative_key(for_sshd(agent_yaml, sshd, "client_key", agent_prefix)))},
                   env, ssh_dir.path);
  ASSERT_EQ(agent.code, 0) << show(agent);
  int agent_pid = std::stoi(slurp(agent_prefix + "/var/lib/fogmesh/agent.pid"));
  EXPECT_NE(slurp(home() + "/namespaces/default/remote-agents/far-1.json")
                .find("\"keyFile\":\"" + absolute_key + "\""),
            std::string::npos);

  // From the test's directory: the agent's and the controller's keys are found over SSH.
  auto del = run({"delete", "controlplane"}, env);
  ASSERT_EQ(del.code, 0) << show(del);
  EXPECT_NE(del.out.find("Stopped and deprovisioned fogmesh-agent 'far-1'"), std::string::npos)
      << show(del);
  EXPECT_NE(del.out.find("Stopped controller 'ctl-1'"), std::string::npos) << show(del);
  for (int p : {pid, agent_pid}) {
    std::string stat = slurp("/proc/" + std::to_string(p) + "/stat");
    EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << p << ": " << stat;
  }
  EXPECT_FALSE(fs::exists(agent_prefix + "/etc/fogmesh/agent/identity.json"));
  EXPECT_FALSE(fs::exists(prefix + "/var/lib/fogmesh-controller"));
  EXPECT_TRUE(processes_mentioning(prefix).empty());  // PostgreSQL stopped too
  EXPECT_FALSE(fs::exists(home() + "/namespaces/default"));
}

}  // namespace
}  // namespace fogmesh::ctl
