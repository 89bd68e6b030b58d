// The router supervisor against a real fogmesh-router process (FOGMESH_ROUTER_BIN, this build's):
// the router microservice's ioFog config starts a child that accepts AMQP on the listener;
// SIGKILL → it comes back (new pid); a tcpListener added by a config change listens while the
// pid stays the same (management CREATE), and goes away again (DELETE); an id change restarts it;
// clearing the router microservice stops the process; a missing binary is a FAILED status
// naming it. Waits are bounded by generous deadlines only to fail instead of hanging.
#include "router_supervisor.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include "fogmesh/common/free_port.hpp"
#include "router_transport.hpp"

namespace fogmesh::agent {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool accepts_connections(int port) {
  int fd = connect_to(port);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// Sends the AMQP 1.0 protocol header; an AMQP peer answers with a protocol header of its own
// ("AMQP" + id 0 or 3 for SASL).
std::string amqp_handshake(int port) {
  int fd = connect_to(port);
  if (fd < 0) return "connect failed";
  const unsigned char header[8] = {'A', 'M', 'Q', 'P', 3, 1, 0, 0};
  if (::write(fd, header, sizeof header) != 8) {
    ::close(fd);
    return "write failed";
  }
  char reply[8];
  size_t got = 0;
  while (got < sizeof reply) {
    ssize_t n = ::read(fd, reply + got, sizeof reply - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return std::string(reply, got);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RouterSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(FOGMESH_ROUTER_BIN)) GTEST_SKIP() << "no " << FOGMESH_ROUTER_BIN;
    char tmpl[] = "/tmp/fogmesh-agent-router-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty() && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
    if (::testing::Test::HasFailure())
      std::cerr << "router log:\n" << slurp(dir_ + "/router/router.log");
  }

  router_supervisor_options options(std::string binary = FOGMESH_ROUTER_BIN) {
    router_supervisor_options o;
    o.binary = std::move(binary);
    o.data_dir = dir_ + "/router";
    o.restart_backoff = 200ms;
    o.restart_backoff_max = 2s;
    o.stop_timeout = 10s;
    return o;
  }

  // Runs the agent's loop until `done` holds; fails (does not hang) after a generous deadline.
  // `what` null: just runs the loop for `limit` (no failure).
  bool run_until(const std::function<bool()>& done, const char* what,
                 std::chrono::milliseconds limit = 90s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        if (what != nullptr) ADD_FAILURE() << "gave up waiting for: " << what;
        return false;
      }
      if (io_.stopped()) io_.restart();
      io_.run_for(50ms);
    }
    return true;
  }

  // A supervised router accepting AMQP on `amqp_port`; null (and a failure) if it does not start.
  std::unique_ptr<router_supervisor> ready_router(int amqp_port) {
    auto sup = std::make_unique<router_supervisor>(io_, options());
    sup->start();
    sup->set_desired("router-ms", spec("edge-test", amqp_port));
    if (!run_until([&] { return sup->ready(); }, "router ready")) return nullptr;
    return sup;
  }

  static router_spec spec(const std::string& id, int amqp_port, int tcp_port = 0) {
    // The exact shape ioFog's Controller writes (reference §4) plus a public port.
    json::object config{
        {"mode", "edge"},
        {"id", id},
        {"listeners",
         json::array{json::object{{"role", "normal"}, {"host", "127.0.0.1"}, {"port", amqp_port}}}},
        {"connectors", json::array{}}};
    if (tcp_port != 0) {
      config["tcpListeners"] = json::array{json::object{{"name", "public-port-1"},
                                                        {"host", "127.0.0.1"},
                                                        {"port", tcp_port},
                                                        {"address", "pp1"}}};
    }
    return router_spec::from_iofog_json(json::value(json::serialize(config)), "fog");
  }

  boost::asio::io_context io_;
  std::string dir_;
};

