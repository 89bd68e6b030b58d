// Child processes fogctl starts and stops: the local controller and agents (background, own
// session, pid file + log file), and one-shot commands (fogmesh-agent provision).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace fogmesh::ctl {

// `env_var` if set, else `name` next to fogctl's executable, else in the build tree's sibling
// component folder (../controller/, ../agent/), else on PATH. Throws naming where it looked.
std::string find_binary(const std::string& name, const char* env_var, const char* build_dir);

// The executable `name` in a PATH directory, if any.
std::optional<std::string> find_on_path(const std::string& name);

// Starts argv[0] in the background in its own session, stdout/stderr appended to `log_file`,
// and writes its pid to `pid_file`. Returns the pid.
int spawn_background(const std::vector<std::string>& argv, const std::string& log_file,
                     const std::string& pid_file);

// The pid in `pid_file` if that process is alive and runs `binary_name`.
std::optional<int> running_pid(const std::string& pid_file, const std::string& binary_name);

// True when `pid` has exited (reaps it if it is our child).
bool exited(int pid);

// SIGTERM, wait up to `grace`, then SIGKILL; removes the pid file. False if nothing ran.
bool stop_background(const std::string& pid_file, const std::string& binary_name,
                     std::chrono::seconds grace);

// Runs to completion; returns the exit status (or -1) and the combined output. `echo` also
// copies the output to stdout as it comes (progress of long steps such as image pulls).
int run_command(const std::vector<std::string>& argv, std::string& output, bool echo = false);

// The last `lines` lines of a file.
std::string tail(const std::string& path, int lines);

}  // namespace fogmesh::ctl
