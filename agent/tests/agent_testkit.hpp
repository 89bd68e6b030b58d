// Test kit for the agent's integration tests: our controller in-process on a throwaway
// PostgreSQL (the controller's testkit), the real fogmesh-agent binary as a child process, an
// isolated podman Docker-API service with an offline busybox image, and small clients (HTTP,
// WebSocket) for the local API.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testkit.hpp"  // controller testkit

namespace fogmesh::agent::test {

using controller::test::http;
using controller::test::http_result;
using controller::test::temp_dir;

// Polls `condition` every 100 ms until it holds or `deadline` passes (a deadline, not a
// timing assertion: generous, for loaded CI machines under ASan).
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds deadline = std::chrono::seconds(60));

// A TCP forwarder on a fixed 127.0.0.1 port: agents talk to the controller through it, so the
// controller can be stopped and started again (on another port: ours does not set SO_REUSEADDR)
// while agents keep the same URL. stop() resets every connection, open or new, as a dead host
// would, until start().
class tcp_forwarder {
 public:
  tcp_forwarder();
  ~tcp_forwarder();
  uint16_t port() const { return port_; }
  void set_target(uint16_t target_port);
  void start();
  void stop();
  // Connections accepted while up since construction (the agent opens one per request).
  uint64_t connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
};

// The controller in-process on 127.0.0.1 with its own PostgreSQL cluster, reached by agents
// through a tcp_forwarder so it can be taken away and brought back.
class controller_env {
 public:
  // tls: serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (ca_file() is its PEM).
  // max_long_poll_sec 0: change polls are answered at once, as a plain ioFog controller does.
  explicit controller_env(bool tls = false, int max_long_poll_sec = 60);
  ~controller_env();
  const std::string& ca_file() const { return ca_file_; }
  uint16_t port() const { return port_; }
  // What agents are given: the forwarder's stable address.
  std::string url() const {
    return std::string(tls_ ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(forwarder_.port()) + "/api/v3";
  }
  void stop();
  void restart();
  controller::test::pg_cluster& db() { return *db_; }
  // Connections agents made to the controller (through the forwarder).
  uint64_t agent_connections() const { return forwarder_.connections(); }

  http_result get(const std::string& path) { return request("GET", path, ""); }
  http_result post(const std::string& path, const std::string& body) {
    return request("POST", path, body);
  }
  http_result patch(const std::string& path, const std::string& body) {
    return request("PATCH", path, body);
  }
  http_result del(const std::string& path) { return request("DELETE", path, ""); }
  // Over TLS when the controller serves HTTPS.
  http_result request(const std::string& method, const std::string& path, const std::string& body);

  // Creates a fog (x86) and returns its uuid; `extra` is added to the JSON body.
  std::string create_fog(const std::string& name, const std::string& extra = "");
  std::string provisioning_key(const std::string& fog_uuid);
  // Microservice uuid by name from GET /microservices?application=...
  std::string microservice_uuid(const std::string& app, const std::string& name);
  // Status string of a microservice as the controller shows it.
  std::string microservice_status(const std::string& uuid);

 private:
  std::unique_ptr<controller::test::pg_cluster> db_;
  std::unique_ptr<controller::server> server_;
  tcp_forwarder forwarder_;
  uint16_t port_ = 0;
  bool tls_ = false;
  int max_long_poll_sec_ = 60;
  std::string ca_file_;
  std::string key_file_;
  std::unique_ptr<temp_dir> cert_dir_;
  std::string token_;
};

struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A loopback TCP port that was free a moment ago (bound to port 0, then closed).
int free_port();

// Runs the fogmesh-agent binary to completion with these arguments (and extra environment).
command_result run_agent_cli(const std::vector<std::string>& args,
                             const std::vector<std::string>& env = {});

// A config dir with test-friendly settings (ephemeral local API port, short intervals).
void write_test_settings(const std::string& config_dir, const std::string& extra_json = "");

// `fogmesh-agent run` as a child process; its log goes to <config_dir>/agent.log and is
// printed when a test fails.
class agent_process {
 public:
  agent_process(std::string config_dir, std::vector<std::string> env = {});
  ~agent_process();
  int local_api_port();  // waits for the daemon to publish it
  int terminate();       // SIGTERM; returns the exit status
  void kill9();
  bool running();
  std::string log() const;
  const std::string& config_dir() const { return config_dir_; }
  // Token the agent gave a microservice (from state.json), "" if none yet.
  std::string microservice_token(const std::string& uuid) const;

 private:
  std::string config_dir_;
  int pid_ = -1;
};

// POST to the local API with a microservice token.
http_result local_post(int port, const std::string& path, const std::string& body,
                       const std::string& token);

// Minimal blocking WebSocket client (binary frames) for the local API's sockets.
class ws_client {
 public:
  ws_client(int port, const std::string& path, const std::string& token);
  ~ws_client();
  void send_binary(const std::string& payload);
  // Next frame (binary or text) within the deadline; nullopt on timeout or close.
  std::optional<std::string> receive(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  bool last_was_text() const { return last_text_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  bool last_text_ = false;
};

// podman's Docker-compatible API on a private socket with private storage, with
// localhost/busybox:latest imported from busybox-static. skip_reason() is non-empty when podman
// cannot run here (not root, not installed): tests then exit 77. `plain_http_registries`
// ("host:port") are registries it may reach without TLS (a test registry on loopback).
class podman_service {
 public:
  explicit podman_service(const std::vector<std::string>& plain_http_registries = {});
  ~podman_service();
  static std::string skip_reason();
  std::string docker_host() const { return "unix://" + socket_; }
  // Runs `podman <args>` against this service's storage; returns stdout.
  std::string podman(const std::vector<std::string>& args, int* exit_code = nullptr) const;
  // Imports the busybox rootfs again as a distinct image (its own config) named `name`.
  void import_image(const std::string& name) const;

 private:
  // "CONTAINERS_CONF=… CONTAINERS_REGISTRIES_CONF=… podman --root … --runroot …": the podman
  // command line of this service's storage and settings.
  std::string podman_command() const;

  temp_dir dir_;
  std::string socket_;
  int pid_ = -1;
};

// Debian's docker-registry on a loopback port, with basic authentication for one user: a
// private registry the agent pulls from with the credentials the controller gives it.
// skip_reason() is non-empty when docker-registry or htpasswd is not installed.
class private_registry {
 public:
  private_registry(int port, const std::string& user, const std::string& password);
  ~private_registry();
  static std::string skip_reason();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const;

 private:
  temp_dir dir_;
  int port_;
  int pid_ = -1;
};

}  // namespace fogmesh::agent::test
