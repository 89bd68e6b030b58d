// Strace and image snapshots over HTTP, user side and agent side, against real PostgreSQL (and a
// real FTP server for the strace upload).
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

class diagnostics_api : public api_test {
 protected:
  // A user with a provisioned fog running microservice "m1" and an undeployed "m2".
  void SetUp() override {
    token = new_user_token();
    other = new_user_token();
    fog = create_fog(token, "diag-node");
    agent = provision_agent(token, fog);
    ASSERT_EQ(post("/api/v3/application", R"({"name":"diag","isActivated":true})", token).status,
              201);
    auto c = post("/api/v3/microservices",
                  R"({"name":"m1","application":"diag","iofogUuid":")" + fog +
                      R"(","images":[{"containerImage":"x","fogTypeId":1}]})",
                  token);
    ASSERT_EQ(c.status, 201) << c.body;
    base = "/api/v3/microservices/" + std::string(c.json().at("uuid").as_string());
    uuid = base.substr(base.rfind('/') + 1);
    c = post(
        "/api/v3/microservices",
        R"({"name":"m2","application":"diag","images":[{"containerImage":"x","fogTypeId":1}]})",
        token);
    ASSERT_EQ(c.status, 201) << c.body;
    undeployed = "/api/v3/microservices/" + std::string(c.json().at("uuid").as_string());
    ack(agent);
  }

  // m1 as the agent sees it (GET /agent/microservices).
  boost::json::value agent_msvc() {
    auto list = get("/api/v3/agent/microservices", agent).json();
    for (const auto& m : list.at("microservices").as_array()) {
      if (m.at("uuid").as_string() == uuid) return m;
    }
    ADD_FAILURE() << "m1 missing from the agent's list";
    return boost::json::object{{"imageSnapshot", "missing"}};
  }

  std::string token, other, fog, agent, base, uuid, undeployed;
};

TEST_F(diagnostics_api, Strace) {
  expect_error(patch(base + "/strace", "{}", token), 400, "ValidationError",
               "Required field 'enable' is missing");
  expect_error(patch(base + "/strace", R"({"enable":true})", other), 404, "NotFoundError",
               "Invalid microservice UUID '" + uuid + "'");
  expect_error(patch(undeployed + "/strace", R"({"enable":true})", token), 400, "ValidationError",
               "Can't run strace for microservice without ioFog.");
  expect_error(get(base + "/strace", token), 404, "NotFoundError",
               "Strace data for this microservice not found");
  EXPECT_EQ(db().query("SELECT count(*) FROM microservice_straces"), "0");
  EXPECT_FALSE(changes(agent).at("diagnostics").as_bool());

  ASSERT_EQ(patch(base + "/strace", R"({"enable":true})", token).status, 204);
  EXPECT_TRUE(changes(agent).at("diagnostics").as_bool());
  auto s = get("/api/v3/agent/strace", agent);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.json(),
            parse(R"({"straceValues":[{"microserviceUuid":")" + uuid + R"(","straceRun":true}]})"));

  std::string push1 = R"({"straceData":[{"microserviceUuid":")" + uuid + R"(","buffer":"abc"}]})";
  std::string push2 = R"({"straceData":[{"microserviceUuid":")" + uuid + R"(","buffer":"def"}]})";
  EXPECT_EQ(put("/api/v3/agent/strace", push1, agent).status, 204);
  EXPECT_EQ(put("/api/v3/agent/strace", push2, agent).status, 204);
  expect_error(put("/api/v3/agent/strace", "{}", agent), 400, "ValidationError",
               "Required field 'straceData' is missing");
  // Another fog's agent cannot write into this microservice's trace.
  std::string agent2 = provision_agent(token, create_fog(token, "diag-other"));
  expect_error(put("/api/v3/agent/strace", push1, agent2), 404, "NotFoundError",
               "Strace data for this microservice not found");
  EXPECT_EQ(get("/api/v3/agent/strace", agent2).json(), parse(R"({"straceValues":[]})"));

  EXPECT_EQ(get(base + "/strace", token).json(), parse(R"({"data":"abcdef"})"));
  EXPECT_EQ(get(base + "/strace?format=string", token).json(), parse(R"({"data":"abcdef"})"));
  EXPECT_EQ(get(base + "/strace?format=file", token).json(), parse(R"({"data":"YWJjZGVm"})"));
  expect_error(get(base + "/strace?format=xml", token), 400, "ValidationError",
               "Field format is not one of enum values: string,file");
  expect_error(get(base + "/strace", other), 404, "NotFoundError");

  ack(agent);
  ASSERT_EQ(patch(base + "/strace", R"({"enable":false})", token).status, 204);
  EXPECT_TRUE(changes(agent).at("diagnostics").as_bool());
  EXPECT_EQ(get("/api/v3/agent/strace", agent).json().at("straceValues").at(0).at("straceRun"),
            false);
}

