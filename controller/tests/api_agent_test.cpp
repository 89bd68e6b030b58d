// Agent-facing API: provisioning, config, status, change tracking and long-poll (including a
// change made through a second controller on the same database).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using agent_api = api_test;
namespace json = boost::json;

// Waits (without asserting any duration) until `port`'s controller holds `n` long-polls.
void wait_for_held_polls(uint16_t port, int n) {
  std::string needle = "fogmesh_controller_long_polls_waiting " + std::to_string(n) + "\n";
  for (int i = 0; i < 6000; ++i) {
    if (http(port, "GET", "/metrics").body.find(needle) != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "long-poll never held";
}

TEST_F(agent_api, ProvisionIsSingleUse) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "agent-1");
  auto k = get("/api/v3/iofog/" + fog + "/provisioning-key", token);
  std::string key(k.json().at("key").as_string());

  expect_error(post("/api/v3/agent/provision", R"({"key":"nope1234","type":1})"), 404,
               "NotFoundError", "Invalid Provisioning Key");
  expect_error(post("/api/v3/agent/provision", R"({"key":")" + key + R"("})"), 400,
               "ValidationError", "Required field 'type' is missing");
  expect_error(post("/api/v3/agent/provision", R"({"key":")" + key + R"(","type":5})"), 400,
               "ValidationError");
  auto p = post("/api/v3/agent/provision", R"({"key":")" + key + R"(","type":2})");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json().at("uuid").as_string(), fog);
  std::string agent(p.json().at("token").as_string());
  expect_error(post("/api/v3/agent/provision", R"({"key":")" + key + R"(","type":2})"), 404,
               "NotFoundError", "Invalid Provisioning Key");
  EXPECT_EQ(get("/api/v3/iofog/" + fog, token).json().at("fogTypeId").as_int64(), 2);

  // Agent tokens only open /agent/*, user tokens never do.
  EXPECT_EQ(get("/api/v3/agent/config", agent).status, 200);
  expect_error(get("/api/v3/agent/config", token), 401, "AuthenticationError");
  expect_error(get("/api/v3/iofog-list", agent), 401, "AuthenticationError");

  // Re-provisioning replaces the agent: the old token dies.
  std::string agent2 = provision_agent(token, fog);
  expect_error(get("/api/v3/agent/config", agent), 401, "AuthenticationError");
  EXPECT_EQ(get("/api/v3/agent/config", agent2).status, 200);

  // Expired keys are refused (and consumed).
  auto k2 = get("/api/v3/iofog/" + fog + "/provisioning-key", token);
  db().query("UPDATE fog_provision_keys SET expires_at = now() - interval '1 minute'");
  expect_error(
      post("/api/v3/agent/provision",
           R"({"key":")" + std::string(k2.json().at("key").as_string()) + R"(","type":1})"),
      401, "AuthenticationError", "Expired");
}

TEST_F(agent_api, ConfigAndStatus) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "cfg", R"("cpuLimit":55,"statusFrequency":5)");
  std::string agent = provision_agent(token, fog);

  auto c = get("/api/v3/agent/config", agent);
  ASSERT_EQ(c.status, 200) << c.body;
  auto cfg = c.json();
  EXPECT_EQ(cfg.at("cpuLimit").to_number<double>(), 55);
  EXPECT_EQ(cfg.at("statusFrequency").as_int64(), 5);
  EXPECT_EQ(cfg.at("routerHost").as_string(), "localhost");
  EXPECT_EQ(cfg.at("routerPort").as_int64(), 5672);
  EXPECT_EQ(cfg.at("dockerUrl").as_string(), "unix:///var/run/docker.sock");

  EXPECT_EQ(patch("/api/v3/agent/config", R"({"logLevel":"FINE","diskLimit":20})", agent).status,
            204);
  auto f = get("/api/v3/iofog/" + fog, token).json();
  EXPECT_EQ(f.at("logLevel").as_string(), "FINE");
  expect_error(patch("/api/v3/agent/config", R"({"diskLimit":"big"})", agent), 400,
               "ValidationError", "Field 'diskLimit' is not of a type(s) number");

  auto s =
      put("/api/v3/agent/status",
          R"({"daemonStatus":"RUNNING","memoryUsage":12.5,"cpuUsage":3,"ipAddress":"192.168.1.9",
                   "version":"3.0.1","isReadyToUpgrade":false,"cpuViolation":false,
                   "microserviceStatus":"[]","lastStatusTime":1})",
          agent);
  ASSERT_EQ(s.status, 204) << s.body;
  f = get("/api/v3/iofog/" + fog, token).json();
  EXPECT_EQ(f.at("daemonStatus").as_string(), "RUNNING");
  EXPECT_EQ(f.at("ipAddress").as_string(), "192.168.1.9");
  EXPECT_EQ(f.at("version").as_string(), "3.0.1");
  EXPECT_EQ(f.at("memoryUsage").to_number<double>(), 12.5);
  EXPECT_GT(f.at("lastStatusTime").as_int64(), 1);  // the controller's clock, not the agent's
  expect_error(put("/api/v3/agent/status", R"({"cpuUsage":"high"})", agent), 400,
               "ValidationError");
  expect_error(put("/api/v3/agent/status", "{", agent), 400, "ValidationError");
  EXPECT_EQ(get("/api/v3/iofog/" + fog, token).json().at("cpuUsage").to_number<double>(), 3);

  EXPECT_EQ(put("/api/v3/agent/hal/hw", R"({"info":"{\"cpus\":4}"})", agent).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + fog + "/hal/hw", token).json().at("info").as_string(),
            "{\"cpus\":4}");
}

