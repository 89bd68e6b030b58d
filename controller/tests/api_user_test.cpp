// User and general endpoints over real HTTP against a real PostgreSQL cluster.
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using user_api = api_test;

TEST_F(user_api, StatusAndUnknownPaths) {
  auto s = get("/api/v3/status");
  ASSERT_EQ(s.status, 200);
  auto v = s.json();
  EXPECT_EQ(v.at("status").as_string(), "online");
  EXPECT_TRUE(v.at("timestamp").is_number());
  EXPECT_TRUE(v.at("versions").at("controller").is_string());
  EXPECT_EQ(s.header("access-control-allow-origin"), "*");
  EXPECT_FALSE(s.header("x-timestamp").empty());

  expect_error(get("/api/v3/no-such-thing"), 404, "NotFoundError",
               "Cannot GET /api/v3/no-such-thing");
  expect_error(post("/api/v3/application/no-such-variant", "{}"), 404, "NotFoundError");
  // Implemented since (upstream answered HTML 404 here, iofogctl#183): needs a user now.
  expect_error(post("/api/v3/application/yaml", "{}"), 401, "AuthenticationError");
  expect_error(get("/index.html"), 404, "NotFoundError");
  expect_error(http(port(), "DELETE", "/api/v3/status"), 404, "NotFoundError");

  auto types = get("/api/v3/fog-types");
  ASSERT_EQ(types.status, 200);
  EXPECT_EQ(types.json().at("fogTypes").as_array().size(), 3u);
  EXPECT_EQ(get("/api/v3/email-activation").json().at("isEmailActivationEnabled"), false);
}

