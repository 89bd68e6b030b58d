// The control plane kinds fogctl deploys away from this machine: ControlPlane (controllers
// installed on hosts over SSH) and KubernetesControlPlane (fogmesh-operator and a ControlPlane
// resource in a cluster). Each deploy ends with the namespace connected to the new controller.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "fogmesh/ctl/resources.hpp"
#include "state.hpp"
#include "steps.hpp"

namespace fogmesh::ctl {

// kind ControlPlane: for every controller of spec.controllers, over SSH: connect (all hosts
// before anything is changed), install fogmesh-controller, configure, start (systemd unit, else
// in the background), wait for /api/v3/status; then sign up / log in spec.iofogUser and store
// the connection. Returns the outcome line.
std::string deploy_remote_control_plane(const resource& r, const std::string& ns,
                                        const options& opt);
// True when the namespace has controllers fogctl installed over SSH.
bool has_remote_control_plane(const state& st);
// The last `lines` lines of the first controller's log (over SSH); "" without one.
std::string remote_controller_log(const state& st, int lines);
// Stops them (systemd or the background process), removes their unit, data and configuration.
void delete_remote_control_plane(const state& st, const options& opt);

// kind LocalControlPlane with spec.controller.container: runs fogmesh-controller from that image
// in the local container engine (podman, else docker; $FOGMESH_CONTAINER_CLI overrides), its
// embedded PostgreSQL in a named volume, the API port published on spec.controller.bind/port.
// A container created from the same image, port and arguments is left running ("running"),
// else it is (re)created ("started"/"restarted") and waited for; `port` is the host port.
std::string start_controller_container(const state& st, const boost::json::object& controller,
                                       const options& opt, std::string& port);
bool has_container_control_plane(const state& st);
bool container_control_plane_running(const state& st);
// The container's last `lines` log lines.
std::string container_controller_log(const state& st, int lines);
// Stops (SIGTERM, 60 s) and removes the container and its data volume; false without one.
bool delete_container_control_plane(const state& st, const options& opt);

// kind KubernetesControlPlane: with the kubeconfig of spec.config, applies the CRDs, the
// operator (deploy/kubernetes/operator.yaml in the namespace) and a ControlPlane resource, waits
// until the operator reports it ready and the controller answers, then logs in.
std::string deploy_kubernetes_control_plane(const resource& r, const std::string& ns,
                                            const options& opt);
bool has_kubernetes_control_plane(const state& st);
// Deletes the ControlPlane resource (the operator's finalizer removes its children; waited for)
// and the operator objects fogctl created.
void delete_kubernetes_control_plane(const state& st, const options& opt);
// `connect --kube FILE`: the namespace's ControlPlane resource in that cluster → its controller.
void connect_kubernetes(const std::string& kubeconfig, const std::string& email,
                        const std::string& password, const std::string& name, const options& opt);

}  // namespace fogmesh::ctl
