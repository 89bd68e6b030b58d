// Controller settings (GET/PUT /config) that are secrets: the tunnel service's SSH password and
// key are stored and reach the agent, but users never read them back.
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

class config_api : public api_test {};

TEST_F(config_api, TunnelSecretsAreWriteOnly) {
  std::string token = new_user_token();
  const std::string key_pem = "-----BEGIN OPENSSH PRIVATE KEY-----\\nAAAAkey\\n";
  auto set = [&](const std::string& key, const std::string& value) {
    return put("/api/v3/config", R"({"key":")" + key + R"(","value":")" + value + "\"}", token);
  };
  auto stored = [&](const std::string& key) {
    return db().query("SELECT value FROM controller_config WHERE key = '" + key + "'");
  };
  auto p = set("tunnel-password", "s3cret-pw");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json(), parse(R"({"key":"tunnel-password","value":"********"})"));
  ASSERT_EQ(set("tunnel-rsa-key", key_pem).status, 200);
  ASSERT_EQ(set("tunnel-host", "tunnel.example.com").status, 200);
  ASSERT_EQ(set("tunnel-username", "fog").status, 200);
  EXPECT_EQ(stored("tunnel-password"), "s3cret-pw");

  auto list = get("/api/v3/config", token);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body.find("s3cret-pw"), std::string::npos) << list.body;
  EXPECT_EQ(list.body.find("AAAAkey"), std::string::npos) << list.body;
  int masked = 0;
  const auto entries = list.json();
  for (const auto& e : entries.as_array()) {
    if (e.at("key") == "tunnel-password" || e.at("key") == "tunnel-rsa-key") {
      EXPECT_EQ(e.at("value"), "********");
      ++masked;
    }
    if (e.at("key") == "tunnel-host") {
      EXPECT_EQ(e.at("value"), "tunnel.example.com");
    }
  }
  EXPECT_EQ(masked, 2);
  EXPECT_EQ(get("/api/v3/config/tunnel-rsa-key", token).json(),
            parse(R"({"key":"tunnel-rsa-key","value":"********"})"));

  // Writing back what was read keeps the secrets; a new value replaces them.
  for (const auto& e : entries.as_array()) {
    ASSERT_EQ(
        set(std::string(e.at("key").as_string()), std::string(e.at("value").as_string())).status,
        200);
  }
  EXPECT_EQ(stored("tunnel-password"), "s3cret-pw");
  EXPECT_EQ(stored("tunnel-rsa-key"), "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkey\n");

  // The agent still gets them with its tunnel; the user's view of the tunnel has no password.
  std::string fog = create_fog(token, "secret-tunnel");
  std::string agent = provision_agent(token, fog);
  ASSERT_EQ(patch("/api/v3/iofog/" + fog + "/tunnel", R"({"action":"open"})", token).status, 204);
  auto t = get("/api/v3/agent/tunnel", agent).json().at("tunnel");
  EXPECT_EQ(t.at("password"), "s3cret-pw");
  EXPECT_EQ(t.at("rsakey"), "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkey\n");
  auto user_view = get("/api/v3/iofog/" + fog + "/tunnel", token);
  EXPECT_EQ(user_view.body.find("s3cret-pw"), std::string::npos) << user_view.body;

  // An empty secret reads as empty (nothing to hide).
  ASSERT_EQ(set("tunnel-password", "").status, 200);
  EXPECT_EQ(get("/api/v3/config/tunnel-password", token).json().at("value"), "");
}

}  // namespace
}  // namespace fogmesh::controller::test
