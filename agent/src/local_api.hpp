// The local API microservices call (ioFog's :54321 paths): /v2/config/get, /v2/messages/next,
// /v2/messages/new, /v2/messages/query, /v2/edgeResources, the control WebSocket
// (/v2/control/socket/id/<id>: 0xC config changed, 0xF edge resources changed, 0xB ack) and the
// message WebSocket (/v2/message/socket/id/<id>: 0xD message both ways, 0xE receipt, 0xB ack),
// plus admin endpoints (/v2/status, /v2/info) behind the local admin token.
//
// Unlike upstream, microservice endpoints need that microservice's own token (Authorization
// header, or ?token= for WebSocket clients that cannot set headers), and a token only grants
// its own id; `require_token = false` is the explicit opt-out. Listens on the configured
// addresses only (loopback by default, plus the container bridge's gateway).
//
// Runs on the daemon's io_context (single thread); handlers never block.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "message_bus.hpp"

namespace fogmesh::agent {

struct local_api_options {
  std::vector<std::string> bind = {"127.0.0.1"};
  int port = 54321;
  bool require_token = true;
  std::string admin_token;
  std::function<boost::json::object()> status;  // for GET /v2/status
  std::function<boost::json::object()> info;    // for GET /v2/info
};

class local_api {
 public:
  local_api(boost::asio::io_context& io, local_api_options options, message_bus& bus);
  ~local_api();

  // Binds every address (throws std::runtime_error naming the address on failure) and starts
  // accepting. port() tells the bound port (when options.port is 0).
  void start();
  // Adds a listen address after start (the bridge gateway, once the engine told us).
  void listen_also(const std::string& address);
  void stop();
  int port() const;

  // Microservice uuid → its config JSON string and local API token.
  void set_microservices(std::map<std::string, std::pair<std::string, std::string>> configs);
  // What GET /v2/edgeResources answers: the edge resources linked to this node.
  void set_edge_resources(boost::json::array resources);
  // Tells the microservice's control socket that its config changed (0xC).
  void notify_config_changed(const std::string& uuid);
  void notify_edge_resources_changed();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace fogmesh::agent
