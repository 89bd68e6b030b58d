// The microservice SDK against a real agent (the fogmesh-agent binary, synced from our
// controller on a throwaway PostgreSQL, supervising its fogmesh-router): the environment a
// container gets, config, publish over REST and the message WebSocket with receipts, receive on
// the socket and from the queue, the example microservices as plain processes with the env the
// agent gives containers, and ioMessages straight over the router (AMQP) to a microservice that
// declared FOGMESH_MESSAGE_TRANSPORT=amqp. No container engine needed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "agent_testkit.hpp"
#include "fogmesh/sdk/microservice.hpp"

extern char** environ;

namespace fogmesh::agent::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// A microservice as a plain process: argv plus the env an agent gives its container; stdout
// and stderr to `output`. Returns the exit code (-1 when it had to be killed at the deadline).
int run_microservice(const std::vector<std::string>& args, const std::vector<std::string>& env,
                     const std::string& output, std::chrono::seconds deadline = 120s) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  auto until = std::chrono::steady_clock::now() + deadline;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(50ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string text_of(const io_message& m) {
  return {m.content_data.begin(), m.content_data.end()};
}

// What an amqp_messenger hands over on its Proton thread, for the test thread to wait on.
class collected_messages {
 public:
  sdk::amqp_messenger::handler handler() {
    return [this](sdk::io_message m) {
      std::lock_guard lock(mutex_);
      got_.push_back(std::move(m));
    };
  }
  // Until at least `n` arrived (false after the test kit's deadline).
  bool wait_for(size_t n) {
    return eventually([&] {
      std::lock_guard lock(mutex_);
      return got_.size() >= n;
    });
  }
  // What arrived so far; starts over.
  std::vector<sdk::io_message> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(got_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<sdk::io_message> got_;
};

class sdk_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    dir_ = new temp_dir();
    controller_ = new controller_env();
    amqp_port_ = free_port();
    // A system fog runs an interior router: the microservices' AMQP endpoint without a mesh.
    auto fog = controller_->create_fog(
        "sdk-hub", R"("isSystem":true,"routerMode":"interior","messagingPort":)" +
                       std::to_string(amqp_port_) + R"(,"interRouterPort":)" +
                       std::to_string(free_port()) + R"(,"edgeRouterPort":)" +
                       std::to_string(free_port()));
    ASSERT_FALSE(fog.empty());
    // A fog whose agent never runs: its microservice d is a receiver on "another agent", reached
    // only through the router (the test consumes d's address itself).
    auto away = controller_->create_fog("sdk-away");
    ASSERT_FALSE(away.empty());
    auto key = controller_->provisioning_key(fog);
    config_dir_ = dir_->path() + "/agent";
    // A small bound on what the agent holds for the router, so a test can reach it.
    write_test_settings(config_dir_, R"("routerHeldMessages":)" + std::to_string(held_limit));
    auto p = run_agent_cli(
        {"--config-dir", config_dir_, "provision", key, "--controller", controller_->url()});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    auto c = controller_->post("/api/v3/application", R"({
      "name": "sdk-app", "isActivated": true,
      "microservices": [
        {"name": "a", "agentName": "sdk-hub", "config": "{\"greeting\":\"hello\"}",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "b", "agentName": "sdk-hub", "config": "{}",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "c", "agentName": "sdk-hub", "config": "{}",
         "env": [{"key": "FOGMESH_MESSAGE_TRANSPORT", "value": "amqp"}],
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "p", "agentName": "sdk-hub", "config": "{}",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "d", "agentName": "sdk-away", "config": "{}",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}],
      "routes": [{"name": "a-to-b", "from": "a", "to": "b"},
                 {"name": "p-to-d", "from": "p", "to": "d"}]})");
    ASSERT_EQ(c.status, 201) << c.body;
    a_ = controller_->microservice_uuid("sdk-app", "a");
    b_ = controller_->microservice_uuid("sdk-app", "b");
    c_ = controller_->microservice_uuid("sdk-app", "c");
    p_ = controller_->microservice_uuid("sdk-app", "p");
    d_ = controller_->microservice_uuid("sdk-app", "d");
    agent_ =
        new agent_process(config_dir_, {"DOCKER_HOST=unix://" + dir_->path() + "/no-engine.sock"});
    port_ = agent_->local_api_port();
    ASSERT_TRUE(eventually([] {
      return !agent_->microservice_token(a_).empty() && !agent_->microservice_token(b_).empty() &&
             !agent_->microservice_token(c_).empty() && !agent_->microservice_token(p_).empty();
    })) << agent_->log();
  }
  static void TearDownTestSuite() {
    delete agent_;
    delete controller_;
    delete dir_;
  }

 protected:
  // What the agent puts in a microservice's container env (reconciler::spec_for), plus where
  // the router is for the AMQP path.
  static std::vector<std::string> env_of(const std::string& uuid) {
    return {"SELFNAME=" + uuid, "FOGMESH_LOCAL_API_TOKEN=" + agent_->microservice_token(uuid),
            "FOGMESH_LOCAL_API_PORT=" + std::to_string(port_), "FOGMESH_LOCAL_API_HOST=127.0.0.1",
            "FOGMESH_ROUTER_URL=" + router_url()};
  }
  static sdk::environment sdk_env(const std::string& uuid) {
    sdk::environment e;
    e.self_name = uuid;
    e.token = agent_->microservice_token(uuid);
    e.port = static_cast<uint16_t>(port_);
    e.router_url = router_url();
    return e;
  }
  static std::string router_url() { return "amqp://127.0.0.1:" + std::to_string(amqp_port_); }

  // The agent's status (`fogmesh-agent status`); {} while it does not answer.
  static json::object agent_status() {
    auto r = run_agent_cli({"--config-dir", config_dir_, "status"});
    boost::system::error_code ec;
    auto v = json::parse(r.out, ec);
    const json::value* status =
        !ec && v.is_object() ? v.as_object().if_contains("status") : nullptr;
    return status && status->is_object() ? status->as_object() : json::object{};
  }
  static int64_t status_count(const char* key) {
    const auto s = agent_status();
    const auto* v = s.if_contains(key);
    return v && v->is_number() ? v->to_number<int64_t>() : -1;
  }

  static constexpr int held_limit = 50;
  static temp_dir* dir_;
  static controller_env* controller_;
  static agent_process* agent_;
  static std::string config_dir_, a_, b_, c_, p_, d_;
  static int port_, amqp_port_;
};
temp_dir* sdk_test::dir_ = nullptr;
controller_env* sdk_test::controller_ = nullptr;
agent_process* sdk_test::agent_ = nullptr;
std::string sdk_test::config_dir_, sdk_test::a_, sdk_test::b_, sdk_test::c_, sdk_test::p_,
    sdk_test::d_;