TEST_F(diagnostics_api, StraceToFtp) {
  ftp_server ftp("tracer", "ftp-pass");
  std::filesystem::create_directory(ftp.root() + "/traces");
  auto target = [&](const std::string& pass, uint16_t port, const std::string& dir = "/traces") {
    return R"({"ftpHost":"127.0.0.1","ftpPort":)" + std::to_string(port) +
           R"(,"ftpUser":"tracer","ftpPass":")" + pass + R"(","ftpDestDir":")" + dir + "\"}";
  };
  const std::string good = target("ftp-pass", ftp.port());
  const std::string stored = ftp.root() + "/traces/" + uuid;

  expect_error(put(base + "/strace", "{}", token), 400, "ValidationError",
               "Required field 'ftpHost' is missing");
  expect_error(put(base + "/strace", R"({"ftpHost":"h","ftpPort":"21"})", token), 400,
               "ValidationError", "Field 'ftpPort' is not of a type(s) integer");
  expect_error(put(base + "/strace", target("x", ftp.port(), "/traces\\r\\nDELE a"), token), 400,
               "ValidationError", "Invalid format for field 'ftpDestDir'");
  expect_error(put(base + "/strace", good, other), 404, "NotFoundError",
               "Invalid microservice UUID '" + uuid + "'");
  // Nothing collected yet: upstream's 404.
  expect_error(put(base + "/strace", good, token), 404, "NotFoundError",
               "Strace data for this microservice not found");

  ASSERT_EQ(patch(base + "/strace", R"({"enable":true})", token).status, 204);
  const std::string trace = R"j(execve(\"/bin/app\") = 0\nopenat(AT_FDCWD, \"/etc\") = 3\n)j";
  ASSERT_EQ(
      put("/api/v3/agent/strace",
          R"({"straceData":[{"microserviceUuid":")" + uuid + R"(","buffer":")" + trace + "\"}]}",
          agent)
          .status,
      204);
  auto r = put(base + "/strace", good, token);
  ASSERT_EQ(r.status, 204) << r.body;
  std::ifstream in(stored, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "execve(\"/bin/app\") = 0\nopenat(AT_FDCWD, \"/etc\") = 3\n");
  std::filesystem::remove(stored);

  // Upstream's 500 FtpError "FTP error: '...'", with the server's reply; nothing is written.
  r = put(base + "/strace", target("wrong-pass", ftp.port()), token);
  expect_error(r, 500, "FtpError", "FTP error: 'login refused: 530");
  EXPECT_EQ(r.body.find("wrong-pass"), std::string::npos) << r.body;
  EXPECT_FALSE(std::filesystem::exists(stored));
  expect_error(put(base + "/strace", target("ftp-pass", ftp.port(), "/missing"), token), 500,
               "FtpError", "STOR /missing/" + uuid + " refused: 55");
  uint16_t nobody = unused_port();
  expect_error(
      put(base + "/strace", target("ftp-pass", nobody), token), 500, "FtpError",
      "FTP error: 'connecting to 127.0.0.1:" + std::to_string(nobody) + ": Connection refused'");
  EXPECT_FALSE(std::filesystem::exists(stored));
  // The trace stays readable after a failed upload.
  EXPECT_EQ(get(base + "/strace", token).status, 200);
}

