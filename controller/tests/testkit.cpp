#include "testkit.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

namespace fogmesh::controller::test {

namespace fs = std::filesystem;

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/fmctl-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

pg_cluster::pg_cluster() {
  embedded_postgres_options o;
  o.dir = dir_.path();
  o.durable = false;
  pg_ = std::make_unique<embedded_postgres>(o);
  pg_->start();
}

pg_cluster::~pg_cluster() {
  pg_.reset();
}

std::string pg_cluster::query(const std::string& sql) const {
  pqxx::connection c(conninfo());
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

boost::json::value http_result::json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) {
    ADD_FAILURE() << "response is not JSON: " << body;
    return nullptr;
  }
  return v;
}

std::string http_result::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

http_result parse_response(const std::string& raw) {
  http_result res;
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.size() < 12) {
    throw std::runtime_error("malformed HTTP response: " + raw);
  }
  res.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      res.headers.emplace_back(name, value);
    }
    pos = eol + 2;
  }
  res.body = raw.substr(head_end + 4);
  return res;
}

int connect_loopback(uint16_t port, int timeout_sec) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{timeout_sec, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("connect failed: ") + std::strerror(errno));
  }
  return fd;
}

http_result upload(uint16_t port, const std::string& method, const std::string& path,
                   const std::string& field, const std::string& content, const std::string& auth) {
  std::string boundary = "----fogmeshBoundary7MA4YWxk";
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field +
                     "\"; filename=\"upload\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
                     content + "\r\n--" + boundary + "--\r\n";
  return http(port, method, path, body, auth,
              {{"Content-Type", "multipart/form-data; boundary=" + boundary}});
}

http_result https_get(uint16_t port, const std::string& path) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  int fd = connect_loopback(port, 30);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  std::string raw;
  bool ok = SSL_connect(ssl) == 1;  // self-signed test certificate: not verified
  if (ok) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    ok = SSL_write(ssl, req.data(), static_cast<int>(req.size())) == static_cast<int>(req.size());
    char buf[16384];
    for (int n; ok && (n = SSL_read(ssl, buf, sizeof buf)) > 0;)
      raw.append(buf, static_cast<size_t>(n));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  if (!ok) throw std::runtime_error("TLS request failed");
  return parse_response(raw);
}

http_result http(uint16_t port, const std::string& method, const std::string& path,
                 const std::string& body, const std::string& auth,
                 const std::vector<std::pair<std::string, std::string>>& extra_headers,
                 int timeout_sec) {
  int fd = connect_loopback(port, timeout_sec);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!auth.empty()) req += "Authorization: " + auth + "\r\n";
  bool has_type = false;
  for (const auto& [k, v] : extra_headers) {
    req += k + ": " + v + "\r\n";
    if (k == "Content-Type") has_type = true;
  }
  if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("recv failed or timed out: " + method + " " + path);
    }
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return parse_response(raw);
}

namespace {
pg_cluster* suite_db = nullptr;
server* suite_server = nullptr;
std::atomic<int> user_counter{0};
}  // namespace

server_options api_test::default_options(const std::string& conninfo) {
  server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.db_conninfo = conninfo;
  o.db_connections = 4;
  o.io_threads = 2;  // exercises the per-connection strands
  o.max_long_poll_sec = 300;
  return o;
}

void api_test::SetUpTestSuite() {
  suite_db = new pg_cluster();
  suite_server = new server(default_options(suite_db->conninfo()));
  suite_server->start();
}

void api_test::TearDownTestSuite() {
  delete suite_server;
  suite_server = nullptr;
  delete suite_db;
  suite_db = nullptr;
}

uint16_t api_test::port() {
  return suite_server->port();
}
pg_cluster& api_test::db() {
  return *suite_db;
}

std::string api_test::new_user_token() {
  std::string email =
      "user" + std::to_string(++user_counter) + "-" + std::to_string(::getpid()) + "@example.com";
  auto s = post("/api/v3/user/signup", R"({"firstName":"Test","lastName":"User","email":")" +
                                           email + R"(","password":"password123"})");
  EXPECT_EQ(s.status, 201) << s.body;
  auto l = post("/api/v3/user/login", R"({"email":")" + email + R"(","password":"password123"})");
  EXPECT_EQ(l.status, 200) << l.body;
  return std::string(l.json().at("accessToken").as_string());
}