// Epoch-ms timestamps and byte counts exceed 2^31: they are 64-bit from the request body to the
// database column and back.
TEST_F(agent_api, StatusKeepsSixtyFourBitValues) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "big-numbers");
  std::string agent = provision_agent(token, fog);
  auto s = put("/api/v3/agent/status",
               R"({"daemonStatus":"RUNNING","daemonLastStart":1764100000000,
                   "daemonOperatingDuration":4294967296123,
                   "systemAvailableDisk":1764100000001,"systemAvailableMemory":1764100000002,
                   "systemTime":1764100000003,"lastStatusTime":1764100000004,
                   "lastCommandTime":1764100000005,"processedMessages":9007199254740993})",
               agent);
  ASSERT_EQ(s.status, 204) << s.body;
  auto f = get("/api/v3/iofog/" + fog, token).json();
  EXPECT_EQ(f.at("daemonLastStart").as_int64(), 1764100000000);
  EXPECT_EQ(f.at("daemonOperatingDuration").as_int64(), 4294967296123);
  EXPECT_EQ(f.at("systemAvailableDisk").as_int64(), 1764100000001);
  EXPECT_EQ(f.at("systemAvailableMemory").as_int64(), 1764100000002);
  EXPECT_EQ(f.at("systemTime").as_int64(), 1764100000003);
  EXPECT_EQ(f.at("lastCommandTime").as_int64(), 1764100000005);
  EXPECT_EQ(f.at("processedMessages").as_int64(), 9007199254740993);
  // lastStatusTime is the controller's clock (itself far beyond 2^31).
  EXPECT_GT(f.at("lastStatusTime").as_int64(), int64_t{1} << 40);
  // Integer columns stay checked: a 32-bit field still refuses 2^31.
  expect_error(put("/api/v3/agent/status", R"({"repositoryCount":2147483648})", agent), 400,
               "ValidationError");

  // ... and in the microservice status the agent reports.
  ASSERT_EQ(post("/api/v3/application",
                 R"({"name":"big","isActivated":true,"microservices":[{"name":"m","iofogUuid":")" +
                     fog + R"(","images":[{"containerImage":"busybox","fogTypeId":1}]}]})",
                 token)
                .status,
            201);
  std::string msvc(get("/api/v3/application/big", token)
                       .json()
                       .at("microservices")
                       .at(0)
                       .at("uuid")
                       .as_string());
  std::string ms_status = R"([{"id":")" + msvc +
                          R"(","status":"RUNNING","startTime":1764100000000,)"
                          R"("operatingDuration":4294967296000,"memoryUsage":8589934592}])";
  ASSERT_EQ(put("/api/v3/agent/status",
                json::serialize(json::object{{"microserviceStatus", ms_status}}), agent)
                .status,
            204);
  auto st = get("/api/v3/microservices/" + msvc, token).json().at("status");
  EXPECT_EQ(st.at("status").as_string(), "RUNNING");
  EXPECT_EQ(st.at("startTime").as_int64(), 1764100000000);
  EXPECT_EQ(st.at("operatingDuration").as_int64(), 4294967296000);
  EXPECT_EQ(st.at("memoryUsage").as_int64(), 8589934592);

  // Every epoch-ms or byte-count column is bigint.
  for (const char* col :
       {"fogs.daemon_operating_duration", "fogs.daemon_last_start", "fogs.system_available_disk",
        "fogs.system_available_memory", "fogs.system_time", "fogs.last_status_time",
        "fogs.last_command_time", "fogs.last_active", "fogs.processed_messages",
        "microservice_status.start_time", "microservice_status.operating_duration",
        "microservice_status.memory_usage", "microservices.log_size", "catalog_items.disk_required",
        "catalog_items.ram_required"}) {
    std::string c(col);
    auto dot = c.find('.');
    EXPECT_EQ(db().query("SELECT data_type FROM information_schema.columns WHERE table_name = '" +
                         c.substr(0, dot) + "' AND column_name = '" + c.substr(dot + 1) + "'"),
              "bigint")
        << col;
  }
}

