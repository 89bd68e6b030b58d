// Entity types served by code outside router-core: the proxy's tcpListener, tcpConnector,
// httpListener and httpConnector. The router binary registers them at start-up (before any
// router is built); every shard then creates one instance per configured entity on its own
// thread — at start from the config file, later through management CREATE — and destroys it
// on DELETE or shutdown. An instance works with its shard's event loop and in-router endpoints
// (shard::loop(), shard::make_endpoint()).
//
// Thread: register_adaptor before routers run; everything else on shard threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "fogmesh/router/config.hpp"

namespace fogmesh::router {

class shard;

class adaptor_instance {
 public:
  virtual ~adaptor_instance() = default;
  // Shutdown begins: stop accepting, finish or release what is in flight.
  virtual void stop() {}
  // Called by the shard's 250 ms housekeeping tick (timeouts).
  virtual void tick() {}
};

struct adaptor_type {
  std::string entity;  // config entity name, e.g. "tcpListener"
  // Checks the attributes; throws config_error (or std::invalid_argument) with a message that
  // names the attribute. May run on any thread.
  std::function<void(const generic_entity&)> validate;
  // Creates the instance on shard s, on s's thread. Throws std::system_error when a resource
  // (a port) is unavailable; the shard logs it and goes on without the instance.
  std::function<std::unique_ptr<adaptor_instance>(shard& s, const generic_entity&)> create;
};

void register_adaptor(adaptor_type type);
const adaptor_type* find_adaptor(std::string_view entity);

}  // namespace fogmesh::router
