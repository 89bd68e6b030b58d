// The router's state in the Prometheus text exposition format (version 0.0.4), served on
// listeners with `http: true` at GET /metrics: router-wide delivery counters, connections by
// role, per-address and per-link delivery counters, credit stalls and each shard's loop
// utilisation. Collected from every shard (like a management QUERY) and merged on the shard
// that serves the request.
//
// Thread: the calling shard's thread; `done` runs on it too, after the other shards answered.
#pragma once

#include <functional>
#include <string>

namespace fogmesh::router {
class shard;
}

namespace fogmesh::router::management {

void collect_metrics(shard& origin, std::function<void(std::string text)> done);

// Escapes a label value: backslash, double quote and newline, as the format requires.
std::string escape_label(std::string_view value);

}  // namespace fogmesh::router::management
