// The local API microservices use, against a real agent synced from our controller (no
// container engine needed): per-microservice tokens, config, ioMessages between two
// microservices on one agent over REST (JSON form) and WebSocket (binary form), control
// signals on config change, and clear errors for malformed input.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "agent_testkit.hpp"
#include "fogmesh/agent/iomessage.hpp"

namespace fogmesh::agent::test {
namespace {

namespace json = boost::json;

class local_api_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    dir_ = new temp_dir();
    controller_ = new controller_env();
    fog_ = controller_->create_fog("edge-local");
    auto key = controller_->provisioning_key(fog_);
    config_dir_ = dir_->path() + "/agent";
    write_test_settings(config_dir_);
    auto p = run_agent_cli(
        {"--config-dir", config_dir_, "provision", key, "--controller", controller_->url()});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    auto c = controller_->post("/api/v3/application", R"({
      "name": "local-app", "isActivated": true,
      "microservices": [
        {"name": "a", "agentName": "edge-local", "config": "{\"role\":\"publisher\"}",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "b", "agentName": "edge-local", "config": "{\"role\":\"receiver\"}",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}],
      "routes": [{"name": "a-to-b", "from": "a", "to": "b"}]})");
    ASSERT_EQ(c.status, 201) << c.body;
    a_ = controller_->microservice_uuid("local-app", "a");
    b_ = controller_->microservice_uuid("local-app", "b");
    agent_ =
        new agent_process(config_dir_, {"DOCKER_HOST=unix://" + dir_->path() + "/no-engine.sock"});
    port_ = agent_->local_api_port();
    ASSERT_TRUE(eventually([] {
      return !agent_->microservice_token(a_).empty() && !agent_->microservice_token(b_).empty();
    })) << agent_->log();
    token_a_ = agent_->microservice_token(a_);
    token_b_ = agent_->microservice_token(b_);
  }
  static void TearDownTestSuite() {
    delete agent_;
    delete controller_;
    delete dir_;
  }

 protected:
  static json::value body_json(const http_result& r) { return json::parse(r.body); }

  static temp_dir* dir_;
  static controller_env* controller_;
  static agent_process* agent_;
  static std::string config_dir_, fog_, a_, b_, token_a_, token_b_;
  static int port_;
};
temp_dir* local_api_test::dir_ = nullptr;
controller_env* local_api_test::controller_ = nullptr;
agent_process* local_api_test::agent_ = nullptr;
std::string local_api_test::config_dir_, local_api_test::fog_, local_api_test::a_,
    local_api_test::b_, local_api_test::token_a_, local_api_test::token_b_;
int local_api_test::port_ = 0;

std::string message_frame(const io_message& m) {
  auto bytes = *encode_binary(m);
  std::string f(5, '\0');
  f[0] = 0x0D;
  for (int i = 0; i < 4; ++i) f[1 + i] = static_cast<char>(bytes.size() >> (8 * (3 - i)));
  f.append(bytes.begin(), bytes.end());
  return f;
}

TEST_F(local_api_test, ConfigNeedsTheMicroservicesOwnToken) {
  auto r = local_post(port_, "/v2/config/get", R"({"id":")" + a_ + R"("})", token_a_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r).at("status").as_string(), "okay");
  EXPECT_EQ(body_json(r).at("config").as_string(), R"({"role":"publisher"})");

  r = local_post(port_, "/v2/config/get", R"({"id":")" + a_ + R"("})", "");
  EXPECT_EQ(r.status, 401) << r.body;
  r = local_post(port_, "/v2/config/get", R"({"id":")" + a_ + R"("})", token_b_);
  EXPECT_EQ(r.status, 403) << r.body;
  r = local_post(port_, "/v2/config/get", R"({"id":")" + a_ + R"("})", "not-a-token");
  EXPECT_EQ(r.status, 401) << r.body;
  r = local_post(port_, "/v2/config/get", R"({"nope":1})", token_a_);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("'id'"), std::string::npos) << r.body;
  r = local_post(port_, "/v2/config/get", "{broken", token_a_);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not JSON"), std::string::npos) << r.body;
  r = http(static_cast<uint16_t>(port_), "POST", "/v2/config/get", "id=1", token_a_,
           {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("content type"), std::string::npos) << r.body;
  r = http(static_cast<uint16_t>(port_), "GET", "/v2/config/get", "", token_a_);
  EXPECT_EQ(r.status, 405);
  // Without a valid token nothing about the body is told: 401 before any validation.
  for (const char* path : {"/v2/messages/new", "/v2/messages/next", "/v2/config/get"}) {
    for (const char* body : {"{}", "{broken"}) {
      r = local_post(port_, path, body, "");
      EXPECT_EQ(r.status, 401) << path << " " << body << ": " << r.body;
      r = local_post(port_, path, body, "not-a-token");
      EXPECT_EQ(r.status, 401) << path << " " << body << ": " << r.body;
    }
  }
}

