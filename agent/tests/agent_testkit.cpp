#include "agent_testkit.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "fogmesh/common/free_port.hpp"

namespace fogmesh::agent::test {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace asio = boost::asio;
namespace beast = boost::beast;

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork/exec with stdout/stderr redirected to files; returns the pid.
int spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
          const std::string& out_path, const std::string& err_path) {
  int pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    // Dies with the test (a crashed test must not leave agents or podman services behind).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) ::dup2(out, 1);
    if (err >= 0) ::dup2(err, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

// --- forwarder ---

struct tcp_forwarder::impl {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
  std::vector<std::weak_ptr<asio::ip::tcp::socket>> sockets;
  std::atomic<uint16_t> target{0};
  std::atomic<uint64_t> accepted{0};
  bool down = false;

  static void reset(asio::ip::tcp::socket& sock) {
    boost::system::error_code ignored;
    sock.set_option(asio::socket_base::linger(true, 0), ignored);
    sock.close(ignored);
  }

  void accept() {
    acceptor->async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket s) {
      if (ec) return;
      if (down) {
        reset(s);
        accept();
        return;
      }
      ++accepted;
      auto client = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      auto server = std::make_shared<asio::ip::tcp::socket>(io);
      sockets.push_back(client);
      sockets.push_back(server);
      asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), target.load());
      server->async_connect(ep, [this, client, server](boost::system::error_code cec) {
        if (cec) {
          boost::system::error_code ignored;
          client->close(ignored);
          return;
        }
        pump(client, server);
        pump(server, client);
      });
      accept();
    });
  }

  void pump(std::shared_ptr<asio::ip::tcp::socket> from,
            std::shared_ptr<asio::ip::tcp::socket> to) {
    auto buf = std::make_shared<std::array<char, 16384>>();
    from->async_read_some(
        asio::buffer(*buf), [this, from, to, buf](boost::system::error_code ec, size_t n) {
          if (ec) {
            boost::system::error_code ignored;
            to->shutdown(asio::socket_base::shutdown_send, ignored);
            return;
          }
          asio::async_write(*to, asio::buffer(buf->data(), n),
                            [this, from, to, buf](boost::system::error_code wec, size_t) {
                              if (wec) {
                                boost::system::error_code ignored;
                                from->close(ignored);
                                return;
                              }
                              pump(from, to);
                            });
        });
  }
};

tcp_forwarder::tcp_forwarder() : impl_(std::make_unique<impl>()) {
  impl_->work.emplace(impl_->io.get_executor());
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

tcp_forwarder::~tcp_forwarder() {
  stop();
  asio::post(impl_->io, [this] {
    boost::system::error_code ignored;
    if (impl_->acceptor) impl_->acceptor->close(ignored);
  });
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

uint64_t tcp_forwarder::connections() const {
  return impl_->accepted.load();
}

void tcp_forwarder::set_target(uint16_t target_port) {
  impl_->target = target_port;
}

void tcp_forwarder::start() {
  std::promise<void> done;
  asio::post(impl_->io, [&] {
    impl_->down = false;
    if (!impl_->acceptor) {
      auto a = std::make_unique<asio::ip::tcp::acceptor>(impl_->io);
      asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
      a->open(ep.protocol());
      a->bind(ep);
      a->listen();
      port_ = a->local_endpoint().port();
      impl_->acceptor = std::move(a);
      impl_->accept();
    }
    done.set_value();
  });
  done.get_future().get();
}

void tcp_forwarder::stop() {
  std::promise<void> done;
  asio::post(impl_->io, [&] {
    // Keep the port (rebinding it races with the kernel's connection states) but reset every
    // connection, open or new, as a dead host's address would.
    impl_->down = true;
    for (auto& w : impl_->sockets) {
      if (auto sock = w.lock()) impl::reset(*sock);
    }
    impl_->sockets.clear();
    done.set_value();
  });
  done.get_future().get();
}

// --- controller ---

controller_env::controller_env(bool tls, int max_long_poll_sec)
    : tls_(tls), max_long_poll_sec_(max_long_poll_sec) {
  if (tls_) {
    cert_dir_ = std::make_unique<temp_dir>();
    ca_file_ = cert_dir_->path() + "/cert.pem";
    key_file_ = cert_dir_->path() + "/key.pem";
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        key_file_ + " -out " + ca_file_ + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
  }
  db_ = std::make_unique<controller::test::pg_cluster>();
  restart();
  std::string email = "agent-test-" + std::to_string(::getpid()) + "@example.com";
  auto s = post("/api/v3/user/signup", R"({"firstName":"Agent","lastName":"Tester","email":")" +
                                           email + R"(","password":"password123"})");
  EXPECT_EQ(s.status, 201) << s.body;
  auto l = post("/api/v3/user/login", R"({"email":")" + email + R"(","password":"password123"})");
  EXPECT_EQ(l.status, 200) << l.body;
  token_ = std::string(l.json().at("accessToken").as_string());
}

