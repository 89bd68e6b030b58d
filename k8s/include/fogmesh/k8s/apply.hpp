// Create-or-replace of an object, keyed on a hash of the desired manifest (annotation
// iofog.org/spec-hash): a changed desired spec replaces the object; server-side defaults and
// status never cause a write. Used by the operator and the port manager for the objects they
// own, and by fogctl for the operator manifest it applies (KubernetesControlPlane).
#pragma once

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

enum class apply_result { unchanged, created, replaced };

// "unchanged", "created" or "replaced", for progress lines and logs.
const char* to_string(apply_result r);

// `desired` is a complete manifest with metadata.name/namespace. `create_only` objects (PVCs)
// are never replaced. A 409 (raced with another writer) re-reads and retries; a Service keeps
// its allocated clusterIP; a StatefulSet whose immutable fields changed is re-created.
apply_result apply(client& k, const resource& res, json::object desired, bool create_only = false);

}  // namespace fogmesh::k8s