std::string api_test::create_fog(const std::string& token, const std::string& name,
                                 const std::string& extra_json) {
  std::string body = R"({"name":")" + name + R"(","fogType":1,"host":"10.1.2.3")" +
                     (extra_json.empty() ? "" : "," + extra_json) + "}";
  auto r = post("/api/v3/iofog", body, token);
  EXPECT_EQ(r.status, 201) << r.body;
  if (r.status != 201) return "";
  return std::string(r.json().at("uuid").as_string());
}

std::string api_test::provision_agent(const std::string& token, const std::string& fog_uuid) {
  auto k = get("/api/v3/iofog/" + fog_uuid + "/provisioning-key", token);
  EXPECT_EQ(k.status, 201) << k.body;
  std::string key(k.json().at("key").as_string());
  auto p = post("/api/v3/agent/provision", R"({"key":")" + key + R"(","type":1})");
  EXPECT_EQ(p.status, 200) << p.body;
  return std::string(p.json().at("token").as_string());
}

boost::json::object api_test::changes(const std::string& agent) {
  auto r = get("/api/v3/agent/config/changes", agent);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json().as_object();
}

void api_test::ack(const std::string& agent) {
  auto c = changes(agent);
  if (!c.contains("lastUpdated")) return;
  ASSERT_EQ(
      patch("/api/v3/agent/config/changes",
            R"({"lastUpdated":")" + std::string(c.at("lastUpdated").as_string()) + "\"}", agent)
          .status,
      204);
}

boost::json::value api_test::router_msvc(const std::string& token, const std::string& fog) {
  auto r = get("/api/v3/microservices?application=system-" + fog, token);
  EXPECT_EQ(r.status, 200) << r.body;
  auto v = r.json();
  for (const auto& m : v.at("microservices").as_array()) {
    if (m.at("catalogItemId") == boost::json::value(1)) return m;
  }
  return nullptr;
}

boost::json::value api_test::router_config(const std::string& token, const std::string& fog) {
  auto m = router_msvc(token, fog);
  if (m.is_null()) return nullptr;
  return boost::json::parse(m.at("config").as_string());
}

void expect_error(const http_result& r, int status, const std::string& name,
                  const std::string& message_substring) {
  EXPECT_EQ(r.status, status) << r.body;
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  ASSERT_FALSE(ec) << "error body is not JSON: " << r.body;
  ASSERT_TRUE(v.is_object()) << r.body;
  ASSERT_TRUE(v.as_object().contains("name")) << r.body;
  ASSERT_TRUE(v.as_object().contains("message")) << r.body;
  EXPECT_EQ(v.at("name").as_string(), name) << r.body;
  if (!message_substring.empty()) {
    EXPECT_NE(std::string(v.at("message").as_string()).find(message_substring), std::string::npos)
        << r.body;
  }
  EXPECT_FALSE(v.as_object().contains("stack")) << r.body;
}

controller_process::controller_process(const std::string& data_dir,
                                       std::vector<std::string> extra) {
  std::string port_file = data_dir + "/port";
  fs::remove(port_file);
  std::vector<std::string> args = {
      FOGMESH_CONTROLLER_BIN, "--data-dir", data_dir,      "--port", "0", "--bind", "127.0.0.1",
      "--port-file",          port_file,    "--log-level", "warning"};
  for (auto& e : extra) args.push_back(std::move(e));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Wait for the port file: startup includes initdb, so allow generous time under ASan.
  for (int i = 0; i < 1200; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("controller exited during startup");
    }
    std::ifstream in(port_file);
    unsigned p = 0;
    if (in >> p && p != 0) {
      port_ = static_cast<uint16_t>(p);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("controller did not start");
}

controller_process::~controller_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

int controller_process::terminate() {
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void controller_process::kill9() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace fogmesh::controller::test
