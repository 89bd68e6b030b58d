#include "fogmesh/k8s/signals.hpp"

#include <csignal>
#include <string>
#include <thread>

#include "fogmesh/common/log.hpp"

namespace fogmesh::k8s {

const std::atomic<bool>& stop_on_signals(const char* program) {
  static std::atomic<bool> stop{false};
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::string name = program;
  std::thread([name] {
    int sig = 0;
    sigwait(&set, &sig);
    log::get(name)->info("signal {}: stopping", sig);
    stop = true;
  }).detach();
  return stop;
}

}  // namespace fogmesh::k8s