TEST_F(agent_api, ChangesAreAckedAtLeastOnce) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "changes");
  std::string agent = provision_agent(token, fog);

  auto none = get("/api/v3/agent/config/changes", agent).json();
  EXPECT_EQ(none.at("config"), false);
  EXPECT_EQ(none.at("reboot"), false);
  EXPECT_FALSE(none.as_object().contains("lastUpdated"));

  ASSERT_EQ(patch("/api/v3/iofog/" + fog, R"({"cpuLimit":10})", token).status, 204);
  auto first = get("/api/v3/agent/config/changes", agent).json();
  EXPECT_EQ(first.at("config"), true);
  EXPECT_EQ(first.at("routerChanged"), false);
  std::string seen(first.at("lastUpdated").as_string());

  // A change made while the agent works on the first one survives its ack.
  ASSERT_EQ(post("/api/v3/iofog/" + fog + "/reboot", "", token).status, 204);
  EXPECT_EQ(
      patch("/api/v3/agent/config/changes", R"({"lastUpdated":")" + seen + R"("})", agent).status,
      204);
  auto second = get("/api/v3/agent/config/changes", agent).json();
  EXPECT_EQ(second.at("config"), false);
  EXPECT_EQ(second.at("reboot"), true);
  EXPECT_EQ(
      patch("/api/v3/agent/config/changes",
            R"({"lastUpdated":")" + std::string(second.at("lastUpdated").as_string()) + R"("})",
            agent)
          .status,
      204);
  EXPECT_EQ(get("/api/v3/agent/config/changes", agent).json().at("reboot"), false);

  expect_error(patch("/api/v3/agent/config/changes", R"({"lastUpdated":"yesterday-ish"})", agent),
               400, "ValidationError", "Invalid format for field 'lastUpdated'");
  expect_error(patch("/api/v3/agent/config/changes", "{}", agent), 400, "ValidationError",
               "Required field 'lastUpdated' is missing");

  // Router changes raise routerChanged; version commands raise version.
  ASSERT_EQ(patch("/api/v3/iofog/" + fog, R"({"host":"10.9.9.9"})", token).status, 204);
  ASSERT_EQ(post("/api/v3/iofog/" + fog + "/version/upgrade", "", token).status, 204);
  auto third = get("/api/v3/agent/config/changes", agent).json();
  EXPECT_EQ(third.at("routerChanged"), true);
  EXPECT_EQ(third.at("version"), true);
  auto v = get("/api/v3/agent/version", agent);
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_EQ(v.json().at("versionCommand").as_string(), "upgrade");
  EXPECT_EQ(v.json().at("provisionKey").as_string().size(), 8u);
}

TEST_F(agent_api, LongPollWakesOnChange) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "poller");
  std::string agent = provision_agent(token, fog);

  // No change yet: the poll is held until the user changes something.
  http_result polled;
  std::thread poller(
      [&] { polled = http(port(), "GET", "/api/v3/agent/config/changes?wait=300", "", agent); });
  wait_for_held_polls(port(), 1);
  ASSERT_EQ(post("/api/v3/iofog/" + fog + "/prune", "", token).status, 204);
  poller.join();
  ASSERT_EQ(polled.status, 200) << polled.body;
  EXPECT_EQ(polled.json().at("prune"), true);

  // With a pending change the poll answers at once.
  auto again = http(port(), "GET", "/api/v3/agent/config/changes?wait=300", "", agent);
  EXPECT_EQ(again.json().at("prune"), true);
  expect_error(get("/api/v3/agent/config/changes?wait=soon", agent), 400, "ValidationError");
}

// The value of a /metrics line (0 when absent).
int64_t metric(uint16_t port, const std::string& name) {
  auto body = http(port, "GET", "/metrics").body;
  auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stoll(body.substr(at + name.size() + 2));
}

