// Installing and running fogmesh binaries on another host over SSH (remote.hpp): what the Agent
// kind (fogmesh-agent) and the ControlPlane kind (fogmesh-controller) share. Copies skip files
// the host already has, systemd units come from deploy/systemd, and hosts without systemd get
// the binary started in the background with a pid file that is checked against
// /proc/PID/cmdline (a recycled pid is never taken for it).
#pragma once

#include <string>
#include <vector>

#include "remote.hpp"

namespace fogmesh::ctl {

// What the first SSH round trip found: `uname -m` and whether systemd runs the host.
struct host_probe {
  std::string arch;
  bool systemd = false;
};
host_probe probe_host(const ssh_target& t, const std::string& step_name);

// The deploy/systemd unit `unit`: $FOGMESH_SYSTEMD_DIR, else an install's share/fogmesh/systemd
// next to fogctl's bin/, else the source tree fogctl was built from.
std::string systemd_unit(const std::string& unit);

std::string sha256_of(const std::string& file);

// Copies `local` to `remote` unless the remote file is the same: first rsync's quick check
// (same size and modification time; scp -p keeps the time), else equal sha256 sums (then the
// remote time is set so that the next quick check hits). The new file is renamed over the old
// one so that a running binary is replaced, not written into (ETXTBSY). True when it copied.
bool install_file(const ssh_target& t, const std::string& step_name, const std::string& local,
                  const std::string& remote, const std::string& mode);

// Installs deploy/systemd/UNIT as /etc/systemd/system/UNIT (staged in `staging_dir`), edited
// with the sed expressions `edits`; daemon-reload when the installed unit changed (returns true).
bool install_systemd_unit(const ssh_target& t, const std::string& unit,
                          const std::string& staging_dir, const std::vector<std::string>& edits);

// A process fogctl runs in the background on a host without systemd.
struct background_process {
  std::string binary;    // absolute path on the host
  std::string pid_file;  // on the host
  std::string log_file;  // on the host
};

// Shell test: true (and $pid, $cmd set) when the pid file's process runs `binary`.
std::string background_running_test(const background_process& p);

// The running process's command line (arguments separated by spaces), "" when none runs.
std::string background_command_line(const ssh_target& t, const std::string& step_name,
                                    const background_process& p);

// `setsid BINARY ARGS` in the background (log appended, stdin /dev/null), after sourcing
// `env_file` (variables exported) when given; fails with the log's last lines when the process
// exited within `settle_seconds`.
void start_background(const ssh_target& t, const std::string& step_name,
                      const background_process& p, const std::string& quoted_args,
                      const std::string& env_file = "", int settle_seconds = 1);

// Shell command: SIGTERM the running process, wait up to `grace_seconds`, then SIGKILL; true
// (exit 0) when none runs.
std::string background_stop_command(const background_process& p, int grace_seconds);

}  // namespace fogmesh::ctl