int sdk_test::port_ = 0, sdk_test::amqp_port_ = 0;

TEST_F(sdk_test, EnvironmentIsReadAsTheAgentSetsIt) {
  ::setenv("SELFNAME", "ms-1", 1);
  ::setenv("FOGMESH_LOCAL_API_TOKEN", "secret", 1);
  ::setenv("FOGMESH_LOCAL_API_PORT", "6000", 1);
  ::setenv("FOGMESH_LOCAL_API_HOST", "10.0.0.1", 1);
  ::setenv("FOGMESH_ROUTER_URL", "amqp://10.0.0.1:5672", 1);
  auto e = sdk::environment::from_process();
  EXPECT_EQ(e.self_name, "ms-1");
  EXPECT_EQ(e.token, "secret");
  EXPECT_EQ(e.port, 6000);
  EXPECT_EQ(e.host, "10.0.0.1");
  EXPECT_EQ(e.router_url, "amqp://10.0.0.1:5672");

  ::setenv("FOGMESH_LOCAL_API_PORT", "port", 1);
  EXPECT_THROW(sdk::environment::from_process(), sdk::sdk_error);
  ::unsetenv("SELFNAME");
  try {
    sdk::environment::from_process();
    ADD_FAILURE() << "no SELFNAME accepted";
  } catch (const sdk::sdk_error& err) {
    EXPECT_NE(std::string(err.what()).find("SELFNAME"), std::string::npos) << err.what();
  }
  for (const char* name : {"FOGMESH_LOCAL_API_TOKEN", "FOGMESH_LOCAL_API_PORT",
                           "FOGMESH_LOCAL_API_HOST", "FOGMESH_ROUTER_URL"}) {
    ::unsetenv(name);
  }
}

TEST_F(sdk_test, ConfigWithTheMicroservicesToken) {
  sdk::local_api_client api(sdk_env(a_));
  EXPECT_EQ(api.get_config(), R"({"greeting":"hello"})");
  EXPECT_EQ(api.get_config(), R"({"greeting":"hello"})");  // the kept-alive connection again

  auto wrong = sdk_env(a_);
  wrong.token = agent_->microservice_token(b_);
  sdk::local_api_client other(wrong);
  try {
    other.get_config();
    ADD_FAILURE() << "b's token read a's config";
  } catch (const sdk::sdk_error& e) {
    EXPECT_EQ(e.status(), 403) << e.what();
  }
  auto unreachable = sdk_env(a_);
  unreachable.port = static_cast<uint16_t>(free_port());
  sdk::local_api_client nowhere(unreachable);
  try {
    nowhere.get_config();
    ADD_FAILURE() << "no agent there";
  } catch (const sdk::sdk_error& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_NE(std::string(e.what()).find("cannot reach"), std::string::npos) << e.what();
  }
}

