// Create-or-replace of an owned object, keyed on a hash of the desired manifest (annotation
// iofog.org/spec-hash): a changed desired spec replaces the object; server-side defaults and
// status never cause a write. Shared by the operator and the port manager.
#pragma once

#include "fogmesh/k8s/client.hpp"

namespace fogmesh::k8s {

enum class apply_result { unchanged, created, replaced };

// `desired` is a complete manifest with metadata.name/namespace. `create_only` objects (PVCs)
// are never replaced. A 409 (raced with another writer) re-reads and retries.
apply_result apply(client& k, const resource& res, json::object desired, bool create_only = false);

}  // namespace fogmesh::k8s
