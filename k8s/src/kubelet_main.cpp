// fogmesh-kubelet: shows every ioFog agent as a Node and every microservice as a Pod.
#include "fogmesh/common/cli.hpp"
#include "fogmesh/k8s/component.hpp"
#include "fogmesh/k8s/kubelet.hpp"

namespace {

const char* usage = R"(Usage: fogmesh-kubelet [options]

A view-only virtual kubelet for the whole fleet: each agent of the controller is a Node
(iofog-<uuid>, NoSchedule taint, Ready from the agent's daemon status, Lease heartbeats), each
microservice a Pod bound to its agent's Node with its status. Changes made in Kubernetes are not
applied to the fleet; Nodes/Pods of deleted agents/microservices are removed.

  --kubeconfig FILE       kubeconfig (default: $KUBECONFIG, in-cluster service account)
  --controller-url URL    (default: $CONTROLLER_URL)
  --email EMAIL           controller user (default: $IOFOG_USER_EMAIL)
  --password PASS         its password, plain (default: $IOFOG_USER_PASS)
  --namespace NS          namespace of the Pods and of the Lease (default: $WATCH_NAMESPACE,
                          else iofog)
  --sync-interval MS      how often the controller is read, start to start (default 2000)
  --write-concurrency N   Kubernetes API requests in flight during a pass (default 4)
  --no-leader-elect       run without the Lease fogmesh-kubelet
  --log-level LEVEL       trace, debug, info (default), warning, error
  -h, --help, -v, --version
SIGTERM/SIGINT: stop, release the Lease, exit 0.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace fogmesh;
  k8s::common_options common;
  k8s::kubelet_options o;
  o.version = FOGMESH_VERSION;
  try {
    cli::arguments args(argc, argv);
    while (args.next()) {
      std::string a = args.current();
      if (cli::standard_option(a, usage, "fogmesh-kubelet", FOGMESH_VERSION)) return 0;
      if (common.parse(args, a)) continue;
      if (a == "--sync-interval") {
        o.sync_interval =
            std::chrono::milliseconds(k8s::positive_option(args.value(), a, "milliseconds"));
      } else if (a == "--write-concurrency") {
        o.write_concurrency = static_cast<int>(k8s::positive_option(args.value(), a, "requests"));
      } else {
        throw cli::usage_error("unknown option " + a);
      }
    }
    if (common.controller_url.empty()) throw cli::usage_error("--controller-url is needed");
    common.require_user();
  } catch (const cli::usage_error& e) {
    return k8s::usage_failure("fogmesh-kubelet", e);
  }
  o.controller_url = common.controller_url;
  o.email = common.email;
  o.password = common.password;
  o.pod_namespace = common.namespace_.empty() ? "iofog" : common.namespace_;
  return k8s::run_main("k8s.kubelet", common.kubeconfig, [&](k8s::client& c, const auto& stop) {
    return k8s::run_component(c, common.leader_elect, o.pod_namespace, "fogmesh-kubelet", stop,
                              [&](const std::atomic<bool>& run_stop) {
                                k8s::kubelet kl(c, o);
                                kl.run(run_stop);
                              });
  });
}