TEST_F(sdk_test, SocketPublishGetsAReceiptAndTheReceiverDrainsItsQueue) {
  sdk::message_socket socket(sdk_env(a_));
  socket.publish(sdk::make_message(a_, "text", "utf-8", {'o', 'n', 'e'}));
  auto e = socket.next(60s);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->type, sdk::message_socket::event::kind::receipt) << e->error;
  const std::string receipt_id = e->receipt.id;
  EXPECT_EQ(receipt_id.size(), 32u);
  EXPECT_GT(e->receipt.timestamp, 0);

  // Publishing as another microservice on this socket: the agent says why, the socket stays.
  socket.publish(sdk::make_message(b_, "text", "utf-8", {'x'}));
  e = socket.next(60s);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->type, sdk::message_socket::event::kind::error);
  EXPECT_NE(e->error.find("not this socket's microservice"), std::string::npos) << e->error;

  sdk::local_api_client b(sdk_env(b_));
  std::vector<sdk::io_message> got;
  ASSERT_TRUE(eventually([&] {
    for (auto& m : b.next_messages()) got.push_back(std::move(m));
    return !got.empty();
  }));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, receipt_id);
  EXPECT_EQ(text_of(got[0]), "one");
  EXPECT_EQ(got[0].publisher, a_);
}

TEST_F(sdk_test, RestPublishArrivesOnTheReceiversSocket) {
  sdk::message_socket receiver(sdk_env(b_));
  sdk::local_api_client a(sdk_env(a_));
  auto m = sdk::make_message(a_, "text", "utf-8", {'t', 'w', 'o'});
  m.context_data = {0, 1, 2, 255};
  auto receipt = a.publish(m);
  EXPECT_EQ(receipt.id.size(), 32u);
  std::optional<sdk::message_socket::event> e;
  do {
    e = receiver.next(60s);
    ASSERT_TRUE(e.has_value()) << "nothing on b's socket";
  } while (e->type != sdk::message_socket::event::kind::message);
  EXPECT_EQ(e->message.id, receipt.id);
  EXPECT_EQ(e->message.timestamp, receipt.timestamp);
  EXPECT_EQ(text_of(e->message), "two");
  EXPECT_EQ(e->message.context_data, (std::vector<uint8_t>{0, 1, 2, 255}));
  EXPECT_EQ(e->message.info_type, "text");
}

TEST_F(sdk_test, ExampleMicroservicesOverTheMessageSocket) {
  std::string receiver_out = dir_->path() + "/receiver.out",
              sender_out = dir_->path() + "/sender.out";
  std::atomic<int> receiver_exit{-2};
  std::thread receiver([&] {
    receiver_exit = run_microservice({FOGMESH_SDK_RECEIVER_BIN, "--via", "socket", "--count", "3"},
                                     env_of(b_), receiver_out);
  });
  // Messages sent before the receiver's socket is up wait in its queue and go out on attach.
  int sender_exit = run_microservice({FOGMESH_SDK_SENDER_BIN, "--via", "socket", "--count", "3"},
                                     env_of(a_), sender_out);
  receiver.join();
  EXPECT_EQ(sender_exit, 0) << read_file(sender_out);
  EXPECT_EQ(receiver_exit, 0) << read_file(receiver_out);
  auto sent = read_file(sender_out), got = read_file(receiver_out);
  EXPECT_NE(sent.find(R"(config: {"greeting":"hello"})"), std::string::npos) << sent;
  for (int i = 1; i <= 3; ++i) {
    EXPECT_NE(got.find("from " + a_ + ": hello " + std::to_string(i) + "\n"), std::string::npos)
        << got;
  }
}