TEST_F(local_api_test, JsonMessagesReachTheRoutedReceiver) {
  io_message m;
  m.publisher = a_;
  m.info_type = "text";
  m.info_format = "utf-8";
  m.content_data = {'h', 'i'};
  m.context_data = {1, 2, 3};
  m.id = "caller-chosen";  // the agent assigns its own
  auto r = local_post(port_, "/v2/messages/new", encode_json(m), token_a_);
  ASSERT_EQ(r.status, 200) << r.body;
  auto receipt = body_json(r);
  std::string id(receipt.at("id").as_string());
  EXPECT_EQ(id.size(), 32u);
  EXPECT_NE(id, "caller-chosen");
  int64_t ts = receipt.at("timestamp").as_int64();

  // b is the receiver: it gets the message; a (not routed to itself) gets nothing.
  auto next = local_post(port_, "/v2/messages/next", R"({"id":")" + b_ + R"("})", token_b_);
  ASSERT_EQ(next.status, 200) << next.body;
  auto nv = body_json(next);
  ASSERT_EQ(nv.at("count").as_int64(), 1) << next.body;
  auto got = decode_json(json::serialize(nv.at("messages").at(0)));
  ASSERT_TRUE(got) << got.error->message;
  EXPECT_EQ(got.message.id, id);
  EXPECT_EQ(got.message.content_data, m.content_data);
  EXPECT_EQ(got.message.context_data, m.context_data);
  EXPECT_EQ(got.message.publisher, a_);
  auto again = local_post(port_, "/v2/messages/next", R"({"id":")" + b_ + R"("})", token_b_);
  EXPECT_EQ(body_json(again).at("count").as_int64(), 0);  // drained

  auto q = local_post(port_, "/v2/messages/query",
                      R"({"id":")" + b_ + R"(","timeframestart":)" + std::to_string(ts - 1) +
                          R"(,"timeframeend":)" + std::to_string(ts + 1) + R"(,"publishers":[")" +
                          a_ + R"("]})",
                      token_b_);
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_GE(body_json(q).at("count").as_int64(), 1);

  // a may not publish as b, and a message needs its required fields.
  io_message forged = m;
  forged.publisher = b_;
  EXPECT_EQ(local_post(port_, "/v2/messages/new", encode_json(forged), token_a_).status, 403);
  auto bad = local_post(port_, "/v2/messages/new",
                        R"({"publisher":")" + a_ + R"(","contentdata":"!!"})", token_a_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("base64"), std::string::npos) << bad.body;
  bad = local_post(port_, "/v2/messages/new", R"({"publisher":")" + a_ + R"("})", token_a_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("Required field"), std::string::npos) << bad.body;
}

