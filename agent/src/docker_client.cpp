#include "fogmesh/agent/docker_client.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "fogmesh/agent/iomessage.hpp"
#include "http_client.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace json = boost::json;

struct docker_client::impl {
  http_endpoint endpoint;

  asio::awaitable<http_reply> request(std::string method, std::string target,
                                      std::string body = "",
                                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                      http_headers headers = {},
                                      std::function<void(std::string_view)> on_body = {}) {
    http_request_options req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.timeout = timeout;
    req.headers = std::move(headers);
    req.on_body = std::move(on_body);
    co_return co_await http_request(endpoint, std::move(req));
  }

  static std::string message_of(const http_reply& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object()) {
      if (auto* m = v.get_object().if_contains("message"); m && m->is_string()) {
        return std::string(m->get_string());
      }
    }
    return r.body.empty() ? "HTTP " + std::to_string(r.status) : r.body.substr(0, 300);
  }

  static void check(const http_reply& r, const std::string& what) {
    if (r.status >= 300) throw docker_error(r.status, what + ": " + message_of(r));
  }
};

namespace {

std::string encode_component(const std::string& s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

// Image references go into paths unencoded (the engines route "/images/{name:.*}/json" on the
// raw path, so "%2F" would not match); refuse anything outside the reference grammar instead.
std::string image_path(const std::string& image) {
  if (image.empty()) throw docker_error(400, "empty image reference");
  for (char c : image) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '/' || c == ':' || c == '@' || c == '-' || c == '_';
    if (!ok) throw docker_error(400, "invalid image reference '" + image + "'");
  }
  return image;
}

}  // namespace

std::string registry_host_of(const std::string& image) {
  auto slash = image.find('/');
  if (slash == std::string::npos) return "";
  std::string first = image.substr(0, slash);
  // Docker's rule: the first component is a registry when it has a dot, a port or is localhost.
  if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
      first == "localhost") {
    return first;
  }
  return "";
}

docker_client::docker_client(const std::string& url) : impl_(std::make_shared<impl>()) {
  // API 1.41 is what podman 4 and Docker 20.10+ both serve.
  impl_->endpoint = parse_endpoint_url(url, "/v1.41");
  impl_->endpoint.base_path = "/v1.41";
}

asio::awaitable<void> docker_client::ping() {
  auto r = co_await impl_->request("GET", "/_ping", "", std::chrono::seconds(10));
  impl::check(r, "ping");
}

asio::awaitable<bool> docker_client::image_exists(const std::string& image) {
  auto r = co_await impl_->request("GET", "/images/" + image_path(image) + "/json");
  if (r.status == 404) co_return false;
  impl::check(r, "inspect image " + image);
  co_return true;
}

asio::awaitable<void> docker_client::pull(const std::string& image,
                                          const std::optional<registry_credentials>& credentials,
                                          std::function<void(int)> progress) {
  http_headers headers;
  if (credentials) {
    json::object auth{{"username", credentials->username},
                      {"password", credentials->password},
                      {"serveraddress", credentials->server}};
    if (!credentials->email.empty()) auth["email"] = credentials->email;
    std::string encoded = base64_encode(
        std::span(reinterpret_cast<const uint8_t*>(json::serialize(auth).data()),
                  json::serialize(auth).size()));
    // X-Registry-Auth is base64url.
    for (auto& c : encoded) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    headers.emplace_back("X-Registry-Auth", encoded);
  }
  // The answer is a stream of JSON objects; errors after the 200 come as {"error": ...}.
  // Progress = downloaded bytes over total bytes of the layers seen so far.
  std::string pending;
  std::string stream_error;
  std::map<std::string, std::pair<int64_t, int64_t>> layers;
  int last_reported = -1;
  auto on_body = [&](std::string_view piece) {
    pending.append(piece);
    size_t start = 0;
    for (;;) {
      // Objects are separated by newlines on Docker, concatenated on some podman versions:
      // let the parser find each object's end.
      while (start < pending.size() && (pending[start] == '\n' || pending[start] == '\r' ||
                                        pending[start] == ' ')) {
        ++start;
      }
      if (start >= pending.size()) break;
      json::stream_parser p;
      boost::system::error_code ec;
      size_t used = p.write_some(pending.data() + start, pending.size() - start, ec);
      if (ec || !p.done()) break;  // incomplete: wait for more
      auto v = p.release();
      start += used;
      if (!v.is_object()) continue;
      auto& o = v.get_object();
      if (auto* e = o.if_contains("error"); e && e->is_string()) stream_error = e->get_string();
      auto* id = o.if_contains("id");
      auto* detail = o.if_contains("progressDetail");
      if (id && id->is_string() && detail && detail->is_object()) {
        auto& d = detail->get_object();
        auto* cur = d.if_contains("current");
        auto* tot = d.if_contains("total");
        if (cur && tot && cur->is_number() && tot->is_number()) {
          layers[std::string(id->get_string())] = {cur->to_number<int64_t>(),
                                                   tot->to_number<int64_t>()};
        }
      }
      int64_t cur_sum = 0, tot_sum = 0;
      for (auto& [_, ct] : layers) {
        cur_sum += ct.first;
        tot_sum += ct.second;
      }
      int pct = tot_sum > 0 ? static_cast<int>(cur_sum * 100 / tot_sum) : 0;
      if (progress && pct != last_reported && pct < 100) {
        last_reported = pct;
        progress(pct);
      }
    }
    pending.erase(0, start);
  };
  auto r = co_await impl_->request("POST", "/images/create?fromImage=" + encode_component(image),
                                   "", std::chrono::minutes(30), std::move(headers), on_body);
  on_body("");
  if (r.status >= 300) {
    throw docker_error(r.status, "pull " + image + ": " +
                                     (stream_error.empty() ? pending.substr(0, 300) : stream_error));
  }
  if (!stream_error.empty()) throw docker_error(500, "pull " + image + ": " + stream_error);
  if (progress) progress(100);
}

