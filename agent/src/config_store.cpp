#include "fogmesh/agent/config_store.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace fogmesh::agent {

namespace json = boost::json;

void write_file_atomic(const std::string& path, const std::string& content, unsigned mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp);
  // open() honours the umask; the mode must be exact for secrets.
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::system_error(e, std::generic_category(), "write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(e, std::generic_category(), "rename " + tmp + " -> " + path);
  }
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    throw std::runtime_error("cannot read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string random_token_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

json::object agent_settings::to_json() const {
  json::array bind;
  for (const auto& b : local_api_bind) bind.emplace_back(b);
  return json::object{{"controllerUrl", controller_url},
                      {"controllerCaCert", controller_ca_file},
                      {"controllerTlsInsecure", controller_tls_insecure},
                      {"localApiBind", bind},
                      {"localApiBindBridge", local_api_bind_bridge},
                      {"localApiPort", local_api_port},
                      {"localApiRequireToken", local_api_require_token},
                      {"dockerUrl", docker_url},
                      {"logLevel", log_level},
                      {"longPollSeconds", long_poll_seconds},
                      {"reconcileIntervalMs", reconcile_interval_ms},
                      {"restartBackoffMs", restart_backoff_ms},
                      {"restartBackoffMaxMs", restart_backoff_max_ms},
                      {"retryBackoffMaxMs", retry_backoff_max_ms},
                      {"routerRunAs", router_run_as},
                      {"routerBinary", router_binary},
                      {"routerHeldMessages", router_held_messages}};
}

namespace {

int int_field(const json::object& o, const char* key, int current, int lo, int hi) {
  auto it = o.find(key);
  if (it == o.end()) return current;
  if (!it->value().is_int64() || it->value().get_int64() < lo || it->value().get_int64() > hi) {
    throw std::invalid_argument(std::string("'") + key + "' must be an integer from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
  }
  return static_cast<int>(it->value().get_int64());
}

std::string string_field(const json::object& o, const char* key, std::string current) {
  auto it = o.find(key);
  if (it == o.end()) return current;
  if (!it->value().is_string())
    throw std::invalid_argument(std::string("'") + key + "' must be a string");
  return std::string(it->value().get_string());
}

bool bool_field(const json::object& o, const char* key, bool current) {
  auto it = o.find(key);
  if (it == o.end()) return current;
  if (!it->value().is_bool())
    throw std::invalid_argument(std::string("'") + key + "' must be true or false");
  return it->value().get_bool();
}

}  // namespace

agent_settings agent_settings::from_json(const json::value& v) {
  if (!v.is_object()) throw std::invalid_argument("settings must be a JSON object");
  const auto& o = v.get_object();
  agent_settings s;
  s.controller_url = string_field(o, "controllerUrl", s.controller_url);
  s.controller_ca_file = string_field(o, "controllerCaCert", s.controller_ca_file);
  s.controller_tls_insecure = bool_field(o, "controllerTlsInsecure", s.controller_tls_insecure);
  if (auto it = o.find("localApiBind"); it != o.end()) {
    if (!it->value().is_array())
      throw std::invalid_argument("'localApiBind' must be an array of addresses");
    s.local_api_bind.clear();
    for (const auto& a : it->value().get_array()) {
      if (!a.is_string())
        throw std::invalid_argument("'localApiBind' must be an array of addresses");
      s.local_api_bind.emplace_back(a.get_string());
    }
  }
  s.local_api_bind_bridge = bool_field(o, "localApiBindBridge", s.local_api_bind_bridge);
  s.local_api_port = int_field(o, "localApiPort", s.local_api_port, 0, 65535);
  s.local_api_require_token = bool_field(o, "localApiRequireToken", s.local_api_require_token);
  s.docker_url = string_field(o, "dockerUrl", s.docker_url);
  s.log_level = string_field(o, "logLevel", s.log_level);
  s.long_poll_seconds = int_field(o, "longPollSeconds", s.long_poll_seconds, 0, 3600);
  s.reconcile_interval_ms =
      int_field(o, "reconcileIntervalMs", s.reconcile_interval_ms, 50, 3600000);
  s.restart_backoff_ms = int_field(o, "restartBackoffMs", s.restart_backoff_ms, 0, 3600000);
  s.restart_backoff_max_ms =
      int_field(o, "restartBackoffMaxMs", s.restart_backoff_max_ms, 0, 3600000);
  s.retry_backoff_max_ms = int_field(o, "retryBackoffMaxMs", s.retry_backoff_max_ms, 100, 3600000);
  s.router_run_as = string_field(o, "routerRunAs", s.router_run_as);
  if (s.router_run_as != "process" && s.router_run_as != "container") {
    throw std::invalid_argument("'routerRunAs' must be \"process\" or \"container\"");
  }
  s.router_binary = string_field(o, "routerBinary", s.router_binary);
  s.router_held_messages =
      int_field(o, "routerHeldMessages", s.router_held_messages, 1, router_held_messages_max);
  return s;
}

config_store::config_store(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

void config_store::ensure_dir() const {
  std::filesystem::create_directories(dir_);
  ::chmod(dir_.c_str(), 0700);
}

agent_settings config_store::load_settings() const {
  auto text = read_file(path("agent.json"));
  if (!text) return {};
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec) throw std::invalid_argument(path("agent.json") + " is not JSON: " + ec.message());
  try {
    return agent_settings::from_json(v);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path("agent.json") + ": " + e.what());
  }
}

void config_store::save_settings(const agent_settings& settings) const {
  ensure_dir();
  write_file_atomic(path("agent.json"), json::serialize(settings.to_json()) + "\n", 0644);
}

std::optional<agent_identity> config_store::load_identity() const {
  auto text = read_file(path("identity.json"));
  auto token = read_file(path("token"));
  if (!text || !token) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec || !v.is_object() || !v.get_object().contains("uuid")) return std::nullopt;
  agent_identity id;
  id.uuid = std::string(v.at("uuid").as_string());
  if (auto* u = v.get_object().if_contains("controllerUrl"); u && u->is_string()) {
    id.controller_url = std::string(u->get_string());
  }
  id.token = *token;
  while (!id.token.empty() && (id.token.back() == '\n' || id.token.back() == '\r'))
    id.token.pop_back();
  return id;
}

void config_store::save_identity(const agent_identity& identity) const {
  ensure_dir();
  write_file_atomic(path("token"), identity.token + "\n", 0600);
  write_file_atomic(path("identity.json"),
                    json::serialize(json::object{{"uuid", identity.uuid},
                                                 {"controllerUrl", identity.controller_url}}) +
                        "\n",
                    0644);
}

void config_store::remove_identity() const {
  std::error_code ec;
  std::filesystem::remove(path("identity.json"), ec);
  std::filesystem::remove(path("token"), ec);
  std::filesystem::remove(path("state.json"), ec);
}

json::object config_store::load_state() const {
  auto text = read_file(path("state.json"));
  if (!text) return {};
  boost::system::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec || !v.is_object()) return {};
  return v.get_object();
}

void config_store::save_state(const json::object& state) const {
  ensure_dir();
  write_file_atomic(path("state.json"), json::serialize(state), 0600);
}

std::string config_store::local_api_admin_token() const {
  if (auto t = read_file(path("local-api-token"))) {
    std::string token = *t;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (!token.empty()) return token;
  }
  ensure_dir();
  std::string token = random_token_hex();
  write_file_atomic(path("local-api-token"), token + "\n", 0600);
  return token;
}

}  // namespace fogmesh::agent