TEST_F(local_api_test, BinaryMessagesOverWebSocketsWithReceipts) {
  ws_client receiver(port_, "/v2/message/socket/id/" + b_, token_b_);
  ws_client publisher(port_, "/v2/message/socket/id/" + a_, token_a_);
  io_message m;
  m.publisher = a_;
  m.tag = "ws";
  m.info_type = "bin";
  m.info_format = "raw";
  m.content_data = {0, 1, 2, 250};
  publisher.send_binary(message_frame(m));
  auto receipt = publisher.receive();
  ASSERT_TRUE(receipt);
  ASSERT_GE(receipt->size(), 3u);
  EXPECT_EQ(static_cast<uint8_t>((*receipt)[0]), 0x0E);
  size_t id_len = static_cast<uint8_t>((*receipt)[1]);
  EXPECT_EQ(static_cast<uint8_t>((*receipt)[2]), 8);
  ASSERT_EQ(receipt->size(), 3 + id_len + 8);
  std::string id = receipt->substr(3, id_len);

  auto frame = receiver.receive();
  ASSERT_TRUE(frame);
  ASSERT_GE(frame->size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>((*frame)[0]), 0x0D);
  auto decoded = decode_binary(
      std::span(reinterpret_cast<const uint8_t*>(frame->data()) + 5, frame->size() - 5));
  ASSERT_TRUE(decoded) << decoded.error->message;
  EXPECT_EQ(decoded.message.id, id);
  EXPECT_EQ(decoded.message.content_data, m.content_data);
  EXPECT_EQ(decoded.message.tag, "ws");
  receiver.send_binary(std::string(1, '\x0B'));  // ack

  // Malformed frames: a clear error on the socket, which keeps working.
  publisher.send_binary(std::string("\x0D\x00\x00\x00\x09garbage!!", 14));
  auto err = publisher.receive();
  ASSERT_TRUE(err);
  EXPECT_TRUE(publisher.last_was_text());
  EXPECT_NE(err->find("invalid ioMessage"), std::string::npos) << *err;
  publisher.send_binary(std::string("\x0D\x00\x00\x00\x50short", 10));
  err = publisher.receive();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("says 80 bytes"), std::string::npos) << *err;
  publisher.send_binary(std::string(1, '\x42'));
  err = publisher.receive();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("unknown message opcode 0x42"), std::string::npos) << *err;
  publisher.send_binary(std::string(1, '\x09'));
  auto pong = publisher.receive();
  ASSERT_TRUE(pong);
  EXPECT_EQ(*pong, std::string(1, '\x0A'));
  publisher.send_binary(message_frame(m));
  auto receipt2 = publisher.receive();
  ASSERT_TRUE(receipt2);
  EXPECT_EQ(static_cast<uint8_t>((*receipt2)[0]), 0x0E);
  auto frame2 = receiver.receive();
  ASSERT_TRUE(frame2);
  EXPECT_EQ(static_cast<uint8_t>((*frame2)[0]), 0x0D);
  receiver.send_binary(std::string(1, '\x0B'));

  // Not acknowledged → sent again (upstream resends until acked, at most 10 times).
  m.tag = "resend-me";
  publisher.send_binary(message_frame(m));
  ASSERT_TRUE(publisher.receive());  // receipt
  auto first = receiver.receive();
  ASSERT_TRUE(first);
  auto resent = receiver.receive(std::chrono::seconds(30));
  ASSERT_TRUE(resent);
  EXPECT_EQ(*resent, *first);
  receiver.send_binary(std::string(1, '\x0B'));

  // Malformed HTTP is answered with 400, and the agent keeps serving.
  auto raw = http(static_cast<uint16_t>(port_), "BR<EW", "/v2/config/get", "", token_a_);
  EXPECT_EQ(raw.status, 400);
  EXPECT_EQ(local_post(port_, "/v2/config/get", R"({"id":")" + a_ + R"("})", token_a_).status, 200);
}