controller_env::~controller_env() {
  forwarder_.stop();
  server_.reset();
  db_.reset();
}

void controller_env::stop() {
  forwarder_.stop();
  server_.reset();
}

void controller_env::restart() {
  controller::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.db_conninfo = db_->conninfo();
  o.db_connections = 4;
  o.io_threads = 1;
  o.max_long_poll_sec = max_long_poll_sec_;
  if (tls_) {
    o.tls_cert_file = ca_file_;
    o.tls_key_file = key_file_;
  }
  server_ = std::make_unique<controller::server>(o);
  server_->start();
  port_ = server_->port();
  forwarder_.set_target(port_);
  forwarder_.start();
}

http_result controller_env::request(const std::string& method, const std::string& path,
                                    const std::string& body) {
  if (!tls_) return http(port_, method, path, body, token_);
  // Over TLS with curl (the controller testkit's TLS helper only does GET).
  temp_dir d;
  std::ofstream(d.path() + "/body") << body;
  std::string cmd = "curl -sk -i -X " + method + " -H 'Content-Type: application/json' " +
                    (token_.empty() ? "" : "-H 'Authorization: " + token_ + "' ") +
                    (body.empty() ? "" : "--data-binary @" + d.path() + "/body ") +
                    "https://127.0.0.1:" + std::to_string(port_) + path + " > " + d.path() + "/out";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("curl failed: " + cmd);
  return controller::test::parse_response(slurp(d.path() + "/out"));
}

std::string controller_env::create_fog(const std::string& name, const std::string& extra) {
  auto r = post("/api/v3/iofog", R"({"name":")" + name + R"(","fogType":1,"host":"127.0.0.1")" +
                                     (extra.empty() ? "" : "," + extra) + "}");
  EXPECT_EQ(r.status, 201) << r.body;
  return r.status == 201 ? std::string(r.json().at("uuid").as_string()) : "";
}

std::string controller_env::provisioning_key(const std::string& fog_uuid) {
  auto k = get("/api/v3/iofog/" + fog_uuid + "/provisioning-key");
  EXPECT_EQ(k.status, 201) << k.body;
  return k.status == 201 ? std::string(k.json().at("key").as_string()) : "";
}

std::string controller_env::microservice_uuid(const std::string& app, const std::string& name) {
  auto r = get("/api/v3/microservices?application=" + app);
  if (r.status != 200) return "";
  auto v = r.json();  // keep the value alive while iterating
  for (const auto& m : v.at("microservices").as_array()) {
    if (m.at("name").as_string() == name) return std::string(m.at("uuid").as_string());
  }
  return "";
}

std::string controller_env::microservice_status(const std::string& uuid) {
  auto r = get("/api/v3/microservices/" + uuid);
  if (r.status != 200) return "";
  auto v = r.json();
  const auto* st = v.as_object().if_contains("status");
  if (!st || !st->is_object()) return "";
  const auto* s = st->as_object().if_contains("status");
  return s && s->is_string() ? std::string(s->as_string()) : "";
}

// --- agent binary ---

// This build's fogmesh-agent, or FOGMESH_TEST_AGENT_BIN (the benchmarks compare builds with it).
static std::string agent_binary() {
  const char* bin = std::getenv("FOGMESH_TEST_AGENT_BIN");
  return bin != nullptr && *bin != '\0' ? bin : FOGMESH_AGENT_BIN;
}

int free_port() {
  return free_loopback_port();
}

command_result run_agent_cli(const std::vector<std::string>& args,
                             const std::vector<std::string>& env) {
  temp_dir out_dir;
  std::vector<std::string> argv = {agent_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  int pid = spawn(argv, env, out_dir.path() + "/out", out_dir.path() + "/err");
  int status = 0;
  ::waitpid(pid, &status, 0);
  command_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out_dir.path() + "/out");
  r.err = slurp(out_dir.path() + "/err");
  return r;
}

void write_test_settings(const std::string& config_dir, const std::string& extra_json) {
  fs::create_directories(config_dir);
  std::string body =
      R"({"localApiPort":0,"localApiBind":["127.0.0.1"],"localApiBindBridge":false,)"
      R"("longPollSeconds":5,"reconcileIntervalMs":300,"restartBackoffMs":100,"restartBackoffMaxMs":400,)"
      R"("retryBackoffMaxMs":1000,"logLevel":"debug")" +
      (extra_json.empty() ? "" : "," + extra_json) + "}";
  std::ofstream(config_dir + "/agent.json") << body;
}