asio::awaitable<void> docker_client::remove_image(const std::string& image) {
  auto r = co_await impl_->request("DELETE", "/images/" + image_path(image));
  if (r.status == 404) co_return;
  impl::check(r, "remove image " + image);
}

namespace {

// Plain functions, not in the coroutine: see parse_inspect below.
std::optional<std::string> image_id_of(const std::string& inspect_body) {
  boost::system::error_code ec;
  auto info = json::parse(inspect_body, ec);
  if (ec || !info.is_object()) return std::nullopt;
  auto* id = info.get_object().if_contains("Id");
  if (!id || !id->is_string()) return std::nullopt;
  return std::string(id->get_string());
}

// Ids (without "sha256:") of the listed images that are not in `used`.
std::vector<std::string> unused_image_ids(const std::string& images_body, const std::set<std::string>& used) {
  std::vector<std::string> unused;
  auto v = json::parse(images_body);
  if (!v.is_array()) return unused;
  for (const auto& img : v.get_array()) {
    if (!img.is_object()) continue;
    auto* id = img.get_object().if_contains("Id");
    if (!id || !id->is_string()) continue;
    std::string image_id(id->get_string());
    std::string bare = image_id.rfind("sha256:", 0) == 0 ? image_id.substr(7) : image_id;
    if (used.count(image_id) || used.count(bare) || used.count("sha256:" + bare)) continue;
    unused.push_back(bare);
  }
  return unused;
}

}  // namespace

asio::awaitable<std::optional<std::string>> docker_client::image_id(const std::string& image) {
  auto r = co_await impl_->request("GET", "/images/" + image_path(image) + "/json");
  if (r.status != 200) co_return std::nullopt;
  co_return image_id_of(r.body);
}

asio::awaitable<int> docker_client::prune_images(const std::vector<std::string>& keep) {
  // Done by hand rather than with /images/prune: podman's compat endpoint refuses the
  // dangling=false filter that "all unused images" needs. An image is in use when any
  // container (running or not) was created from it; the engine refuses (409) to delete one
  // that is, so a race with a new container is harmless.
  auto containers = co_await list_containers(true);
  std::set<std::string> used;
  for (const auto& c : containers) used.insert(c.image_id);
  // The engine resolves each kept reference (short name, default tag, registry) to its id.
  for (const auto& image : keep)
    if (auto id = co_await image_id(image)) used.insert(*id);
  auto r = co_await impl_->request("GET", "/images/json");
  impl::check(r, "list images");
  int removed = 0;
  for (const auto& id : unused_image_ids(r.body, used)) {
    auto d = co_await impl_->request("DELETE", "/images/" + id + "?force=false");
    if (d.status < 300) ++removed;
  }
  co_return removed;
}

