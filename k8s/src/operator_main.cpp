// fogmesh-operator: reconciles ControlPlane and Application custom resources (iofog.org/v3).
#include <cstdlib>

#include "fogmesh/common/cli.hpp"
#include "fogmesh/k8s/component.hpp"
#include "fogmesh/k8s/operator.hpp"

namespace {

const char* usage = R"(Usage: fogmesh-operator [options]

Reconciles ioFog ControlPlane and Application custom resources (iofog.org/v3): deploys the
controller, the interior router and the port manager of a ControlPlane, keeps them as specified,
and creates the Applications in the controller.

  --kubeconfig FILE       kubeconfig (default: $KUBECONFIG, in-cluster service account,
                          ~/.kube/config)
  --namespace NS          namespace to watch (default: $WATCH_NAMESPACE, else the
                          kubeconfig context's / pod's namespace)
  --controller-url URL    controller API base URL instead of the in-cluster Service
                          (http://controller.NS.svc.cluster.local:51121); for out-of-cluster runs
  --install-crds          create/update the ControlPlane and Application CRDs at start
  --no-leader-elect       reconcile without holding the Lease (one replica only)
  --lease-name NAME       Lease for leader election (default fogmesh-operator)
  --identity ID           leader-election identity (default: $POD_NAME, else host-pid)
  --lease-duration SEC    (default 15)      --renew-period SEC  (default 5)
  --resync SEC            re-reconcile everything every SEC seconds (default 300)
  --controller-image IMG, --router-image IMG, --port-manager-image IMG, --proxy-image IMG
                          default images of the children (spec.images overrides)
  --log-level LEVEL       trace, debug, info (default), warning, error
  -h, --help              this text;  -v, --version  the version
Environment: WATCH_NAMESPACE, POD_NAME, KUBECONFIG, CONTROLLER_URL.
SIGTERM/SIGINT: stop watching, release the Lease, exit 0.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace fogmesh;
  k8s::common_options common;
  k8s::operator_options o;
  try {
    cli::arguments args(argc, argv);
    while (args.next()) {
      std::string a = args.current();
      if (cli::standard_option(a, usage, "fogmesh-operator", FOGMESH_VERSION)) return 0;
      if (common.parse(args, a)) continue;
      if (a == "--install-crds") {
        o.install_crds = true;
      } else if (a == "--lease-name") {
        o.lease_name = args.value();
      } else if (a == "--identity") {
        o.identity = args.value();
      } else if (a == "--lease-duration") {
        o.lease_duration = std::chrono::seconds(k8s::positive_option(args.value(), a, "seconds"));
      } else if (a == "--renew-period") {
        o.renew_period = std::chrono::seconds(k8s::positive_option(args.value(), a, "seconds"));
      } else if (a == "--resync") {
        o.resync = std::chrono::seconds(k8s::positive_option(args.value(), a, "seconds"));
      } else if (a == "--controller-image") {
        o.controller_image = args.value();
      } else if (a == "--router-image") {
        o.router_image = args.value();
      } else if (a == "--port-manager-image") {
        o.port_manager_image = args.value();
      } else if (a == "--proxy-image") {
        o.proxy_image = args.value();
      } else {
        throw cli::usage_error("unknown option " + a);
      }
    }
    if (o.renew_period >= o.lease_duration) {
      throw cli::usage_error("--renew-period must be shorter than --lease-duration");
    }
  } catch (const cli::usage_error& e) {
    return k8s::usage_failure("fogmesh-operator", e);
  }
  o.namespace_ = common.namespace_;
  o.controller_url = common.controller_url;
  o.leader_elect = common.leader_elect;
  return k8s::run_main("k8s.operator", common.kubeconfig, [&](k8s::client& c, const auto& stop) {
    k8s::fog_operator op(c, o);
    op.run(stop);
    return 0;
  });
}
