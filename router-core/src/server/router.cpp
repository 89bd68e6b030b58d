#include "fogmesh/router/router.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>

#include "fogmesh/common/log.hpp"
#include "server/shard.hpp"

namespace fogmesh::router {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.server");
  return l;
}

listener_endpoint bind_listener(const listener_config& cfg, const router_config& all) {
  auto port = resolve_port(cfg.port);
  if (!port) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "listener '" + cfg.name + "': unknown port '" + cfg.port + "'");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(*port);
  const char* host = cfg.host.empty() ? nullptr : cfg.host.c_str();
  if (int rc = getaddrinfo(host, port_text.c_str(), &hints, &res); rc != 0) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "listener '" + cfg.name + "': cannot resolve '" + cfg.host +
                                "': " + gai_strerror(rc));
  }
  int last_errno = 0;
  listener_endpoint ep;
  ep.config = cfg;
  if (!cfg.ssl_profile.empty()) {
    auto it = std::find_if(all.ssl_profiles.begin(), all.ssl_profiles.end(),
                           [&](const ssl_profile_config& p) { return p.name == cfg.ssl_profile; });
    if (it == all.ssl_profiles.end()) {
      freeaddrinfo(res);
      throw std::system_error(EINVAL, std::generic_category(),
                              "listener '" + cfg.name + "': no sslProfile named '" +
                                  cfg.ssl_profile + "'");
    }
    const bool only_external = cfg.authenticate_peer && cfg.sasl_mechanisms == "EXTERNAL";
    try {
      ep.tls = tls_context::make_server(*it, only_external);
    } catch (const std::runtime_error& e) {
      freeaddrinfo(res);
      throw std::system_error(EINVAL, std::generic_category(), e.what());
    }
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      ep.fd = fd;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      ep.bound_port = ntohs(ss.ss_family == AF_INET6
                                ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      break;
    }
    last_errno = errno;
    ::close(fd);
  }
  freeaddrinfo(res);
  if (ep.fd < 0) {
    throw std::system_error(last_errno, std::generic_category(),
                            "listener '" + cfg.name + "' on " +
                                (cfg.host.empty() ? std::string("*") : cfg.host) + ":" +
                                port_text);
  }
  return ep;
}

}  // namespace

struct router::impl {
  router_config config;
  std::vector<std::uint16_t> ports;
  std::vector<listener_endpoint> endpoints;
  // The shard is built on the thread that runs it: its ring is SINGLE_ISSUER.
  std::mutex mutex;
  shard* running = nullptr;
  bool stop_requested = false;
};

router::router(router_config config) : impl_(std::make_unique<impl>()) {
  impl_->config = std::move(config);
  auto& cfg = impl_->config;
  if (cfg.router.worker_threads > 1) {
    // Cross-shard forwarding is not built yet (DESIGN.md); one shard serves every connection.
    logger()->warn("workerThreads {} requested; this version runs 1 shard",
                   cfg.router.worker_threads);
  }
  std::vector<listener_endpoint> endpoints;
  for (const auto& l : cfg.listeners) {
    endpoints.push_back(bind_listener(l, cfg));
    impl_->ports.push_back(endpoints.back().bound_port);
    logger()->info("listening on {}:{} (listener '{}', role {})",
                   l.host.empty() ? "*" : l.host, endpoints.back().bound_port, l.name,
                   static_cast<int>(l.role));
  }
  impl_->endpoints = std::move(endpoints);
}

router::~router() {
  for (auto& ep : impl_->endpoints) {
    if (ep.fd >= 0) ::close(ep.fd);
  }
}

void router::run() {
  shard s(0, impl_->config, std::move(impl_->endpoints));
  impl_->endpoints.clear();
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stop_requested) return;
    impl_->running = &s;
  }
  s.run();
  std::lock_guard lock(impl_->mutex);
  impl_->running = nullptr;
}

void router::stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stop_requested = true;
  if (impl_->running != nullptr) impl_->running->request_stop();
}

std::vector<std::uint16_t> router::listener_ports() const { return impl_->ports; }

const router_config& router::config() const noexcept { return impl_->config; }

}  // namespace fogmesh::router
