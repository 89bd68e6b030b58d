#include "router_supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fogmesh/agent/config_store.hpp"
#include "fogmesh/common/log.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;

namespace {

auto logger() {
  static auto l = log::get("agent.router");
  return l;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string search_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    auto colon = p.find(':', start);
    std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && executable(dir + "/" + name)) return dir + "/" + name;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return {};
}

std::string last_line_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  std::streamoff from = size > 4096 ? size - 4096 : 0;
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  auto nl = tail.rfind('\n');
  return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

std::string describe_exit(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : std::string()) +
           (WCOREDUMP(wait_status) ? ", core dumped" : "");
  }
  return "ended (wait status " + std::to_string(wait_status) + ")";
}

// Management entity type names (the config file's "address" is router.config.address).
std::string management_type(const std::string& config_type) {
  return config_type == "address" ? "router.config.address" : config_type;
}

}  // namespace

struct router_supervisor::child {
  pid_t pid = 0;
  std::optional<asio::posix::stream_descriptor> pidfd;
  bool exited = false;
  bool stop_requested = false;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

std::string find_router_binary(const std::string& configured) {
  if (!configured.empty()) {
    if (configured.find('/') != std::string::npos) return configured;
    auto found = search_path(configured);
    return found.empty() ? configured : found;
  }
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto dir = self.parent_path();
    for (const auto& candidate : {dir / "fogmesh-router", dir.parent_path() / "router-core" / "fogmesh-router"}) {
      if (executable(candidate.string())) return candidate.string();
    }
  }
  auto found = search_path("fogmesh-router");
  return found.empty() ? std::string("fogmesh-router") : found;
}

router_supervisor::router_supervisor(asio::io_context& io, router_supervisor_options options)
    : io_(io), options_(std::move(options)), wake_timer_(io), management_(io.get_executor()) {}

router_supervisor::~router_supervisor() { stop_blocking(); }

void router_supervisor::start() {
  if (started_) return;
  started_ = true;
  asio::co_spawn(io_, loop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      logger()->critical("router supervision ended: {}", ex.what());
    }
  });
}

pid_t router_supervisor::pid() const { return child_ && !child_->exited ? child_->pid : 0; }

std::string router_supervisor::config_path() const { return options_.data_dir + "/router.json"; }
std::string router_supervisor::log_path() const { return options_.data_dir + "/router.log"; }

void router_supervisor::set_desired(const std::string& microservice_uuid, std::optional<router_spec> spec) {
  bool was = desired_.has_value();
  if (microservice_uuid != status_.microservice_uuid) {
    status_ = router_process_status{};
    status_.microservice_uuid = microservice_uuid;
    status_.pid = pid();
    backoff_ = std::chrono::milliseconds(0);
    next_attempt_ = {};
  }
  if (spec && !was) {
    logger()->info("router microservice {}: running fogmesh-router ({} router '{}')", microservice_uuid,
                   spec->mode, spec->id);
    // A router that failed before (bad config, missing binary) gets a fresh start now.
    next_attempt_ = {};
    if (!status_.error_message.empty() && !child_) status_.error_message.clear();
  } else if (!spec && was) {
    logger()->info("router microservice gone: stopping fogmesh-router");
  }
  desired_ = std::move(spec);
  wake();
}

void router_supervisor::set_invalid(const std::string& microservice_uuid, const std::string& error) {
  set_desired(microservice_uuid, std::nullopt);
  set_status("FAILED", error);
}

void router_supervisor::wake() {
  wake_pending_ = true;
  wake_timer_.cancel();
}

asio::awaitable<void> router_supervisor::sleep(std::chrono::milliseconds d) {
  if (wake_pending_) {
    wake_pending_ = false;
    co_return;
  }
  wake_timer_.expires_after(d);
  boost::system::error_code ec;
  co_await wake_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  wake_pending_ = false;
}

void router_supervisor::set_status(const std::string& status, const std::string& error) {
  status_.pid = pid();
  if (status_.status == status && status_.error_message == error) return;
  status_.status = status;
  status_.error_message = error;
  if (options_.on_change) options_.on_change();
}

asio::awaitable<void> router_supervisor::loop() {
  while (!stopping_) {
    if (!desired_) {
      if (child_) co_await terminate();
      applied_.reset();
      if (!status_.microservice_uuid.empty() && status_.status != "FAILED") set_status("STOPPED", "");
      co_await sleep(std::chrono::hours(24));
      continue;
    }
    if (!child_) {
      auto now = std::chrono::steady_clock::now();
      if (now < next_attempt_) {
        co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now));
        continue;
      }
      spawn(*desired_);
      continue;
    }
    if (!ready_) {
      auto ep = applied_ ? applied_->management_endpoint() : router_spec::endpoint{};
      if (ep.host.empty()) {
        // No plain listener to probe: the process being alive is all we can tell.
        ready_ = true;
        set_status("RUNNING", "");
        continue;
      }
      if (co_await probe(ep)) {
        if (!child_ || child_->exited) continue;
        ready_ = true;
        logger()->info("fogmesh-router (pid {}) is up: accepting connections on {}:{}", child_->pid, ep.host, ep.port);
        set_status("RUNNING", "");
      } else {
        co_await sleep(std::chrono::milliseconds(200));
      }
      continue;
    }
    if (applied_ && *applied_ == *desired_) {
      co_await sleep(std::chrono::hours(24));
      continue;
    }
    co_await apply_change(*desired_);
  }
}

