// Microservices as containers through podman's Docker-compatible API: deploy with ports,
// volumes (read-only honoured), env and extra hosts; the controller sees RUNNING; agent
// restarts adopt running containers; unknown managed containers are removed; a crash loop ends
// in STUCK_IN_RESTART; deleting the microservice removes its container; the controller going
// away leaves containers running and the agent resyncs when it returns.
// Exits 77 (skipped) when podman cannot run here; CI runs it as root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "agent_testkit.hpp"

namespace fogmesh::agent::test {
namespace {

namespace json = boost::json;

class containers_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (auto reason = podman_service::skip_reason(); !reason.empty()) {
      std::cerr << "SKIP: " << reason << "\n";
      std::exit(77);
    }
    dir_ = new temp_dir();
    // The private registry's port is known before the engine starts: the engine reaches it over
    // plain HTTP (loopback) by its registries.conf.
    registry_port_ = free_port();
    podman_ = new podman_service({"127.0.0.1:" + std::to_string(registry_port_)});
    controller_ = new controller_env();
    // availableDiskThreshold 0: the agents of this suite share one engine, and on a machine
    // with little free disk the default (20 %) would prune the images another test needs.
    fog_ =
        controller_->create_fog("edge-podman", R"("statusFrequency":1,"availableDiskThreshold":0)");
    auto key = controller_->provisioning_key(fog_);
    config_dir_ = dir_->path() + "/agent";
    // Microservices reach the local API at the bridge gateway ("iofog"), so listen there too.
    write_test_settings(config_dir_, R"("localApiBindBridge":true)");
    auto p = run_agent_cli(
        {"--config-dir", config_dir_, "provision", key, "--controller", controller_->url()});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    start_agent();
  }
  static void TearDownTestSuite() {
    delete agent_;
    delete controller_;
    delete podman_;
    delete dir_;
  }

 protected:
  static void start_agent() {
    agent_ = new agent_process(config_dir_, {"DOCKER_HOST=" + podman_->docker_host()});
    agent_->local_api_port();
  }

  static json::value inspect(const std::string& name) {
    int rc = 0;
    auto out = podman_->podman({"inspect", name}, &rc);
    if (rc != 0) return nullptr;
    boost::system::error_code ec;
    auto v = json::parse(out, ec);
    if (ec || !v.is_array() || v.as_array().empty()) return nullptr;
    return v.as_array()[0];
  }
  static std::string state_of(const std::string& name) {
    auto v = inspect(name);
    if (v.is_null()) return "";
    return std::string(v.at("State").at("Status").as_string());
  }
  static std::string id_of(const std::string& name) {
    auto v = inspect(name);
    return v.is_null() ? "" : std::string(v.at("Id").as_string());
  }
  static int free_port() {
    // Bind port 0 to learn a free port for a published container port.
    auto r = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(r, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(r, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(r);
    return ntohs(a.sin_port);
  }

  static temp_dir* dir_;
  static podman_service* podman_;
  static controller_env* controller_;
  static agent_process* agent_;
  static std::string config_dir_, fog_;
  static int registry_port_;
};
int containers_test::registry_port_ = 0;
temp_dir* containers_test::dir_ = nullptr;
podman_service* containers_test::podman_ = nullptr;
controller_env* containers_test::controller_ = nullptr;
agent_process* containers_test::agent_ = nullptr;
std::string containers_test::config_dir_, containers_test::fog_;

TEST_F(containers_test, DeploysWithSettingsAdoptsOnRestartAndRemovesOnDelete) {
  int host_port = free_port();
  std::string host_dir = dir_->path() + "/shared";
  std::filesystem::create_directories(host_dir);
  std::ofstream(host_dir + "/note.txt") << "from the host\n";
  std::string body = R"({"name": "web-app", "isActivated": true, "microservices": [
      {"name": "web", "agentName": "edge-podman", "config": "{}", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"],
       "ports": [{"internal": 8080, "external": )" +
                     std::to_string(host_port) + R"(, "protocol": "tcp"}],
       "volumeMappings": [{"hostDestination": ")" +
                     host_dir + R"(", "containerDestination": "/shared",
                           "accessMode": "ro", "type": "bind"}],
       "env": [{"key": "GREETING", "value": "hello"}],
       "extraHosts": [{"name": "db", "address": "10.1.2.3"}]}]})";
  auto c = controller_->post("/api/v3/application", body);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("web-app", "web");
  std::string name = "iofog_" + uuid;