TEST_F(local_api_test, UnauthenticatedModeIsAnExplicitSetting) {
  auto fog = controller_->create_fog("edge-open");
  temp_dir dir;
  std::string config_dir = dir.path() + "/agent";
  write_test_settings(config_dir, R"("localApiRequireToken":false)");
  ASSERT_EQ(run_agent_cli({"--config-dir", config_dir, "provision",
                           controller_->provisioning_key(fog), "--controller", controller_->url()})
                .exit_code,
            0);
  auto c = controller_->post("/api/v3/application", R"({"name": "open-app", "isActivated": true,
      "microservices": [{"name": "o", "agentName": "edge-open", "config": "{\"open\":true}",
        "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid = controller_->microservice_uuid("open-app", "o");
  agent_process open_agent(config_dir, {"DOCKER_HOST=unix://" + dir.path() + "/no-engine.sock"});
  int port = open_agent.local_api_port();
  http_result r;
  EXPECT_TRUE(eventually([&] {
    r = local_post(port, "/v2/config/get", R"({"id":")" + uuid + R"("})", "");
    return r.status == 200;
  })) << r.body
      << open_agent.log();
  EXPECT_EQ(body_json(r).at("config").as_string(), R"({"open":true})");
  EXPECT_NE(open_agent.log().find("WITHOUT microservice tokens"), std::string::npos);
  EXPECT_EQ(open_agent.terminate(), 0);
  ASSERT_EQ(controller_->del("/api/v3/application/open-app").status, 204);
}

// The archive behind /v2/messages/query is on disk: what the local API acknowledged is still
// there after kill -9 and a restart, and the fog's diskLimit (GB) bounds it, oldest first.
TEST_F(local_api_test, ArchiveSurvivesKill9AndStaysWithinDiskLimit) {
  const uint64_t bound = 300'000;
  auto fog = controller_->create_fog("edge-archive", R"("diskLimit":0.0003)");
  temp_dir dir;
  std::string config_dir = dir.path() + "/agent";
  write_test_settings(config_dir);
  ASSERT_EQ(run_agent_cli({"--config-dir", config_dir, "provision",
                           controller_->provisioning_key(fog), "--controller", controller_->url()})
                .exit_code,
            0);
  auto c = controller_->post("/api/v3/application", R"({"name": "archive-app", "isActivated": true,
      "microservices": [
        {"name": "p", "agentName": "edge-archive",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "r", "agentName": "edge-archive",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}],
      "routes": [{"name": "p-to-r", "from": "p", "to": "r"}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string p = controller_->microservice_uuid("archive-app", "p");
  std::string r = controller_->microservice_uuid("archive-app", "r");
  std::vector<std::string> env = {"DOCKER_HOST=unix://" + dir.path() + "/no-engine.sock"};
  auto agent = std::make_unique<agent_process>(config_dir, env);
  int port = agent->local_api_port();
  ASSERT_TRUE(eventually([&] {
    return !agent->microservice_token(p).empty() && !agent->microservice_token(r).empty();
  })) << agent->log();
  std::string token_p = agent->microservice_token(p), token_r = agent->microservice_token(r);

  auto publish = [&](const std::string& content) {
    io_message m;
    m.publisher = p;
    m.info_type = "text";
    m.info_format = "utf-8";
    m.content_data.assign(content.begin(), content.end());
    auto res = local_post(port, "/v2/messages/new", encode_json(m), token_p);
    EXPECT_EQ(res.status, 200) << res.body;
    return res.status == 200 ? std::string(body_json(res).at("id").as_string()) : std::string();
  };
  auto query_ids = [&] {
    auto q =
        local_post(port, "/v2/messages/query",
                   R"({"id":")" + r +
                       R"(","timeframestart":0,"timeframeend":9007199254740991,"publishers":[")" +
                       p + R"("]})",
                   token_r);
    EXPECT_EQ(q.status, 200) << q.body;
    std::vector<std::string> ids;
    auto answer = body_json(q);
    for (const auto& m : answer.at("messages").as_array()) ids.emplace_back(m.at("id").as_string());
    return ids;
  };

  std::vector<std::string> acknowledged;
  for (int i = 0; i < 20; ++i)
    acknowledged.push_back(publish("before the crash " + std::to_string(i)));
  {
    // The message socket: 300 frames sent back to back are archived in batches, and every
    // receipt leaves after its message's batch was written, so kill -9 the moment the last
    // receipt arrived loses none of them.
    ws_client socket(port, "/v2/message/socket/id/" + p, token_p);
    io_message m;
    m.publisher = p;
    m.info_type = "text";
    m.info_format = "utf-8";
    for (int i = 0; i < 300; ++i) {
      std::string content = "socket before the crash " + std::to_string(i);
      m.content_data.assign(content.begin(), content.end());
      socket.send_binary(message_frame(m));
    }
    for (int i = 0; i < 300; ++i) {
      auto receipt = socket.receive();
      ASSERT_TRUE(receipt) << "receipt " << i << "\n" << agent->log();
      ASSERT_EQ(static_cast<uint8_t>((*receipt)[0]), 0x0E) << *receipt;
      acknowledged.push_back(receipt->substr(3, static_cast<uint8_t>((*receipt)[1])));
    }
    agent->kill9();
  }
  agent.reset();
  agent = std::make_unique<agent_process>(config_dir, env);
  port = agent->local_api_port();
  EXPECT_EQ(query_ids(), acknowledged) << agent->log();

  // 400 messages of 1 KiB through a 300 kB bound: the oldest go first.
  std::string last;
  for (int i = 0; i < 400; ++i) last = publish(std::string(1024, 'x') + std::to_string(i));
  uint64_t on_disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(config_dir + "/archive")) {
    if (e.path().extension() == ".seg") on_disk += std::filesystem::file_size(e.path());
  }
  EXPECT_LE(on_disk, bound);
  EXPECT_GT(on_disk, bound / 2);
  auto ids = query_ids();
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), last);
  EXPECT_EQ(std::find(ids.begin(), ids.end(), acknowledged.front()), ids.end());
  std::ifstream admin_file(config_dir + "/local-api-token");
  std::string admin;
  admin_file >> admin;
  auto st = http(static_cast<uint16_t>(port), "GET", "/v2/status", "", admin);
  ASSERT_EQ(st.status, 200) << st.body;
  auto archive = body_json(st).at("archive");
  EXPECT_EQ(archive.at("boundBytes").to_number<uint64_t>(), bound);
  EXPECT_GT(archive.at("droppedMessages").to_number<uint64_t>(), 0u);
  EXPECT_EQ(agent->terminate(), 0);
  ASSERT_EQ(controller_->del("/api/v3/application/archive-app").status, 204);
}

