// The real fogmesh-controller binary with its embedded PostgreSQL: start, serve, SIGTERM, restart
// on the same data dir, and kill -9 during writes (every acknowledged write survives).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

TEST(controller_process_test, EmbeddedDatabaseSurvivesRestartAndKill9) {
  temp_dir dir;
  std::string token;
  std::vector<std::string> created;
  {
    controller_process ctl(dir.path());
    auto s = http(ctl.port(), "GET", "/api/v3/status");
    ASSERT_EQ(s.status, 200) << s.body;
    ASSERT_EQ(
        http(
            ctl.port(), "POST", "/api/v3/user/signup",
            R"({"firstName":"Pro","lastName":"Cess","email":"p@example.com","password":"password1"})")
            .status,
        201);
    auto l = http(ctl.port(), "POST", "/api/v3/user/login",
                  R"({"email":"p@example.com","password":"password1"})");
    token = std::string(l.json().at("accessToken").as_string());
    EXPECT_EQ(ctl.terminate(), 0);  // clean SIGTERM stops the embedded cluster too
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/pgdata/postmaster.pid"));
  {
    // Same data dir: the user and the token are still there. Then a burst of writes and kill -9.
    controller_process ctl(dir.path());
    ASSERT_EQ(http(ctl.port(), "GET", "/api/v3/user/profile", "", token).status, 200);
    for (int i = 0; i < 40; ++i) {
      auto r =
          http(ctl.port(), "POST", "/api/v3/iofog",
               R"({"name":"burst-)" + std::to_string(i) + R"(","fogType":1,"host":"h"})", token);
      ASSERT_EQ(r.status, 201) << r.body;
      created.emplace_back(r.json().at("uuid").as_string());
    }
    ctl.kill9();
  }
  {
    // The restarted controller adopts the cluster the killed one left running.
    controller_process ctl(dir.path());
    auto list = http(ctl.port(), "GET", "/api/v3/iofog-list", "", token);
    ASSERT_EQ(list.status, 200) << list.body;
    EXPECT_EQ(list.json().at("fogs").as_array().size(), created.size());
    for (const auto& uuid : created) {
      EXPECT_EQ(http(ctl.port(), "GET", "/api/v3/iofog/" + uuid, "", token).status, 200);
    }
    EXPECT_EQ(ctl.terminate(), 0);
  }
}

// A TLS client that connects and never starts its handshake held SIGTERM for the handshake's
// 30 s timeout.
TEST(controller_process_test, SigtermDoesNotWaitForTlsHandshakes) {
  temp_dir dir;
  auto [cert, key] = self_signed_cert(dir.path());
  controller_process ctl(dir.path(), {"--tls-cert", cert, "--tls-key", key});
  int idle = connect_loopback(ctl.port());
  // Served after the idle connection was accepted (the listener accepts in order), so its
  // handshake is pending when SIGTERM comes.
  ASSERT_EQ(https_get(ctl.port(), "/api/v3/status").status, 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ctl.terminate(), 0);
  // A generous bound (the embedded cluster's shutdown is in it), far below the 30 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ::close(idle);
}

TEST(controller_process_test, HelpAndBadArguments) {
  std::string cmd = std::string(FOGMESH_CONTROLLER_BIN) + " --help > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  cmd = std::string(FOGMESH_CONTROLLER_BIN) + " --bogus 2> /dev/null";
  EXPECT_NE(std::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace fogmesh::controller::test
