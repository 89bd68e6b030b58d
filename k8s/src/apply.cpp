#include "fogmesh/k8s/apply.hpp"

#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/util.hpp"

namespace fogmesh::k8s {

namespace {
constexpr const char* hash_key = "iofog.org/spec-hash";
}

const char* to_string(apply_result r) {
  switch (r) {
    case apply_result::unchanged:
      return "unchanged";
    case apply_result::created:
      return "created";
    case apply_result::replaced:
      return "replaced";
    case apply_result::conflict:
      return "conflict";
  }
  return "?";
}

apply_result apply(client& k, const resource& res, json::object desired, bool create_only,
                   const std::optional<std::string>& based_on) {
  static auto logger = log::get("k8s.apply");
  const std::string ns = field(desired, {"metadata", "namespace"});
  const std::string name = field(desired, {"metadata", "name"});
  const std::string want = sha256_hex(json::serialize(desired)).substr(0, 32);
  auto& meta = desired["metadata"].as_object();
  if (!meta["annotations"].is_object()) meta["annotations"] = json::object{};
  meta["annotations"].as_object()[hash_key] = want;
  for (int attempt = 0;; ++attempt) {
    auto existing = k.try_get(res.path(ns, name));
    if (based_on) {
      const std::string version =
          existing ? field(*existing, {"metadata", "resourceVersion"}) : std::string();
      if (version != *based_on) {
        logger->info(
            "{}/{} {}: changed since it was read (resourceVersion '{}', now '{}'): not "
            "written",
            ns, res.plural, name, *based_on, version);
        return apply_result::conflict;
      }
    }
    try {
      if (!existing) {
        k.create(res.path(ns), desired);
        logger->info("{}/{} {}: created", ns, res.plural, name);
        return apply_result::created;
      }
      if (create_only || field(*existing, {"metadata", "annotations", hash_key}) == want) {
        return apply_result::unchanged;
      }
      json::object next = desired;
      next["metadata"].as_object()["resourceVersion"] =
          field(*existing, {"metadata", "resourceVersion"});
      if (res.plural == "services") {
        // clusterIP is immutable and allocated by the API server: keep it.
        auto& spec = next["spec"].as_object();
        auto* old_spec = find_object(*existing, "spec");
        for (const char* keep : {"clusterIP", "clusterIPs", "healthCheckNodePort"}) {
          if (old_spec && old_spec->contains(keep)) spec[keep] = old_spec->at(keep);
        }
      }
      k.replace(res.path(ns, name), next);
      logger->info("{}/{} {}: desired spec changed, replaced", ns, res.plural, name);
      return apply_result::replaced;
    } catch (const api_error& e) {
      // Created, changed or deleted by someone else between the read above and this write.
      if (based_on && (e.conflict() || e.not_found())) {
        logger->info("{}/{} {}: changed since it was read ({}): not written", ns, res.plural, name,
                     e.what());
        return apply_result::conflict;
      }
      if ((e.conflict() || (e.status() == 409)) && attempt < 5) continue;  // raced: re-read
      if (e.status() == 422 && res.plural == "statefulsets" && existing && attempt < 5) {
        // A StatefulSet's volumeClaimTemplates, serviceName and selector cannot change: re-create
        // it (its PVCs stay, and the new one adopts them).
        logger->info("{}/{} {}: {}; deleting it to re-create it", ns, res.plural, name, e.what());
        k.remove(res.path(ns, name));
        continue;
      }
      throw;
    }
  }
}

}  // namespace fogmesh::k8s
