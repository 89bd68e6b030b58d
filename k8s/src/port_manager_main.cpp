// fogmesh-port-manager: exposes the controller's public ports through a LoadBalancer Service.
#include <cstdlib>

#include "fogmesh/common/cli.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/leader_election.hpp"
#include "fogmesh/k8s/signals.hpp"
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
  --poll-interval MS      pace of unchanged public-port reads (default 2000)
  --no-leader-elect       run without the Lease fogmesh-port-manager
  --log-level LEVEL       trace, debug, info (default), warning, error
  -h, --help, -v, --version
SIGTERM/SIGINT: stop, release the Lease, exit 0.
)";

std::string env_or(const char* name, std::string fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fogmesh;
  k8s::port_manager_options o;
  std::string kubeconfig;
  bool leader_elect = true;
  o.namespace_ = env_or("WATCH_NAMESPACE");
  o.controller_url = env_or("CONTROLLER_URL");
  o.email = env_or("IOFOG_USER_EMAIL");
  o.password = env_or("IOFOG_USER_PASS");
  o.router_address = env_or("ROUTER_ADDRESS");
  o.proxy_image = env_or("PROXY_IMAGE", o.proxy_image);
  try {
    cli::arguments args(argc, argv);
    while (args.next()) {
      std::string a = args.current();
      if (cli::standard_option(a, usage, "fogmesh-port-manager", FOGMESH_VERSION)) return 0;
      if (a == "--kubeconfig") {
        kubeconfig = args.value();
      } else if (a == "--namespace") {
        o.namespace_ = args.value();
      } else if (a == "--controller-url") {
        o.controller_url = args.value();
      } else if (a == "--email") {
        o.email = args.value();
      } else if (a == "--password") {
        o.password = args.value();
      } else if (a == "--router-address") {
        o.router_address = args.value();
      } else if (a == "--proxy-image") {
        o.proxy_image = args.value();
      } else if (a == "--proxy-name") {
        o.proxy_name = args.value();
      } else if (a == "--service-type") {
        o.service_type = args.value();
      } else if (a == "--poll-interval") {
        auto v = args.value();
        try {
          o.poll_interval = std::chrono::milliseconds(std::stoi(v));
        } catch (const std::exception&) {
          throw cli::usage_error("--poll-interval needs milliseconds, not '" + v + "'");
        }
      } else if (a == "--no-leader-elect") {
        leader_elect = false;
      } else if (a == "--log-level") {
        auto level = args.value();
        if (!log::set_default_level(level)) throw cli::usage_error("unknown log level " + level);
      } else {
        throw cli::usage_error("unknown option " + a);
      }
    }
    if (o.email.empty() || o.password.empty()) {
      throw cli::usage_error("the controller user is needed: --email/--password or "
                             "IOFOG_USER_EMAIL/IOFOG_USER_PASS");
    }
    if (o.router_address.empty()) {
      throw cli::usage_error("--router-address (or ROUTER_ADDRESS) is needed");
    }
  } catch (const cli::usage_error& e) {
    std::fprintf(stderr, "fogmesh-port-manager: %s (see --help)\n", e.what());
    return 2;
  }
  auto logger = log::get("k8s.port-manager");
  const auto& stop = k8s::stop_on_signals("k8s.port-manager");
  try {
    auto cfg = k8s::cluster_config::discover(kubeconfig);
    k8s::client c(cfg);
    if (o.namespace_.empty()) o.namespace_ = c.default_namespace();
    if (o.controller_url.empty()) o.controller_url = "http://controller." + o.namespace_ + ":51121";
    auto body = [&](const std::atomic<bool>& run_stop) {
      k8s::port_manager pm(c, o);
      pm.run(run_stop);
    };
    if (!leader_elect) {
      body(stop);
    } else if (!k8s::run_as_leader(c,
                                   {o.namespace_, "fogmesh-port-manager", k8s::default_identity(),
                                    std::chrono::seconds(15), std::chrono::seconds(5)},
                                   stop, body)) {
      return 1;
    }
  } catch (const std::exception& e) {
    logger->critical("fogmesh-port-manager: {}", e.what());
    return 1;
  }
  logger->info("stopped");
  return 0;
}