// Edge resources linked to the node at the controller reach the local API, with 0xF on the
// control sockets; unlinking takes them away again.
TEST_F(local_api_test, LinkedEdgeResourcesAreServedAndSignalled) {
  auto list = [&] {
    auto r = http(static_cast<uint16_t>(port_), "GET", "/v2/edgeResources", "", token_a_);
    EXPECT_EQ(r.status, 200) << r.body;
    return body_json(r).as_array();
  };
  EXPECT_TRUE(list().empty());
  EXPECT_EQ(http(static_cast<uint16_t>(port_), "GET", "/v2/edgeResources", "", "").status, 401);
  ws_client control(port_, "/v2/control/socket/id/" + a_, token_a_);
  auto c = controller_->post("/api/v3/edgeResource", R"json({
      "name": "smart-door", "version": "1.0.0", "interfaceProtocol": "https",
      "interface": {"endpoints": [{"name": "open", "method": "PUT", "url": "/open"}]},
      "display": {"name": "Smart Door"}, "orchestrationTags": ["door"], "custom": {"floor": 2}})json");
  ASSERT_EQ(c.status, 201) << c.body;
  auto link = controller_->post("/api/v3/edgeResource/smart-door/1.0.0/link",
                                R"({"uuid":")" + fog_ + R"("})");
  ASSERT_EQ(link.status, 204) << link.body;
  auto signal = control.receive(std::chrono::seconds(60));
  ASSERT_TRUE(signal) << agent_->log();
  EXPECT_EQ(*signal, std::string(1, '\x0F'));
  control.send_binary(std::string(1, '\x0B'));
  auto linked = list();
  ASSERT_EQ(linked.size(), 1u);
  EXPECT_EQ(linked[0].at("name").as_string(), "smart-door");
  EXPECT_EQ(linked[0].at("version").as_string(), "1.0.0");
  EXPECT_EQ(linked[0].at("interface").at("endpoints").at(0).at("url").as_string(), "/open");

  auto unlink = controller_->request("DELETE", "/api/v3/edgeResource/smart-door/1.0.0/link",
                                     R"({"uuid":")" + fog_ + R"("})");
  ASSERT_EQ(unlink.status, 204) << unlink.body;
  signal = control.receive(std::chrono::seconds(60));
  ASSERT_TRUE(signal) << agent_->log();
  EXPECT_EQ(*signal, std::string(1, '\x0F'));
  control.send_binary(std::string(1, '\x0B'));
  EXPECT_TRUE(list().empty());
}