// One change for many agents (a registry) wakes all their held long-polls, and they are answered
// together, each with its own flags; a poll whose token went meanwhile is answered 401. The wait
// is far longer than the test: an answer with the flag set came from the wake, not the timeout.
TEST_F(agent_api, ManyLongPollsWokenByOneChange) {
  std::string token = new_user_token();
  constexpr int agents = 12;
  std::vector<std::string> fogs;
  std::vector<std::string> tokens;
  for (int i = 0; i <= agents; ++i) {
    fogs.push_back(create_fog(token, "crowd-" + std::to_string(i)));
    tokens.push_back(provision_agent(token, fogs.back()));
  }
  int64_t batched_before = metric(port(), "fogmesh_controller_long_polls_woken_batched_total");
  std::vector<http_result> polled(agents + 1);
  std::vector<std::thread> pollers;
  for (int i = 0; i <= agents; ++i) {
    pollers.emplace_back([&, i] {
      polled[static_cast<size_t>(i)] = http(port(), "GET", "/api/v3/agent/config/changes?wait=30",
                                            "", tokens[static_cast<size_t>(i)]);
    });
  }
  wait_for_held_polls(port(), agents + 1);
  // The last fog goes: its agent's token with it, and its held poll is answered 401.
  ASSERT_EQ(del("/api/v3/iofog/" + fogs.back(), token).status, 202);
  pollers.back().join();
  EXPECT_EQ(polled.back().status, 401) << polled.back().body;
  wait_for_held_polls(port(), agents);
  auto reg = post("/api/v3/registries",
                  R"({"url":"crowd.example","isPublic":false,"username":"u","password":"p",)"
                  R"("email":"u@example.com","requiresCert":false})",
                  token);
  ASSERT_EQ(reg.status, 201) << reg.body;
  for (int i = 0; i < agents; ++i) {
    pollers[static_cast<size_t>(i)].join();
    const auto& r = polled[static_cast<size_t>(i)];
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json().at("registries"), true) << "agent " << i << ": " << r.body;
    EXPECT_EQ(r.json().at("config"), false);
    EXPECT_TRUE(r.json().as_object().contains("lastUpdated"));
  }
  EXPECT_GE(metric(port(), "fogmesh_controller_long_polls_woken_batched_total") - batched_before,
            agents);
  // After the ack, the next poll is held again (the empty answer is not stuck on "changed").
  ack(tokens[0]);
  EXPECT_EQ(get("/api/v3/agent/config/changes", tokens[0]).json().at("registries"), false);
}

TEST_F(agent_api, AbandonedLongPollIsDropped) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "quitter");
  std::string agent = provision_agent(token, fog);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req =
      "GET /api/v3/agent/config/changes?wait=300 HTTP/1.1\r\nHost: x\r\nAuthorization: " + agent +
      "\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  wait_for_held_polls(port(), 1);
  ::close(fd);
  // The controller notices the hang-up without any change or timeout.
  wait_for_held_polls(port(), 0);
}

TEST_F(agent_api, LongPollWakesAcrossControllers) {
  server second(default_options(db().conninfo()));
  second.start();
  std::string token = new_user_token();
  std::string fog = create_fog(token, "replicated");
  std::string agent = provision_agent(token, fog);

  http_result polled;
  std::thread poller([&] {
    polled = http(second.port(), "GET", "/api/v3/agent/config/changes?wait=300", "", agent);
  });
  wait_for_held_polls(second.port(), 1);
  // The change goes through the first controller; NOTIFY carries it to the second.
  ASSERT_EQ(patch("/api/v3/iofog/" + fog, R"({"logLevel":"WARNING"})", token).status, 204);
  poller.join();
  ASSERT_EQ(polled.status, 200) << polled.body;
  EXPECT_EQ(polled.json().at("config"), true);
  second.stop();
}

// One statement changing many fogs NOTIFYs once per ~200 fogs, their uuids comma-separated
// (migration 0012): another controller splits the payloads and wakes each fog's long-poll, the
// first and the last fog in uuid order alike (they go in different payloads).
TEST_F(agent_api, ManyFogsChangedByOneStatementWakeAnotherController) {
  server second(default_options(db().conninfo()));
  second.start();
  std::string token = new_user_token();
  std::vector<std::string> fogs;
  for (int i = 0; i < 260; ++i) {
    fogs.push_back(create_fog(token, "bulk-" + std::to_string(i), R"("routerMode":"none")"));
  }
  std::sort(fogs.begin(), fogs.end());
  std::vector<std::string> agents = {provision_agent(token, fogs.front()),
                                     provision_agent(token, fogs[130]),
                                     provision_agent(token, fogs.back())};
  std::vector<http_result> polled(agents.size());
  std::vector<std::thread> pollers;
  for (size_t i = 0; i < agents.size(); ++i) {
    pollers.emplace_back([&, i] {
      polled[i] =
          http(second.port(), "GET", "/api/v3/agent/config/changes?wait=300", "", agents[i]);
    });
  }
  wait_for_held_polls(second.port(), static_cast<int>(agents.size()));
  auto reg = post("/api/v3/registries",
                  R"({"url":"bulk.example","isPublic":false,"username":"u","password":"p",)"
                  R"("email":"u@example.com","requiresCert":false})",
                  token);
  ASSERT_EQ(reg.status, 201) << reg.body;
  for (size_t i = 0; i < agents.size(); ++i) {
    pollers[i].join();
    ASSERT_EQ(polled[i].status, 200) << polled[i].body;
    EXPECT_EQ(polled[i].json().at("registries"), true) << "agent " << i;
  }
  second.stop();
}