asio::awaitable<std::vector<container_summary>> docker_client::list_containers(bool all) {
  auto r = co_await impl_->request("GET", std::string("/containers/json?all=") +
                                              (all ? "true" : "false"));
  impl::check(r, "list containers");
  std::vector<container_summary> out;
  auto v = json::parse(r.body);
  for (const auto& item : v.as_array()) {
    const auto& o = item.as_object();
    container_summary c;
    c.id = std::string(o.at("Id").as_string());
    if (auto* names = o.if_contains("Names"); names && names->is_array() && !names->get_array().empty()) {
      c.name = std::string(names->get_array()[0].as_string());
      if (!c.name.empty() && c.name[0] == '/') c.name.erase(0, 1);
    }
    if (auto* image = o.if_contains("Image"); image && image->is_string()) c.image = image->get_string();
    if (auto* iid = o.if_contains("ImageID"); iid && iid->is_string()) c.image_id = iid->get_string();
    if (auto* state = o.if_contains("State"); state && state->is_string()) c.state = state->get_string();
    if (auto* labels = o.if_contains("Labels"); labels && labels->is_object()) {
      for (const auto& [k, lv] : labels->get_object()) {
        if (lv.is_string()) c.labels[std::string(k)] = std::string(lv.get_string());
      }
    }
    out.push_back(std::move(c));
  }
  co_return out;
}

namespace {

// Plain function, not in the coroutine: g++ 12 reports a false -Wmismatched-new-delete for the
// coroutine frame when this much code lives in it.
container_state parse_inspect(const std::string& body) {
  container_state s;
  s.raw = json::parse(body).as_object();
  s.id = std::string(s.raw.at("Id").as_string());
  s.name = std::string(s.raw.at("Name").as_string());
  if (!s.name.empty() && s.name[0] == '/') s.name.erase(0, 1);
  if (auto* st = s.raw.if_contains("State"); st && st->is_object()) {
    const auto& o = st->get_object();
    if (auto* v = o.if_contains("Status"); v && v->is_string()) s.status = v->get_string();
    if (auto* v = o.if_contains("Running"); v && v->is_bool()) s.running = v->get_bool();
    if (auto* v = o.if_contains("ExitCode"); v && v->is_number()) s.exit_code = v->to_number<int>();
    if (auto* v = o.if_contains("StartedAt"); v && v->is_string()) s.started_at = v->get_string();
  }
  if (auto* v = s.raw.if_contains("RestartCount"); v && v->is_number()) {
    s.restart_count = v->to_number<int>();
  }
  if (auto* cfg = s.raw.if_contains("Config"); cfg && cfg->is_object()) {
    if (auto* labels = cfg->get_object().if_contains("Labels"); labels && labels->is_object()) {
      for (const auto& [k, lv] : labels->get_object()) {
        if (lv.is_string()) s.labels[std::string(k)] = std::string(lv.get_string());
      }
    }
  }
  return s;
}

}  // namespace

asio::awaitable<std::optional<container_state>> docker_client::inspect(const std::string& id) {
  auto r = co_await impl_->request("GET", "/containers/" + encode_component(id) + "/json");
  if (r.status == 404) co_return std::nullopt;
  impl::check(r, "inspect container " + id);
  co_return parse_inspect(r.body);
}

asio::awaitable<std::string> docker_client::create(const container_spec& spec) {
  json::object body;
  body["Image"] = spec.image;
  if (!spec.cmd.empty()) body["Cmd"] = json::array(spec.cmd.begin(), spec.cmd.end());
  body["Env"] = json::array(spec.env.begin(), spec.env.end());
  json::object labels;
  for (const auto& [k, v] : spec.labels) labels[k] = v;
  body["Labels"] = labels;
  json::object host;
  json::object exposed;
  json::object bindings;
  for (const auto& p : spec.ports) {
    std::string key = std::to_string(p.container_port) + (p.udp ? "/udp" : "/tcp");
    exposed[key] = json::object{};
    json::array list;
    if (auto* existing = bindings.if_contains(key)) list = existing->as_array();
    list.push_back(json::object{{"HostIp", p.host_ip}, {"HostPort", std::to_string(p.host_port)}});
    bindings[key] = list;
  }
  if (!exposed.empty()) body["ExposedPorts"] = exposed;
  host["PortBindings"] = bindings;
  json::array binds;
  json::array mounts;
  for (const auto& v : spec.volumes) {
    if (v.is_volume) {
      mounts.push_back(json::object{{"Type", "volume"},
                                    {"Source", v.source},
                                    {"Target", v.destination},
                                    {"ReadOnly", v.read_only}});
    } else {
      binds.emplace_back(v.source + ":" + v.destination + (v.read_only ? ":ro" : ":rw"));
    }
  }
  host["Binds"] = binds;
  if (!mounts.empty()) host["Mounts"] = mounts;
  host["ExtraHosts"] = json::array(spec.extra_hosts.begin(), spec.extra_hosts.end());
  if (spec.host_network) host["NetworkMode"] = "host";
  host["Privileged"] = spec.privileged;
  host["Init"] = spec.init;
  // The agent restarts containers itself (with back-off and STUCK_IN_RESTART), as upstream.
  host["RestartPolicy"] = json::object{{"Name", "no"}};
  json::object log_opts{{"max-size", spec.log_max_size}};
  if (spec.log_max_files > 0) log_opts["max-file"] = std::to_string(spec.log_max_files);
  host["LogConfig"] = json::object{{"Type", "json-file"}, {"Config", log_opts}};
  body["HostConfig"] = host;
  auto r = co_await impl_->request("POST", "/containers/create?name=" + encode_component(spec.name),
                                   json::serialize(body));
  impl::check(r, "create container " + spec.name);
  co_return std::string(json::parse(r.body).at("Id").as_string());
}

