#include "fogmesh/k8s/client.hpp"

#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace fogmesh::k8s {

std::string resource::path(const std::string& ns, const std::string& name,
                           const std::string& sub) const {
  std::string p =
      api_version.find('/') == std::string::npos ? "/api/" + api_version : "/apis/" + api_version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) p += "/" + name;
  if (!sub.empty()) p += "/" + sub;
  return p;
}

namespace kinds {
const resource namespace_{"v1", "namespaces", false};
const resource service{"v1", "services"};
const resource secret{"v1", "secrets"};
const resource config_map{"v1", "configmaps"};
const resource service_account{"v1", "serviceaccounts"};
const resource pod{"v1", "pods"};
const resource node{"v1", "nodes", false};
const resource event{"v1", "events"};
const resource persistent_volume_claim{"v1", "persistentvolumeclaims"};
const resource deployment{"apps/v1", "deployments"};
const resource stateful_set{"apps/v1", "statefulsets"};
const resource role{"rbac.authorization.k8s.io/v1", "roles"};
const resource role_binding{"rbac.authorization.k8s.io/v1", "rolebindings"};
const resource lease{"coordination.k8s.io/v1", "leases"};
const resource crd{"apiextensions.k8s.io/v1", "customresourcedefinitions", false};
const resource control_plane{"iofog.org/v3", "controlplanes"};
const resource application{"iofog.org/v3", "apps"};
}  // namespace kinds

api_error make_api_error(int status, const std::string& body, const std::string& what) {
  std::string reason;
  std::string message = body;
  try {
    auto v = json::parse(body);
    if (auto* o = v.if_object()) {
      reason = get_string(*o, "reason");
      message = get_string(*o, "message", body);
    }
  } catch (const std::exception&) {
  }
  if (message.size() > 400) message.resize(400);
  return api_error(status, reason,
                   what + ": " + std::to_string(status) + " " + reason + " " + message);
}

client::client(cluster_config cfg)
    : cfg_(std::move(cfg)), http_(std::make_unique<http_transport>(cfg_.server, cfg_.tls)) {}

std::vector<std::pair<std::string, std::string>> client::auth_headers() const {
  std::string token = cfg_.token;
  if (!cfg_.token_file.empty()) {
    std::ifstream in(cfg_.token_file);
    std::ostringstream s;
    s << in.rdbuf();
    token = s.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  }
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + token}};
}

json::value client::call(const std::string& method, const std::string& path,
                         const json::value* body, const std::string& content_type) {
  http_request req;
  req.method = method;
  req.target = path;
  req.headers = auth_headers();
  req.content_type = content_type;
  if (body) req.body = json::serialize(*body);
  auto resp = http_->request(req);
  if (resp.status < 200 || resp.status >= 300) {
    throw make_api_error(resp.status, resp.body, method + " " + path);
  }
  if (resp.body.empty()) return nullptr;
  return json::parse(resp.body);
}

void client::merge_patch_no_result(const std::string& path, const json::value& patch) {
  http_request req;
  req.method = "PATCH";
  req.target = path;
  req.headers = auth_headers();
  req.headers.emplace_back("Accept", "application/vnd.kubernetes.protobuf, application/json");
  req.content_type = "application/merge-patch+json";
  req.body = json::serialize(patch);
  auto resp = http_->request(req);
  if (resp.status < 200 || resp.status >= 300) {
    const std::string* type = resp.header("content-type");
    bool is_json = type && type->find("json") != std::string::npos;
    throw make_api_error(resp.status, is_json ? resp.body : "(Status in protobuf)",
                         "PATCH " + path);
  }
}

json::object client::get(const std::string& path) {
  return call("GET", path, nullptr).as_object();
}

std::optional<json::object> client::try_get(const std::string& path) {
  try {
    return get(path);
  } catch (const api_error& e) {
    if (e.not_found()) return std::nullopt;
    throw;
  }
}

json::object client::list(const std::string& path, const std::string& query) {
  return call("GET", query.empty() ? path : path + "?" + query, nullptr).as_object();
}

json::array client::list_items(const std::string& path, const std::string& query) {
  auto l = list(path, query);
  auto* items = l["items"].if_array();
  return items ? std::move(*items) : json::array{};
}

json::object client::create(const std::string& collection_path, const json::object& obj) {
  json::value v = obj;
  return call("POST", collection_path, &v).as_object();
}

json::object client::replace(const std::string& path, const json::object& obj) {
  json::value v = obj;
  return call("PUT", path, &v).as_object();
}

json::object client::merge_patch(const std::string& path, const json::value& patch) {
  return call("PATCH", path, &patch, "application/merge-patch+json").as_object();
}

bool client::remove(const std::string& path, const std::string& propagation) {
  try {
    if (propagation.empty()) {
      call("DELETE", path, nullptr);
    } else {
      json::value opts = {
          {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", propagation}};
      call("DELETE", path, &opts);
    }
    return true;
  } catch (const api_error& e) {
    if (e.not_found()) return false;
    throw;
  }
}

std::optional<json::object> client::update(const std::string& path,
                                           const std::function<bool(json::object&)>& mutate) {
  for (int attempt = 0;; ++attempt) {
    auto current = try_get(path);
    if (!current) return std::nullopt;
    if (!mutate(*current)) return current;
    try {
      return replace(path, *current);
    } catch (const api_error& e) {
      if (!e.conflict() || attempt >= 7) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(20 * (attempt + 1)));
    }
  }
}

void client::stream(const std::string& path_and_query,
                    const std::function<bool(std::string_view)>& on_line,
                    const std::function<bool()>& should_stop,
                    std::chrono::milliseconds idle_timeout) {
  http_request req;
  req.target = path_and_query;
  req.headers = auth_headers();
  auto resp = http_->stream(req, on_line, should_stop, idle_timeout);
  if (resp.status != 0 && (resp.status < 200 || resp.status >= 300)) {
    throw make_api_error(resp.status, resp.body, "watch " + path_and_query);
  }
}

std::chrono::milliseconds backoff::next() {
  thread_local std::mt19937 rng{std::random_device{}()};
  auto base = next_;
  next_ = std::min(max_, next_ * 2);
  std::uniform_int_distribution<long> jitter(0, base.count() / 4 + 1);
  return base + std::chrono::milliseconds(jitter(rng));
}

const json::object* find_object(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return nullptr;
  return it->value().if_object();
}

std::string get_string(const json::object& o, std::string_view key, std::string fallback) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return fallback;
  return std::string(it->value().as_string());
}

std::string field(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::object* cur = &o;
  std::size_t i = 0;
  for (auto key : path) {
    if (++i == path.size()) return get_string(*cur, key);
    cur = find_object(*cur, key);
    if (!cur) return {};
  }
  return {};
}

std::string now_rfc3339(bool micro) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = buf;
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) %
              std::chrono::seconds(1);
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06ld", static_cast<long>(us.count()));
    s += frac;
  }
  return s + "Z";
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

}  // namespace fogmesh::k8s