// Opens a keep-alive connection, reads one answer to GET /api/v3/status and leaves it open.
int open_keep_alive(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  std::string req = "GET /api/v3/status HTTP/1.1\r\nHost: x\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return -1;
  char buf[4096];
  if (::recv(fd, buf, sizeof buf, 0) <= 0) return -1;
  return fd;
}

// stop() releases the port before it returns: the same server, or a new one, can listen on the
// same fixed port at once, even with clients still connected and long-polls held.
TEST_F(agent_api, RestartOnTheSamePort) {
  uint16_t fixed = 0;
  {
    // A port that was free a moment ago.
    server probe(default_options(db().conninfo()));
    probe.start();
    fixed = probe.port();
    probe.stop();
  }
  auto options = default_options(db().conninfo());
  options.port = fixed;
  std::string token = new_user_token();
  std::string fog = create_fog(token, "restarts");
  std::string agent = provision_agent(token, fog);
  server srv(options);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_THROW(srv.start());
    ASSERT_EQ(srv.port(), fixed);
    EXPECT_EQ(http(fixed, "GET", "/api/v3/status").status, 200);
    int idle = open_keep_alive(fixed);
    ASSERT_GE(idle, 0);
    http_result polled;
    std::thread poller(
        [&] { polled = http(fixed, "GET", "/api/v3/agent/config/changes?wait=300", "", agent); });
    wait_for_held_polls(fixed, 1);
    srv.stop();
    poller.join();
    EXPECT_EQ(polled.status, 200);  // the held poll was answered by stop()
    // The idle connection was closed by the server.
    char c = 0;
    EXPECT_EQ(::recv(idle, &c, 1, 0), 0);
    ::close(idle);
  }
  // A second server object on the port the first one just left.
  server next(options);
  ASSERT_NO_THROW(next.start());
  EXPECT_EQ(http(fixed, "GET", "/api/v3/status").status, 200);
  next.stop();
}

TEST_F(agent_api, SilentAgentsBecomeUnknown) {
  // A controller whose liveness job runs every second; the agent reports every second, so three
  // silent seconds make it UNKNOWN. The test waits for that state; it asserts no duration.
  auto options = default_options(db().conninfo());
  options.liveness_interval_sec = 1;
  server fast(options);
  fast.start();
  std::string token = new_user_token();
  std::string fog = create_fog(token, "silent", R"("statusFrequency":1)");
  std::string agent = provision_agent(token, fog);
  ASSERT_EQ(put("/api/v3/agent/status", R"({"daemonStatus":"RUNNING"})", agent).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + fog, token).json().at("daemonStatus").as_string(), "RUNNING");
  bool unknown = false;
  for (int i = 0; i < 600 && !unknown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    unknown = get("/api/v3/iofog/" + fog, token).json().at("daemonStatus").as_string() == "UNKNOWN";
  }
  EXPECT_TRUE(unknown);
  fast.stop();
}

TEST_F(agent_api, DeletedOrDeprovisionedAgentsAreLockedOut) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "leaving");
  std::string agent = provision_agent(token, fog);
  EXPECT_EQ(post("/api/v3/agent/deprovision", R"({"microserviceUuids":[]})", agent).status, 204);
  expect_error(get("/api/v3/agent/config", agent), 401, "AuthenticationError");

  std::string agent2 = provision_agent(token, fog);
  EXPECT_EQ(get("/api/v3/agent/config", agent2).status, 200);
  EXPECT_EQ(del("/api/v3/iofog/" + fog, token).status, 202);
  expect_error(get("/api/v3/agent/config/changes", agent2), 401, "AuthenticationError");

  std::string fog3 = create_fog(token, "self-delete");
  std::string agent3 = provision_agent(token, fog3);
  EXPECT_EQ(del("/api/v3/agent/delete-node", agent3).status, 204);
  expect_error(get("/api/v3/iofog/" + fog3, token), 404, "NotFoundError");
  expect_error(get("/api/v3/agent/tunnel", agent3), 401, "AuthenticationError");
}

}  // namespace
}  // namespace fogmesh::controller::test
