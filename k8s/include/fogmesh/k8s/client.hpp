// A small client for the Kubernetes REST API: cluster configuration (kubeconfig with token,
// client certificate and CA, or the in-cluster service-account token + CA), typed paths, CRUD,
// merge-patch, the /status subresource, conflict retry. Blocking; safe to share between threads.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "fogmesh/k8s/http_transport.hpp"

namespace fogmesh::k8s {

namespace json = boost::json;

// Where the API server is and how to authenticate to it.
struct cluster_config {
  std::string server;      // https://host:port
  std::string namespace_;  // the context's (or the pod's) namespace; "default" if none
  std::string token;       // bearer token (may be empty)
  std::string token_file;  // re-read on every request when set (projected SA tokens rotate)
  tls_options tls;

  // $KUBECONFIG (first file of the list) or ~/.kube/config; `context` empty = current-context.
  // Throws std::runtime_error naming the file and what is missing.
  static cluster_config from_kubeconfig(const std::string& path, const std::string& context = "");
  // KUBERNETES_SERVICE_HOST/PORT + /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,
  // namespace}. Throws when not in a pod.
  static cluster_config in_cluster();
  // --kubeconfig flag, else $KUBECONFIG, else in-cluster, else ~/.kube/config.
  static cluster_config discover(const std::string& kubeconfig_flag);
};

// An API answer other than 2xx; `status` is the HTTP status, `reason` the Status object's
// reason (NotFound, AlreadyExists, Conflict, Invalid, Expired, ...).
class api_error : public std::runtime_error {
 public:
  api_error(int status, std::string reason, const std::string& message)
      : std::runtime_error(message), status_(status), reason_(std::move(reason)) {}
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  bool not_found() const { return status_ == 404; }
  bool conflict() const { return status_ == 409; }
  bool gone() const { return status_ == 410; }

 private:
  int status_;
  std::string reason_;
};

// A resource type: group/version + plural, e.g. {"apps/v1", "deployments"}.
struct resource {
  std::string api_version;
  std::string plural;
  bool namespaced = true;

  // /api/v1/namespaces/ns/services/name/status
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const;
};

namespace kinds {
extern const resource namespace_, service, secret, config_map, service_account, pod, node, event;
extern const resource persistent_volume_claim, deployment, stateful_set, role, role_binding, lease;
extern const resource crd, control_plane, application;
}  // namespace kinds

class client {
 public:
  explicit client(cluster_config cfg);
  const cluster_config& config() const { return cfg_; }
  const std::string& default_namespace() const { return cfg_.namespace_; }

  // Raw request: throws api_error for non-2xx, transport_error when unreachable.
  json::value call(const std::string& method, const std::string& path, const json::value* body,
                   const std::string& content_type = "application/json");

  json::object get(const std::string& path);
  std::optional<json::object> try_get(const std::string& path);  // nullopt on 404
  json::object list(const std::string& path, const std::string& query = "");
  // The list's items, by value (safe in a range-for, unlike list(...)["items"]).
  json::array list_items(const std::string& path, const std::string& query = "");
  json::object create(const std::string& collection_path, const json::object& obj);
  json::object replace(const std::string& path, const json::object& obj);  // PUT
  json::object merge_patch(const std::string& path, const json::value& patch);
  // merge_patch() for a caller that does not read the stored object: the answer is asked for as
  // protobuf (built-in kinds; cheaper for the API server to encode than JSON, JSON otherwise)
  // and dropped. Errors as merge_patch() (api_error: status; the reason only from a JSON body).
  void merge_patch_no_result(const std::string& path, const json::value& patch);
  // DELETE; false when it was already gone. propagation = "Background"/"Foreground"/"".
  bool remove(const std::string& path, const std::string& propagation = "Background");

  // GET, let `mutate` change the object (return false = nothing to write), PUT; a 409 Conflict
  // re-reads and retries (up to 8 times). Returns the stored object, nullopt when 404.
  std::optional<json::object> update(const std::string& path,
                                     const std::function<bool(json::object&)>& mutate);

  // A streaming GET (watch): see http_transport::stream. Throws api_error for non-2xx.
  void stream(const std::string& path_and_query,
              const std::function<bool(std::string_view line)>& on_line,
              const std::function<bool()>& should_stop, std::chrono::milliseconds idle_timeout);

 private:
  std::vector<std::pair<std::string, std::string>> auth_headers() const;
  cluster_config cfg_;
  std::unique_ptr<http_transport> http_;
};

// Reads an api_error from a Status body.
api_error make_api_error(int status, const std::string& body, const std::string& what);

// Exponential back-off with jitter: 200 ms doubling up to `max`, reset() after a success.
class backoff {
 public:
  explicit backoff(std::chrono::milliseconds max = std::chrono::seconds(30),
                   std::chrono::milliseconds initial = std::chrono::milliseconds(200))
      : initial_(initial), max_(max), next_(initial) {}
  std::chrono::milliseconds next();
  void reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, next_;
};

// Helpers on plain JSON objects.
const json::object* find_object(const json::object& o, std::string_view key);
std::string get_string(const json::object& o, std::string_view key, std::string fallback = "");
// "metadata.name" style lookup; empty when missing or not a string.
std::string field(const json::object& o, std::initializer_list<std::string_view> path);
// RFC 3339 UTC now, e.g. 2026-01-01T00:00:00Z (micro = .000000Z for MicroTime fields).
std::string now_rfc3339(bool micro = false);
// Percent-encodes a query value.
std::string url_encode(std::string_view s);

}  // namespace fogmesh::k8s