  ASSERT_TRUE(eventually([&] { return state_of(name) == "running"; })) << agent_->log();
  auto v = inspect(name);
  // Env: the microservice's own, SELFNAME, its local API token.
  std::string env = json::serialize(v.at("Config").at("Env"));
  EXPECT_NE(env.find("GREETING=hello"), std::string::npos) << env;
  EXPECT_NE(env.find("SELFNAME=" + uuid), std::string::npos) << env;
  EXPECT_NE(env.find("FOGMESH_LOCAL_API_TOKEN=" + agent_->microservice_token(uuid)),
            std::string::npos);
  // The fog's edge router (routerMode edge: listener on 0.0.0.0:messagingPort) through `iofog`.
  auto fog = controller_->get("/api/v3/iofog/" + fog_);
  ASSERT_EQ(fog.status, 200) << fog.body;
  auto messaging_port = fog.json().at("messagingPort").to_number<int>();
  EXPECT_NE(env.find("FOGMESH_ROUTER_URL=amqp://iofog:" + std::to_string(messaging_port) + "\""),
            std::string::npos)
      << env;
  EXPECT_EQ(v.at("Config").at("Labels").at("iofog-uuid").as_string(), fog_);
  std::string hosts = json::serialize(v.at("HostConfig").at("ExtraHosts"));
  EXPECT_NE(hosts.find("db:10.1.2.3"), std::string::npos) << hosts;
  EXPECT_FALSE(v.at("HostConfig").at("Privileged").as_bool());
  // The read-only bind is read-only inside the container.
  int rc = 0;
  auto cat = podman_->podman({"exec", name, "cat", "/shared/note.txt"}, &rc);
  EXPECT_EQ(rc, 0) << cat;
  EXPECT_NE(cat.find("from the host"), std::string::npos) << cat;
  auto write = podman_->podman({"exec", name, "sh", "-c", "echo x > /shared/new.txt"}, &rc);
  EXPECT_NE(rc, 0) << "write to a ro volume succeeded: " << write;
  // The published port serves.
  http_result page;
  EXPECT_TRUE(eventually([&] {
    try {
      page = http(static_cast<uint16_t>(host_port), "GET", "/", "", "", {}, 5);
      return page.status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }));
  EXPECT_NE(page.body.find("hello from fogmesh"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return controller_->microservice_status(uuid) == "RUNNING"; }))
      << agent_->log();
  // Its resource usage reaches the controller too (memory from the engine's stats).
  EXPECT_TRUE(eventually([&] {
    auto r = controller_->get("/api/v3/microservices/" + uuid);
    if (r.status != 200) return false;
    auto j = r.json();
    const auto& mem = j.at("status").at("memoryUsage");
    return mem.is_number() && mem.to_number<double>() > 0;
  })) << agent_->log();

  // SIGTERM leaves the container running; the next agent adopts it (same container id).
  std::string id = id_of(name);
  EXPECT_EQ(agent_->terminate(), 0);
  delete agent_;
  agent_ = nullptr;
  EXPECT_EQ(state_of(name), "running");
  start_agent();
  // Let the new agent run several reconcile passes, then check nothing was recreated.
  EXPECT_TRUE(eventually([&] {
    auto s = run_agent_cli({"--config-dir", config_dir_, "status"});
    return s.out.find("\"RUNNING\"") != std::string::npos;
  })) << agent_->log();
  EXPECT_EQ(id_of(name), id);
  EXPECT_EQ(state_of(name), "running");

