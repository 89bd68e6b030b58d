// Provisioning and the CLI against our controller (no container engine needed): good, reused
// and expired keys, identity files and modes, argument errors, deprovision.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent_testkit.hpp"

namespace fogmesh::agent::test {
namespace {

class provision_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() { controller_ = new controller_env(); }
  static void TearDownTestSuite() {
    delete controller_;
    controller_ = nullptr;
  }

 protected:
  static controller_env* controller_;
  temp_dir dir_;
  std::string config_dir() const { return dir_.path() + "/agent"; }
};
controller_env* provision_test::controller_ = nullptr;

TEST_F(provision_test, GoodKeyProvisionsAndStoresAPrivateToken) {
  auto fog = controller_->create_fog("edge-good");
  auto key = controller_->provisioning_key(fog);
  auto r = run_agent_cli(
      {"--config-dir", config_dir(), "provision", key, "--controller", controller_->url()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(fog), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((config_dir() + "/token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto info = run_agent_cli({"--config-dir", config_dir(), "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto v = boost::json::parse(info.out);
  EXPECT_EQ(v.at("uuid").as_string(), fog);
  EXPECT_EQ(v.at("provisioned").as_bool(), true);
  EXPECT_EQ(v.at("settings").at("controllerUrl").as_string(), controller_->url());
  // The token works: the controller accepts it on the agent API.
  std::string token;
  std::ifstream(config_dir() + "/token") >> token;
  EXPECT_EQ(http(controller_->port(), "GET", "/api/v3/agent/config", "", token).status, 200);
}

TEST_F(provision_test, ReusedKeyIsRefusedWithTheControllersMessage) {
  auto fog = controller_->create_fog("edge-reuse");
  auto key = controller_->provisioning_key(fog);
  ASSERT_EQ(run_agent_cli({"--config-dir", config_dir(), "provision", key, "--controller",
                           controller_->url()})
                .exit_code,
            0);
  temp_dir other;
  auto r = run_agent_cli(
      {"--config-dir", other.path(), "provision", key, "--controller", controller_->url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Invalid Provisioning Key"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(other.path() + "/token"));
}

TEST_F(provision_test, ExpiredKeyIsRefused) {
  auto fog = controller_->create_fog("edge-expired");
  auto key = controller_->provisioning_key(fog);
  controller_->db().query(
      "UPDATE fog_provision_keys SET expires_at = now() - interval '1 minute' "
      "WHERE fog_uuid = '" +
      fog + "'");
  auto r = run_agent_cli(
      {"--config-dir", config_dir(), "provision", key, "--controller", controller_->url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Expired Provisioning Key"), std::string::npos) << r.err;
}

TEST_F(provision_test, UnreachableControllerAndBadArgumentsGiveClearErrors) {
  auto r = run_agent_cli({"--config-dir", config_dir(), "provision", "ABCDEFGH", "--controller",
                          "http://127.0.0.1:1/api/v3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot reach the controller"), std::string::npos) << r.err;
  r = run_agent_cli({"--config-dir", config_dir(), "provision"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("usage"), std::string::npos) << r.err;
  r = run_agent_cli({"--config-dir", config_dir(), "provision", "K", "--controller", "ftp://x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("scheme"), std::string::npos) << r.err;
  r = run_agent_cli({"--config-dir", config_dir(), "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command"), std::string::npos) << r.err;
  r = run_agent_cli({"--config-dir", config_dir(), "config", "--local-api-port", "70000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--local-api-port"), std::string::npos) << r.err;
  r = run_agent_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("provision <key>"), std::string::npos);
  r = run_agent_cli({"--config-dir", config_dir(), "deprovision"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not provisioned"), std::string::npos) << r.err;
}

TEST(provision_tls, HttpsControllerIsVerifiedAgainstTheGivenCa) {
  controller_env tls_controller(true);
  temp_dir dir;
  auto fog = tls_controller.create_fog("edge-tls");
  auto key = tls_controller.provisioning_key(fog);
  // Without the CA the certificate is not trusted: a clear error, nothing stored.
  auto r = run_agent_cli(
      {"--config-dir", dir.path(), "provision", key, "--controller", tls_controller.url()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("TLS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--controller-ca"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/token"));
  r = run_agent_cli({"--config-dir", dir.path(), "provision", key, "--controller",
                     tls_controller.url(), "--controller-ca", tls_controller.ca_file()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The daemon keeps using the CA: its status reaches the controller over HTTPS.
  std::string saved;
  {
    std::ifstream in(dir.path() + "/agent.json");
    saved.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto settings = boost::json::parse(saved).as_object();
  EXPECT_EQ(settings.at("controllerCaCert").as_string(), tls_controller.ca_file());
  settings["localApiPort"] = 0;
  settings["longPollSeconds"] = 5;
  std::ofstream(dir.path() + "/agent.json") << boost::json::serialize(settings);
  agent_process agent(dir.path(), {"DOCKER_HOST=unix://" + dir.path() + "/no-engine.sock"});
  agent.local_api_port();
  EXPECT_TRUE(eventually([&] {
    auto f = tls_controller.get("/api/v3/iofog/" + fog);
    return f.status == 200 && f.json().at("daemonStatus").as_string() == "RUNNING";
  })) << agent.log();
  EXPECT_EQ(agent.terminate(), 0);
}

TEST_F(provision_test, ConfigCommandEditsSettings) {
  auto r = run_agent_cli({"--config-dir", config_dir(), "config", "--local-api-bind",
                          "127.0.0.1,10.88.0.1", "--local-api-require-token", "false"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto shown = run_agent_cli({"--config-dir", config_dir(), "config"});
  auto v = boost::json::parse(shown.out);
  EXPECT_EQ(v.at("localApiBind").as_array().size(), 2u);
  EXPECT_EQ(v.at("localApiRequireToken").as_bool(), false);
  EXPECT_EQ(v.at("routerHeldMessages").as_int64(), 10000) << "the default";

  // The bound on what the daemon holds for the router: stored, shown by config and info, kept
  // beside the other settings; out of range is refused naming the flag, nothing changed.
  r = run_agent_cli({"--config-dir", config_dir(), "config", "--router-held-messages", "2500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v = boost::json::parse(run_agent_cli({"--config-dir", config_dir(), "config"}).out);
  EXPECT_EQ(v.at("routerHeldMessages").as_int64(), 2500);
  EXPECT_EQ(v.at("localApiRequireToken").as_bool(), false);
  auto info = boost::json::parse(run_agent_cli({"--config-dir", config_dir(), "info"}).out);
  EXPECT_EQ(info.at("settings").at("routerHeldMessages").as_int64(), 2500) << info;
  for (const char* bad : {"0", "-5", "many", "10000001"}) {
    r = run_agent_cli({"--config-dir", config_dir(), "config", "--router-held-messages", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--router-held-messages takes a number from 1 to 10000000"),
              std::string::npos)
        << r.err;
  }
  v = boost::json::parse(run_agent_cli({"--config-dir", config_dir(), "config"}).out);
  EXPECT_EQ(v.at("routerHeldMessages").as_int64(), 2500);
}

TEST_F(provision_test, DaemonReportsStatusAndDeprovisionForgetsTheNode) {
  auto fog = controller_->create_fog("edge-daemon", R"("statusFrequency":1)");
  auto key = controller_->provisioning_key(fog);
  write_test_settings(config_dir());
  ASSERT_EQ(run_agent_cli({"--config-dir", config_dir(), "provision", key, "--controller",
                           controller_->url()})
                .exit_code,
            0);
  agent_process agent(config_dir(), {"DOCKER_HOST=unix://" + dir_.path() + "/no-engine.sock"});
  agent.local_api_port();
  EXPECT_TRUE(eventually([&] {
    auto f = controller_->get("/api/v3/iofog/" + fog);
    return f.status == 200 && f.json().at("daemonStatus").as_string() == "RUNNING";
  })) << agent.log();
  auto status = run_agent_cli({"--config-dir", config_dir(), "status"});
  ASSERT_EQ(status.exit_code, 0);
  auto sv = boost::json::parse(status.out);
  EXPECT_EQ(sv.at("daemon").as_string(), "running") << status.out;
  EXPECT_EQ(sv.at("status").at("uuid").as_string(), fog);

  auto d = run_agent_cli({"--config-dir", config_dir(), "deprovision"},
                         {"DOCKER_HOST=unix://" + dir_.path() + "/no-engine.sock"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  // The engine is not there: a warning that names the socket and the reason, without the
  // source location Boost puts into its exception text.
  EXPECT_NE(d.err.find("unix://" + dir_.path() + "/no-engine.sock: No such file or directory"),
            std::string::npos)
      << d.err;
  EXPECT_EQ(d.err.find("/usr/include"), std::string::npos) << d.err;
  EXPECT_FALSE(std::filesystem::exists(config_dir() + "/token"));
  // The controller dropped the token; the daemon notices and stays up unprovisioned.
  EXPECT_TRUE(eventually([&] {
    auto s = run_agent_cli({"--config-dir", config_dir(), "status"});
    auto j = boost::json::parse(s.out);
    return j.at("daemon").as_string() == "running" && !j.at("status").at("provisioned").as_bool();
  })) << agent.log();
  EXPECT_EQ(agent.terminate(), 0);
}

// Against a controller that answers change polls at once (plain ioFog does not hold
// ?wait= requests), the agent falls back to polling every changeFrequency seconds instead of
// asking again at once, and a change still reaches it.
TEST(provision_plain_polling, AgentPollsEveryChangeFrequencyWhenTheControllerDoesNotHold) {
  controller_env controller(false, 0);
  auto fog = controller.create_fog("edge-plain", R"("changeFrequency":2,"statusFrequency":60)");
  temp_dir dir;
  const std::string config_dir = dir.path() + "/agent";
  write_test_settings(config_dir);
  ASSERT_EQ(run_agent_cli({"--config-dir", config_dir, "provision",
                           controller.provisioning_key(fog), "--controller", controller.url()})
                .exit_code,
            0);
  agent_process agent(config_dir, {"DOCKER_HOST=unix://" + dir.path() + "/no-engine.sock"});
  ASSERT_TRUE(eventually([&] {
    return agent.log().find("synced with controller") != std::string::npos;
  })) << agent.log();
  const uint64_t before = controller.agent_connections();
  std::this_thread::sleep_for(std::chrono::seconds(8));
  const uint64_t polls = controller.agent_connections() - before;
  // About 4 change polls in 8 s (2 s apart) plus perhaps a status report; a loop asking again
  // at once would make hundreds.
  EXPECT_GE(polls, 2u) << agent.log();
  EXPECT_LE(polls, 8u) << agent.log();
  auto c = controller.post("/api/v3/application", R"({"name": "plain-app", "isActivated": true,
      "microservices": [{"name": "m", "agentName": "edge-plain",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  const std::string m = controller.microservice_uuid("plain-app", "m");
  EXPECT_TRUE(eventually([&] { return !agent.microservice_token(m).empty(); })) << agent.log();
  EXPECT_EQ(agent.terminate(), 0);
}

}  // namespace
}  // namespace fogmesh::agent::test