// A receiver on an agent that never consumes its address: what a publishes for it is held for
// the router. Once no route leads there any more (route deleted at the controller), the agent
// discards it and counts it, so it no longer fills routerHeldMessages until a restart.
TEST_F(local_api_test, MessagesHeldForAReceiverNoRouteLeadsToAreDiscarded) {
  controller_->create_fog("edge-away");  // never started: nobody consumes its microservices
  auto c = controller_->post("/api/v3/application", R"({"name": "away-app", "isActivated": true,
      "microservices": [
        {"name": "near", "agentName": "edge-local",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "far", "agentName": "edge-away",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}],
      "routes": [{"name": "near-to-far", "from": "near", "to": "far"}]})");
  ASSERT_EQ(c.status, 201) << c.body;
  const std::string near = controller_->microservice_uuid("away-app", "near");
  ASSERT_TRUE(eventually([&] { return !agent_->microservice_token(near).empty(); }))
      << agent_->log();
  const std::string token = agent_->microservice_token(near);
  auto status = [&] {
    std::ifstream admin_file(config_dir_ + "/local-api-token");
    std::string admin;
    admin_file >> admin;
    auto st = http(static_cast<uint16_t>(port_), "GET", "/v2/status", "", admin);
    EXPECT_EQ(st.status, 200) << st.body;
    return body_json(st);
  };
  auto count = [](const json::value& v, const char* key) {
    return v.at(key).to_number<uint64_t>();
  };
  const uint64_t discarded_before = count(status(), "messagesDiscardedNoRoute");
  io_message m;
  m.publisher = near;
  m.info_type = "text";
  m.info_format = "utf-8";
  m.content_data = {'h', 'e', 'l', 'd'};
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(local_post(port_, "/v2/messages/new", encode_json(m), token).status, 200);
  }
  EXPECT_EQ(count(status(), "messagesHeldForRouter"), 5u);
  auto removed = controller_->del("/api/v3/routes/away-app/near-to-far");
  ASSERT_EQ(removed.status, 204) << removed.body;
  ASSERT_TRUE(eventually([&] { return count(status(), "messagesHeldForRouter") == 0; }))
      << agent_->log();
  EXPECT_EQ(count(status(), "messagesDiscardedNoRoute") - discarded_before, 5u);
  // No route, nothing held for it any more.
  ASSERT_EQ(local_post(port_, "/v2/messages/new", encode_json(m), token).status, 200);
  EXPECT_EQ(count(status(), "messagesHeldForRouter"), 0u);
  ASSERT_EQ(controller_->del("/api/v3/application/away-app").status, 204);
}

TEST_F(local_api_test, ConfigChangeSignalsTheControlSocket) {
  ws_client control(port_, "/v2/control/socket/id/" + a_, token_a_);
  auto r =
      controller_->patch("/api/v3/microservices/" + a_, R"({"config":"{\"role\":\"changed\"}"})");
  ASSERT_EQ(r.status, 204) << r.body;
  auto signal = control.receive(std::chrono::seconds(60));
  ASSERT_TRUE(signal) << agent_->log();
  EXPECT_EQ(*signal, std::string(1, '\x0C'));
  control.send_binary(std::string(1, '\x0B'));
  auto cfg = local_post(port_, "/v2/config/get", R"({"id":")" + a_ + R"("})", token_a_);
  EXPECT_EQ(body_json(cfg).at("config").as_string(), R"({"role":"changed"})");
  // Sockets need the token too.
  EXPECT_THROW(ws_client(port_, "/v2/control/socket/id/" + a_, token_b_), std::exception);
}

}  // namespace
}  // namespace fogmesh::agent::test
