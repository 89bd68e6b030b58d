// The agent's config directory (default /etc/fogmesh/agent): what the operator sets, who the
// agent is, and the last state the controller sent (so the agent keeps working offline and
// after a restart). Every file is written atomically (temp file + rename); files holding
// secrets are mode 0600.
//
//   agent.json        settings (operator-editable; `fogmesh-agent config` edits it)
//   identity.json     {uuid, controllerUrl} after provisioning
//   token             the controller-issued agent token (0600)
//   state.json        last controller config, microservices, registries, local API tokens (0600)
//   local-api-token   admin token for the local API's admin endpoints (0600)
//
// Not thread-safe: the daemon's loop thread or the CLI owns it.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fogmesh::agent {

inline constexpr const char* default_config_dir = "/etc/fogmesh/agent";

struct agent_settings {
  std::string controller_url;            // "http://host:51121/api/v3" or https://…
  std::string controller_ca_file;        // PEM to verify an https controller (else system CAs)
  bool controller_tls_insecure = false;  // skip certificate verification: explicit only
  // Local API listen addresses: loopback by default (not 0.0.0.0); the daemon also binds the
  // container bridge's gateway when `local_api_bind_bridge` is set, so microservices reach it.
  std::vector<std::string> local_api_bind = {"127.0.0.1"};
  bool local_api_bind_bridge = true;
  int local_api_port = 54321;
  // false only by explicit choice: every microservice endpoint then answers without a token.
  bool local_api_require_token = true;
  std::string docker_url;  // overrides the controller's dockerUrl; DOCKER_HOST overrides both
  std::string log_level = "info";
  int long_poll_seconds = 30;
  int reconcile_interval_ms = 2000;
  int restart_backoff_ms = 1000;       // first restart delay, doubled per restart...
  int restart_backoff_max_ms = 60000;  // ...up to this
  int retry_backoff_max_ms = 15000;    // controller retry back-off cap (waits are jittered)
  // The fog's router microservice (image iofog/router): "process" runs fogmesh-router as a
  // supervised child of the agent (default), "container" runs the image like any microservice.
  std::string router_run_as = "process";
  // fogmesh-router to run; empty: next to fogmesh-agent, else from PATH.
  std::string router_binary;
  // ioMessages held for receivers on other agents until the router accepts them (queued for
  // credit, or sent and unsettled); at the bound the local API refuses such publishes (503 /
  // an error frame) instead of dropping. ~1.4 KB each for 1 KiB payloads (JSON form).
  int router_held_messages = 10000;
  static constexpr int router_held_messages_max = 10000000;  // from 1

  boost::json::object to_json() const;
  // Throws std::invalid_argument naming the bad key.
  static agent_settings from_json(const boost::json::value& v);
};

struct agent_identity {
  std::string uuid;
  std::string controller_url;
  std::string token;
};

class config_store {
 public:
  explicit config_store(std::string dir);
  const std::string& dir() const { return dir_; }

  // Creates the directory (0700) if missing.
  void ensure_dir() const;

  agent_settings load_settings() const;  // defaults when agent.json is missing
  void save_settings(const agent_settings& settings) const;

  std::optional<agent_identity> load_identity() const;
  void save_identity(const agent_identity& identity) const;
  void remove_identity() const;

  // state.json as a JSON object ({} when missing or unreadable).
  boost::json::object load_state() const;
  void save_state(const boost::json::object& state) const;

  // Returns the admin token, creating it on first use.
  std::string local_api_admin_token() const;

  std::string path(const char* name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// Writes `content` to `path` atomically with the given mode. Throws std::system_error.
void write_file_atomic(const std::string& path, const std::string& content, unsigned mode);
// Reads a whole file; nullopt when it does not exist. Throws on other errors.
std::optional<std::string> read_file(const std::string& path);
// 32 random bytes as 64 hex characters (getrandom).
std::string random_token_hex(size_t bytes = 32);

}  // namespace fogmesh::agent
