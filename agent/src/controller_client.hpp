// The agent side of the controller's /api/v3/agent/* protocol (iofog-control-plane.md §2).
// Stateless apart from the endpoint and token; every call is one HTTP request on the caller's
// io_context. Transport failures throw boost::system::system_error; HTTP errors throw
// controller_error carrying the status and the controller's {name,message}.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "http_client.hpp"

namespace fogmesh::agent {

class controller_error : public std::runtime_error {
 public:
  controller_error(unsigned status, std::string name, const std::string& message)
      : std::runtime_error(message), status_(status), name_(std::move(name)) {}
  unsigned status() const { return status_; }
  const std::string& name() const { return name_; }

 private:
  unsigned status_;
  std::string name_;
};

struct provision_result {
  std::string uuid;
  std::string token;
};

class controller_client {
 public:
  // url: "http[s]://host:port" or "http[s]://host:port/api/v3"; throws std::invalid_argument.
  // For https, ca_file (PEM) verifies the controller's certificate (else the system store);
  // tls_insecure skips verification.
  controller_client(const std::string& url, std::string token, const std::string& ca_file = "",
                    bool tls_insecure = false);

  boost::asio::awaitable<provision_result> provision(const std::string& key, int fog_type);
  boost::asio::awaitable<void> deprovision(const std::vector<std::string>& microservice_uuids);
  // Held by the controller up to wait_seconds when nothing changed.
  boost::asio::awaitable<boost::json::value> changes(int wait_seconds);
  boost::asio::awaitable<void> ack_changes(const std::string& last_updated);
  boost::asio::awaitable<boost::json::value> config();
  boost::asio::awaitable<boost::json::value> microservices();
  boost::asio::awaitable<boost::json::value> registries();
  // Edge resources linked to this node (an array; some controllers wrap it in
  // {"edgeResources": [...]}).
  boost::asio::awaitable<boost::json::value> edge_resources();
  boost::asio::awaitable<void> put_status(const boost::json::object& status);
  boost::asio::awaitable<void> delete_node();

 private:
  boost::asio::awaitable<boost::json::value> call(const std::string& method,
                                                  const std::string& target, std::string body,
                                                  std::chrono::milliseconds timeout);
  http_endpoint endpoint_;
  std::string token_;
};

}  // namespace fogmesh::agent