TEST_F(diagnostics_api, ImageSnapshot) {
  expect_error(get("/api/v3/agent/image-snapshot", agent), 404, "NotFoundError",
               "Image snapshot not found");
  expect_error(post(undeployed + "/image-snapshot", "", token), 400, "ValidationError",
               "Can not run image snapshot for microservice without ioFog.");
  expect_error(post(base + "/image-snapshot", "", other), 404, "NotFoundError",
               "Invalid microservice UUID '" + uuid + "'");
  expect_error(get(base + "/image-snapshot", token), 400, "ValidationError",
               "Image snapshot is not available for this microservice.");
  EXPECT_FALSE(changes(agent).at("isImageSnapshot").as_bool());

  auto c = post(base + "/image-snapshot", "", token);
  EXPECT_EQ(c.status, 201) << c.body;
  EXPECT_TRUE(changes(agent).at("isImageSnapshot").as_bool());
  EXPECT_EQ(agent_msvc().at("imageSnapshot"), "get_image");
  EXPECT_EQ(get("/api/v3/agent/image-snapshot", agent).json(),
            parse(R"({"uuid":")" + uuid + R"("})"));

  expect_error(put("/api/v3/agent/image-snapshot", "{}", agent), 400, "ValidationError",
               "Invalid content type");
  expect_error(upload(port(), "PUT", "/api/v3/agent/image-snapshot", "other", "x", agent), 400,
               "ValidationError", "Uploaded image snapshot file not found");
  expect_error(get(base + "/image-snapshot", token), 400, "ValidationError",
               "Image snapshot is not available for this microservice.");

  const std::string tarball(
      "\x1f\x8b\x08\x00"
      "binary\0data\xff\r\n--",
      20);
  auto u = upload(port(), "PUT", "/api/v3/agent/image-snapshot", "upstream", tarball, agent);
  EXPECT_EQ(u.status, 204) << u.body;
  expect_error(get("/api/v3/agent/image-snapshot", agent), 404, "NotFoundError",
               "Image snapshot not found");
  expect_error(get(base + "/image-snapshot", other), 404, "NotFoundError");

  auto d = get(base + "/image-snapshot", token);
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.body, tarball);
  EXPECT_EQ(d.header("content-type"), "application/gzip");
  EXPECT_EQ(d.header("content-disposition"), "attachment; filename=" + uuid + ".tar.gz");
  // Downloaded once, as upstream.
  expect_error(get(base + "/image-snapshot", token), 400, "ValidationError",
               "Image snapshot is not available for this microservice.");
  EXPECT_EQ(agent_msvc().at("imageSnapshot"), "");
}

// The first answer to a request that announces `length` body bytes and `Expect: 100-continue`
// and sends no body: 100 when the server wants the body, 413 when it refuses it unread.
int status_before_body(uint16_t port, const std::string& path, const std::string& auth,
                       size_t length) {
  int fd = connect_loopback(port, 60);
  std::string head = "PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + auth +
                     "\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: " +
                     std::to_string(length) + "\r\nExpect: 100-continue\r\n\r\n";
  EXPECT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  return n > 12 ? parse_response(std::string(buf, static_cast<size_t>(n))).status : 0;
}

TEST_F(diagnostics_api, ImageSnapshotOverTheListenersLimit) {
  const std::string snapshot_path = "/api/v3/agent/image-snapshot";
  const size_t big = 40u << 20;  // over the 16 MiB every other request is limited to
  std::string other_agent = provision_agent(token, create_fog(token, "diag-big"));
  // Nothing requested yet: refused before the body is read (413), for anyone.
  EXPECT_EQ(status_before_body(port(), snapshot_path, agent, big), 413);
  ASSERT_EQ(post(base + "/image-snapshot", "", token).status, 201);
  EXPECT_EQ(status_before_body(port(), snapshot_path, other_agent, big), 413);
  EXPECT_EQ(status_before_body(port(), snapshot_path, token, big), 413);  // a user token
  EXPECT_EQ(status_before_body(port(), snapshot_path, "not-a-token", big), 413);
  EXPECT_EQ(status_before_body(port(), "/api/v3/agent/strace", agent, big), 413);
  // The agent asked for the snapshot may send it.
  EXPECT_EQ(status_before_body(port(), snapshot_path, agent, big), 100);
  EXPECT_EQ(status_before_body(port(), "/api/v3/agent/strace", agent, 100), 100);

  std::string tarball(big + 12345, '\0');
  for (size_t i = 0; i < tarball.size(); ++i) tarball[i] = static_cast<char>((i * 7919) >> 5);
  auto u = upload(port(), "PUT", snapshot_path, "upstream", tarball, agent);
  ASSERT_EQ(u.status, 204) << u.body;
  EXPECT_EQ(db().query("SELECT count(*) FROM microservice_image_snapshot_parts"), "11");
  auto d = get(base + "/image-snapshot", token);
  ASSERT_EQ(d.status, 200) << d.body.substr(0, 200);
  EXPECT_EQ(d.body.size(), tarball.size());
  EXPECT_TRUE(d.body == tarball);
  EXPECT_EQ(db().query("SELECT count(*) FROM microservice_image_snapshot_parts"), "0");
}

TEST_F(diagnostics_api, RoutesInOpenApi) {
  auto doc = get("/api/v3/openapi.json").json().at("paths").as_object();
  EXPECT_TRUE(doc.at("/api/v3/microservices/{uuid}/strace").as_object().contains("put"));
  EXPECT_TRUE(doc.contains("/api/v3/microservices/{uuid}/image-snapshot"));
  EXPECT_TRUE(doc.at("/api/v3/agent/strace").as_object().contains("put"));
  EXPECT_TRUE(doc.at("/api/v3/agent/image-snapshot").as_object().contains("put"));
}

}  // namespace
}  // namespace fogmesh::controller::test
