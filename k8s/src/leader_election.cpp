#include "fogmesh/k8s/leader_election.hpp"

#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "fogmesh/common/log.hpp"

namespace fogmesh::k8s {

namespace {
std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("k8s.leader");
  return l;
}
}  // namespace

leader_elector::leader_elector(client& c, options opts) : client_(c), opts_(std::move(opts)) {}

bool leader_elector::try_acquire_or_renew() {
  const auto path = kinds::lease.path(opts_.namespace_, opts_.name);
  const auto now = now_rfc3339(true);
  auto spec_for_me = [&](int64_t transitions, const std::string& acquire) {
    return json::object{{"holderIdentity", opts_.identity},
                        {"leaseDurationSeconds", opts_.lease_duration.count()},
                        {"acquireTime", acquire},
                        {"renewTime", now},
                        {"leaseTransitions", transitions}};
  };
  try {
    auto lease = client_.try_get(path);
    if (!lease) {
      json::object obj{{"apiVersion", "coordination.k8s.io/v1"},
                       {"kind", "Lease"},
                       {"metadata", {{"name", opts_.name}, {"namespace", opts_.namespace_}}},
                       {"spec", spec_for_me(0, now)}};
      client_.create(kinds::lease.path(opts_.namespace_), obj);
      last_renew_ = std::chrono::steady_clock::now();
      if (!leader_)
        logger()->info("{} became leader (Lease {} created)", opts_.identity, opts_.name);
      leader_ = true;
      return true;
    }
    json::object spec;
    if (auto* s = find_object(*lease, "spec")) spec = *s;
    std::string holder = get_string(spec, "holderIdentity");
    std::string record = json::serialize(spec);
    auto steady_now = std::chrono::steady_clock::now();
    if (record != observed_record_) {
      observed_record_ = record;
      observed_at_ = steady_now;
    }
    int64_t transitions = 0;
    if (auto it = spec.find("leaseTransitions"); it != spec.end() && it->value().is_int64()) {
      transitions = it->value().as_int64();
    }
    int64_t duration = opts_.lease_duration.count();
    if (auto it = spec.find("leaseDurationSeconds"); it != spec.end() && it->value().is_int64()) {
      duration = it->value().as_int64();
    }
    bool mine = holder == opts_.identity;
    bool expired = holder.empty() || steady_now - observed_at_ >= std::chrono::seconds(duration);
    if (!mine && !expired) {
      if (leader_) logger()->warn("{} lost the Lease to {}", opts_.identity, holder);
      leader_ = false;
      return false;
    }
    std::string acquire = mine ? get_string(spec, "acquireTime", now) : now;
    (*lease)["spec"] = spec_for_me(mine ? transitions : transitions + 1, acquire);
    auto stored = client_.replace(path, *lease);  // 409 when another candidate won the race
    observed_record_ = json::serialize(stored["spec"]);
    observed_at_ = steady_now;
    last_renew_ = steady_now;
    if (!leader_) {
      logger()->info("{} became leader (Lease {}, previous holder '{}')", opts_.identity,
                     opts_.name, holder);
    }
    leader_ = true;
    return true;
  } catch (const std::exception& e) {
    logger()->warn("lease {}: {}", opts_.name, e.what());
    // A leader keeps leading through short API outages, but gives up before its Lease can
    // expire for the others (2/3 of the duration, client-go's renew deadline).
    if (leader_ && std::chrono::steady_clock::now() - last_renew_ < opts_.lease_duration * 2 / 3) {
      return true;
    }
    if (leader_)
      logger()->warn("{} could not renew the Lease in time: no longer leader", opts_.identity);
    leader_ = false;
    return false;
  }
}

void leader_elector::release() {
  if (!leader_) return;
  try {
    client_.update(kinds::lease.path(opts_.namespace_, opts_.name), [&](json::object& lease) {
      auto* spec = lease["spec"].if_object();
      if (!spec || get_string(*spec, "holderIdentity") != opts_.identity) return false;
      (*spec)["holderIdentity"] = "";
      (*spec)["leaseDurationSeconds"] = 1;
      return true;
    });
    logger()->info("{} released the Lease {}", opts_.identity, opts_.name);
  } catch (const std::exception& e) {
    logger()->warn("releasing lease {}: {}", opts_.name, e.what());
  }
  leader_ = false;
}

std::string default_identity() {
  const char* pod = std::getenv("POD_NAME");
  if (pod && *pod) return pod;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

bool run_as_leader(client& c, const leader_elector::options& opts, const std::atomic<bool>& stop,
                   const std::function<void(const std::atomic<bool>&)>& body) {
  using namespace std::chrono_literals;
  leader_elector elector(c, opts);
  logger()->info("{} waiting for the Lease {}/{}", opts.identity, opts.namespace_, opts.name);
  while (!stop && !elector.try_acquire_or_renew()) {
    for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(100ms);
  }
  if (stop) return true;
  std::atomic<bool> inner_stop{false};
  std::atomic<bool> lost{false};
  std::thread renewer([&] {
    auto next = std::chrono::steady_clock::now() + opts.renew_period;
    while (!stop && !inner_stop) {
      std::this_thread::sleep_for(100ms);
      if (std::chrono::steady_clock::now() < next) continue;
      next = std::chrono::steady_clock::now() + opts.renew_period;
      if (!elector.try_acquire_or_renew()) lost = true;
      if (lost) break;
    }
    inner_stop = true;
  });
  body(inner_stop);
  inner_stop = true;
  renewer.join();
  if (lost) {
    logger()->error("{} lost the Lease {}: stopping", opts.identity, opts.name);
    return false;
  }
  elector.release();
  return true;
}

}  // namespace fogmesh::k8s
