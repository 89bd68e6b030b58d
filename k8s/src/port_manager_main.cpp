// fogmesh-port-manager: exposes the controller's public ports through a LoadBalancer Service.

#include "fogmesh/common/cli.hpp"
#include "fogmesh/k8s/component.hpp"
#include "fogmesh/k8s/port_manager.hpp"

namespace {

const char* usage = R"(Usage: fogmesh-port-manager [options]

Follows the controller's microservice public ports and keeps one proxy Deployment plus one
LoadBalancer Service with a port per public port; writes the Service's load-balancer address
to the controller's `default-proxy-host` whenever it changes. The operator deploys it with a
ControlPlane; options default to the environment it sets.

  --kubeconfig FILE       kubeconfig (default: $KUBECONFIG, in-cluster service account)
  --namespace NS          (default: $WATCH_NAMESPACE, else the context's namespace)
  --controller-url URL    (default: $CONTROLLER_URL, else http://controller.NS:51121)
  --email EMAIL           controller user (default: $IOFOG_USER_EMAIL)
  --password PASS         its password, plain or base64 (default: $IOFOG_USER_PASS)
  --router-address H:P    interior router for the proxy (default: $ROUTER_ADDRESS)
  --proxy-image IMG       (default: $PROXY_IMAGE)
  --proxy-name NAME       proxy Deployment/Service name (default http-proxy)
  --service-type TYPE     LoadBalancer (default), ClusterIP or NodePort
  --poll-interval MS      public ports are long-polled (held by the controller until they
                          change, 30 s at most); an unchanged answer that comes back at once
                          (a controller without long-poll) waits this long (default 2000)
  --no-leader-elect       run without the Lease fogmesh-port-manager
  --log-level LEVEL       trace, debug, info (default), warning, error
  -h, --help, -v, --version
SIGTERM/SIGINT: stop, release the Lease, exit 0.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace fogmesh;
  k8s::common_options common;
  k8s::port_manager_options o;
  o.router_address = k8s::env_or("ROUTER_ADDRESS");
  o.proxy_image = k8s::env_or("PROXY_IMAGE", o.proxy_image);
  try {
    cli::arguments args(argc, argv);
    while (args.next()) {
      std::string a = args.current();
      if (cli::standard_option(a, usage, "fogmesh-port-manager", FOGMESH_VERSION)) return 0;
      if (common.parse(args, a)) continue;
      if (a == "--router-address") {
        o.router_address = args.value();
      } else if (a == "--proxy-image") {
        o.proxy_image = args.value();
      } else if (a == "--proxy-name") {
        o.proxy_name = args.value();
      } else if (a == "--service-type") {
        o.service_type = args.value();
      } else if (a == "--poll-interval") {
        o.poll_interval =
            std::chrono::milliseconds(k8s::positive_option(args.value(), a, "milliseconds"));
      } else {
        throw cli::usage_error("unknown option " + a);
      }
    }
    common.require_user();
    if (o.router_address.empty()) {
      throw cli::usage_error("--router-address (or ROUTER_ADDRESS) is needed");
    }
  } catch (const cli::usage_error& e) {
    return k8s::usage_failure("fogmesh-port-manager", e);
  }
  return k8s::run_main(
      "k8s.port-manager", common.kubeconfig, [&](k8s::client& c, const auto& stop) {
        o.namespace_ = common.namespace_.empty() ? c.default_namespace() : common.namespace_;
        o.controller_url = common.controller_url.empty()
                               ? "http://controller." + o.namespace_ + ":51121"
                               : common.controller_url;
        o.email = common.email;
        o.password = common.password;
        return k8s::run_component(c, common.leader_elect, o.namespace_, "fogmesh-port-manager",
                                  stop, [&](const std::atomic<bool>& run_stop) {
                                    k8s::port_manager pm(c, o);
                                    pm.run(run_stop);
                                  });
      });
}
