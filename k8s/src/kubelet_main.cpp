// fogmesh-kubelet: shows every ioFog agent as a Node and every microservice as a Pod.
#include <cstdlib>

#include "fogmesh/common/cli.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/kubelet.hpp"
#include "fogmesh/k8s/leader_election.hpp"
#include "fogmesh/k8s/signals.hpp"

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
  --sync-interval MS      how often the controller is read (default 5000)
  --no-leader-elect       run without the Lease fogmesh-kubelet
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
  k8s::kubelet_options o;
  o.version = FOGMESH_VERSION;
  std::string kubeconfig;
  bool leader_elect = true;
  o.controller_url = env_or("CONTROLLER_URL");
  o.email = env_or("IOFOG_USER_EMAIL");
  o.password = env_or("IOFOG_USER_PASS");
  o.pod_namespace = env_or("WATCH_NAMESPACE", "iofog");
  try {
    cli::arguments args(argc, argv);
    while (args.next()) {
      std::string a = args.current();
      if (cli::standard_option(a, usage, "fogmesh-kubelet", FOGMESH_VERSION)) return 0;
      if (a == "--kubeconfig") {
        kubeconfig = args.value();
      } else if (a == "--controller-url") {
        o.controller_url = args.value();
      } else if (a == "--email") {
        o.email = args.value();
      } else if (a == "--password") {
        o.password = args.value();
      } else if (a == "--namespace") {
        o.pod_namespace = args.value();
      } else if (a == "--sync-interval") {
        auto v = args.value();
        try {
          o.sync_interval = std::chrono::milliseconds(std::stoi(v));
        } catch (const std::exception&) {
          throw cli::usage_error("--sync-interval needs milliseconds, not '" + v + "'");
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
    if (o.controller_url.empty()) throw cli::usage_error("--controller-url is needed");
    if (o.email.empty() || o.password.empty()) {
      throw cli::usage_error("the controller user is needed: --email/--password or "
                             "IOFOG_USER_EMAIL/IOFOG_USER_PASS");
    }
  } catch (const cli::usage_error& e) {
    std::fprintf(stderr, "fogmesh-kubelet: %s (see --help)\n", e.what());
    return 2;
  }
  auto logger = log::get("k8s.kubelet");
  const auto& stop = k8s::stop_on_signals("k8s.kubelet");
  try {
    k8s::client c(k8s::cluster_config::discover(kubeconfig));
    auto body = [&](const std::atomic<bool>& run_stop) {
      k8s::kubelet kl(c, o);
      kl.run(run_stop);
    };
    if (!leader_elect) {
      body(stop);
    } else if (!k8s::run_as_leader(c,
                                   {o.pod_namespace, "fogmesh-kubelet", k8s::default_identity(),
                                    std::chrono::seconds(15), std::chrono::seconds(5)},
                                   stop, body)) {
      return 1;
    }
  } catch (const std::exception& e) {
    logger->critical("fogmesh-kubelet: {}", e.what());
    return 1;
  }
  logger->info("stopped");
  return 0;
}
