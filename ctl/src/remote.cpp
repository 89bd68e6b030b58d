#include "remote.hpp"

#include <fcntl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "state.hpp"

namespace fogmesh::ctl {

namespace {

std::vector<std::string> common_options(const ssh_target& t) {
  std::string known_hosts = state::home() + "/known_hosts";
  std::filesystem::create_directories(state::home());
  std::vector<std::string> o = {"-o", "BatchMode=yes",
                                "-o", "StrictHostKeyChecking=accept-new",
                                "-o", "UserKnownHostsFile=" + known_hosts,
                                "-o", "ConnectTimeout=15",
                                "-o", "LogLevel=ERROR"};
  if (!t.key_file.empty()) {
    o.insert(o.end(), {"-i", t.key_file, "-o", "IdentitiesOnly=yes"});
  }
  return o;
}

// Runs argv; stdout and stderr captured apart (stderr is what ssh says when it fails).
int run_split(const std::vector<std::string>& argv, std::string& out, std::string& err) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::string msg = std::string("cannot run ") + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // Both pipes drained as data comes (select): a full stderr pipe must not block ssh.
  char buf[65536];
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    fd_set fds;
    FD_ZERO(&fds);
    if (out_open) FD_SET(out_pipe[0], &fds);
    if (err_open) FD_SET(err_pipe[0], &fds);
    int n = ::select(std::max(out_pipe[0], err_pipe[0]) + 1, &fds, nullptr, nullptr, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (auto [fd, open, sink] :
         {std::tuple{out_pipe[0], &out_open, &out}, std::tuple{err_pipe[0], &err_open, &err}}) {
      if (!*open || !FD_ISSET(fd, &fds)) continue;
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) {
        *open = false;
      } else {
        sink->append(buf, static_cast<size_t>(r));
      }
    }
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string ssh_target::label() const {
  return user + "@" + host + ":" + std::to_string(port);
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

std::string ssh_run(const ssh_target& t, const std::string& step, const std::string& command) {
  std::vector<std::string> argv = {"ssh"};
  auto o = common_options(t);
  argv.insert(argv.end(), o.begin(), o.end());
  argv.insert(argv.end(), {"-p", std::to_string(t.port), "-l", t.user, "--", t.host, command});
  std::string out, err;
  int rc = run_split(argv, out, err);
  if (rc != 0) {
    // 255: ssh itself failed (connection, authentication, host key); else the remote command.
    throw ssh_error(
        step + " on " + t.label() + ": " +
        (rc == 255 ? "ssh failed (exit 255)" : "the remote command exited " + std::to_string(rc)) +
        (trimmed(err).empty() ? std::string() : ": " + trimmed(err)));
  }
  return out;
}

void scp_to(const ssh_target& t, const std::string& step, const std::string& local_file,
            const std::string& remote_path) {
  std::vector<std::string> argv = {"scp", "-q", "-p"};
  auto o = common_options(t);
  argv.insert(argv.end(), o.begin(), o.end());
  // IPv6 literals need brackets in scp's host:path form.
  std::string host = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  argv.insert(argv.end(), {"-P", std::to_string(t.port), "--", local_file,
                           t.user + "@" + host + ":" + remote_path});
  std::string out, err;
  int rc = run_split(argv, out, err);
  if (rc != 0) {
    throw ssh_error(step + " on " + t.label() + ": scp exited " + std::to_string(rc) +
                    (trimmed(err).empty() ? std::string() : ": " + trimmed(err)));
  }
}

}  // namespace fogmesh::ctl
