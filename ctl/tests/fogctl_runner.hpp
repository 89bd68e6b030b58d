// What the fogctl integration tests share: running the real fogctl binary (FOGCTL_BIN) with
// FOGMESH_HOME set and its output captured.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fogmesh::ctl::test {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct result {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs fogctl with FOGMESH_HOME=home (plus env, "NAME=value" each), in directory `cwd` when
// given (relative paths in documents); stdout and stderr go through files in home.
inline result fogctl(const std::string& home, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {}, const std::string& cwd = "") {
  std::string out_file = home + "/.out", err_file = home + "/.err";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("FOGMESH_HOME", home.c_str(), 1);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    int o = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> argv{const_cast<char*>(FOGCTL_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(FOGCTL_BIN, argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out_file), slurp(err_file)};
}

}  // namespace fogmesh::ctl::test
