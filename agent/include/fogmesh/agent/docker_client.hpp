// Docker Engine API client over its unix socket (also podman's Docker-compatible service):
// the subset the agent needs to run microservices — images (inspect, pull with credentials and
// progress), containers (list, inspect, create, start, stop, remove), networks. No CLI
// shell-outs. Every call is one request on the caller's io_context; failures throw
// docker_error (HTTP status + the engine's message) or boost::system::system_error (transport).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fogmesh::agent {

class docker_error : public std::runtime_error {
 public:
  docker_error(unsigned status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  unsigned status() const { return status_; }

 private:
  unsigned status_;
};

struct registry_credentials {
  std::string server;  // registry host, e.g. "registry.example.com:5000"
  std::string username;
  std::string password;
  std::string email;
};

struct container_summary {
  std::string id;
  std::string name;   // without the leading '/'
  std::string image;
  std::string image_id;
  std::string state;  // "running", "exited", "created", ...
  std::map<std::string, std::string> labels;
};

struct port_binding {
  int container_port = 0;
  int host_port = 0;
  bool udp = false;
  std::string host_ip;  // empty: all addresses (as upstream)
};

struct volume_binding {
  std::string source;       // host path (bind) or volume name
  std::string destination;  // path in the container
  bool read_only = false;
  bool is_volume = false;   // named volume instead of a bind mount
};

struct container_spec {
  std::string name;
  std::string image;
  std::vector<std::string> cmd;  // empty: the image's default
  std::vector<std::string> env;  // "KEY=value"
  std::map<std::string, std::string> labels;
  std::vector<port_binding> ports;
  std::vector<volume_binding> volumes;
  std::vector<std::string> extra_hosts;  // "name:address"
  bool host_network = false;
  bool privileged = false;
  bool init = true;  // a tiny init as PID 1 so SIGTERM stops the container promptly
  std::string log_max_size = "2m";
  int log_max_files = 0;  // 0: engine default
};

struct container_state {
  std::string id;
  std::string name;
  std::string status;  // "running", "exited", ...
  bool running = false;
  int exit_code = 0;
  int restart_count = 0;
  std::string started_at;  // RFC 3339 from the engine
  std::map<std::string, std::string> labels;
  boost::json::object raw;  // the whole inspect answer, for callers that need more
};

struct container_stats {
  uint64_t memory_bytes = 0;
  uint64_t cpu_total_ns = 0;   // the container's cumulative CPU time
  uint64_t system_cpu_ns = 0;  // the host's cumulative CPU time (same clock)
  int online_cpus = 1;
};

class docker_client {
 public:
  // url: "unix:///var/run/docker.sock" (tcp:// works too but is unauthenticated: avoid).
  explicit docker_client(const std::string& url);

  boost::asio::awaitable<void> ping();
  boost::asio::awaitable<bool> image_exists(const std::string& image);
  // Pulls `image` (with tag or digest); progress is called with 0..100 as layers download.
  // Throws docker_error with the engine's message (unknown image, auth failure, no network).
  boost::asio::awaitable<void> pull(const std::string& image,
                                    const std::optional<registry_credentials>& credentials,
                                    std::function<void(int)> progress);
  boost::asio::awaitable<void> remove_image(const std::string& image);
  // The engine's id of `image` ("sha256:…"); nullopt when the engine does not have it.
  boost::asio::awaitable<std::optional<std::string>> image_id(const std::string& image);
  // Removes every image no container uses (`docker image prune -a`) except those named in
  // `keep` (the images of microservices about to be deployed, which no container uses yet);
  // returns how many went.
  boost::asio::awaitable<int> prune_images(const std::vector<std::string>& keep = {});

  boost::asio::awaitable<std::vector<container_summary>> list_containers(bool all);
  // nullopt when there is no such container.
  boost::asio::awaitable<std::optional<container_state>> inspect(const std::string& id_or_name);
  // Returns the new container's id.
  boost::asio::awaitable<std::string> create(const container_spec& spec);
  boost::asio::awaitable<void> start(const std::string& id);
  boost::asio::awaitable<void> stop(const std::string& id, int timeout_seconds);
  boost::asio::awaitable<void> remove(const std::string& id, bool force);
  // One sample (no stream); CPU percentages come from the difference of two samples.
  boost::asio::awaitable<container_stats> stats(const std::string& id);
  // The gateway address of the default bridge network ("bridge" on Docker, "podman" on
  // podman): where containers reach the host. Empty when there is none.
  boost::asio::awaitable<std::string> bridge_gateway();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// Splits "host:5000/ns/img:tag" into the registry host ("" for Docker Hub) for credential lookup.
std::string registry_host_of(const std::string& image);

}  // namespace fogmesh::agent
