#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "state.hpp"

namespace fogmesh::ctl {

namespace fs = std::filesystem;

namespace {

std::string self_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

bool executable(const std::string& p) {
  return !p.empty() && ::access(p.c_str(), X_OK) == 0;
}

[[noreturn]] void exec_child(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "fogctl: cannot run %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

void close_other_fds() {
  for (int fd = 3; fd < 1024; ++fd) ::close(fd);
}

}  // namespace

std::optional<std::string> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string candidate = p.substr(start, end - start) + "/" + name;
    if (end > start && executable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

std::string find_binary(const std::string& name, const char* env_var, const char* build_dir) {
  if (const char* e = std::getenv(env_var); e != nullptr && *e != '\0') {
    if (!executable(e))
      throw std::runtime_error(std::string(env_var) + "=" + e + " is not executable");
    return e;
  }
  std::string dir = self_dir();
  std::vector<std::string> tried;
  for (const auto& candidate : {dir + "/" + name, dir + "/../" + build_dir + "/" + name}) {
    tried.push_back(candidate);
    if (executable(candidate)) return fs::weakly_canonical(candidate).string();
  }
  if (auto on_path = find_on_path(name)) return *on_path;
  throw std::runtime_error("cannot find " + name + " (looked at $" + env_var + ", " + tried[0] +
                           ", " + tried[1] + " and PATH)");
}

int spawn_background(const std::vector<std::string>& argv, const std::string& log_file,
                     const std::string& pid_file) {
  fs::create_directories(fs::path(log_file).parent_path());
  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_file + ": " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();  // survives fogctl and its terminal; not killed by the shell's Ctrl-C
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    close_other_fds();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    exec_child(argv);
  }
  ::close(log_fd);
  write_file(pid_file, std::to_string(pid) + "\n", 0644);
  return pid;
}

std::optional<int> running_pid(const std::string& pid_file, const std::string& binary_name) {
  std::string text = read_file(pid_file);
  if (text.empty()) return std::nullopt;
  int pid = std::atoi(text.c_str());
  if (pid <= 1 || ::kill(pid, 0) != 0) return std::nullopt;
  // A recycled pid must not make us signal a stranger: check what it runs.
  std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
  if (fs::path(argv0).filename().string() != binary_name) return std::nullopt;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') {
    return std::nullopt;  // exited, not yet reaped
  }
  return pid;
}

bool exited(int pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) return true;
  if (r < 0 && errno == ECHILD) return ::kill(pid, 0) != 0;
  return false;
}

bool stop_background(const std::string& pid_file, const std::string& binary_name,
                     std::chrono::seconds grace) {
  auto pid = running_pid(pid_file, binary_name);
  std::error_code ec;
  if (!pid) {
    fs::remove(pid_file, ec);
    return false;
  }
  ::kill(*pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running_pid(pid_file, binary_name)) break;
    exited(*pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (running_pid(pid_file, binary_name)) {
    ::kill(*pid, SIGKILL);
    while (running_pid(pid_file, binary_name)) {
      exited(*pid);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  fs::remove(pid_file, ec);
  return true;
}

int run_command(const std::vector<std::string>& argv, std::string& output, bool echo) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    close_other_fds();
    exec_child(argv);
  }
  ::close(fds[1]);
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
    if (echo) {
      std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
      std::fflush(stdout);
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string tail(const std::string& path, int lines) {
  std::string text = read_file(path);
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

}  // namespace fogmesh::ctl
