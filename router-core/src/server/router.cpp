#include "fogmesh/router/router.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <latch>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "fogmesh/common/log.hpp"
#include "server/shard.hpp"

namespace fogmesh::router {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.server");
  return l;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read");
  return buf.str();
}

// Entities without a `name` get the name the loader gave them (listener/connector:
// "<type>/<host>:<port>"), or "<type>/<n>", so management can address every one.
void name_unnamed_entities(std::vector<config_entity>& entities, const router_config& cfg) {
  std::map<std::string, std::size_t> seen;
  for (auto& e : entities) {
    const entity_schema* schema = find_entity_schema(e.type);
    if (schema == nullptr) continue;
    const std::size_t index = seen[schema->name]++;
    if (std::any_of(e.attributes.begin(), e.attributes.end(),
                    [](const config_attribute& a) { return a.name == "name"; })) {
      continue;
    }
    std::string name = schema->name + "/" + std::to_string(index);
    if (schema->name == "listener" && index < cfg.listeners.size()) {
      name = cfg.listeners[index].name;
    } else if (schema->name == "connector" && index < cfg.connectors.size()) {
      name = cfg.connectors[index].name;
    } else if (schema->name == "address" && index < cfg.addresses.size() &&
               !cfg.addresses[index].name.empty()) {
      name = cfg.addresses[index].name;
    }
    e.attributes.push_back({"name", name, false, e.line});
  }
}

// Names unnamed adaptor entities "<type>/<n>" (as management does) and checks each with its
// adaptor, so a bad tcpListener stops the router at start like any config error.
void prepare_adaptor_entities(router_config& cfg) {
  std::map<std::string, std::size_t> seen;
  for (auto& e : cfg.other) {
    const std::size_t index = seen[e.type]++;
    if (!e.attributes.count("name")) e.attributes["name"] = e.type + "/" + std::to_string(index);
    const adaptor_type* type = find_adaptor(e.type);
    if (type == nullptr) {
      if (e.type.starts_with("tcp") || e.type.starts_with("http")) {
        logger()->warn("{} '{}' (line {}) has no effect: this router was built without the "
                       "proxy adaptors",
                       e.type, e.attributes["name"], e.line);
      }
      continue;
    }
    try {
      type->validate(e);
    } catch (const config_error&) {
      throw;
    } catch (const std::exception& ex) {
      throw config_error(cfg.file, e.line, e.type, ex.what());
    }
  }
}

}  // namespace

int open_listen_socket(const std::string& what, const std::string& host,
                       const std::string& port, std::uint16_t* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const char* h = host.empty() ? nullptr : host.c_str();
  if (int rc = getaddrinfo(h, port.c_str(), &hints, &res); rc != 0) {
    throw std::system_error(EINVAL, std::generic_category(),
                            what + ": cannot resolve '" + host + ":" + port + "': " +
                                gai_strerror(rc));
  }
  int last_errno = 0;
  int listening = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Every shard binds its own socket on the same port: the kernel spreads the clients.
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      listening = fd;
      break;
    }
    last_errno = errno;
    ::close(fd);
  }
  freeaddrinfo(res);
  if (listening < 0) {
    throw std::system_error(last_errno, std::generic_category(),
                            what + " on " + (host.empty() ? std::string("*") : host) + ":" +
                                port);
  }
  if (bound_port != nullptr) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(listening, reinterpret_cast<sockaddr*>(&ss), &len);
    *bound_port = ntohs(ss.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  return listening;
}

listener_endpoint bind_listener(const listener_config& cfg, const router_config& all,
                                std::uint16_t fixed_port) {
  auto port = resolve_port(cfg.port);
  if (!port) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "listener '" + cfg.name + "': unknown port '" + cfg.port + "'");
  }
  // A port of 0 is resolved by the first shard's bind; the others use the port it got.
  const std::string port_text = std::to_string(fixed_port != 0 ? fixed_port : *port);
  listener_endpoint ep;
  ep.config = cfg;
  if (!cfg.ssl_profile.empty()) {
    auto it = std::find_if(all.ssl_profiles.begin(), all.ssl_profiles.end(),
                           [&](const ssl_profile_config& p) { return p.name == cfg.ssl_profile; });
    if (it == all.ssl_profiles.end()) {
      throw std::system_error(EINVAL, std::generic_category(),
                              "listener '" + cfg.name + "': no sslProfile named '" +
                                  cfg.ssl_profile + "'");
    }
    const bool only_external = cfg.authenticate_peer && cfg.sasl_mechanisms == "EXTERNAL";
    try {
      ep.tls = tls_context::make_server(*it, only_external);
    } catch (const std::runtime_error& e) {
      throw std::system_error(EINVAL, std::generic_category(), e.what());
    }
  }
  ep.fd = open_listen_socket("listener '" + cfg.name + "'", cfg.host, port_text, &ep.bound_port);
  return ep;
}

