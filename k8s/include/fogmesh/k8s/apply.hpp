// Create-or-replace of an object, keyed on a hash of the desired manifest (annotation
// iofog.org/spec-hash): a changed desired spec replaces the object; server-side defaults and
// status never cause a write. Used by the operator and the port manager for the objects they
// own, and by fogctl for the operator manifest it applies (KubernetesControlPlane).
#pragma once

#include <optional>
#include <string>

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

enum class apply_result { unchanged, created, replaced, conflict };

// "unchanged", "created", "replaced" or "conflict", for progress lines and logs.
const char* to_string(apply_result r);

// `desired` is a complete manifest with metadata.name/namespace. `create_only` objects (PVCs)
// are never replaced. A 409 (raced with another writer) re-reads and retries; a Service keeps
// its allocated clusterIP; a StatefulSet whose immutable fields changed is re-created.
//
// `based_on`: `desired` was derived from the object as it was read (e.g. a password kept from
// it): the resourceVersion read, or "" when it did not exist. The write is then conditional on
// it (a create only if the object still does not exist; a replace with that resourceVersion,
// which the API server refuses with 409 if it changed and 404 if it was deleted) and is not
// retried: `conflict`, nothing written, when the object is no longer what `desired` came from
// (the caller derives it again). Without it, a pass that read an object just before it was
// deleted would re-create it from the deleted copy.
apply_result apply(client& k, const resource& res, json::object desired, bool create_only = false,
                   const std::optional<std::string>& based_on = std::nullopt);

}  // namespace fogmesh::k8s