TEST_F(sdk_test, AmqpStraightThroughTheRouter) {
  collected_messages collected;
  sdk::amqp_messenger receiver(router_url(), c_, collected.handler());
  sdk::amqp_messenger sender(router_url(), a_);
  // The agent supervises the router: it may still be starting.
  ASSERT_TRUE(receiver.wait_ready(120s)) << agent_->log();
  ASSERT_TRUE(sender.wait_ready(120s));
  constexpr int count = 200;
  for (int i = 0; i < count; ++i) {
    std::string text = "m" + std::to_string(i);
    auto m = sdk::make_message(a_, "text", "utf-8", {text.begin(), text.end()});
    m.sequence_number = i;
    sender.send(c_, std::move(m));
  }
  ASSERT_TRUE(sender.flush(60s));
  ASSERT_TRUE(collected.wait_for(count));
  const auto got = collected.take();
  ASSERT_EQ(got.size(),
            static_cast<size_t>(count));  // all to c: the agent does not share c's address
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(got[static_cast<size_t>(i)].sequence_number, i);  // in order on one link
    EXPECT_EQ(text_of(got[static_cast<size_t>(i)]), "m" + std::to_string(i));
    EXPECT_EQ(got[static_cast<size_t>(i)].id.size(), 32u);  // stamped by the SDK
    EXPECT_GT(got[static_cast<size_t>(i)].timestamp, 0);
  }
  EXPECT_EQ(sender.sent(), static_cast<uint64_t>(count));
  EXPECT_EQ(receiver.received(), static_cast<uint64_t>(count));
}

// The router releases what it cannot deliver: here the consumer the sender's link got its credit
// for has detached before the sender sends (agent_bench's warm-up race). The SDK keeps every
// message until the router settles it and sends released ones again, so a receiver that attaches
// only after the sender sent still gets each message exactly once, in order.
TEST_F(sdk_test, AmqpMessagesReleasedByTheRouterAreSentAgain) {
  collected_messages collected;
  sdk::amqp_messenger sender(router_url(), a_);
  ASSERT_TRUE(sender.wait_ready(120s)) << agent_->log();
  {
    // A first consumer of c: the sender's link to c gets credit and uses it once.
    sdk::amqp_messenger first(router_url(), c_, collected.handler());
    ASSERT_TRUE(first.wait_ready(120s)) << agent_->log();
    auto warm = sdk::make_message(a_, "text", "utf-8", {'w'});
    warm.sequence_number = 1000;
    sender.send(c_, std::move(warm));
    ASSERT_TRUE(sender.flush(60s));
    ASSERT_TRUE(collected.wait_for(1));
  }  // the consumer detaches; the sender's link may keep credit the router has to release
  ASSERT_EQ(collected.take().size(), 1u);
  constexpr int count = 200;
  for (int i = 0; i < count; ++i) {
    std::string text = "late" + std::to_string(i);
    auto m = sdk::make_message(a_, "text", "utf-8", {text.begin(), text.end()});
    m.sequence_number = i;
    sender.send(c_, std::move(m));
  }
  // Nobody consumes c now: whatever the router took back is held by the sender, not lost.
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(sender.flush(0ms));
  sdk::amqp_messenger second(router_url(), c_, collected.handler());
  ASSERT_TRUE(second.wait_ready(120s)) << agent_->log();
  ASSERT_TRUE(sender.flush(60s)) << "sent " << sender.sent() << ", resent " << sender.resent();
  ASSERT_TRUE(collected.wait_for(count));
  const auto got = collected.take();
  ASSERT_EQ(got.size(), static_cast<size_t>(count));  // all settled: no duplicate still coming
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(got[static_cast<size_t>(i)].sequence_number, i);
    EXPECT_EQ(text_of(got[static_cast<size_t>(i)]), "late" + std::to_string(i));
  }
  EXPECT_EQ(sender.sent(), static_cast<uint64_t>(count + 1));
  EXPECT_EQ(sender.rejected(), 0u);
  std::printf("released by the router and sent again: %llu\n",
              static_cast<unsigned long long>(sender.resent()));
}