struct router::impl {
  router_config config;
  std::vector<std::uint16_t> ports;
  std::vector<std::vector<listener_endpoint>> endpoints;  // per shard
  std::unique_ptr<shard_group> group;
  // Shards are built on the threads that run them: their rings are SINGLE_ISSUER.
  std::mutex mutex;
  std::vector<shard*> running;
  bool stop_requested = false;
};

router::router(router_config config) : impl_(std::make_unique<impl>()) {
  impl_->config = std::move(config);
  auto& cfg = impl_->config;
  unsigned shards = cfg.router.worker_threads;
  if (shards == 0) {
    shards = std::max(1u, std::thread::hardware_concurrency());
    // Link routes and auto-links pair links with the route-container connection, which lives
    // on shard 0; until link pairs can cross shards, such routers default to one shard.
    if (!cfg.link_routes.empty() || !cfg.auto_links.empty()) shards = 1;
  } else if (shards > 1 && (!cfg.link_routes.empty() || !cfg.auto_links.empty())) {
    logger()->warn("workerThreads {}: link routes and auto-links work only for connections "
                   "on shard 0 in this version",
                   shards);
  }
  impl_->group = std::make_unique<shard_group>(shards);
  prepare_adaptor_entities(cfg);
  impl_->group->config = cfg;
  if (!cfg.file.empty()) {
    // Management answers with the attributes as written: keep the file's entities. The file
    // parsed a moment ago; if it changed since, management shows the new text's entities.
    try {
      impl_->group->entities = parse_config_entities(read_file(cfg.file), cfg.file);
    } catch (const std::exception& e) {
      logger()->warn("management: cannot re-read {}: {}", cfg.file, e.what());
    }
  }
  name_unnamed_entities(impl_->group->entities, cfg);
  impl_->endpoints.resize(shards);
  for (const auto& l : cfg.listeners) {
    std::uint16_t port = 0;
    for (unsigned s = 0; s < shards; ++s) {
      impl_->endpoints[s].push_back(bind_listener(l, cfg, port));
      port = impl_->endpoints[s].back().bound_port;
    }
    impl_->ports.push_back(port);
    logger()->info("listening on {}:{} (listener '{}', role {})",
                   l.host.empty() ? "*" : l.host, port, l.name, static_cast<int>(l.role));
  }
  logger()->info("{} shard(s)", shards);
}

router::~router() {
  for (auto& shard_endpoints : impl_->endpoints) {
    for (auto& ep : shard_endpoints) {
      if (ep.fd >= 0) ::close(ep.fd);
    }
  }
}

void router::run() {
  const unsigned n = impl_->group->size();
  std::latch constructed(n);
  auto run_shard = [&](unsigned index) {
    std::unique_ptr<shard> s;
    try {
      s = std::make_unique<shard>(index, impl_->config, std::move(impl_->endpoints[index]),
                                  *impl_->group);
    } catch (...) {
      constructed.count_down();
      throw;
    }
    {
      std::lock_guard lock(impl_->mutex);
      impl_->running.push_back(s.get());
      if (impl_->stop_requested) s->request_stop();
    }
    // No shard may post to another before that one's ring exists.
    constructed.arrive_and_wait();
    s->run();
    std::lock_guard lock(impl_->mutex);
    std::erase(impl_->running, s.get());
  };
  std::vector<std::thread> others;
  for (unsigned i = 1; i < n; ++i) others.emplace_back(run_shard, i);
  run_shard(0);
  for (auto& t : others) t.join();
  impl_->endpoints.clear();
}

void router::stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stop_requested = true;
  for (shard* s : impl_->running) s->request_stop();
}

namespace {

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  return signals;
}

}  // namespace

void block_stop_signals() {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string router::run_until_signal() {
  // Signals are taken synchronously by this thread; shard threads never see them.
  block_stop_signals();
  const sigset_t signals = stop_signals();
  std::thread shard_thread([this] { run(); });
  std::string name;
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      logger()->info("SIGHUP ignored (configuration changes go through management)");
      continue;
    }
    name = strsignal(sig);
    logger()->info("received {}, shutting down", name);
    break;
  }
  stop();
  shard_thread.join();
  return name;
}

std::vector<std::uint16_t> router::listener_ports() const { return impl_->ports; }

const router_config& router::config() const noexcept { return impl_->config; }

}  // namespace fogmesh::router
