// `fogmesh-agent run`: the daemon. Provisioned or not, it serves the local API and waits; once
// provisioned it syncs with the controller (long-poll of config changes, at-least-once acks,
// status every statusFrequency s), runs the microservices through the container engine and
// routes ioMessages. Offline it keeps running on the last state saved in the config dir and
// retries with back-off. SIGTERM/SIGINT stop it cleanly; containers keep running and are
// adopted, not recreated, on the next start.
#pragma once

#include <string>

namespace fogmesh::agent {

struct daemon_options {
  std::string router_binary;  // overrides routerBinary in agent.json (--router-binary)
};

// Runs until SIGTERM/SIGINT; returns the process exit code. Throws on start-up errors (bad
// settings file, local API address in use) with a message naming the problem. The edge router
// (a child process) is stopped before it returns.
int run_daemon(const std::string& config_dir, const daemon_options& options = {});

// The CLI (provision, deprovision, status, info, config, run, --help). Returns the exit code.
int run_cli(int argc, char** argv);

}  // namespace fogmesh::agent
