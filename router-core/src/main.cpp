// fogmesh-router: command line compatible with qdrouterd (-c/--config, -I, -d, -P) so tools that
// start qdrouterd can start this instead.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "engine/sasl.hpp"
#include "fogmesh/common/cli.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/router/config.hpp"
#include "fogmesh/router/router.hpp"
#include "fogmesh/router/version.hpp"
#ifdef FOGMESH_WITH_PROXY
#include "fogmesh/proxy/router_adaptors.hpp"
#endif

namespace {

constexpr const char* usage = R"(Usage: fogmesh-router [OPTIONS]

An AMQP 1.0 message router (io_uring engine), configured like Qpid Dispatch Router.

Options:
  -c, --config FILE     configuration file (qdrouterd brace syntax or JSON)
                        [default: /etc/fogmesh/router.conf]
  -I, --include DIR     accepted for qdrouterd compatibility; ignored
  -d, --daemon          run in the background
  -P, --pidfile FILE    write the process id to FILE
      --check           load and validate the configuration, then exit
      --hash-password   read a password from stdin, print an argon2id hash for a users file
      --log-level LEVEL trace, debug, info (default), warning, error
  -v, --version         print the version and exit
  -h, --help            print this help and exit

Signals: SIGTERM or SIGINT close every connection (unsettled deliveries are released to their
senders) and exit 0.
)";

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "fogmesh-router: %s\nTry 'fogmesh-router --help'.\n", message.c_str());
  return 2;
}

void apply_log_config(const fogmesh::router::router_config& cfg) {
  for (const auto& l : cfg.logs) {
    if (l.enable.empty()) continue;
    // qdrouterd's "info+" means info and above; "DEFAULT" is every module.
    std::string level = l.enable.substr(0, l.enable.find_first_of("+,"));
    if (l.module == "DEFAULT") fogmesh::log::set_default_level(level);
    else fogmesh::log::set_module_level("router." + l.module, level);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/fogmesh/router.conf";
  std::string pidfile;
  std::string log_level;
  bool daemonize = false;
  bool check_only = false;
  fogmesh::cli::arguments args(argc, argv);
  while (args.next()) {
    const std::string arg = args.current();
    try {
      if (fogmesh::cli::standard_option(arg, usage, "fogmesh-router", fogmesh::router::version())) {
        return 0;
      }
      if (arg == "-c" || arg == "--config") {
        config_path = args.value();
      } else if (arg == "-I" || arg == "--include") {
        args.value();
      } else if (arg == "-d" || arg == "--daemon") {
        daemonize = true;
      } else if (arg == "-P" || arg == "--pidfile") {
        pidfile = args.value();
      } else if (arg == "--check") {
        check_only = true;
      } else if (arg == "--log-level") {
        log_level = args.value();
      } else if (arg == "--hash-password") {
        std::string password;
        std::getline(std::cin, password);
        std::printf("%s\n", fogmesh::router::sasl::hash_password(password).c_str());
        return 0;
      } else {
        return fail_usage("unknown option '" + arg + "'");
      }
    } catch (const fogmesh::cli::usage_error& e) {
      return fail_usage(e.what());
    }
  }

#ifdef FOGMESH_WITH_PROXY
  fogmesh::proxy::register_router_adaptors();  // tcp/http listeners and connectors
#endif
  fogmesh::router::router_config config;
  try {
    config = fogmesh::router::load_config_file(config_path);
  } catch (const fogmesh::router::config_error& e) {
    std::fprintf(stderr, "fogmesh-router: %s\n", e.what());
    return 1;
  }
  if (check_only) {
    std::printf("%s: configuration OK\n", config_path.c_str());
    return 0;
  }
  apply_log_config(config);
  if (!log_level.empty() && !fogmesh::log::set_default_level(log_level)) {
    return fail_usage("unknown log level '" + log_level + "'");
  }
  auto logger = fogmesh::log::get("router");
  for (const auto& ignored : config.ignored) {
    logger->info("{}:{}: attribute '{}' of {} is accepted for qdrouterd compatibility but has no "
                 "effect", config.file, ignored.line, ignored.attribute, ignored.entity);
  }

  fogmesh::router::block_stop_signals();
  try {
    fogmesh::router::router r(std::move(config));
    if (daemonize && daemon(1, 0) != 0) {
      std::perror("fogmesh-router: daemon");
      return 1;
    }
    if (!pidfile.empty()) std::ofstream(pidfile) << getpid() << "\n";
    logger->info("fogmesh-router {} started (router id '{}', pid {})",
                 std::string(fogmesh::router::version()), r.config().router.id, getpid());
    r.run_until_signal();
    if (!pidfile.empty()) ::unlink(pidfile.c_str());
    logger->info("stopped");
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "fogmesh-router: cannot start: %s\n", e.what());
    return 1;
  }
  return 0;
}
