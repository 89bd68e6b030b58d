#include "fogmesh/k8s/component.hpp"

#include <cstdio>
#include <cstdlib>

#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/leader_election.hpp"
#include "fogmesh/k8s/signals.hpp"

namespace fogmesh::k8s {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

common_options::common_options()
    : namespace_(env_or("WATCH_NAMESPACE")),
      controller_url(env_or("CONTROLLER_URL")),
      email(env_or("IOFOG_USER_EMAIL")),
      password(env_or("IOFOG_USER_PASS")) {}

bool common_options::parse(cli::arguments& args, const std::string& a) {
  if (a == "--kubeconfig") {
    kubeconfig = args.value();
  } else if (a == "--namespace") {
    namespace_ = args.value();
  } else if (a == "--controller-url") {
    controller_url = args.value();
  } else if (a == "--email") {
    email = args.value();
  } else if (a == "--password") {
    password = args.value();
  } else if (a == "--no-leader-elect") {
    leader_elect = false;
  } else if (a == "--log-level") {
    auto level = args.value();
    if (!log::set_default_level(level)) throw cli::usage_error("unknown log level " + level);
  } else {
    return false;
  }
  return true;
}

void common_options::require_user() const {
  if (email.empty() || password.empty()) {
    throw cli::usage_error(
        "the controller user is needed: --email/--password or IOFOG_USER_EMAIL/IOFOG_USER_PASS");
  }
}

int positive_option(const std::string& v, const std::string& opt, const char* unit) {
  try {
    int n = std::stoi(v);
    if (n > 0) return n;
  } catch (const std::exception&) {
  }
  throw cli::usage_error(opt + " needs a positive number of " + unit + ", not '" + v + "'");
}

int run_component(client& c, bool leader_elect, const std::string& lease_namespace,
                  const std::string& lease_name, const std::atomic<bool>& stop,
                  const std::function<void(const std::atomic<bool>&)>& body) {
  if (!leader_elect) {
    body(stop);
    return 0;
  }
  leader_elector::options lease{lease_namespace, lease_name, default_identity(),
                                std::chrono::seconds(15), std::chrono::seconds(5)};
  return run_as_leader(c, lease, stop, body) ? 0 : 1;
}

int run_main(const char* module, const std::string& kubeconfig,
             const std::function<int(client&, const std::atomic<bool>&)>& body) {
  auto logger = log::get(module);
  const auto& stop = stop_on_signals(module);
  int code = 0;
  try {
    auto cfg = cluster_config::discover(kubeconfig);
    client c(cfg);
    logger->info("started; Kubernetes API server {}", cfg.server);
    code = body(c, stop);
  } catch (const std::exception& e) {
    logger->critical("{}", e.what());
    return 1;
  }
  logger->info("stopped (exit {})", code);
  return code;
}

int usage_failure(const char* program, const std::exception& e) {
  std::fprintf(stderr, "%s: %s (see --help)\n", program, e.what());
  return 2;
}

}  // namespace fogmesh::k8s