  // A container that claims to be ours but is not wanted is removed.
  std::string stray = "iofog_00000000000000000000000000stray";
  podman_->podman({"run", "-d", "--name", stray, "--label", "iofog-uuid=" + fog_,
                   "localhost/busybox:latest", "sleep", "600"},
                  &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_TRUE(eventually([&] { return state_of(stray).empty(); })) << agent_->log();

  // Deleting the microservice removes its container.
  ASSERT_EQ(controller_->del("/api/v3/microservices/" + uuid).status, 204);
  EXPECT_TRUE(eventually([&] { return state_of(name).empty(); })) << agent_->log();
}

TEST_F(containers_test, MicroserviceReadsItsConfigThroughTheLocalApiWithItsToken) {
  // Inside the container: POST /v2/config/get to iofog:<port> with its own token and SELFNAME.
  std::string script =
      "until wget -q -O /tmp/config --header \"Authorization: $FOGMESH_LOCAL_API_TOKEN\" "
      "--header 'Content-Type: application/json' --post-data \"{\\\"id\\\":\\\"$SELFNAME\\\"}\" "
      "http://iofog:$FOGMESH_LOCAL_API_PORT/v2/config/get; do sleep 1; done; sleep 3600";
  json::object ms{
      {"name", "reader"},
      {"agentName", "edge-podman"},
      {"registryId", 2},
      {"config", R"({"answer":42})"},
      {"images",
       json::array{json::object{{"containerImage", "localhost/busybox:latest"}, {"fogTypeId", 1}}}},
      {"cmd", json::array{"sh", "-c", script}}};
  json::object app{
      {"name", "reader-app"}, {"isActivated", true}, {"microservices", json::array{ms}}};
  auto c = controller_->post("/api/v3/application", json::serialize(app));
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("reader-app", "reader");
  std::string name = "iofog_" + uuid;
  std::string config;
  EXPECT_TRUE(eventually([&] {
    int rc = 0;
    config = podman_->podman({"exec", name, "cat", "/tmp/config"}, &rc);
    return rc == 0 && config.find("okay") != std::string::npos;
  })) << config
      << "\n"
      << agent_->log();
  EXPECT_NE(config.find(R"(\"answer\":42)"), std::string::npos) << config;
  ASSERT_EQ(controller_->del("/api/v3/application/reader-app").status, 204);
}

TEST_F(containers_test, TwoAgentsOnOneEngineLeaveEachOthersContainersAlone) {
  auto fog2 =
      controller_->create_fog("edge-podman-2", R"("statusFrequency":1,"availableDiskThreshold":0)");
  std::string dir2 = dir_->path() + "/agent2";
  write_test_settings(dir2);
  ASSERT_EQ(run_agent_cli({"--config-dir", dir2, "provision", controller_->provisioning_key(fog2),
                           "--controller", controller_->url()})
                .exit_code,
            0);
  agent_process agent2(dir2, {"DOCKER_HOST=" + podman_->docker_host()});
  auto app = [](const std::string& name, const std::string& agent) {
    return R"({"name": ")" + name +
           R"(", "isActivated": true, "microservices": [{"name": "s", "agentName": ")" + agent +
           R"(", "registryId": 2, "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
           "cmd": ["sleep", "3600"]}]})";
  };
  ASSERT_EQ(controller_->post("/api/v3/application", app("second-app", "edge-podman-2")).status,
            201);
  std::string second = "iofog_" + controller_->microservice_uuid("second-app", "s");
  ASSERT_TRUE(eventually([&] { return state_of(second) == "running"; })) << agent2.log();
  std::string second_id = id_of(second);
  // The first agent runs a full pass after that container exists (it deploys this one)...
  ASSERT_EQ(controller_->post("/api/v3/application", app("first-app", "edge-podman")).status, 201);
  std::string first = "iofog_" + controller_->microservice_uuid("first-app", "s");
  ASSERT_TRUE(eventually([&] { return state_of(first) == "running"; })) << agent_->log();
  // ...and leaves the other fog's container alone.
  EXPECT_EQ(id_of(second), second_id);
  EXPECT_EQ(state_of(second), "running");
  ASSERT_EQ(controller_->del("/api/v3/application/first-app").status, 204);
  ASSERT_EQ(controller_->del("/api/v3/application/second-app").status, 204);
  EXPECT_TRUE(eventually([&] { return state_of(first).empty() && state_of(second).empty(); }));
  EXPECT_EQ(agent2.terminate(), 0);
}

