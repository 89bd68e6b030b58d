// SIGTERM/SIGINT for the Kubernetes binaries: blocked in every thread and taken by one
// sigwait thread, which sets the returned flag (no handler ever runs on a worker).
#pragma once

#include <atomic>

namespace fogmesh::k8s {

// Call once, early in main, before other threads start.
const std::atomic<bool>& stop_on_signals(const char* program);

}  // namespace fogmesh::k8s
