// fogmesh-agent's command line, modelled on iofog-agent's: provision, deprovision, status,
// info, config, run. Every command takes --config-dir DIR (default /etc/fogmesh/agent).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>

#include "controller_client.hpp"
#include "fogmesh/agent/config_store.hpp"
#include "fogmesh/agent/daemon.hpp"
#include "fogmesh/agent/docker_client.hpp"
#include "fogmesh/common/log.hpp"
#include "http_client.hpp"
#include "reconciler.hpp"
#include "system_info.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* usage = R"(fogmesh-agent — fogmesh edge node agent (ioFog agent compatible)

Usage: fogmesh-agent [--config-dir DIR] <command> [options]

Commands:
  provision <key> [--controller URL] [--type 1|2] [--controller-ca FILE]
                  [--insecure-tls true]
                      provision this node with a key from the controller
                      (GET /api/v3/iofog/:uuid/provisioning-key); URL like
                      http://controller:51121/api/v3 (saved for later commands)
  deprovision         tell the controller, remove this node's microservices, forget the
                      identity (works offline: the controller is told when reachable)
  status              the running daemon's status (via the local API admin token)
  info                identity, settings and the last config from the controller
  config [options]    show settings, or change them:
      --controller URL            --docker-url URL (default: controller's dockerUrl;
      --local-api-bind ADDR[,..]                    DOCKER_HOST overrides both)
      --local-api-port N          --local-api-require-token true|false
      --local-api-bind-bridge true|false          --log-level LEVEL
      --router-binary PATH        fogmesh-router to supervise (default: next to
                                  fogmesh-agent, else from PATH)
      --router-run-as process|container
                                  the fog's router microservice as a supervised
                                  fogmesh-router process (default) or a container
      --router-held-messages N    ioMessages for other agents held until the router
                                  takes them (default 10000); beyond, a publish is
                                  refused (503) rather than dropped
  run [--router-binary PATH]
                      run the daemon in the foreground (systemd: deploy/systemd/)
  help, --help        this text

Options:
  --config-dir DIR    config and identity directory (default /etc/fogmesh/agent)
)";