TEST_F(user_api, CorsPreflight) {
  auto r = http(port(), "OPTIONS", "/api/v3/iofog-list", "", "",
                {{"Origin", "http://viewer"},
                 {"Access-Control-Request-Method", "GET"},
                 {"Access-Control-Request-Headers", "authorization,content-type"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-allow-headers"), "authorization,content-type");
  EXPECT_NE(r.header("access-control-allow-methods").find("PATCH"), std::string::npos);
}

TEST_F(user_api, SignupLoginProfileLogout) {
  auto s = post(
      "/api/v3/user/signup",
      R"({"firstName":"Alice","lastName":"Liddell","email":"alice@example.com","password":"wonderland1"})");
  ASSERT_EQ(s.status, 201) << s.body;
  auto u = s.json();
  EXPECT_TRUE(u.at("userId").is_number());
  EXPECT_EQ(u.at("firstName").as_string(), "Alice");
  EXPECT_EQ(u.at("email").as_string(), "alice@example.com");
  EXPECT_FALSE(u.as_object().contains("password"));
  // Only an argon2id hash is stored.
  EXPECT_EQ(db().query("SELECT password_hash FROM users WHERE email = 'alice@example.com'")
                .rfind("$argon2id$", 0),
            0u);

  expect_error(
      post("/api/v3/user/login", R"({"email":"alice@example.com","password":"nope-nope"})"), 401,
      "InvalidCredentialsError");
  expect_error(post("/api/v3/user/login", R"({"email":"nobody@example.com","password":"x"})"), 401,
               "InvalidCredentialsError");
  // Email matching is case-insensitive.
  auto l = post("/api/v3/user/login", R"({"email":"Alice@Example.com","password":"wonderland1"})");
  ASSERT_EQ(l.status, 200) << l.body;
  std::string token(l.json().at("accessToken").as_string());
  EXPECT_GE(token.size(), 32u);
  // The token itself is not in the database, only its digest.
  EXPECT_EQ(db().query("SELECT count(*) FROM user_tokens WHERE encode(token_hash, 'hex') = '" +
                       token + "'"),
            "0");

  // Raw token (upstream) and Bearer both work.
  auto p = get("/api/v3/user/profile", token);
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json().at("lastName").as_string(), "Liddell");
  EXPECT_GT(p.json().at("id").as_int64(), 0);
  EXPECT_EQ(get("/api/v3/user/profile", "Bearer " + token).status, 200);
  expect_error(get("/api/v3/user/profile"), 401, "AuthenticationError");
  expect_error(get("/api/v3/user/profile", "Bearer 0123"), 401, "AuthenticationError");

  auto pp = patch("/api/v3/user/profile", R"({"firstName":"Alicia","email":"x@y.com"})", token);
  ASSERT_EQ(pp.status, 200) << pp.body;
  EXPECT_EQ(pp.json().at("firstName").as_string(), "Alicia");
  EXPECT_EQ(pp.json().at("email").as_string(), "alice@example.com");
  expect_error(patch("/api/v3/user/profile", R"({"lastName":"Li"})", token), 400, "ValidationError",
               "Field lastName does not meet minimum length of 3");

  // Password change: wrong old password refused; then old password stops working.
  expect_error(
      patch("/api/v3/user/password", R"({"oldPassword":"bad","newPassword":"newsecret1"})", token),
      400, "ValidationError", "Old password is incorrect");
  EXPECT_EQ(patch("/api/v3/user/password",
                  R"({"oldPassword":"wonderland1","newPassword":"newsecret1"})", token)
                .status,
            204);
  expect_error(
      post("/api/v3/user/login", R"({"email":"alice@example.com","password":"wonderland1"})"), 401,
      "InvalidCredentialsError");
  EXPECT_EQ(
      post("/api/v3/user/login", R"({"email":"alice@example.com","password":"newsecret1"})").status,
      200);

  EXPECT_EQ(post("/api/v3/user/logout", "", token).status, 204);
  expect_error(get("/api/v3/user/profile", token), 401, "AuthenticationError");
}

TEST_F(user_api, SignupValidationWritesNothing) {
  std::string before = db().query("SELECT count(*) FROM users");
  expect_error(post("/api/v3/user/signup", "{not json"), 400, "ValidationError");
  expect_error(post("/api/v3/user/signup", "[1,2]"), 400, "ValidationError");
  expect_error(post("/api/v3/user/signup", "{}"), 400, "ValidationError",
               "Required field 'firstName' is missing");
  expect_error(post("/api/v3/user/signup",
                    R"({"firstName":"Bob","lastName":"Builder","email":"bob@example.com"})"),
               400, "ValidationError", "Required field 'password' is missing");
  expect_error(
      post(
          "/api/v3/user/signup",
          R"({"firstName":42,"lastName":"Builder","email":"bob@example.com","password":"password1"})"),
      400, "ValidationError", "Field 'firstName' is not of a type(s) string");
  expect_error(
      post(
          "/api/v3/user/signup",
          R"({"firstName":"Bo","lastName":"Builder","email":"bob@example.com","password":"password1"})"),
      400, "ValidationError", "Field firstName does not meet minimum length of 3");
  expect_error(
      post(
          "/api/v3/user/signup",
          R"({"firstName":"Bob","lastName":"Builder","email":"not-an-email","password":"password1"})"),
      400, "ValidationError", "Invalid format for field 'email'");
  expect_error(
      post(
          "/api/v3/user/signup",
          R"({"firstName":"Bob","lastName":"Builder","email":"bob@example.com","password":"short"})"),
      400, "ValidationError", "Field password does not meet minimum length of 8");
  EXPECT_EQ(db().query("SELECT count(*) FROM users"), before);

  ASSERT_EQ(
      post(
          "/api/v3/user/signup",
          R"({"firstName":"Bob","lastName":"Builder","email":"bob@example.com","password":"password1"})")
          .status,
      201);
  expect_error(
      post(
          "/api/v3/user/signup",
          R"({"firstName":"Bob","lastName":"Again","email":"BOB@example.com","password":"password1"})"),
      400, "ValidationError", "There is already an account associated with your email");
}

TEST_F(user_api, LoginIsRateLimited) {
  ASSERT_EQ(
      post(
          "/api/v3/user/signup",
          R"({"firstName":"Eve","lastName":"Guesser","email":"eve@example.com","password":"password1"})")
          .status,
      201);
  for (int i = 0; i < 10; ++i) {
    expect_error(
        post("/api/v3/user/login", R"({"email":"eve@example.com","password":"wrong-guess"})"), 401,
        "InvalidCredentialsError");
  }
  // Even the right password is refused while the window lasts.
  expect_error(post("/api/v3/user/login", R"({"email":"eve@example.com","password":"password1"})"),
               429, "TooManyRequestsError");
}

TEST_F(user_api, DeleteProfileRemovesEverything) {
  std::string token = new_user_token();
  std::string fog = create_fog(token, "doomed");
  EXPECT_EQ(del("/api/v3/user/profile", token, R"({"force":true})").status, 204);
  expect_error(get("/api/v3/user/profile", token), 401, "AuthenticationError");
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs WHERE uuid = '" + fog + "'"), "0");
}

TEST_F(user_api, ConfigOpenApiAndMetrics) {
  std::string token = new_user_token();
  expect_error(get("/api/v3/config"), 401, "AuthenticationError");
  auto put_r = put("/api/v3/config", R"({"key":"publicPortRange","value":"6000-7000"})", token);
  ASSERT_EQ(put_r.status, 200) << put_r.body;
  auto g = get("/api/v3/config/publicPortRange", token);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.json().at("value").as_string(), "6000-7000");
  expect_error(get("/api/v3/config/nothing", token), 404, "NotFoundError");
  expect_error(put("/api/v3/config", R"({"key":"x"})", token), 400, "ValidationError",
               "Required field 'value' is missing");

  auto doc = get("/api/v3/openapi.json");
  ASSERT_EQ(doc.status, 200);
  auto paths = doc.json().at("paths").as_object();
  EXPECT_TRUE(paths.contains("/api/v3/iofog/{uuid}"));
  EXPECT_TRUE(paths.at("/api/v3/iofog/{uuid}").as_object().contains("patch"));
  EXPECT_TRUE(paths.contains("/api/v3/agent/config/changes"));

  auto m = get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("fogmesh_controller_long_polls_waiting"), std::string::npos);
}

TEST_F(user_api, TlsListener) {
  temp_dir dir;
  std::string cert = dir.path() + "/cert.pem";
  std::string key = dir.path() + "/key.pem";
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + key +
      " -out " + cert + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto options = default_options(db().conninfo());
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  server tls(options);
  tls.start();
  auto r = https_get(tls.port(), "/api/v3/status");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().at("status").as_string(), "online");
  expect_error(https_get(tls.port(), "/api/v3/user/profile"), 401, "AuthenticationError");
  // Plain HTTP is not served on a TLS listener.
  EXPECT_ANY_THROW(http(tls.port(), "GET", "/api/v3/status", "", "", {}, 10));
  tls.stop();
}

}  // namespace
}  // namespace fogmesh::controller::test
