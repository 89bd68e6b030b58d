// ioFog proxy configuration -> router adaptor entities.
//
// ioFog configures its proxy microservice (skupper-proxy, image iofog/proxy) with mapping
// strings, in three envelopes:
//   - the microservice config JSON the agent serves:
//       {"mappings": ["http:6000=>amqp:Q", "amqp:Q=>http:8080"], "networkRouter": {"host", "port"}}
//   - the Kubernetes port manager's form: a comma-separated list as the program argument
//       ("http:6000=>amqp:Q1,tcp:6001=>amqp:Q2") and the router host in ICPROXY_BRIDGE_HOST;
//   - single strings.
// Mappings:  <proto>:[host:]PORT=>amqp:ADDRESS   listen on PORT, send to ADDRESS
//            amqp:ADDRESS=><proto>:[host:]PORT   consume ADDRESS, connect to host:PORT
// with <proto> http or tcp. ioFog writes `amqp:Q=>http:PORT` and relies on the default target
// host (localhost: the proxy runs with host networking); the host form is a fogmesh extension,
// as is a bind host on the listening side.
//
// The result becomes qdrouterd/skupper-router entities (httpListener, httpConnector,
// tcpListener, tcpConnector with host, port, address) plus a connector to the network router,
// in the router_config types, so the in-router adaptors and fogmesh-proxy share one path.
//
// Thread: any. Errors throw proxy_config_error naming the offending text (start-up/config path).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fogmesh/router/config.hpp"

namespace fogmesh::proxy {

class proxy_config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class mapping_protocol { http, tcp };

struct proxy_mapping {
  enum class side {
    listener,   // <proto>:PORT=>amqp:ADDRESS
    connector,  // amqp:ADDRESS=><proto>:PORT
  };
  side role = side::listener;
  mapping_protocol protocol = mapping_protocol::http;
  std::string address;  // the AMQP address
  std::string host;     // listener: bind host; connector: target host
  std::uint16_t port = 0;
  std::string text;     // the mapping as written (used as the entity name)
};

struct mapping_defaults {
  std::string listen_host = "0.0.0.0";
  std::string target_host = "localhost";  // skupper-proxy's bridge host default
};

// Parses one mapping string. Throws proxy_config_error with the reason and the text.
proxy_mapping parse_mapping(std::string_view text, const mapping_defaults& defaults = {});
// Parses a comma-separated list (empty elements are skipped).
std::vector<proxy_mapping> parse_mapping_list(std::string_view list,
                                              const mapping_defaults& defaults = {});

struct network_router {
  std::string host = "localhost";
  std::uint16_t port = 5672;
};

struct proxy_config {
  std::vector<proxy_mapping> mappings;
  network_router router;
};

// The ioFog proxy microservice config JSON. Unknown keys are ignored (ioFog adds its own).
// Throws proxy_config_error (bad JSON with its line, a bad mapping, a bad router port, two
// listeners on one port).
proxy_config parse_proxy_json(std::string_view json, const mapping_defaults& defaults = {});

// The port manager's form: `mappings` as passed on the command line, router host from
// ICPROXY_BRIDGE_HOST ("host" or "host:port", default localhost:5672). `getenv` is injectable
// for tests.
proxy_config proxy_config_from_environment(
    std::string_view mappings,
    const std::function<const char*(const char*)>& getenv = nullptr,
    const mapping_defaults& defaults = {});

// Checks a config as a whole (two listeners on one port). Throws proxy_config_error.
void validate(const proxy_config& config);

// The adaptor entities for the mappings, as the router config keeps them
// (router_config::other): type httpListener/httpConnector/tcpListener/tcpConnector, attributes
// name (= mapping text), host, port, address, and protocolVersion HTTP1 for http.
std::vector<router::generic_entity> to_router_entities(const proxy_config& config);
// The AMQP connector to the network router: role uplink, a plain client connection over which
// the proxy attaches a link per address it sends to or receives from, so the network router can
// be fogmesh-router or qdrouterd (ioFog's), on its normal (messaging) listener.
router::connector_config network_router_connector(const proxy_config& config);

// The whole configuration of fogmesh-proxy as fogmesh-router config text (brace syntax): a
// standalone router `router_id` with one worker thread, the uplink connector and the adaptor
// entities. `fogmesh-proxy --print-config` shows it; router::parse_config loads it.
std::string standalone_router_config(const proxy_config& config, const std::string& router_id);

}  // namespace fogmesh::proxy