asio::awaitable<void> router_supervisor::apply_change(router_spec target) {
  try {
    write_config(target);  // a restart, planned or not, starts from the new config
  } catch (const std::exception& e) {
    logger()->error("writing {}: {}", config_path(), e.what());
  }
  auto ep = applied_ ? applied_->management_endpoint() : router_spec::endpoint{};
  std::string why;
  if (!applied_ || applied_->needs_restart_for(target)) {
    why = "its mode, id or an entity management cannot change";
  } else if (ep.host.empty()) {
    why = "it has no plain listener for management";
  }
  if (why.empty()) {
    auto d = diff(*applied_, target);
    std::vector<management_op> ops;
    std::string summary;
    for (const auto& e : d.remove) {
      ops.push_back({"DELETE", management_type(e.type), e.name, {}});
      summary += " -" + e.type + " '" + e.name + "'";
    }
    for (const auto& e : d.create) {
      ops.push_back({"CREATE", management_type(e.type), e.name, e.attributes});
      summary += " +" + e.type + " '" + e.name + "'";
    }
    std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    auto outcome = co_await management_.run("amqp://" + host + ":" + std::to_string(ep.port), ops,
                                            options_.management_timeout);
    if (!child_ || child_->exited) co_return;  // it died meanwhile: the restart reads the file
    // A DELETE that finds nothing (404) already has what we want.
    bool ok = outcome.error.empty();
    for (size_t i = 0; i < outcome.results.size() && ok; ++i) {
      int s = outcome.results[i].status;
      if ((s < 200 || s >= 300) && !(ops[i].operation == "DELETE" && s == 404)) {
        why = "management " + ops[i].operation + " " + ops[i].type + " '" + ops[i].name + "' answered " +
              std::to_string(s) + " " + outcome.results[i].description;
        ok = false;
      }
    }
    if (ok && outcome.results.size() == ops.size()) {
      logger()->info("router config changed; applied through management without a restart:{}", summary);
      applied_ = std::move(target);
      co_return;
    }
    if (why.empty()) why = outcome.error;
  }
  logger()->warn("restarting fogmesh-router (pid {}) for a config change: {}", child_->pid, why);
  co_await terminate();
  next_attempt_ = {};  // start again at once with the new file
}

void router_supervisor::write_config(const router_spec& spec) {
  std::filesystem::create_directories(options_.data_dir);
  // 0600: connector entities may carry SASL passwords.
  write_file_atomic(config_path(), spec.render(), 0600);
}