agent_process::agent_process(std::string config_dir, std::vector<std::string> env)
    : config_dir_(std::move(config_dir)) {
  fs::remove(config_dir_ + "/local-api-port");
  pid_ = spawn({agent_binary(), "--config-dir", config_dir_, "run"}, env,
               config_dir_ + "/agent.out", config_dir_ + "/agent.log");
}

agent_process::~agent_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- agent log (" << config_dir_ << ") ----\n" << log() << "---- end ----\n";
  }
}

int agent_process::local_api_port() {
  int port = 0;
  bool ok = eventually([&] {
    std::ifstream in(config_dir_ + "/local-api-port");
    return static_cast<bool>(in >> port) && port > 0;
  });
  if (!ok) ADD_FAILURE() << "agent did not publish its local API port\n" << log();
  return port;
}

int agent_process::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void agent_process::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool agent_process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string agent_process::log() const {
  return slurp(config_dir_ + "/agent.log");
}

std::string agent_process::microservice_token(const std::string& uuid) const {
  boost::system::error_code ec;
  auto v = json::parse(slurp(config_dir_ + "/state.json"), ec);
  if (ec || !v.is_object()) return "";
  const auto* tokens = v.as_object().if_contains("tokens");
  if (!tokens || !tokens->is_object()) return "";
  const auto* t = tokens->as_object().if_contains(uuid);
  return t && t->is_string() ? std::string(t->as_string()) : "";
}

http_result local_post(int port, const std::string& path, const std::string& body,
                       const std::string& token) {
  return http(static_cast<uint16_t>(port), "POST", path, body, token);
}

// --- WebSocket client ---

struct ws_client::impl {
  asio::io_context io;
  beast::websocket::stream<beast::tcp_stream> ws{io};
};

ws_client::ws_client(int port, const std::string& path, const std::string& token)
    : impl_(std::make_unique<impl>()) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
  beast::get_lowest_layer(impl_->ws).connect(ep);
  impl_->ws.set_option(
      beast::websocket::stream_base::decorator([token](beast::websocket::request_type& req) {
        if (!token.empty()) req.set(beast::http::field::authorization, token);
      }));
  impl_->ws.handshake("127.0.0.1", path);
  impl_->ws.binary(true);
}

ws_client::~ws_client() {
  boost::system::error_code ec;
  beast::get_lowest_layer(impl_->ws).socket().close(ec);
}

void ws_client::send_binary(const std::string& payload) {
  impl_->ws.binary(true);
  impl_->ws.write(asio::buffer(payload));
}

std::optional<std::string> ws_client::receive(std::chrono::milliseconds deadline) {
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code result;
  impl_->ws.async_read(buffer, [&](boost::system::error_code ec, size_t) {
    done = true;
    result = ec;
  });
  impl_->io.restart();
  impl_->io.run_for(deadline);
  if (!done) {
    beast::get_lowest_layer(impl_->ws).socket().cancel();
    impl_->io.restart();
    impl_->io.run();
    return std::nullopt;
  }
  if (result) return std::nullopt;
  last_text_ = impl_->ws.got_text();
  return beast::buffers_to_string(buffer.data());
}

// --- podman ---

std::string podman_service::skip_reason() {
  if (::geteuid() != 0) return "podman tests need root (rootful podman)";
  if (::access("/usr/bin/podman", X_OK) != 0) return "podman is not installed";
  if (::access("/bin/busybox", X_OK) != 0) return "busybox-static is not installed";
  if (::access("/usr/sbin/runc", X_OK) != 0 && ::access("/usr/bin/runc", X_OK) != 0) {
    return "runc is not installed";
  }
  return "";
}

std::string podman_service::podman_command() const {
  return "CONTAINERS_CONF=" + dir_.path() +
         "/containers.conf CONTAINERS_REGISTRIES_CONF=" + dir_.path() +
         "/registries.conf podman --root " + dir_.path() + "/root --runroot " + dir_.path() +
         "/run";
}

