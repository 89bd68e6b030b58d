// kind KubernetesControlPlane: fogmesh-operator and a ControlPlane resource in a cluster, through
// the k8s/ client library (not yet).
#include <filesystem>

#include "control_planes.hpp"

namespace fogmesh::ctl {

namespace fs = std::filesystem;

namespace {

std::string state_file(const state& st) { return st.ns_dir() + "/kubernetes.json"; }

}  // namespace

bool has_kubernetes_control_plane(const state& st) { return fs::exists(state_file(st)); }

std::string deploy_kubernetes_control_plane(const resource&, const std::string&, const options&) {
  throw step_error("deploy: KubernetesControlPlane is not supported by fogctl yet");
}
void delete_kubernetes_control_plane(const state&, const options&) {
  throw step_error("delete controlplane: KubernetesControlPlane is not supported yet");
}
void connect_kubernetes(const std::string&, const std::string&, const std::string&,
                        const std::string&, const options&) {
  throw step_error("connect --kube: not supported by fogctl yet");
}

}  // namespace fogmesh::ctl