void router_supervisor::spawn(const router_spec& spec) {
  ready_ = false;
  auto fail = [this](const std::string& why) {
    backoff_ = std::min(std::max(backoff_ * 2, options_.restart_backoff), options_.restart_backoff_max);
    next_attempt_ = std::chrono::steady_clock::now() + backoff_;
    logger()->error("cannot start fogmesh-router: {} (next try in {} ms)", why, backoff_.count());
    set_status("FAILED", why);
  };
  try {
    write_config(spec);
  } catch (const std::exception& e) {
    return fail("writing " + config_path() + ": " + e.what());
  }
  const std::string& binary = options_.binary;
  if (!executable(binary)) {
    return fail("router binary '" + binary +
                "' not found or not executable (set --router-binary or routerBinary in agent.json)");
  }
  // One old log is kept: router.log.1.
  std::error_code ec;
  if (std::filesystem::file_size(log_path(), ec) > 1024 * 1024 && !ec) {
    std::filesystem::rename(log_path(), log_path() + ".1", ec);
  }
  int log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return fail("opening " + log_path() + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  std::string config = config_path();
  std::vector<std::string> args = {binary, "-c", config};
  if (!options_.log_level.empty()) {
    args.push_back("--log-level");
    args.push_back(options_.log_level);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(126);  // the agent died between fork and prctl
    ::setpgid(0, 0);                          // a terminal's Ctrl-C goes to the agent, which stops us
    ::dup2(null_fd >= 0 ? null_fd : log_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);  // no inherited agent sockets
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(argv[0], argv.data());
    const char msg[] = "fogmesh-agent: exec of the router binary failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(fork_errno));

  auto c = std::make_shared<child>();
  c->pid = pid;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    c->pidfd.emplace(io_, pidfd);
  }
  child_ = c;
  applied_ = spec;
  status_.start_time = now_ms();
  logger()->info("started fogmesh-router (pid {}): {} -c {} (log {})", pid, binary, config, log_path());
  set_status("STARTING", status_.error_message);
  asio::co_spawn(io_, watch(c), asio::detached);
}

asio::awaitable<void> router_supervisor::watch(std::shared_ptr<child> c) {
  int wait_status = 0;
  if (c->pidfd) {
    boost::system::error_code ec;
    co_await c->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (c->exited) co_return;  // reaped by stop_blocking
    if (ec == asio::error::operation_aborted) co_return;
    // Readable pidfd: the process has exited, waitpid does not block.
    if (::waitpid(c->pid, &wait_status, 0) != c->pid) co_return;
  } else {
    // No pidfd (kernel < 5.3): poll.
    asio::steady_timer t(io_);
    while (true) {
      t.expires_after(std::chrono::milliseconds(250));
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (c->exited) co_return;
      pid_t r = ::waitpid(c->pid, &wait_status, WNOHANG);
      if (r == c->pid) break;
      if (r < 0) co_return;
    }
  }
  child_exited(c, wait_status);
}

void router_supervisor::child_exited(const std::shared_ptr<child>& c, int wait_status) {
  c->exited = true;
  if (c->pidfd) {
    boost::system::error_code ec;
    c->pidfd->close(ec);
  }
  if (child_ == c) {
    child_.reset();
    ready_ = false;
  }
  auto ran = std::chrono::steady_clock::now() - c->started;
  std::string how = describe_exit(wait_status);
  if (c->stop_requested) {
    logger()->info("fogmesh-router (pid {}) stopped: {}", c->pid, how);
    wake();
    return;
  }
  if (ran >= std::chrono::minutes(1)) backoff_ = std::chrono::milliseconds(0);
  backoff_ = std::min(std::max(backoff_ * 2, options_.restart_backoff), options_.restart_backoff_max);
  next_attempt_ = std::chrono::steady_clock::now() + backoff_;
  ++status_.restarts;
  std::string last = last_line_of(log_path());
  std::string why = "fogmesh-router (pid " + std::to_string(c->pid) + ") " + how +
                    (last.empty() ? std::string() : "; last log line: " + last);
  if (!stopping_ && desired_) {
    logger()->warn("{}; restarting in {} ms (restart #{})", why, backoff_.count(), status_.restarts);
    set_status("RESTARTING", why);
  } else {
    logger()->warn("{}", why);
  }
  wake();
}

asio::awaitable<bool> router_supervisor::probe(const router_spec::endpoint& ep) {
  using namespace asio::experimental::awaitable_operators;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(ep.host, ec);
  if (ec) address = asio::ip::make_address("127.0.0.1");
  asio::ip::tcp::socket socket(io_);
  asio::steady_timer timeout(io_);
  timeout.expires_after(std::chrono::seconds(2));
  boost::system::error_code connect_ec;
  auto result = co_await (
      socket.async_connect(asio::ip::tcp::endpoint(address, static_cast<unsigned short>(ep.port)),
                           asio::redirect_error(asio::use_awaitable, connect_ec)) ||
      timeout.async_wait(asio::use_awaitable));
  co_return result.index() == 0 && !connect_ec;
}

asio::awaitable<void> router_supervisor::terminate() {
  auto c = child_;
  if (!c || c->exited) co_return;
  c->stop_requested = true;
  set_status("STOPPING", "");
  ::kill(c->pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + options_.stop_timeout;
  while (!c->exited && std::chrono::steady_clock::now() < deadline) {
    co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
  }
  if (!c->exited) {
    logger()->warn("fogmesh-router (pid {}) did not stop within {} ms of SIGTERM: SIGKILL", c->pid,
                   options_.stop_timeout.count());
    ::kill(c->pid, SIGKILL);
    while (!c->exited) co_await sleep(std::chrono::milliseconds(100));
  }
  set_status("STOPPED", "");
}

void router_supervisor::stop_blocking() {
  stopping_ = true;
  auto c = child_;
  if (!c || c->exited) return;
  c->stop_requested = true;
  ::kill(c->pid, SIGTERM);
  int wait_status = 0;
  auto deadline = std::chrono::steady_clock::now() + options_.stop_timeout;
  pid_t r = 0;
  while ((r = ::waitpid(c->pid, &wait_status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (r == 0) {
    logger()->warn("fogmesh-router (pid {}) did not stop within {} ms of SIGTERM: SIGKILL", c->pid,
                   options_.stop_timeout.count());
    ::kill(c->pid, SIGKILL);
    ::waitpid(c->pid, &wait_status, 0);
  }
  logger()->info("fogmesh-router (pid {}) stopped: {}", c->pid, describe_exit(wait_status));
  c->exited = true;
  if (c->pidfd) {
    boost::system::error_code ec;
    c->pidfd->close(ec);
  }
  child_.reset();
  ready_ = false;
  wake();
}

}  // namespace fogmesh::agent