template <class T>
T run_sync(asio::awaitable<T> task) {
  asio::io_context io;
  std::optional<T> value;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value = std::move(v);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

void run_sync_void(asio::awaitable<void> task) {
  asio::io_context io;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

bool parse_bool(const std::string& option, const std::string& v) {
  if (v == "true" || v == "on" || v == "yes") return true;
  if (v == "false" || v == "off" || v == "no") return false;
  throw std::invalid_argument(option + " takes true or false, not '" + v + "'");
}

int parse_int(const std::string& option, const std::string& v, int lo, int hi) {
  size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < lo || n > hi) {
    throw std::invalid_argument(option + " takes a number from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + ", not '" + v + "'");
  }
  return n;
}

struct cli_args {
  std::string config_dir = default_config_dir;
  std::string command;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;  // --name value
};

cli_args parse(int argc, char** argv) {
  cli_args a;
  // Options that take no value.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      a.command = "help";
      return a;
    }
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg, value;
      if (auto eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
      } else {
        if (i + 1 >= argc) throw std::invalid_argument(name + " needs a value");
        value = argv[++i];
      }
      if (name == "--config-dir") {
        a.config_dir = value;
      } else {
        a.options.emplace_back(name, value);
      }
    } else if (a.command.empty()) {
      a.command = arg;
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

void reject_unknown(const cli_args& a, std::initializer_list<const char*> allowed) {
  for (const auto& [name, _] : a.options) {
    bool ok = false;
    for (const char* x : allowed) ok = ok || name == x;
    if (!ok) throw std::invalid_argument("'" + a.command + "' does not take " + name);
  }
}

std::optional<std::string> option(const cli_args& a, const char* name) {
  std::optional<std::string> v;
  for (const auto& [n, value] : a.options) {
    if (n == name) v = value;
  }
  return v;
}

int cmd_provision(const cli_args& a) {
  reject_unknown(a, {"--controller", "--type", "--controller-ca", "--insecure-tls"});
  if (a.positional.size() != 1)
    throw std::invalid_argument("usage: fogmesh-agent provision <key> [--controller URL]");
  config_store store(a.config_dir);
  auto settings = store.load_settings();
  std::string url = option(a, "--controller").value_or(settings.controller_url);
  if (url.empty()) {
    throw std::invalid_argument("no controller URL: pass --controller http://HOST:51121/api/v3");
  }
  int type =
      option(a, "--type") ? parse_int("--type", *option(a, "--type"), 1, 2) : detect_fog_type();
  if (auto ca = option(a, "--controller-ca")) {
    if (!read_file(*ca)) throw std::invalid_argument("--controller-ca: no such file " + *ca);
    settings.controller_ca_file = *ca;
  }
  if (auto insecure = option(a, "--insecure-tls")) {
    settings.controller_tls_insecure = parse_bool("--insecure-tls", *insecure);
  }
  controller_client client(url, "", settings.controller_ca_file, settings.controller_tls_insecure);
  provision_result r;
  try {
    r = run_sync(client.provision(a.positional[0], type));
  } catch (const controller_error& e) {
    std::cerr << "provisioning failed: " << e.what() << " (" << e.name() << ", HTTP " << e.status()
              << ")\n";
    return 1;
  } catch (const boost::system::system_error& e) {
    std::string why = e.code().message();
    if (e.code().category() == boost::asio::error::get_ssl_category()) {
      why = "TLS: " + why + " (pass --controller-ca FILE with the controller's CA certificate)";
    }
    std::cerr << "provisioning failed: cannot reach the controller at " << url << ": " << why
              << "\n";
    return 1;
  }
  settings.controller_url = url;
  store.save_settings(settings);
  store.save_identity({r.uuid, url, r.token});
  std::cout << "Provisioned: node " << r.uuid << " (controller " << url << ")\n";
  return 0;
}

std::string docker_url_for(const agent_settings& settings, const json::object& state) {
  if (const char* env = std::getenv("DOCKER_HOST"); env && *env) return env;
  if (!settings.docker_url.empty()) return settings.docker_url;
  if (auto* c = state.if_contains("config"); c && c->is_object()) {
    if (auto* d = c->get_object().if_contains("dockerUrl");
        d && d->is_string() && !d->get_string().empty()) {
      return std::string(d->get_string());
    }
  }
  return "unix:///var/run/docker.sock";
}

int cmd_deprovision(const cli_args& a) {
  reject_unknown(a, {});
  config_store store(a.config_dir);
  auto identity = store.load_identity();
  if (!identity) {
    std::cerr << "not provisioned (no identity in " << a.config_dir << ")\n";
    return 1;
  }
  auto settings = store.load_settings();
  auto state = store.load_state();
  std::vector<std::string> uuids;
  if (auto* list = state.if_contains("microservices"); list && list->is_array()) {
    for (const auto& m : list->get_array()) {
      if (m.is_object() && m.get_object().contains("uuid"))
        uuids.emplace_back(m.at("uuid").as_string());
    }
  }
  try {
    controller_client client(identity->controller_url, identity->token, settings.controller_ca_file,
                             settings.controller_tls_insecure);
    run_sync_void(client.deprovision(uuids));
  } catch (const std::exception& e) {
    // Deprovisioning must work without the controller (upstream Agent PR #295).
    std::cerr << "warning: could not tell the controller (" << e.what()
              << "); deprovisioning locally\n";
  }
  // Identity first: a running daemon then stops recreating what is removed below.
  store.remove_identity();
  try {
    docker_client docker(docker_url_for(settings, state));
    reconciler_options o;
    o.fog_uuid = identity->uuid;
    reconciler r(docker, o);
    run_sync_void(r.remove_all());
  } catch (const std::exception& e) {
    // The identity is gone already; a running daemon still removes them once the engine
    // answers, otherwise they must go by hand: say which.
    std::cerr << "warning: could not remove this node's containers: " << e.what()
              << " (they carry the label iofog-uuid=" << identity->uuid << ")\n";
  }
  std::cout << "Deprovisioned: node " << identity->uuid << "\n";
  return 0;
}

std::string local_api_host(const agent_settings& s) {
  for (const auto& b : s.local_api_bind) {
    if (b != "0.0.0.0" && b != "::") return b;
  }
  return "127.0.0.1";
}

int cmd_status(const cli_args& a) {
  reject_unknown(a, {});
  config_store store(a.config_dir);
  auto settings = store.load_settings();
  auto identity = store.load_identity();
  json::object out{{"provisioned", identity.has_value()}, {"uuid", identity ? identity->uuid : ""}};
  int port = settings.local_api_port;
  if (auto p = read_file(store.path("local-api-port"))) {
    try {
      port = std::stoi(*p);
    } catch (const std::exception&) {
    }
  }
  try {
    http_endpoint e;
    e.host = local_api_host(settings);
    e.port = std::to_string(port);
    http_request_options req;
    req.target = "/v2/status";
    req.timeout = std::chrono::seconds(5);
    req.headers.emplace_back("Authorization", store.local_api_admin_token());
    auto reply = run_sync(http_request(e, req));
    if (reply.status != 200)
      throw std::runtime_error("local API answered " + std::to_string(reply.status) + ": " +
                               reply.body);
    out["daemon"] = "running";
    out["status"] = json::parse(reply.body);
  } catch (const std::exception& e) {
    out["daemon"] = "not running";
    out["reason"] = e.what();
  }
  std::cout << json::serialize(out) << "\n";
  return 0;
}

int cmd_info(const cli_args& a) {
  reject_unknown(a, {});
  config_store store(a.config_dir);
  auto identity = store.load_identity();
  auto state = store.load_state();
  json::object out{{"configDir", store.dir()},
                   {"provisioned", identity.has_value()},
                   {"uuid", identity ? identity->uuid : ""},
                   {"controllerUrl", identity ? identity->controller_url : ""},
                   {"fogType", detect_fog_type()},
                   {"settings", store.load_settings().to_json()}};
  if (auto* c = state.if_contains("config")) out["controllerConfig"] = *c;
  if (auto* m = state.if_contains("microservices"); m && m->is_array()) {
    json::array ids;
    for (const auto& x : m->get_array()) {
      if (x.is_object() && x.get_object().contains("uuid")) ids.push_back(x.at("uuid"));
    }
    out["microservices"] = ids;
  }
  std::cout << json::serialize(out) << "\n";
  return 0;
}

int cmd_config(const cli_args& a) {
  reject_unknown(a, {"--controller", "--docker-url", "--local-api-bind", "--local-api-port",
                     "--local-api-require-token", "--local-api-bind-bridge", "--log-level",
                     "--router-binary", "--router-run-as", "--router-held-messages"});
  config_store store(a.config_dir);
  auto s = store.load_settings();
  if (a.options.empty()) {
    std::cout << json::serialize(s.to_json()) << "\n";
    return 0;
  }
  for (const auto& [name, value] : a.options) {
    if (name == "--controller") {
      parse_endpoint_url(value, "/api/v3");  // validates
      s.controller_url = value;
    } else if (name == "--docker-url") {
      if (!value.empty()) parse_endpoint_url(value, "/v1.41");
      s.docker_url = value;
    } else if (name == "--local-api-bind") {
      s.local_api_bind.clear();
      size_t start = 0;
      while (start <= value.size()) {
        auto comma = value.find(',', start);
        std::string addr =
            value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!addr.empty()) s.local_api_bind.push_back(addr);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (s.local_api_bind.empty())
        throw std::invalid_argument("--local-api-bind needs at least one address");
    } else if (name == "--local-api-port") {
      s.local_api_port = parse_int(name, value, 0, 65535);
    } else if (name == "--local-api-require-token") {
      s.local_api_require_token = parse_bool(name, value);
    } else if (name == "--local-api-bind-bridge") {
      s.local_api_bind_bridge = parse_bool(name, value);
    } else if (name == "--router-binary") {
      s.router_binary = value;
    } else if (name == "--router-run-as") {
      if (value != "process" && value != "container") {
        throw std::invalid_argument("--router-run-as takes process or container");
      }
      s.router_run_as = value;
    } else if (name == "--router-held-messages") {
      s.router_held_messages = parse_int(name, value, 1, agent_settings::router_held_messages_max);
    } else if (name == "--log-level") {
      spdlog::level::level_enum level;
      if (!log::parse_level(value, level))
        throw std::invalid_argument("unknown log level '" + value + "'");
      s.log_level = value;
    }
  }
  store.save_settings(s);
  std::cout << json::serialize(s.to_json()) << "\n";
  std::cout << "(a running daemon applies these on restart)\n";
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  try {
    auto a = parse(argc, argv);
    if (a.command.empty() || a.command == "help") {
      std::cout << usage;
      return a.command.empty() ? 2 : 0;
    }
    if (a.command == "provision") return cmd_provision(a);
    if (a.command == "deprovision") return cmd_deprovision(a);
    if (a.command == "status") return cmd_status(a);
    if (a.command == "info") return cmd_info(a);
    if (a.command == "config") return cmd_config(a);
    if (a.command == "run") {
      reject_unknown(a, {"--router-binary"});
      daemon_options options;
      for (const auto& [name, value] : a.options) {
        if (name == "--router-binary") options.router_binary = value;
      }
      return run_daemon(a.config_dir, options);
    }
    std::cerr << "unknown command '" << a.command << "' (see fogmesh-agent --help)\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "fogmesh-agent: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "fogmesh-agent: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace fogmesh::agent
