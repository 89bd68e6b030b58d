// tcpListener / tcpConnector inside the router (README.md "TCP mapping"): an accept socket or a
// receiver of connect requests, with the bridges of tcp_bridge.hpp doing the streaming.
#include <optional>
#include <string>

#include "adaptor_io.hpp"
#include "adaptors_internal.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/proxy/tcp_mapping.hpp"
#include "routing/local_endpoint.hpp"
#include "server/shard.hpp"
#include "tcp_bridge.hpp"

namespace fogmesh::proxy::adaptor {

namespace {

namespace amqp = fogmesh::router::amqp;
using router::link;
using router::local_endpoint;

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.adaptor.tcp");
  return l;
}

class tcp_listener final : public router::adaptor_instance {
 public:
  tcp_listener(router::shard& s, const router::generic_entity& e)
      : bridges_(s, s.make_endpoint(attribute(e, "name")), attribute(e, "name"),
                 attribute(e, "address"), tcp::kind_tcp) {
    const std::string name = attribute(e, "name");
    accept_ = std::make_unique<accept_socket>(
        s.loop(), "tcpListener '" + name + "'", attribute(e, "host"), attribute(e, "port"),
        [this](int fd) {
          if (stopped_) {
            ::close(fd);
            return;
          }
          bridges_.add_client(fd);
        });
    if (s.index() == 0) {
      logger()->info("tcpListener '{}' accepting on {}:{} for address '{}'", name,
                     attribute(e, "host", "*"), accept_->port(), attribute(e, "address"));
    }
  }
  ~tcp_listener() override { accept_.reset(); }

  void tick() override { bridges_.tick(); }
  void stop() override {
    stopped_ = true;
    accept_->stop();
    bridges_.stop();
  }

 private:
  bridge_set bridges_;
  std::unique_ptr<accept_socket> accept_;
  bool stopped_ = false;
};

class tcp_connector final : public router::adaptor_instance, private local_endpoint::handler {
 public:
  tcp_connector(router::shard& s, const router::generic_entity& e)
      : ep_(s.make_endpoint(attribute(e, "name"))),
        bridges_(s, ep_, attribute(e, "name"), attribute(e, "address"), tcp::kind_tcp),
        name_(attribute(e, "name")),
        address_(attribute(e, "address")),
        host_(attribute(e, "host", "localhost")),
        port_(attribute(e, "port")) {
    std::string error;
    target_ = resolve_target(host_, port_, error);
    if (!target_) logger()->warn("tcpConnector '{}': {} (retried per connection)", name_, error);
    amqp::error err;
    requests_ = ep_.open_receiver(address_, *this, credit, false, &err);
    if (requests_ == nullptr) {
      throw std::runtime_error("cannot consume address '" + address_ + "': " + err.description);
    }
    if (s.index() == 0) {
      logger()->info("tcpConnector '{}': address '{}' -> {}:{}", name_, address_, host_, port_);
    }
  }
  ~tcp_connector() override {
    bridges_.stop();  // they may still settle requests on requests_
    if (requests_ != nullptr) ep_.close(*requests_);
  }

  void tick() override { bridges_.tick(); }
  void stop() override {
    bridges_.stop();
    if (requests_ != nullptr) {
      ep_.close(*std::exchange(requests_, nullptr));  // the router releases what is queued
    }
  }

 private:
  static constexpr std::uint32_t credit = 64;

  void on_readable(link& l) override {
    auto& q = ep_.incoming(l);
    while (!q.empty() && q.front().complete) {
      auto d = std::move(q.front());
      q.pop_front();
      if (d.aborted) continue;
      std::string error;
      if (!target_) target_ = resolve_target(host_, port_, error);
      bridges_.accept_request(l, d, target_ ? &*target_ : nullptr, error);
    }
    if (l.credit < credit / 2) ep_.set_credit(l, credit);
  }

  void on_detached(link&, const amqp::error* err) override {
    logger()->warn("tcpConnector '{}': the router detached the receiver for '{}'{}", name_,
                   address_, err != nullptr ? ": " + err->description : "");
    bridges_.forget_request_link();
    if (requests_ != nullptr) ep_.close(*std::exchange(requests_, nullptr));
  }

  local_endpoint& ep_;
  bridge_set bridges_;
  std::string name_, address_, host_, port_;
  std::optional<target_address> target_;
  link* requests_ = nullptr;
};

}  // namespace

std::unique_ptr<router::adaptor_instance> make_tcp_listener(router::shard& s,
                                                            const router::generic_entity& e) {
  return std::make_unique<tcp_listener>(s, e);
}

std::unique_ptr<router::adaptor_instance> make_tcp_connector(router::shard& s,
                                                             const router::generic_entity& e) {
  return std::make_unique<tcp_connector>(s, e);
}

}  // namespace fogmesh::proxy::adaptor