TEST_F(RouterSupervisorTest, StartCrashReconfigureStop) {
  const int amqp = free_loopback_port();
  const int tcp = free_loopback_port();
  int changes = 0;
  auto o = options();
  o.on_change = [&changes] { ++changes; };
  router_supervisor sup(io_, o);
  sup.start();

  // Start: the generated config, a real process, AMQP on the listener.
  sup.set_desired("router-ms", spec("edge-test", amqp));
  ASSERT_TRUE(run_until([&] { return sup.ready(); }, "router ready"));
  const pid_t first = sup.pid();
  ASSERT_GT(first, 0);
  EXPECT_EQ(::kill(first, 0), 0);
  EXPECT_EQ(sup.status().status, "RUNNING");
  EXPECT_EQ(sup.status().microservice_uuid, "router-ms");
  EXPECT_GT(changes, 0);
  std::string file = slurp(sup.config_path());
  EXPECT_NE(file.find(R"("mode":"edge")"), std::string::npos) << file;
  EXPECT_NE(file.find(R"("id":"edge-test")"), std::string::npos) << file;
  EXPECT_NE(file.find(std::to_string(amqp)), std::string::npos) << file;
  std::string answer = amqp_handshake(amqp);
  ASSERT_EQ(answer.size(), 8u) << answer;
  EXPECT_EQ(answer.substr(0, 4), "AMQP");

  // Crash: SIGKILL → restarted (a new pid), reason recorded, AMQP again.
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(run_until([&] { return sup.pid() != 0 && sup.pid() != first && sup.ready(); },
                        "restart after SIGKILL"));
  const pid_t second = sup.pid();
  EXPECT_EQ(sup.status().restarts, 1);
  EXPECT_EQ(sup.status().status, "RUNNING");
  EXPECT_EQ(amqp_handshake(amqp).substr(0, 4), "AMQP");

  // A public port appears: tcpListener CREATEd through management, same process.
  EXPECT_FALSE(accepts_connections(tcp));
  auto with_port = spec("edge-test", amqp, tcp);
  sup.set_desired("router-ms", with_port);
  ASSERT_TRUE(run_until([&] { return sup.applied() && *sup.applied() == with_port; },
                        "tcpListener applied"));
  EXPECT_EQ(sup.pid(), second) << "the router was restarted for a new tcpListener";
  EXPECT_TRUE(accepts_connections(tcp));
  EXPECT_NE(slurp(sup.config_path()).find("tcpListener"), std::string::npos);
  EXPECT_NE(slurp(sup.log_path()).find("public-port-1"), std::string::npos)
      << "router did not log the CREATE";

  // ...and goes away again (DELETE), still the same process.
  auto without_port = spec("edge-test", amqp);
  sup.set_desired("router-ms", without_port);
  ASSERT_TRUE(run_until([&] { return sup.applied() && *sup.applied() == without_port; },
                        "tcpListener deleted"));
  EXPECT_EQ(sup.pid(), second);
  EXPECT_TRUE(run_until([&] { return !accepts_connections(tcp); },
                        "deleted tcpListener refuses connections"));

  // A new router id needs a restart.
  sup.set_desired("router-ms", spec("edge-test-2", amqp));
  ASSERT_TRUE(run_until([&] { return sup.pid() != 0 && sup.pid() != second && sup.ready(); },
                        "restart for a new id"));
  const pid_t third = sup.pid();
  EXPECT_EQ(sup.status().restarts, 1) << "a planned restart counted as a crash";
  EXPECT_NE(slurp(sup.config_path()).find("edge-test-2"), std::string::npos);

  // The router microservice disappears: the process stops.
  sup.clear();
  ASSERT_TRUE(run_until([&] { return sup.pid() == 0; }, "router stopped"));
  errno = 0;
  EXPECT_EQ(::kill(third, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_TRUE(run_until([&] { return !accepts_connections(amqp); }, "listener closed"));
}

TEST_F(RouterSupervisorTest, DestructorStopsTheChild) {
  const int amqp = free_loopback_port();
  pid_t pid = 0;
  {
    router_supervisor sup(io_, options());
    sup.start();
    sup.set_desired("router-ms", spec("edge-test", amqp));
    ASSERT_TRUE(run_until([&] { return sup.ready(); }, "router ready"));
    pid = sup.pid();
  }
  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(RouterSupervisorTest, BadConfigFromRouterExitsAndIsReported) {
  // The router refuses the config (unknown attribute): the crash reason names the router's error.
  const int amqp = free_loopback_port();
  router_supervisor sup(io_, options());
  sup.start();
  auto s = spec("edge-test", amqp);
  s.entities[0].attributes["noSuchAttribute"] = "x";
  sup.set_desired("router-ms", s);
  ASSERT_TRUE(run_until([&] { return sup.status().restarts >= 1; }, "the router's exit"));
  EXPECT_NE(sup.status().error_message.find("noSuchAttribute"), std::string::npos)
      << sup.status().error_message;
  // A corrected config gets it running.
  sup.set_desired("router-ms", spec("edge-test", amqp));
  ASSERT_TRUE(run_until([&] { return sup.ready(); }, "router ready after the fix"));
  EXPECT_EQ(sup.status().status, "RUNNING");
}

TEST_F(RouterSupervisorTest, MissingBinaryIsFailedWithItsName) {
  router_supervisor sup(io_, options(dir_ + "/no-such-router"));
  sup.start();
  sup.set_desired("router-ms", spec("edge-test", free_loopback_port()));
  ASSERT_TRUE(run_until([&] { return sup.status().status == "FAILED"; }, "FAILED status"));
  EXPECT_NE(sup.status().error_message.find("no-such-router"), std::string::npos)
      << sup.status().error_message;
  EXPECT_EQ(sup.pid(), 0);
}

// Two agents' message buses on one router: a route publisher → receiver where the receiver runs
// on the other agent (b); the publisher's agent (a) holds at most `a_max_held` for the router.
struct two_agents {
  explicit two_agents(boost::asio::io_context& io,
                      size_t a_max_held = router_transport::default_max_held)
      : a(
            io, [this](const std::string& r, const io_message& m) { bus_a.deliver_inbound(r, m); },
            a_max_held),
        b(io, [this](const std::string& r, const io_message& m) { bus_b.deliver_inbound(r, m); }) {
    bus_a.set_remote_transport(&a);
    bus_b.set_remote_transport(&b);
    bus_a.set_local_microservices({"publisher"});
    bus_a.set_routes({{"publisher", {"receiver"}}});
    bus_b.set_local_microservices({"receiver"});
    a.set_receivers({"publisher"});
    b.set_receivers({"receiver"});
  }
  io_message publish(const std::string& text) {
    io_message m;
    m.publisher = "publisher";
    m.version = 4;
    m.info_type = "text";
    m.info_format = "utf-8";
    m.content_data.assign(text.begin(), text.end());
    return bus_a.publish(m);
  }
  // What arrived at b's receiver since the last call.
  std::vector<io_message> take() { return bus_b.take_queued("receiver"); }

  message_bus bus_a, bus_b;  // before the transports: they deliver into the buses
  router_transport a, b;
};

// The message crosses as JSON to the receiver's address; after the router is killed and
// restarted by the supervisor, messages flow again.
TEST_F(RouterSupervisorTest, MessagesBetweenTwoAgentsThroughTheRouter) {
  const int amqp = free_loopback_port();
  auto router = ready_router(amqp);
  ASSERT_TRUE(router);
  router_supervisor& sup = *router;
  const std::string url = "amqp://127.0.0.1:" + std::to_string(amqp);

  two_agents t(io_);
  t.a.set_url(url);
  t.b.set_url(url);
  ASSERT_TRUE(run_until([&] { return t.a.connected() && t.b.open_receivers() == 1; },
                        "both buses connected"));

  std::vector<io_message> got;
  auto take = [&] {
    for (auto& m : t.take()) got.push_back(std::move(m));
    return !got.empty();
  };
  auto sent = t.publish("hello over the mesh");
  ASSERT_TRUE(run_until(take, "the message at the other agent"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, sent.id);
  EXPECT_EQ(got[0].publisher, "publisher");
  EXPECT_EQ(std::string(got[0].content_data.begin(), got[0].content_data.end()),
            "hello over the mesh");
  EXPECT_EQ(t.bus_a.undeliverable(), 0u);

  // The router dies and comes back: the buses reconnect and messages flow again.
  const pid_t before = sup.pid();
  ASSERT_EQ(::kill(before, SIGKILL), 0);
  ASSERT_TRUE(run_until([&] { return sup.pid() != 0 && sup.pid() != before && sup.ready(); },
                        "router restarted"));
  ASSERT_TRUE(
      run_until([&] { return t.a.connected() && t.b.connected() && t.b.open_receivers() == 1; },
                "buses reconnected"));
  got.clear();
  t.publish("after the restart");
  ASSERT_TRUE(run_until(take, "a message after the router's restart"));
  EXPECT_EQ(std::string(got[0].content_data.begin(), got[0].content_data.end()),
            "after the restart");
}

// What an agent publishes for another agent is held while it has no router (not yet connected,
// the router killed -9 in the middle of a burst and being restarted, a router that does not
// answer) and sent once there is one: every accepted publish arrives; more than once only if
// it was on the wire unsettled when the router died (those are counted as resent: at most that
// many copies). At the bound (routerHeldMessages) the bus refuses the publish — the local API
// answers 503 — rather than dropping anything.
TEST_F(RouterSupervisorTest, MessagesAreHeldWhileTheRouterIsAwayAndAcrossItsKill) {
  const int amqp = free_loopback_port();
  auto router = ready_router(amqp);
  ASSERT_TRUE(router);
  router_supervisor& sup = *router;
  const std::string url = "amqp://127.0.0.1:" + std::to_string(amqp);

  constexpr size_t bound = 3000;
  two_agents t(io_, bound);
  t.b.set_url(url);
  ASSERT_TRUE(run_until([&] { return t.b.open_receivers() == 1; }, "b's receiver attached"));

  std::vector<std::string> ids;  // every accepted publish, in order
  std::map<std::string, int> copies;
  auto publish = [&](const std::string& text) {
    ASSERT_TRUE(t.bus_a.can_publish("publisher")) << "refused at " << t.a.held() << " held";
    ids.push_back(t.publish(text).id);
  };
  auto arrived = [&] {
    for (auto& m : t.take()) ++copies[m.id];
    return copies.size();
  };

  // a has no router yet: held, not undeliverable; sent once a connects.
  for (int i = 0; i < 100; ++i) publish("before connecting " + std::to_string(i));
  EXPECT_EQ(t.a.held(), 100u);
  t.a.set_url(url);
  ASSERT_TRUE(run_until([&] { return arrived() == ids.size(); }, "the first 100 at b"));

  // kill -9 of the router halfway through a burst; more published while it is down.
  for (int i = 0; i < 1000; ++i) publish("burst " + std::to_string(i));
  const pid_t before = sup.pid();
  ASSERT_EQ(::kill(before, SIGKILL), 0);
  for (int i = 0; i < 1000; ++i) publish("burst, router killed " + std::to_string(i));
  ASSERT_TRUE(run_until([&] { return sup.pid() != before && sup.ready(); }, "router restarted"));
  for (int i = 0; i < 500; ++i) publish("after the restart " + std::to_string(i));
  ASSERT_TRUE(
      run_until([&] { return arrived() == ids.size() && t.a.held() == 0; }, "every message at b"));
  run_until([] { return false; }, nullptr, 500ms);  // a late copy would come now
  arrived();
  size_t extra = 0;
  for (const auto& id : ids) {
    ASSERT_TRUE(copies.count(id)) << "message " << id << " lost";
    extra += static_cast<size_t>(copies[id] - 1);
  }
  EXPECT_EQ(copies.size(), ids.size());
  // What was sent again and had arrived already is dropped by b's bus (its window of recent
  // ids): the receiver sees each message once.
  EXPECT_EQ(extra, 0u) << "copies delivered to the receiver";
  EXPECT_LE(t.bus_b.duplicates(), t.a.resent());
  EXPECT_EQ(t.a.sent(), ids.size()) << "each held message settled accepted once";
  EXPECT_EQ(t.a.rejected(), 0u);
  EXPECT_EQ(t.bus_a.undeliverable(), 0u);
  std::printf("%zu messages; %llu sent again after the kill, %llu copies dropped by b\n",
              ids.size(), static_cast<unsigned long long>(t.a.resent()),
              static_cast<unsigned long long>(t.bus_b.duplicates()));

  // A router that does not answer: a holds up to its bound, then refuses; nothing is dropped.
  t.a.set_url("amqp://127.0.0.1:" + std::to_string(free_loopback_port()));
  ASSERT_TRUE(run_until([&] { return !t.a.connected(); }, "a disconnected"));
  copies.clear();
  ids.clear();
  for (size_t i = 0; i < bound; ++i) publish("held " + std::to_string(i));
  EXPECT_EQ(t.a.held(), bound);
  EXPECT_FALSE(t.bus_a.can_publish("publisher"));
  t.a.set_url(url);
  ASSERT_TRUE(
      run_until([&] { return arrived() == bound && t.a.held() == 0; }, "the held messages at b"));
  EXPECT_TRUE(t.bus_a.can_publish("publisher"));
  EXPECT_EQ(t.bus_a.undeliverable(), 0u);
}

// A copy from the router of a message the receiver already got (sent again after a dropped
// connection) is dropped and counted; a message the receiver did not acknowledge on its socket
// goes back to its queue even though its id was seen.
TEST(MessageBus, CopiesFromOtherAgentsAreDeliveredOnce) {
  message_bus bus;
  bus.set_local_microservices({"receiver"});
  io_message m;
  m.publisher = "elsewhere";
  m.id = "0123456789abcdef0123456789abcdef";
  bus.deliver_inbound("receiver", m);
  bus.deliver_inbound("receiver", m);
  EXPECT_EQ(bus.take_queued("receiver").size(), 1u);
  EXPECT_EQ(bus.duplicates(), 1u);
  bus.deliver_again("receiver", m);
  EXPECT_EQ(bus.take_queued("receiver").size(), 1u);
  m.id = "fedcba9876543210fedcba9876543210";
  bus.deliver_inbound("receiver", m);
  EXPECT_EQ(bus.take_queued("receiver").size(), 1u);
  EXPECT_EQ(bus.duplicates(), 1u);
  bus.deliver_inbound("gone", m);
  EXPECT_EQ(bus.undeliverable(), 1u);
}

TEST(RouterBinary, ExplicitPathWins) {
  EXPECT_EQ(find_router_binary("/opt/x/fogmesh-router"), "/opt/x/fogmesh-router");
  std::string sh = find_router_binary("sh");
  EXPECT_EQ(sh.front(), '/') << "bare names are looked up in PATH: " << sh;
  EXPECT_TRUE(sh.ends_with("/sh")) << sh;
}

}  // namespace
}  // namespace fogmesh::agent