std::string podman_service::podman(const std::vector<std::string>& args, int* exit_code) const {
  std::string cmd = podman_command();
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  if (exit_code) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

podman_service::podman_service(const std::vector<std::string>& plain_http_registries) {
  // environment.md: runc (crun fails on this cgroup layout), cgroupfs, rlimits root can set.
  std::ofstream(dir_.path() + "/containers.conf")
      << "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"
         "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n";
  // Our own registries.conf: no search registries (short names never go to the internet), and
  // the test registries reachable over plain HTTP.
  {
    std::ofstream conf(dir_.path() + "/registries.conf");
    conf << "unqualified-search-registries = []\n";
    for (const auto& r : plain_http_registries)
      conf << "[[registry]]\nlocation = \"" << r << "\"\ninsecure = true\n";
  }
  socket_ = dir_.path() + "/podman.sock";
  pid_ = spawn({"podman", "--root", dir_.path() + "/root", "--runroot", dir_.path() + "/run",
                "system", "service", "--time=0", "unix://" + socket_},
               {"CONTAINERS_CONF=" + dir_.path() + "/containers.conf",
                "CONTAINERS_REGISTRIES_CONF=" + dir_.path() + "/registries.conf"},
               dir_.path() + "/service.out", dir_.path() + "/service.log");
  if (!eventually([&] { return fs::exists(socket_); }, std::chrono::seconds(30))) {
    throw std::runtime_error("podman service did not start: " +
                             slurp(dir_.path() + "/service.log"));
  }
  // An offline image: busybox-static as the whole root filesystem.
  std::string rootfs = dir_.path() + "/rootfs";
  for (const char* d : {"bin", "etc", "proc", "sys", "dev", "tmp", "www"})
    fs::create_directories(rootfs + "/" + d);
  fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
  for (const char* applet :
       {"sh", "httpd", "sleep", "cat", "echo", "wget", "ls", "env", "true", "false"}) {
    fs::create_symlink("busybox", rootfs + "/bin/" + applet);
  }
  std::ofstream(rootfs + "/etc/passwd") << "root:x:0:0:root:/:/bin/sh\n";
  std::ofstream(rootfs + "/etc/group") << "root:x:0:\n";
  std::ofstream(rootfs + "/www/index.html") << "<h1>hello from fogmesh</h1>\n";
  int rc = 0;
  std::string cmd = "tar -C " + rootfs + " -c . | " + podman_command() +
                    " import --change 'CMD [\"/bin/sh\"]' - localhost/busybox:latest 2>&1";
  rc = std::system(cmd.c_str());
  if (rc != 0) throw std::runtime_error("podman import failed");
}

void podman_service::import_image(const std::string& name) const {
  std::string cmd = "tar -C " + dir_.path() + "/rootfs -c . | " + podman_command() +
                    " import --change 'CMD [\"/bin/true\"]' --change 'LABEL name=" + name + "' - " +
                    name + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("podman import of " + name + " failed");
}

podman_service::~podman_service() {
  podman({"rm", "-a", "-f", "-t", "0"});
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  // Storage may still hold overlay mounts; unmount before the directory goes.
  std::string cmd = "grep -o ' " + dir_.path() +
                    "[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null";
  [[maybe_unused]] int rc = std::system(cmd.c_str());
}

// --- private registry ---

std::string private_registry::skip_reason() {
  if (::access("/usr/bin/docker-registry", X_OK) != 0) return "docker-registry is not installed";
  if (::access("/usr/bin/htpasswd", X_OK) != 0) return "htpasswd (apache2-utils) is not installed";
  return "";
}

private_registry::private_registry(int port, const std::string& user, const std::string& password)
    : port_(port) {
  // bcrypt is the only hash docker-registry's htpasswd backend accepts.
  std::string cmd =
      "htpasswd -Bbn '" + user + "' '" + password + "' > " + dir_.path() + "/htpasswd 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("htpasswd failed");
  std::ofstream(dir_.path() + "/config.yml")
      << "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: "
      << dir_.path() << "/data\nhttp:\n  addr: " << address() << "\nauth:\n  htpasswd:\n"
      << "    realm: fogmesh-test\n    path: " << dir_.path() << "/htpasswd\n";
  pid_ = spawn({"docker-registry", "serve", dir_.path() + "/config.yml"}, {},
               dir_.path() + "/registry.out", dir_.path() + "/registry.log");
  // Up when /v2/ answers (401 without credentials).
  bool up = eventually(
      [&] {
        return std::system(("curl -s -o /dev/null http://" + address() + "/v2/").c_str()) == 0;
      },
      std::chrono::seconds(30));
  if (!up) throw std::runtime_error("docker-registry did not start: " + log());
}

private_registry::~private_registry() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string private_registry::log() const {
  return slurp(dir_.path() + "/registry.log") + slurp(dir_.path() + "/registry.out");
}

}  // namespace fogmesh::agent::test