TEST_F(containers_test, PruneFlagRemovesUnusedImagesOnly) {
  auto c = controller_->post("/api/v3/application",
                             R"({"name": "keep-app", "isActivated": true, "microservices": [
      {"name": "keep", "agentName": "edge-podman", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["sleep", "3600"]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string keep = "iofog_" + controller_->microservice_uuid("keep-app", "keep");
  ASSERT_TRUE(eventually([&] { return state_of(keep) == "running"; })) << agent_->log();
  podman_->import_image("localhost/unused:1");
  int rc = 0;
  podman_->podman({"image", "exists", "localhost/unused:1"}, &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(controller_->post("/api/v3/iofog/" + fog_ + "/prune", "").status, 204);
  EXPECT_TRUE(eventually([&] {
    int exists = 0;
    podman_->podman({"image", "exists", "localhost/unused:1"}, &exists);
    return exists != 0;
  })) << agent_->log();
  podman_->podman({"image", "exists", "localhost/busybox:latest"}, &rc);
  EXPECT_EQ(rc, 0) << "an image in use was pruned";
  EXPECT_EQ(state_of(keep), "running");
  ASSERT_EQ(controller_->del("/api/v3/application/keep-app").status, 204);
  EXPECT_TRUE(eventually([&] { return state_of(keep).empty(); }));
}

TEST_F(containers_test, LowDiskPruneKeepsTheImagesOfItsMicroservices) {
  // availableDiskThreshold 100 %: every disk check finds too little free, as on a full node.
  auto fog = controller_->create_fog("edge-low-disk",
                                     R"("statusFrequency":1,"availableDiskThreshold":100)");
  auto c = controller_->post("/api/v3/application",
                             R"({"name": "low-disk-app", "isActivated": true, "microservices": [
      {"name": "s", "agentName": "edge-low-disk", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["sleep", "3600"]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  podman_->import_image("localhost/unused:2");
  std::string dir = dir_->path() + "/agent-low-disk";
  write_test_settings(dir);
  ASSERT_EQ(run_agent_cli({"--config-dir", dir, "provision", controller_->provisioning_key(fog),
                           "--controller", controller_->url()})
                .exit_code,
            0);
  agent_process agent(dir, {"DOCKER_HOST=" + podman_->docker_host()});
  std::string name = "iofog_" + controller_->microservice_uuid("low-disk-app", "s");
  ASSERT_TRUE(eventually([&] { return state_of(name) == "running"; })) << agent.log();
  EXPECT_TRUE(eventually([&] {
    int exists = 0;
    podman_->podman({"image", "exists", "localhost/unused:2"}, &exists);
    return exists != 0;
  })) << agent.log();
  EXPECT_NE(agent.log().find("free disk below availableDiskThreshold"), std::string::npos)
      << agent.log();
  ASSERT_EQ(controller_->del("/api/v3/application/low-disk-app").status, 204);
  EXPECT_TRUE(eventually([&] { return state_of(name).empty(); }));
  EXPECT_EQ(agent.terminate(), 0);
}

// Privileged and host network only when the microservice asks for rootHostAccess (upstream
// also made any container with extra hosts privileged: the first test checks that it is not).
TEST_F(containers_test, RootHostAccessIsPrivilegedOnTheHostNetwork) {
  auto c = controller_->post("/api/v3/application",
                             R"({"name": "root-app", "isActivated": true, "microservices": [
      {"name": "root", "agentName": "edge-podman", "registryId": 2, "rootHostAccess": true,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["sleep", "3600"]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("root-app", "root");
  ASSERT_TRUE(eventually([&] { return state_of("iofog_" + uuid) == "running"; })) << agent_->log();
  auto v = inspect("iofog_" + uuid);
  EXPECT_TRUE(v.at("HostConfig").at("Privileged").as_bool());
  EXPECT_EQ(v.at("HostConfig").at("NetworkMode").as_string(), "host");
  ASSERT_EQ(controller_->del("/api/v3/application/root-app").status, 204);
  EXPECT_TRUE(eventually([&] { return state_of("iofog_" + uuid).empty(); })) << agent_->log();
}

TEST_F(containers_test, CrashLoopEndsInStuckInRestart) {
  auto c = controller_->post("/api/v3/application",
                             R"({"name": "crash-app", "isActivated": true, "microservices": [
      {"name": "crasher", "agentName": "edge-podman", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["sh", "-c", "exit 3"]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("crash-app", "crasher");
  EXPECT_TRUE(
      eventually([&] { return controller_->microservice_status(uuid) == "STUCK_IN_RESTART"; },
                 std::chrono::seconds(120)))
      << agent_->log();
  ASSERT_EQ(controller_->del("/api/v3/application/crash-app").status, 204);
  EXPECT_TRUE(eventually([&] { return state_of("iofog_" + uuid).empty(); })) << agent_->log();
}

TEST_F(containers_test, MissingImageFailsWithTheEnginesMessage) {
  auto c = controller_->post("/api/v3/application",
                             R"({"name": "missing-app", "isActivated": true, "microservices": [
      {"name": "ghost", "agentName": "edge-podman",
       "images": [{"containerImage": "localhost/does-not-exist:1", "fogTypeId": 1}]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("missing-app", "ghost");
  std::string message;
  EXPECT_TRUE(eventually([&] {
    auto r = controller_->get("/api/v3/microservices/" + uuid);
    if (r.status != 200) return false;
    auto v = r.json();
    const auto& st = v.at("status");
    message = std::string(st.at("errorMessage").as_string());
    return st.at("status").as_string() == "FAILED" && !message.empty();
  })) << agent_->log();
  EXPECT_NE(message.find("does-not-exist"), std::string::npos) << message;
  ASSERT_EQ(controller_->del("/api/v3/application/missing-app").status, 204);
}

TEST_F(containers_test, ControllerOutageKeepsContainersAndResyncs) {
  auto c = controller_->post("/api/v3/application",
                             R"({"name": "steady-app", "isActivated": true, "microservices": [
      {"name": "steady", "agentName": "edge-podman", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["sleep", "3600"]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("steady-app", "steady");
  ASSERT_TRUE(eventually([&] { return state_of("iofog_" + uuid) == "running"; })) << agent_->log();
  std::string id = id_of("iofog_" + uuid);

  controller_->stop();
  const auto down_since = std::chrono::steady_clock::now();
  // The agent notices (its long-poll fails) and keeps the container across many reconcile
  // passes and retries (back-off growing to retryBackoffMaxMs) for the 30 s of the issue's test.
  EXPECT_TRUE(eventually([&] { return agent_->log().find("unreachable") != std::string::npos; }))
      << agent_->log();
  while (std::chrono::steady_clock::now() - down_since < std::chrono::seconds(30)) {
    ASSERT_EQ(state_of("iofog_" + uuid), "running");
    ASSERT_EQ(id_of("iofog_" + uuid), id);
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  ASSERT_TRUE(agent_->running()) << agent_->log();
  controller_->restart();
  // Back online: a change made now reaches the agent.
  auto d = controller_->post("/api/v3/application",
                             R"({"name": "after-app", "isActivated": true, "microservices": [
      {"name": "later", "agentName": "edge-podman", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "cmd": ["sleep", "3600"]}]})");
  ASSERT_EQ(d.status, 201) << d.body;
  std::string later = controller_->microservice_uuid("after-app", "later");
  EXPECT_TRUE(eventually([&] { return state_of("iofog_" + later) == "running"; })) << agent_->log();
  EXPECT_EQ(id_of("iofog_" + uuid), id);
  ASSERT_EQ(controller_->del("/api/v3/application/steady-app").status, 204);
  ASSERT_EQ(controller_->del("/api/v3/application/after-app").status, 204);
}

// A microservice whose image lives in a private registry: the agent pulls it with the
// credentials of the registry the controller names (X-Registry-Auth), and a wrong password
// leaves the microservice not running with the registry's refusal in its status.
TEST_F(containers_test, PullsFromAPrivateRegistryWithItsCredentials) {
  if (auto reason = private_registry::skip_reason(); !reason.empty()) GTEST_SKIP() << reason;
  private_registry registry(registry_port_, "alice", "s3cret-Pass");
  const std::string image = registry.address() + "/team/busy:1";
  int rc = 0;
  podman_->podman({"tag", "localhost/busybox:latest", image});
  auto pushed = podman_->podman({"push", "--creds", "alice:s3cret-Pass", image}, &rc);
  ASSERT_EQ(rc, 0) << pushed << registry.log();
  // Only the registry has it now: the agent must pull.
  podman_->podman({"rmi", image}, &rc);
  ASSERT_EQ(rc, 0);

  auto wrong = controller_->post(
      "/api/v3/registries", R"({"url": ")" + registry.address() +
                                R"(", "isPublic": false, "username": "alice", "password": "wrong",
                                "email": "alice@example.com"})");
  ASSERT_EQ(wrong.status, 201) << wrong.body;
  auto right =
      controller_->post("/api/v3/registries", R"({"url": ")" + registry.address() +
                                                  R"(", "isPublic": false, "username": "alice",
                                "password": "s3cret-Pass", "email": "alice@example.com"})");
  ASSERT_EQ(right.status, 201) << right.body;
  auto app = [&](const std::string& name, const json::value& registry_id) {
    return R"({"name": ")" + name + R"(", "isActivated": true, "microservices": [
      {"name": "busy", "agentName": "edge-podman", "registryId": )" +
           json::serialize(registry_id) + R"(,
       "images": [{"containerImage": ")" +
           image + R"(", "fogTypeId": 1}], "cmd": ["sleep", "3600"]}]})";
  };

  ASSERT_EQ(
      controller_->post("/api/v3/application", app("denied-app", wrong.json().at("id"))).status,
      201);
  std::string denied = controller_->microservice_uuid("denied-app", "busy");
  std::string error;
  EXPECT_TRUE(eventually([&] {
    auto m = controller_->get("/api/v3/microservices/" + denied).json();
    error = json::serialize(m.at("status"));
    return error.find("unauthorized") != std::string::npos ||
           error.find("authentication required") != std::string::npos;
  })) << error
      << agent_->log();
  EXPECT_EQ(state_of("iofog_" + denied), "");
  ASSERT_EQ(controller_->del("/api/v3/application/denied-app").status, 204);

  ASSERT_EQ(
      controller_->post("/api/v3/application", app("pulled-app", right.json().at("id"))).status,
      201);
  std::string pulled = controller_->microservice_uuid("pulled-app", "busy");
  ASSERT_TRUE(eventually([&] { return state_of("iofog_" + pulled) == "running"; }))
      << agent_->log() << registry.log();
  EXPECT_EQ(std::string(inspect("iofog_" + pulled).at("ImageName").as_string()), image);
  // The registry served the manifest to an authorized GET (the push used HEAD and PUT).
  std::string log = registry.log();
  std::istringstream lines(log);
  bool authorized_get = false;
  for (std::string line; std::getline(lines, line);) {
    authorized_get |= line.find("authorized request") != std::string::npos &&
                      line.find("method=GET") != std::string::npos &&
                      line.find("/v2/team/busy/manifests/1") != std::string::npos;
  }
  EXPECT_TRUE(authorized_get) << log;
  ASSERT_EQ(controller_->del("/api/v3/application/pulled-app").status, 204);
}

}  // namespace
}  // namespace fogmesh::agent::test
