#include "adaptor_io.hpp"

#include "server/shard.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "fogmesh/common/log.hpp"

namespace fogmesh::proxy::adaptor {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.adaptor");
  return l;
}

}  // namespace

// ---- accept_socket --------------------------------------------------------------------------

accept_socket::accept_socket(io::event_loop& loop, const std::string& name,
                             const std::string& host, const std::string& port,
                             std::function<void(int)> on_accept)
    : loop_(loop), name_(name), on_accept_(std::move(on_accept)) {
  fd_ = fogmesh::router::open_listen_socket(name, host, port, &port_);
  slot_ = loop_.register_target(this);
  armed_ = loop_.accept_multishot(slot_, fd_);
}

accept_socket::~accept_socket() {
  stop();
  loop_.unregister_target(slot_);
}

void accept_socket::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (armed_) loop_.cancel(slot_, io::op_kind::accept);
  // The ring holds its own reference to the file until the cancelled accept completes; the
  // port is free once that happens (within this loop turn).
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
}

void accept_socket::on_completion(io::op_kind, int res, std::uint32_t flags,
                                  std::span<const std::uint8_t>) {
  if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
  if (res >= 0) {
    if (stopped_) {
      ::close(res);
    } else {
      on_accept_(res);
    }
  } else if (res != -ECANCELED && res != -EINVAL && !stopped_) {
    logger()->warn("{}: accept failed: {}", name_, std::strerror(-res));
  }
  if (!armed_ && !stopped_) armed_ = loop_.accept_multishot(slot_, fd_);
}

// ---- targets --------------------------------------------------------------------------------

std::optional<target_address> resolve_target(const std::string& host, const std::string& port,
                                             std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    error = "cannot resolve " + host + ":" + port + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  target_address t;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  t.family = res->ai_family;
  freeaddrinfo(res);
  return t;
}

int make_client_socket(const target_address& t) {
  return ::socket(t.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

// ---- attributes -----------------------------------------------------------------------------

std::string attribute(const router::generic_entity& e, const std::string& name,
                      const std::string& fallback) {
  auto it = e.attributes.find(name);
  return it == e.attributes.end() ? fallback : it->second;
}

void require_attribute(const router::generic_entity& e, const std::string& name) {
  if (attribute(e, name).empty()) {
    throw std::invalid_argument("attribute '" + name + "' is required");
  }
}

void require_port(const router::generic_entity& e) {
  require_attribute(e, "port");
  const std::string p = attribute(e, "port");
  if (!router::resolve_port(p)) {
    throw std::invalid_argument("attribute 'port': '" + p + "' is not a port number");
  }
}

}  // namespace fogmesh::proxy::adaptor