asio::awaitable<void> docker_client::start(const std::string& id) {
  auto r = co_await impl_->request("POST", "/containers/" + encode_component(id) + "/start");
  if (r.status == 304) co_return;  // already running
  impl::check(r, "start container " + id);
}

asio::awaitable<void> docker_client::stop(const std::string& id, int timeout_seconds) {
  auto r = co_await impl_->request(
      "POST", "/containers/" + encode_component(id) + "/stop?t=" + std::to_string(timeout_seconds),
      "", std::chrono::seconds(timeout_seconds + 30));
  if (r.status == 304 || r.status == 404) co_return;
  impl::check(r, "stop container " + id);
}

asio::awaitable<void> docker_client::remove(const std::string& id, bool force) {
  auto r = co_await impl_->request("DELETE", "/containers/" + encode_component(id) +
                                                 "?v=true&force=" + (force ? "true" : "false"),
                                   "", std::chrono::seconds(60));
  if (r.status == 404) co_return;
  impl::check(r, "remove container " + id);
}

namespace {
uint64_t u64_at(const json::object& o, std::initializer_list<const char*> path) {
  const json::value* v = nullptr;
  const json::object* cur = &o;
  for (const char* key : path) {
    if (!cur) return 0;
    v = cur->if_contains(key);
    if (!v) return 0;
    cur = v->is_object() ? &v->get_object() : nullptr;
  }
  return v && v->is_number() ? v->to_number<uint64_t>() : 0;
}

container_stats parse_stats(const std::string& body) {
  container_stats st;
  auto v = json::parse(body);
  if (!v.is_object()) return st;
  const auto& o = v.get_object();
  st.memory_bytes = u64_at(o, {"memory_stats", "usage"});
  st.cpu_total_ns = u64_at(o, {"cpu_stats", "cpu_usage", "total_usage"});
  st.system_cpu_ns = u64_at(o, {"cpu_stats", "system_cpu_usage"});
  st.online_cpus = static_cast<int>(std::max<uint64_t>(1, u64_at(o, {"cpu_stats", "online_cpus"})));
  return st;
}
}  // namespace

asio::awaitable<container_stats> docker_client::stats(const std::string& id) {
  auto r = co_await impl_->request("GET", "/containers/" + encode_component(id) +
                                              "/stats?stream=false&one-shot=true");
  impl::check(r, "stats of container " + id);
  co_return parse_stats(r.body);
}

asio::awaitable<std::string> docker_client::bridge_gateway() {
  auto r = co_await impl_->request("GET", "/networks");
  impl::check(r, "list networks");
  auto v = json::parse(r.body);
  if (!v.is_array()) co_return "";
  for (const char* wanted : {"bridge", "podman"}) {
    for (const auto& n : v.get_array()) {
      if (!n.is_object()) continue;
      const auto& o = n.get_object();
      auto* name = o.if_contains("Name");
      if (!name || !name->is_string() || name->get_string() != wanted) continue;
      auto* ipam = o.if_contains("IPAM");
      if (!ipam || !ipam->is_object()) continue;
      auto* config = ipam->get_object().if_contains("Config");
      if (!config || !config->is_array()) continue;
      for (const auto& c : config->get_array()) {
        if (!c.is_object()) continue;
        auto* gw = c.get_object().if_contains("Gateway");
        if (gw && gw->is_string() && !gw->get_string().empty()) co_return std::string(gw->get_string());
      }
    }
  }
  co_return "";
}

}  // namespace fogmesh::agent
