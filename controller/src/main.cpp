// fogmesh-controller: the ioFog v3-compatible control plane. Parses the command line, runs the
// embedded PostgreSQL when no --db is given, serves until SIGTERM/SIGINT.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "fogmesh/common/log.hpp"
#include "fogmesh/controller/embedded_postgres.hpp"
#include "fogmesh/controller/server.hpp"

namespace {

constexpr const char* usage = R"(Usage: fogmesh-controller [options]

ioFog v3-compatible control plane (REST API under /api/v3).

Options:
  --port N            listen port (default 51121; 0 picks a free port)
  --bind ADDR         listen address (default 0.0.0.0)
  --data-dir DIR      state directory; holds the embedded PostgreSQL cluster
                      (default /var/lib/fogmesh-controller as root,
                       else $XDG_DATA_HOME/fogmesh-controller or ~/.local/share/fogmesh-controller)
  --db URL            use an external PostgreSQL (postgresql://user:pass@host:port/db or
                      libpq key=value string) instead of the embedded cluster
  --db-connections N  database connections / worker threads (default 16, plus one)
  --io-threads N      threads for HTTP I/O (default 1)
  --log-level LEVEL   trace, debug, info, warning, error (default info)
  --tls-cert FILE     serve HTTPS with this PEM certificate chain (needs --tls-key)
  --tls-key FILE      PEM private key for --tls-cert
  --port-file FILE    write the bound port to FILE once listening (for scripts and tests)
  --public-ports A-B  range for microservices' public ports (default 6000-7000, B excluded)
  --help              this text
  --version           print the version
)";

std::string default_data_dir() {
  if (::geteuid() == 0) return "/var/lib/fogmesh-controller";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/fogmesh-controller";
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* pw = ::getpwuid(::geteuid());
    home = pw != nullptr ? pw->pw_dir : "/tmp";
  }
  return std::string(home) + "/.local/share/fogmesh-controller";
}

}  // namespace

int main(int argc, char** argv) {
  fogmesh::controller::server_options options;
  std::string data_dir;
  std::string port_file;
  auto log = fogmesh::log::get("controller");

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fogmesh-controller: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (arg == "--help" || arg == "-h") {
        std::fputs(usage, stdout);
        return 0;
      } else if (arg == "--version") {
        std::printf("fogmesh-controller %s\n", options.version.c_str());
        return 0;
      } else if (arg == "--port") {
        int p = std::stoi(value());
        if (p < 0 || p > 65535) throw std::out_of_range("port");
        options.port = static_cast<uint16_t>(p);
      } else if (arg == "--bind") {
        options.bind_address = value();
      } else if (arg == "--data-dir") {
        data_dir = value();
      } else if (arg == "--db") {
        options.db_conninfo = value();
      } else if (arg == "--db-connections") {
        options.db_connections = std::stoi(value());
      } else if (arg == "--io-threads") {
        options.io_threads = std::stoi(value());
        if (options.io_threads < 1) throw std::out_of_range("io threads");
      } else if (arg == "--log-level") {
        if (!fogmesh::log::set_default_level(value())) throw std::invalid_argument("level");
      } else if (arg == "--tls-cert") {
        options.tls_cert_file = value();
      } else if (arg == "--tls-key") {
        options.tls_key_file = value();
      } else if (arg == "--port-file") {
        port_file = value();
      } else if (arg == "--public-ports") {
        std::string range = value();
        auto dash = range.find('-');
        if (dash == std::string::npos) throw std::invalid_argument("range");
        size_t used_a = 0, used_b = 0;
        int a = std::stoi(range.substr(0, dash), &used_a);
        int b = std::stoi(range.substr(dash + 1), &used_b);
        if (used_a != dash || used_b != range.size() - dash - 1 || a < 1 || b > 65536 || b <= a)
          throw std::out_of_range("range");
        options.public_ports_start = a;
        options.public_ports_end = b;
      } else {
        std::fprintf(stderr, "fogmesh-controller: unknown option %s\n%s", arg.c_str(), usage);
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "fogmesh-controller: bad value for %s\n", arg.c_str());
      return 2;
    }
  }

  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    std::fprintf(stderr, "fogmesh-controller: --tls-cert and --tls-key go together\n");
    return 2;
  }

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::optional<fogmesh::controller::embedded_postgres> postgres;
  try {
    if (options.db_conninfo.empty()) {
      if (data_dir.empty()) data_dir = default_data_dir();
      fogmesh::controller::embedded_postgres_options pg;
      pg.dir = data_dir;
      postgres.emplace(pg);
      postgres->start();
      options.db_conninfo = postgres->conninfo();
      log->info("embedded PostgreSQL running in {}", data_dir);
    }
    fogmesh::controller::server srv(options);
    srv.start();
    if (!port_file.empty()) {
      std::string tmp = port_file + ".tmp";
      if (FILE* f = std::fopen(tmp.c_str(), "w")) {
        std::fprintf(f, "%u\n", static_cast<unsigned>(srv.port()));
        std::fclose(f);
        std::rename(tmp.c_str(), port_file.c_str());  // readers never see a partial file
      }
    }
    int sig = 0;
    sigwait(&signals, &sig);
    log->info("signal {}: shutting down", sig);
    srv.stop();
    if (postgres) postgres->stop();
  } catch (const std::exception& e) {
    log->critical("{}", e.what());
    return 1;
  }
  return 0;
}
