// Test kit for the Kubernetes tests: the kube-apiserver the ctest fixture started
// (scripts/kube-apiserver-up.sh, state in $K8S_STATE), a client for it, fresh namespaces, the
// fogmesh-operator binary as a child process, and polling with a deadline.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s::test {

inline std::string state_dir() {
  const char* s = std::getenv("K8S_STATE");
  return s ? s : "";
}

// kubeconfig of the running test API server; empty when there is none (tests then skip).
inline std::string kubeconfig_path() {
  std::ifstream in(state_dir() + "/datadir");
  std::string dir;
  if (!(in >> dir)) return "";
  return dir + "/kubeconfig";
}

inline bool wait_for(const std::function<bool()>& pred,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    try {
      if (pred()) return true;
    } catch (const std::exception&) {
      // transient (API server restarting): keep polling
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

inline std::string unique_name(const std::string& prefix) {
  static int n = 0;
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

inline void create_namespace(client& c, const std::string& ns) {
  c.create(kinds::namespace_.path(),
           json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
}

// A child process with its own process group; SIGKILLed if still running on destruction.
class child_process {
 public:
  explicit child_process(std::vector<std::string> args, const std::string& log_file = "") {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      if (!log_file.empty()) {
        FILE* f = std::fopen(log_file.c_str(), "a");
        if (f) {
          ::dup2(fileno(f), 2);
          ::dup2(fileno(f), 1);
        }
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  // SIGTERM and wait (up to 20 s, then SIGKILL); the exit status.
  int terminate() {
    if (pid_ <= 0) return exit_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200 && running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      exit_ = 137;
    }
    return exit_;
  }

 private:
  int pid_ = -1;
  int exit_ = -1;
};

// A child's log, for failure messages.
inline std::string read_log(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

inline int run_script(const std::string& args) {
  std::string cmd = std::string(FOGMESH_APISERVER_SCRIPT) + " " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

}  // namespace fogmesh::k8s::test
