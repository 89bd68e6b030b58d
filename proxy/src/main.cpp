// fogmesh-proxy: ioFog's proxy microservice (skupper-proxy, image iofog/proxy) as a small native
// binary. It is fogmesh-router's engine with the HTTP/TCP adaptors, running standalone with one
// uplink connection to the network router, so it accepts the same mapping strings and config
// JSON and speaks the same message mapping on the wire.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fogmesh/common/cli.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/proxy/proxy_config.hpp"
#include "fogmesh/proxy/router_adaptors.hpp"
#include "fogmesh/router/config.hpp"
#include "fogmesh/router/router.hpp"
#include "fogmesh/router/version.hpp"

namespace {

constexpr const char* usage = R"(Usage: fogmesh-proxy [OPTIONS] [MAPPINGS]

Exposes TCP and HTTP ports over an AMQP router and serves AMQP addresses to local TCP/HTTP
servers, like ioFog's proxy microservice. MAPPINGS is a comma-separated list (the port
manager's form), e.g.
  fogmesh-proxy 'http:6000=>amqp:orders,tcp:6001=>amqp:db'
  fogmesh-proxy --router 10.0.0.5:5672 'amqp:orders=>http:8080'

Mapping forms:  <http|tcp>:[HOST:]PORT=>amqp:ADDRESS   listen on PORT, send to ADDRESS
                amqp:ADDRESS=><http|tcp>:[HOST:]PORT   receive ADDRESS, connect to HOST:PORT

Options:
  -c, --config FILE     ioFog proxy config JSON: {"mappings":[...],
                        "networkRouter":{"host":H,"port":P}} ('-' reads stdin)
  -r, --router HOST[:PORT]
                        the network router [default: ICPROXY_BRIDGE_HOST, else localhost:5672]
      --id ID           router id of this proxy [default: proxy-<hostname>-<random>]
      --print-config    print the equivalent fogmesh-router configuration and exit
      --log-level LEVEL trace, debug, info (default), warning, error
  -v, --version         print the version and exit
  -h, --help            print this help and exit

The proxy connects to the router as an ordinary AMQP client (no special listener needed; works
with fogmesh-router and qdrouterd) and reconnects when the connection drops.
Signals: SIGTERM or SIGINT close every connection and exit 0.
)";

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "fogmesh-proxy: %s\nTry 'fogmesh-proxy --help'.\n", message.c_str());
  return 2;
}

std::string read_all(const std::string& path) {
  if (path == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fogmesh::proxy::proxy_config_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string default_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xffffffu);
  return std::string("proxy-") + host + "-" + suffix;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string router_override;
  std::string id;
  std::string log_level;
  std::vector<std::string> mapping_lists;
  bool print_config = false;
  fogmesh::cli::arguments args(argc, argv);
  while (args.next()) {
    const std::string arg = args.current();
    try {
      if (fogmesh::cli::standard_option(arg, usage, "fogmesh-proxy", fogmesh::router::version())) {
        return 0;
      }
      if (arg == "-c" || arg == "--config") {
        config_path = args.value();
      } else if (arg == "-r" || arg == "--router") {
        router_override = args.value();
      } else if (arg == "--id") {
        id = args.value();
      } else if (arg == "--print-config") {
        print_config = true;
      } else if (arg == "--log-level") {
        log_level = args.value();
      } else if (arg.starts_with("-") && arg.size() > 1) {
        return fail_usage("unknown option '" + arg + "'");
      } else {
        mapping_lists.push_back(arg);
      }
    } catch (const fogmesh::cli::usage_error& e) {
      return fail_usage(e.what());
    }
  }
  if (config_path.empty() && mapping_lists.empty()) {
    return fail_usage("no mappings: give MAPPINGS or --config FILE");
  }
  if (!log_level.empty() && !fogmesh::log::set_default_level(log_level)) {
    return fail_usage("unknown log level '" + log_level + "'");
  }

  fogmesh::proxy::proxy_config proxy;
  try {
    // The port manager's form reads ICPROXY_BRIDGE_HOST; --router and the JSON's networkRouter
    // are more specific and win.
    std::string joined;
    for (const auto& list : mapping_lists) joined += (joined.empty() ? "" : ",") + list;
    proxy = fogmesh::proxy::proxy_config_from_environment(joined);
    if (!config_path.empty()) {
      auto from_file = fogmesh::proxy::parse_proxy_json(read_all(config_path));
      proxy.router = from_file.router;
      proxy.mappings.insert(proxy.mappings.end(), from_file.mappings.begin(),
                            from_file.mappings.end());
    }
    if (!router_override.empty()) {
      proxy.router =
          fogmesh::proxy::proxy_config_from_environment("", [&](const char* name) -> const char* {
            return std::string_view(name) == "ICPROXY_BRIDGE_HOST" ? router_override.c_str()
                                                                   : nullptr;
          }).router;
    }
    fogmesh::proxy::validate(proxy);
  } catch (const fogmesh::proxy::proxy_config_error& e) {
    std::fprintf(stderr, "fogmesh-proxy: %s\n", e.what());
    return 1;
  }
  if (id.empty()) id = default_id();

  fogmesh::proxy::register_router_adaptors();
  const std::string text = fogmesh::proxy::standalone_router_config(proxy, id);
  if (print_config) {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  fogmesh::router::router_config config;
  try {
    config = fogmesh::router::parse_config(text, "<fogmesh-proxy>");
  } catch (const fogmesh::router::config_error& e) {
    std::fprintf(stderr, "fogmesh-proxy: %s\n", e.what());
    return 1;
  }
  auto logger = fogmesh::log::get("proxy");
  fogmesh::router::block_stop_signals();
  try {
    fogmesh::router::router r(std::move(config));
    logger->info("fogmesh-proxy {} started (id '{}', pid {}): {} mapping(s), network router {}:{}",
                 std::string(fogmesh::router::version()), id, getpid(), proxy.mappings.size(),
                 proxy.router.host, proxy.router.port);
    r.run_until_signal();
    logger->info("stopped");
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "fogmesh-proxy: cannot start: %s\n", e.what());
    return 1;
  }
  return 0;
}
