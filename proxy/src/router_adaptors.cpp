#include "fogmesh/proxy/router_adaptors.hpp"

#include <stdexcept>

#include "adaptor_io.hpp"
#include "adaptors_internal.hpp"
#include "server/adaptors.hpp"

namespace fogmesh::proxy {

namespace {

using router::generic_entity;

void validate_common(const generic_entity& e) {
  adaptor::require_attribute(e, "address");
  adaptor::require_port(e);
}

void validate_http(const generic_entity& e) {
  validate_common(e);
  const std::string version = adaptor::attribute(e, "protocolVersion", "HTTP1");
  if (version != "HTTP1") {
    throw std::invalid_argument("attribute 'protocolVersion': '" + version +
                                "' is not supported (only HTTP1)");
  }
}

}  // namespace

void register_router_adaptors() {
  router::register_adaptor({"tcpListener", validate_common, adaptor::make_tcp_listener});
  router::register_adaptor({"tcpConnector", validate_common, adaptor::make_tcp_connector});
  router::register_adaptor({"httpListener", validate_http, adaptor::make_http_listener});
  router::register_adaptor({"httpConnector", validate_http, adaptor::make_http_connector});
}

}  // namespace fogmesh::proxy
