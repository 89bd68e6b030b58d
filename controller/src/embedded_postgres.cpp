#include "fogmesh/controller/embedded_postgres.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "fogmesh/common/log.hpp"

namespace fogmesh::controller {

namespace fs = std::filesystem;

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = fogmesh::log::get("controller.postgres");
  return l;
}

struct run_user {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

run_user resolve_user(const std::string& name) {
  run_user u;
  if (::geteuid() != 0) return u;  // run the cluster as ourselves
  passwd pw{};
  passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    throw std::runtime_error("running as root, and the user '" + name +
                             "' for the embedded PostgreSQL does not exist");
  }
  u.switch_user = true;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  u.name = name;
  return u;
}

// Why a tool run by run() failed: its exit status (or the child's own 125-127 before exec), and
// what it printed.
std::string failure(const std::string& tool, int status, std::string output,
                    const std::string& cwd) {
  std::string reason;
  switch (status) {
    case 125:
      reason = "could not switch to the PostgreSQL user";
      break;
    case 126:
      reason = "cannot enter " + cwd;
      break;
    case 127:
      reason = "cannot execute it";
      break;
    default:
      reason = status > 128 ? "killed by signal " + std::to_string(status - 128)
                            : "exit status " + std::to_string(status);
  }
  while (!output.empty() && std::isspace(static_cast<unsigned char>(output.back())))
    output.pop_back();
  return tool + " failed (" + reason + ")" + (output.empty() ? "" : ": " + output);
}

// Runs a program to completion with stdout/stderr captured in `output_file` (a file, not a pipe:
// pg_ctl leaves a daemon behind that must not inherit our end of a pipe).
int run(const std::vector<std::string>& argv, const run_user& user, const std::string& cwd,
        const std::string& output_file, std::string& output) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out_fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out_fd < 0)
    throw std::runtime_error("cannot create " + output_file + ": " + std::strerror(errno));
  if (user.switch_user && ::fchown(out_fd, user.uid, user.gid) != 0) {
    ::close(out_fd);
    throw std::runtime_error("chown " + output_file + ": " + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    if (user.switch_user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) {
        ::_exit(125);
      }
    }
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);  // 125-127: see failure()
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in(output_file);
  std::stringstream ss;
  ss << in.rdbuf();
  output = ss.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void make_dir(const fs::path& p, mode_t mode, const run_user& owner) {
  fs::create_directories(p);
  ::chmod(p.c_str(), mode);
  if (owner.switch_user && ::chown(p.c_str(), owner.uid, owner.gid) != 0) {
    throw std::runtime_error("chown " + p.string() + ": " + std::strerror(errno));
  }
}

}  // namespace

embedded_postgres::embedded_postgres(embedded_postgres_options options)
    : options_(std::move(options)) {}

embedded_postgres::~embedded_postgres() {
  try {
    stop();
  } catch (const std::exception& e) {
    logger()->error("stopping embedded PostgreSQL: {}", e.what());
  }
}

void embedded_postgres::start() {
  if (started_) return;
  run_user user = resolve_user(options_.run_as);
  fs::path dir = fs::absolute(options_.dir);
  fs::create_directories(dir);
  // The cluster's user must be able to traverse our directory, but not list it.
  if (user.switch_user) ::chmod(dir.c_str(), 0711);
  fs::path data = dir / "pgdata";
  fs::path run_dir = dir / "pgrun";
  make_dir(run_dir, 0700, user);
  socket_dir_ = run_dir.string();
  if (socket_dir_.size() + 20 > 107) {
    throw std::runtime_error("data directory path too long for a unix socket: " + socket_dir_);
  }
  std::string out;
  std::string out_file = (run_dir / "tool.out").string();
  std::string bin = options_.bin_dir;

  if (!fs::exists(data / "PG_VERSION")) {
    make_dir(data, 0700, user);
    logger()->info("initialising PostgreSQL cluster in {}", data.string());
    std::vector<std::string> argv = {bin + "/initdb", "-D",         data.string(), "-U",
                                     "postgres",      "-A",         "trust",       "-E",
                                     "UTF8",          "--no-locale"};
    if (!options_.durable) argv.emplace_back("--no-sync");
    if (int rc = run(argv, user, run_dir.string(), out_file, out); rc != 0) {
      throw std::runtime_error(failure("initdb", rc, out, run_dir.string()));
    }
  }

  // A previous controller killed with -9 leaves its cluster running: adopt it.
  int status =
      run({bin + "/pg_ctl", "status", "-D", data.string()}, user, run_dir.string(), out_file, out);
  if (status != 0) {
    // No TCP at all (listen_addresses empty): the socket directory's 0700 mode is the access
    // control, which is why trust authentication is acceptable here.
    std::string opts = "-c listen_addresses= -k " + socket_dir_ + " -p " + std::to_string(port_) +
                       " -c unix_socket_permissions=0700 -c max_connections=200";
    if (!options_.durable) {
      opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    }
    if (int rc = run({bin + "/pg_ctl", "start", "-w", "-t", "60", "-D", data.string(), "-l",
                      (run_dir / "postgres.log").string(), "-o", opts},
                     user, run_dir.string(), out_file, out);
        rc != 0) {
      std::ifstream in(run_dir / "postgres.log");
      std::stringstream ss;
      ss << in.rdbuf();
      throw std::runtime_error(failure("pg_ctl start", rc, out + ss.str(), run_dir.string()));
    }
  } else {
    logger()->info("adopting the PostgreSQL cluster already running in {}", data.string());
  }
  started_ = true;

  pqxx::connection admin("host=" + socket_dir_ + " port=" + std::to_string(port_) +
                         " user=postgres dbname=postgres");
  pqxx::nontransaction ntx(admin);
  if (ntx.exec("SELECT 1 FROM pg_database WHERE datname = 'fogmesh'").empty()) {
    ntx.exec0("CREATE DATABASE fogmesh");
  }
}

void embedded_postgres::stop() {
  if (!started_) return;
  started_ = false;
  run_user user = resolve_user(options_.run_as);
  fs::path dir = fs::absolute(options_.dir);
  std::string out;
  if (int rc = run({options_.bin_dir + "/pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D",
                    (dir / "pgdata").string()},
                   user, socket_dir_, (dir / "pgrun" / "tool.out").string(), out);
      rc != 0) {
    throw std::runtime_error(failure("pg_ctl stop", rc, out, socket_dir_));
  }
}

std::string embedded_postgres::conninfo() const {
  return "host=" + socket_dir_ + " port=" + std::to_string(port_) + " user=postgres dbname=fogmesh";
}

}  // namespace fogmesh::controller
