// The local API microservices use, against a real agent synced from our controller (no
// container engine needed): per-microservice tokens, config, ioMessages between two
// microservices on one agent over REST (JSON form) and WebSocket (binary form), control
// signals on config change, and clear errors for malformed input.
#include <filesystem>

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
    auto p = run_agent_cli({"--config-dir", config_dir_, "provision", key, "--controller", controller_->url()});
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
    agent_ = new agent_process(config_dir_, {"DOCKER_HOST=unix://" + dir_->path() + "/no-engine.sock"});
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
std::string local_api_test::config_dir_, local_api_test::fog_, local_api_test::a_, local_api_test::b_,
    local_api_test::token_a_, local_api_test::token_b_;
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
  r = http(static_cast<uint16_t>(port_), "POST", "/v2/config/get", "id=1", token_a_, {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("content type"), std::string::npos) << r.body;
  r = http(static_cast<uint16_t>(port_), "GET", "/v2/config/get", "", token_a_);
  EXPECT_EQ(r.status, 405);
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
                          R"(,"timeframeend":)" + std::to_string(ts + 1) + R"(,"publishers":[")" + a_ + R"("]})",
                      token_b_);
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_GE(body_json(q).at("count").as_int64(), 1);

  // a may not publish as b, and a message needs its required fields.
  io_message forged = m;
  forged.publisher = b_;
  EXPECT_EQ(local_post(port_, "/v2/messages/new", encode_json(forged), token_a_).status, 403);
  auto bad = local_post(port_, "/v2/messages/new", R"({"publisher":")" + a_ + R"(","contentdata":"!!"})", token_a_);
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
  auto decoded = decode_binary(std::span(reinterpret_cast<const uint8_t*>(frame->data()) + 5, frame->size() - 5));
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
  ASSERT_EQ(run_agent_cli({"--config-dir", config_dir, "provision", controller_->provisioning_key(fog),
                           "--controller", controller_->url()}).exit_code, 0);
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
  })) << r.body << open_agent.log();
  EXPECT_EQ(body_json(r).at("config").as_string(), R"({"open":true})");
  EXPECT_NE(open_agent.log().find("WITHOUT microservice tokens"), std::string::npos);
  EXPECT_EQ(open_agent.terminate(), 0);
  ASSERT_EQ(controller_->del("/api/v3/application/open-app").status, 204);
}

TEST_F(local_api_test, ConfigChangeSignalsTheControlSocket) {
  ws_client control(port_, "/v2/control/socket/id/" + a_, token_a_);
  auto r = controller_->patch("/api/v3/microservices/" + a_, R"({"config":"{\"role\":\"changed\"}"})");
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
