#include "testkit.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fogmesh::controller::test {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view temp_prefix = "fmctl-";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The start time of a process (clock ticks since boot, /proc/PID/stat field 22): with the pid it
// names one process, not whichever later reuses the pid. Empty when the process is gone.
std::string start_time(int pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return "";
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 22) return field;
  }
  return "";
}

std::string pid_namespace() {
  std::error_code ec;
  return fs::read_symlink("/proc/self/ns/pid", ec).string();
}

// "pid start-time pid-namespace" of this process, as written into `owner`.
std::string owner_line() {
  return std::to_string(::getpid()) + " " + start_time(::getpid()) + " " + pid_namespace();
}

// The watchdog: waits until the owner's end of its stdin pipe closes (the owner exited, however),
// then, if the directory still names that owner, stops the cluster running in it (SIGQUIT:
// immediate shutdown, the data is throwaway) and removes the directory. The postmaster is found
// by its pid file and confirmed by its working directory, which is the data directory.
constexpr const char* watchdog_script = R"sh(
trap '' INT HUP
read _
[ "$(cat "$1/owner" 2>/dev/null)" = "$2" ] || exit 0
pid=$(head -n 1 "$1/pgdata/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && [ "$(readlink /proc/$pid/cwd)" = "$1/pgdata" ]; then
  kill -QUIT "$pid"
  i=0
  while [ "$(readlink /proc/$pid/cwd)" = "$1/pgdata" ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
  done
fi
rm -rf "$1"
)sh";

// The same for reap_orphaned_dirs(), from this process.
void stop_orphan(const fs::path& dir) {
  fs::path data = dir / "pgdata";
  std::istringstream pid_file(read_file((data / "postmaster.pid").string()));
  int pid = 0;
  auto runs_in_data = [&] {
    std::error_code ec;
    return fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec) == data;
  };
  if (pid_file >> pid && pid > 0 && runs_in_data()) {
    ::kill(pid, SIGQUIT);
    for (int i = 0; i < 200 && runs_in_data(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

int reap_orphaned_dirs() {
  const std::string ns = pid_namespace();
  int reaped = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
    if (!entry.path().filename().string().starts_with(temp_prefix)) continue;
    std::istringstream owner(read_file((entry.path() / "owner").string()));
    int pid = 0;
    std::string started, owner_ns;
    if (!(owner >> pid >> started >> owner_ns)) continue;  // not ours, or still being set up
    if (owner_ns != ns) continue;                          // its pids mean nothing here
    if (start_time(pid) == started) continue;              // the owner is alive
    stop_orphan(entry.path());
    ++reaped;
  }
  return reaped;
}

temp_dir::temp_dir() {
  std::string tmpl = "/tmp/" + std::string(temp_prefix) + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  // Written whole (rename) so that a reaper never reads half an owner line.
  std::string line = owner_line();
  {
    std::ofstream out(path_ + "/owner.tmp");
    out << line;
  }
  fs::rename(path_ + "/owner.tmp", path_ + "/owner");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<std::string> argv = {"/bin/sh", "-c", watchdog_script, "fmctl-watchdog", path_, line};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  watchdog_pid_ = ::fork();
  if (watchdog_pid_ == 0) {
    ::dup2(fds[0], 0);  // dup2 clears FD_CLOEXEC on the copy
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[0]);
  watchdog_fd_ = fds[1];
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
  // The watchdog wakes, finds no owner file and exits.
  ::close(watchdog_fd_);
  if (watchdog_pid_ > 0) ::waitpid(watchdog_pid_, nullptr, 0);
}

int spawn(const std::vector<std::string>& argv, const std::string& log_file) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log_fd = -1;
  if (!log_file.empty()) {
    log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) throw std::runtime_error("cannot create " + log_file);
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

std::pair<std::string, std::string> self_signed_cert(const std::string& dir) {
  std::string cert = dir + "/cert.pem";
  std::string key = dir + "/key.pem";
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + key +
      " -out " + cert + " > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
  return {cert, key};
}

pg_cluster::pg_cluster() {
  reap_orphaned_dirs();
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

uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
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

namespace {

// Waits for a spawned server to write its port into `port_file`. Throws when it exits first or
// `limit` passes (then it is killed); `pid` becomes -1 either way. `log` (if any) goes into the
// message.
uint16_t await_port_file(int& pid, const std::string& port_file, std::chrono::seconds limit,
                         const std::string& name, const std::string& log = "") {
  auto detail = [&] { return log.empty() ? std::string() : ": " + read_file(log); };
  for (auto until = std::chrono::steady_clock::now() + limit;
       std::chrono::steady_clock::now() < until;) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      throw std::runtime_error(name + " exited during startup" + detail());
    }
    std::ifstream in(port_file);
    unsigned p = 0;
    if (in >> p && p != 0) return static_cast<uint16_t>(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
  throw std::runtime_error(name + " did not start" + detail());
}

}  // namespace

// The FTP server: arguments user, password, home directory, port file, "1"/"0" for EPSV. It
// binds port 0 and publishes the port by renaming a complete file.
constexpr const char* ftp_server_script = R"py(
import logging, os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

user, password, home, port_file, epsv = sys.argv[1:6]
logging.basicConfig(level=logging.WARNING)
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, home, perm="elradfmw")

class Handler(FTPHandler):
    pass

Handler.authorizer = authorizer
if epsv == "0":
    Handler.proto_cmds = {k: v for k, v in FTPHandler.proto_cmds.items() if k != "EPSV"}
server = FTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
)py";

ftp_server::ftp_server(const std::string& user, const std::string& password, bool epsv) {
  fs::create_directory(root());
  std::string port_file = dir_.path() + "/port";
  std::string log = dir_.path() + "/ftp.log";
  // Debian's interpreter: python3-pyftpdlib installs into its dist-packages, which another
  // python3 first on PATH (pyenv, a venv) does not see.
  pid_ = spawn({"/usr/bin/python3", "-c", ftp_server_script, user, password, root(), port_file,
                epsv ? "1" : "0"},
               log);
  port_ = await_port_file(pid_, port_file, std::chrono::seconds(30),
                          "the FTP server (python3-pyftpdlib, scripts/install-deps.sh)", log);
}

ftp_server::~ftp_server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

controller_process::controller_process(const std::string& data_dir,
                                       std::vector<std::string> extra) {
  std::string port_file = data_dir + "/port";
  fs::remove(port_file);
  std::vector<std::string> args = {
      FOGMESH_CONTROLLER_BIN, "--data-dir", data_dir,      "--port", "0", "--bind", "127.0.0.1",
      "--port-file",          port_file,    "--log-level", "warning"};
  for (auto& e : extra) args.push_back(std::move(e));
  reap_orphaned_dirs();
  pid_ = spawn(args);
  // Startup includes initdb, so allow generous time under ASan.
  port_ = await_port_file(pid_, port_file, std::chrono::seconds(120), "the controller");
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