// The agent's own path to the router (local API → router_transport) keeps each message until
// the router settles it, as the SDK does (one amqp_outbox): p publishes over REST for d, whose
// agent is elsewhere, while d's consumer has gone after the agent's link got credit for it. The
// router releases those messages; the agent sends them again once d's consumer is back. Then,
// with nobody consuming d, the agent holds at most routerHeldMessages and refuses the next
// publish with a clear 503 instead of dropping anything.
TEST_F(sdk_test, AgentSendsAgainWhatTheRouterReleasedAndRefusesBeyondItsBound) {
  collected_messages collected;
  ASSERT_TRUE(eventually([] {
    return agent_status().contains("routerConnected") &&
           agent_status().at("routerConnected").as_bool();
  })) << agent_->log();
  sdk::local_api_client p(sdk_env(p_));
  auto publish = [&](const std::string& text, int seq) {
    auto m = sdk::make_message(p_, "text", "utf-8", {text.begin(), text.end()});
    m.sequence_number = seq;
    return p.publish(m);
  };
  {
    // A first consumer of d: the agent's link to d gets credit and uses it once.
    sdk::amqp_messenger first(router_url(), d_, collected.handler());
    ASSERT_TRUE(first.wait_ready(120s)) << agent_->log();
    publish("warm", 1000);
    ASSERT_TRUE(collected.wait_for(1)) << agent_->log();
  }  // the consumer detaches; the agent's link may keep credit the router has to release
  ASSERT_EQ(collected.take().size(), 1u);
  constexpr int count = 20;
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(publish("late" + std::to_string(i), i).id);
  // Nobody consumes d: what the router took back is held by the agent, not lost.
  ASSERT_TRUE(eventually([] { return status_count("messagesHeldForRouter") == count; }))
      << "held " << status_count("messagesHeldForRouter");
  {
    sdk::amqp_messenger second(router_url(), d_, collected.handler());
    ASSERT_TRUE(second.wait_ready(120s)) << agent_->log();
    ASSERT_TRUE(collected.wait_for(count)) << agent_->log();
    ASSERT_TRUE(eventually([] { return status_count("messagesHeldForRouter") == 0; }));
    std::this_thread::sleep_for(500ms);  // a duplicate would come now
  }
  {
    const auto got = collected.take();
    ASSERT_EQ(got.size(), static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      const auto& m = got[static_cast<size_t>(i)];
      EXPECT_EQ(m.sequence_number, i);  // in publish order
      EXPECT_EQ(m.id, ids[static_cast<size_t>(i)]);
      EXPECT_EQ(text_of(m), "late" + std::to_string(i));
    }
  }
  std::printf("released by the router and sent again by the agent: %lld\n",
              static_cast<long long>(status_count("messagesResentToRouter")));

  // No consumer of d at all now: the agent holds up to its bound, then refuses.
  for (int i = 0; i < held_limit; ++i) publish("held" + std::to_string(i), i);
  try {
    publish("one too many", held_limit);
    FAIL() << "a publish beyond routerHeldMessages was accepted";
  } catch (const sdk::sdk_error& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_NE(std::string(e.what()).find("send it again later"), std::string::npos) << e.what();
  }
  sdk::message_socket socket(sdk_env(p_));
  socket.publish(sdk::make_message(p_, "text", "utf-8", {'x'}));
  auto e = socket.next(60s);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->type, sdk::message_socket::event::kind::error);
  EXPECT_NE(e->error.find("send it again later"), std::string::npos) << e->error;
  // The held ones all arrive once d is consumed again, and publishing works again.
  sdk::amqp_messenger third(router_url(), d_, collected.handler());
  ASSERT_TRUE(third.wait_ready(120s));
  ASSERT_TRUE(collected.wait_for(held_limit)) << agent_->log();
  publish("room again", held_limit);
  ASSERT_TRUE(collected.wait_for(held_limit + 1));
  std::this_thread::sleep_for(500ms);  // a duplicate would come now
  const auto got = collected.take();
  ASSERT_EQ(got.size(), static_cast<size_t>(held_limit + 1)) << "each exactly once";
  for (int i = 0; i <= held_limit; ++i) {
    EXPECT_EQ(got[static_cast<size_t>(i)].sequence_number, i);  // in publish order
  }
  EXPECT_EQ(text_of(got.back()), "room again");
}

TEST_F(sdk_test, ExampleMicroservicesOverAmqp) {
  std::string receiver_out = dir_->path() + "/amqp-receiver.out",
              sender_out = dir_->path() + "/amqp-sender.out";
  std::atomic<int> receiver_exit{-2};
  std::thread receiver([&] {
    receiver_exit = run_microservice({FOGMESH_SDK_RECEIVER_BIN, "--via", "amqp", "--count", "3"},
                                     env_of(c_), receiver_out);
  });
  // The mesh holds the sender's messages until it has a consumer for c (credit), so the order in
  // which the two start does not matter.
  int sender_exit =
      run_microservice({FOGMESH_SDK_SENDER_BIN, "--via", "amqp", "--count", "3", "--to", c_},
                       env_of(a_), sender_out);
  receiver.join();
  EXPECT_EQ(sender_exit, 0) << read_file(sender_out);
  EXPECT_EQ(receiver_exit, 0) << read_file(receiver_out);
  auto got = read_file(receiver_out);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_NE(got.find("from " + a_ + ": hello " + std::to_string(i) + "\n"), std::string::npos)
        << got;
  }
}

}  // namespace
}  // namespace fogmesh::agent::test
