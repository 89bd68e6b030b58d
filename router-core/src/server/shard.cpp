#include "server/shard.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <utility>

#include "fogmesh/common/log.hpp"
#include "management/agent.hpp"
#include "mesh/mesh_agent.hpp"

namespace fogmesh::router {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.server");
  return l;
}

std::string describe_peer(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  std::uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

connection_settings settings_for(const listener_endpoint& ep) {
  const listener_config& l = ep.config;
  connection_settings s;
  s.tls = ep.tls;
  s.require_tls = l.require_ssl;
  s.role = l.role;
  s.cost = std::max(1u, l.cost);
  s.max_frame_size = std::max<std::uint32_t>(l.max_frame_size, amqp::min_max_frame_size);
  s.channel_max = static_cast<std::uint16_t>(
      std::min<std::uint32_t>(l.max_sessions > 0 ? l.max_sessions - 1 : 0, 0xffff));
  s.idle_timeout_ms = l.idle_timeout_seconds * 1000;
  s.authenticate_peer = l.authenticate_peer;
  s.link_capacity = l.link_capacity > 0 ? l.link_capacity : 250;
  s.strip = l.strip;
  s.max_message_size = l.max_message_size;
  s.listener_name = l.name;
  s.users_file = l.users_file;
  s.failover_urls = l.failover_urls;
  if (!l.sasl_mechanisms.empty()) {
    s.sasl_mechanisms = split_words(l.sasl_mechanisms);
  } else {
    if (!l.authenticate_peer) s.sasl_mechanisms.push_back("ANONYMOUS");
    if (!l.users_file.empty()) s.sasl_mechanisms.push_back("PLAIN");
  }
  if (l.authenticate_peer) std::erase(s.sasl_mechanisms, std::string("ANONYMOUS"));
  return s;
}

}  // namespace

// Receives the multishot accept completions of one listening socket.
class shard::listener_target final : public io::completion_target {
 public:
  listener_target(shard& owner, listener_endpoint& ep) : owner_(owner), ep_(ep) {
    slot_ = owner_.loop().register_target(this);
    armed_ = owner_.loop().accept_multishot(slot_, ep_.fd);
  }
  ~listener_target() override { owner_.loop().unregister_target(slot_); }
  void on_completion(io::op_kind, int res, std::uint32_t flags,
                     std::span<const std::uint8_t>) override {
    if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
    if (res >= 0) {
      owner_.accept(ep_, res);
    } else if (res != -ECANCELED && res != -EINVAL) {
      logger()->warn("accept on {} failed: {}", ep_.config.name, std::strerror(-res));
    }
    if (!armed_ && !owner_.draining_) armed_ = owner_.loop().accept_multishot(slot_, ep_.fd);
  }
  void stop() {
    if (armed_) owner_.loop().cancel(slot_, io::op_kind::accept);
  }
  const std::string& name() const noexcept { return ep_.config.name; }

 private:
  shard& owner_;
  listener_endpoint& ep_;
  std::uint32_t slot_ = 0;
  bool armed_ = false;
};

// The shard's own completions: the periodic tick and the wake-up eventfd.
class shard::control_target final : public io::completion_target {
 public:
  explicit control_target(shard& owner) : owner_(owner) {
    slot_ = owner_.loop().register_target(this);
  }
  void arm_tick() { owner_.loop().timeout(slot_, tick_ns); }
  void arm_wake() { owner_.loop().read_wake(slot_, owner_.wake_fd_, &wake_value_); }
  void on_completion(io::op_kind kind, int, std::uint32_t,
                     std::span<const std::uint8_t>) override {
    if (kind == io::op_kind::timeout) {
      owner_.tick();
      arm_tick();
    } else if (kind == io::op_kind::wake) {
      if (!owner_.stop_requested_.load()) arm_wake();
    }
  }
  static constexpr std::uint64_t tick_ns = 250'000'000;

 private:
  shard& owner_;
  std::uint32_t slot_ = 0;
  std::uint64_t wake_value_ = 0;
};

// One configured connector: connects, hands the socket to an amqp_connection, and reconnects
// with back-off (retryDelaySeconds doubling up to 60 s) whenever that connection goes away.
class shard::connector_target final : public io::completion_target {
 public:
  connector_target(shard& owner, connector_config cfg) : owner_(owner), cfg_(std::move(cfg)) {
    slot_ = owner_.loop().register_target(this);
    delay_ = std::chrono::seconds(std::max(1u, cfg_.retry_delay_seconds));
  }
  ~connector_target() override {
    owner_.loop().unregister_target(slot_);  // a connect still in flight completes unseen
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& name() const noexcept { return cfg_.name; }
  amqp_connection* connection() const noexcept { return connection_; }

  void tick(std::chrono::steady_clock::time_point now) {
    if (connection_ != nullptr || connecting_ || owner_.draining_ || now < next_attempt_) return;
    start_connect();
  }
  // The connection we made is gone: try again after the back-off.
  void connection_gone(amqp_connection* c) {
    if (c != connection_) return;
    connection_ = nullptr;
    learn_failover(c->learned_failover());
    schedule_retry(false);
  }

  void on_completion(io::op_kind, int res, std::uint32_t, std::span<const std::uint8_t>) override {
    connecting_ = false;
    if (res < 0) {
      logger()->warn("connector '{}': cannot connect to {}: {}", cfg_.name, current_,
                     std::strerror(-res));
      ::close(fd_);
      fd_ = -1;
      schedule_retry(true);
      return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connection_settings s;
    s.client = true;
    s.role = cfg_.role;
    s.cost = std::max(1u, cfg_.cost);
    s.connector_name = cfg_.name;
    s.sasl_username = cfg_.sasl_username;
    s.sasl_password = cfg_.sasl_password;
    s.max_frame_size = std::max<std::uint32_t>(cfg_.max_frame_size, amqp::min_max_frame_size);
    s.idle_timeout_ms = cfg_.idle_timeout_seconds * 1000;
    s.link_capacity = cfg_.link_capacity > 0 ? cfg_.link_capacity : 250;
    s.strip = cfg_.strip;
    s.hostname = target().first;
    auto conn = std::make_unique<amqp_connection>(owner_, fd_, owner_.group_.next_connection_id(),
                                                  current_, std::move(s));
    fd_ = -1;  // owned by the connection now
    connection_ = conn.get();
    conn->start();
    owner_.connections_.push_back(std::move(conn));
    delay_ = std::chrono::seconds(std::max(1u, cfg_.retry_delay_seconds));
  }

 private:
  // The configured host:port, then each failoverUrls entry ("amqp://host:port", "host:port"
  // or "host"), then what the peer advertised in its open frame, in turn: an edge router moves
  // to another interior when its uplink dies.
  std::pair<std::string, std::string> target() const {
    const std::size_t i = attempt_ % alternatives();
    if (i == 0) return {cfg_.host, cfg_.port};
    const failover_address a = i <= cfg_.failover_urls.size()
                                   ? parse_failover_url(cfg_.failover_urls[i - 1])
                                   : learned_[i - 1 - cfg_.failover_urls.size()];
    return {a.host, a.port};
  }
  std::size_t alternatives() const { return 1 + cfg_.failover_urls.size() + learned_.size(); }

  // The peer's failover-server-list replaces what an earlier peer advertised (as qdrouterd
  // does); addresses already configured are not repeated.
  void learn_failover(const std::vector<failover_address>& advertised) {
    if (advertised.empty()) return;
    std::vector<failover_address> fresh;
    for (const auto& a : advertised) {
      const bool configured = (a.host == cfg_.host && a.port == cfg_.port) ||
                              std::any_of(cfg_.failover_urls.begin(), cfg_.failover_urls.end(),
                                          [&](const std::string& url) {
                                            const auto c = parse_failover_url(url);
                                            return c.host == a.host && c.port == a.port;
                                          });
      if (!configured) fresh.push_back(a);
    }
    if (fresh.size() != learned_.size() ||
        !std::equal(fresh.begin(), fresh.end(), learned_.begin(), [](const auto& x, const auto& y) {
          return x.host == y.host && x.port == y.port;
        })) {
      logger()->info("connector '{}': the peer advertised {} failover address(es): {}", cfg_.name,
                     fresh.size(), describe(fresh));
    }
    learned_ = std::move(fresh);
  }
  static std::string describe(const std::vector<failover_address>& list) {
    std::string out;
    for (const auto& a : list) out += (out.empty() ? "" : ", ") + to_url(a);
    return out;
  }

  void start_connect() {
    const auto [host, port_name] = target();
    current_ = host + ":" + port_name;
    auto port = resolve_port(port_name);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port_text = std::to_string(port.value_or(5672));
    if (!port || getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res) != 0 ||
        res == nullptr) {
      logger()->warn("connector '{}': cannot resolve {}", cfg_.name, current_);
      schedule_retry(true);
      return;
    }
    std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
    addr_len_ = res->ai_addrlen;
    fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    freeaddrinfo(res);
    if (fd_ < 0) {
      schedule_retry(true);
      return;
    }
    connecting_ = owner_.loop().connect(slot_, fd_, reinterpret_cast<sockaddr*>(&addr_), addr_len_);
  }
  void schedule_retry(bool failed) {
    if (alternatives() > 1) {
      // Try the next address at once; back off only after a whole round failed.
      ++attempt_;
      if (attempt_ % alternatives() != 0) {
        next_attempt_ = std::chrono::steady_clock::now();
        return;
      }
    }
    next_attempt_ = std::chrono::steady_clock::now() + delay_;
    if (failed) delay_ = std::min(delay_ * 2, std::chrono::seconds(60));
  }

  shard& owner_;
  connector_config cfg_;
  std::uint32_t slot_ = 0;
  int fd_ = -1;
  bool connecting_ = false;
  amqp_connection* connection_ = nullptr;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::seconds delay_{2};
  std::size_t attempt_ = 0;  // index into host:port + failoverUrls + learned_ (modulo)
  std::vector<failover_address> learned_;  // from the last peer's open frame
  std::string current_;      // "host:port" being tried / connected
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
};

shard::shard(unsigned index, const router_config& config, std::vector<listener_endpoint> listeners,
             shard_group& group)
    : index_(index),
      group_(group),
      config_(config),
      loop_(io::event_loop::options{}),
      core_(config.router.id,
            address_matcher(config.addresses, config.router.default_distribution),
            group.size() > 1 ? &group : nullptr, index,
            [this](unsigned to, cross_message&& m) { post(to, std::move(m)); }),
      listeners_(std::make_move_iterator(listeners.begin()),
                 std::make_move_iterator(listeners.end())) {
  core_.set_routes(config.link_routes, config.auto_links);
  group_.set_ring_fd(index_, loop_.ring_fd());
  loop_.set_cross_shard_handler([this] { drain_inbox(); });
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

shard::~shard() {
  group_.set_ring_fd(index_, -1);
  connections_.clear();
  connectors_.clear();
  listener_targets_.clear();
  for (auto& ep : listeners_) {
    if (ep.fd >= 0) ::close(ep.fd);
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void shard::request_stop() {
  stop_requested_.store(true);
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void shard::post(unsigned to, cross_message&& m) {
  // Collected for the whole loop turn: one lock and at most one wake-up per target per turn.
  if (outboxes_.size() <= to) outboxes_.resize(group_.size());
  outboxes_[to].push_back(std::move(m));
}

void shard::flush_outboxes() {
  for (unsigned to = 0; to < outboxes_.size(); ++to) {
    if (outboxes_[to].empty()) continue;
    if (group_.post_batch(to, outboxes_[to])) {
      const int fd = group_.ring_fd(to);
      if (fd >= 0) loop_.wake_other(fd);
    }
  }
}

void shard::drain_inbox() {
  auto messages = group_.take(index_);
  for (auto& m : messages) {
    if (m.type == cross_message::kind::task) {
      m.task(*this);
    } else {
      core_.on_cross_message(m);
    }
  }
}

void shard::post_task(unsigned to, std::function<void(shard&)> task) {
  cross_message m;
  m.type = cross_message::kind::task;
  m.from = index_;
  m.task = std::move(task);
  post(to, std::move(m));
}

local_endpoint& shard::make_endpoint(std::string name) {
  endpoints_.push_back(std::make_unique<local_endpoint>(
      core_, std::move(name), [this](local_endpoint& e) { dirty_endpoints_.push_back(&e); }));
  return *endpoints_.back();
}

void shard::release_endpoint(local_endpoint& e) {
  auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                         [&](const auto& p) { return p.get() == &e; });
  if (it == endpoints_.end()) return;
  std::erase(dirty_endpoints_, &e);
  released_endpoints_.push_back(std::move(*it));
  endpoints_.erase(it);
}

void shard::add_listener(listener_endpoint ep) {
  listeners_.push_back(std::move(ep));
  listener_targets_.push_back(std::make_unique<listener_target>(*this, listeners_.back()));
}

bool shard::remove_listener(const std::string& name) {
  bool found = false;
  std::erase_if(listener_targets_, [&](const std::unique_ptr<listener_target>& t) {
    if (t->name() != name) return false;
    t->stop();
    return found = true;
  });
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (it->config.name == name) {
      if (it->fd >= 0) ::close(it->fd);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  return found;
}

void shard::add_connector(const connector_config& c) {
  connectors_.push_back(std::make_unique<connector_target>(*this, c));
  connectors_.back()->tick(std::chrono::steady_clock::now());
}

bool shard::remove_connector(const std::string& name) {
  auto it = std::find_if(connectors_.begin(), connectors_.end(),
                         [&](const auto& c) { return c->name() == name; });
  if (it == connectors_.end()) return false;
  if (amqp_connection* c = (*it)->connection(); c != nullptr && !c->closed()) {
    c->shutdown("", "connector " + name + " deleted");
  }
  connectors_.erase(it);
  return true;
}

void shard::add_adaptor(const generic_entity& entity) {
  const adaptor_type* type = find_adaptor(entity.type);
  if (type == nullptr) return;
  const auto name_it = entity.attributes.find("name");
  const std::string name = name_it != entity.attributes.end() ? name_it->second : entity.type;
  try {
    adaptors_.emplace_back(name, type->create(*this, entity));
  } catch (const std::exception& e) {
    logger()->error("{} '{}' not started on shard {}: {}", entity.type, name, index_, e.what());
  }
}

bool shard::remove_adaptor(const std::string& name) {
  return std::erase_if(adaptors_, [&](auto& a) {
           if (a.first != name) return false;
           a.second->stop();
           return true;
         }) > 0;
}

void shard::neighbour_changed(amqp_connection& c, bool up) {
  if (c.settings().role == connection_role::uplink) {
    uplink_changed(c, up);
    return;
  }
  const router_mode mode = config_.router.mode;
  const bool edge_link = c.settings().role == connection_role::edge;
  // Interior: inter-router connections and edge routers attached to us. Edge: the uplink.
  const bool used = mode == router_mode::interior || (mode == router_mode::edge && edge_link);
  if (!used) {
    if (up) {
      logger()->warn("[C{}] {} connection to '{}' on a {} router: not used for routing", c.id(),
                     edge_link ? "edge" : "inter-router", c.container_id(),
                     mode == router_mode::edge ? "edge" : "standalone");
    }
    return;
  }
  const std::string peer = c.container_id();
  const bool uplink = mode == router_mode::edge;
  if (!up) {
    if (neighbours_.erase(&c) == 0) return;
    post_task(0, [peer, uplink, edge_link](shard& s) {
      if (!s.mesh_) return;
      if (uplink) s.mesh_->uplink_down(peer);
      else if (edge_link) s.mesh_->edge_down(peer);
      else s.mesh_->neighbour_down(peer);
    });
    return;
  }
  if (peer == router_id()) {
    c.shutdown("amqp:connection:forced", "inter-router connection to ourselves");
    return;
  }
  neighbour_links& n = neighbours_[&c];
  n.id = peer;
  n.edge = edge_link;
  // The control link: the routing agent reaches this router through the internal address
  // `_mesh/<id>`, wherever the connection lives.
  if (link* control = c.attach_link(link_kind::outgoing, "fogmesh.control", "_local/qdrouter",
                                    amqp::sender_settle_mode::settled)) {
    core_.bind_mesh_link(*control, "_mesh/" + peer, 0);
  }
  if (uplink) {
    // Messages addressed by `to` that have no consumer here go up on one anonymous link.
    if (link* up_link = c.attach_link(link_kind::outgoing, "fogmesh.uplink", "",
                                      amqp::sender_settle_mode::unsettled)) {
      core_.bind_mesh_link(*up_link, core_.default_route_key, 1);
    }
  } else if (!edge_link) {
    // Messages addressed by `to` for addresses this neighbour leads to, with no data link of
    // their own here (mesh_fallback_key); the neighbour routes them by `to` again.
    if (link* anonymous = c.attach_link(link_kind::outgoing, "fogmesh.anonymous", "",
                                        amqp::sender_settle_mode::unsettled)) {
      core_.bind_mesh_link(*anonymous, std::string(mesh_anonymous_prefix) + peer, 1);
    }
  }
  attach_mesh_links(c, n);
  const unsigned cost = c.settings().cost;
  post_task(0, [peer, cost, uplink, edge_link](shard& s) {
    if (!s.mesh_) return;
    if (uplink) s.mesh_->uplink_up(peer);
    else if (edge_link) s.mesh_->edge_up(peer);
    else s.mesh_->neighbour_up(peer, cost);
  });
}

void shard::edge_producer(const std::string& key, bool present) {
  if (key.starts_with("_local/") || key.starts_with("_mesh/") || key.starts_with("$") ||
      key.find('\x1f') != std::string::npos) {
    return;  // stays here (a waypoint's phase 1 is fed by an auto-link of this router)
  }
  auto& count = edge_producers_[key];
  count += present ? 1 : -1;
  if (count <= 0) edge_producers_.erase(key);
  // On an edge router the "routes" are the uplink links for our senders' addresses.
  for (auto& [conn, links] : neighbours_) {
    if (!conn->closed()) attach_mesh_links(*conn, links);
  }
  for (auto& [conn, links] : uplinks_) {
    if (!conn->closed()) attach_uplink_links(*conn, links);
  }
}

namespace {

// Addresses that stay inside this router: management, mesh control, topological and waypoint
// phase keys. Everything else is offered over an uplink.
bool router_internal(const std::string& key) {
  return key.starts_with("_local/") || key.starts_with("_mesh/") || key.starts_with("_topo/") ||
         key.starts_with("amqp:/_topo/") || key.starts_with("_edge/") ||
         key.starts_with("_uplink") || key.starts_with("$") ||
         key.starts_with(router_core::link_route_key_prefix) ||
         key.find('\x1f') != std::string::npos;
}

}  // namespace

void shard::uplink_changed(amqp_connection& c, bool up) {
  if (!up) {
    if (uplinks_.erase(&c) > 0) {
      logger()->info("[C{}] uplink to '{}' closed", c.id(), c.container_id());
    }
    return;
  }
  uplink_links& u = uplinks_[&c];
  logger()->info("[C{}] uplink to '{}' open: {} sender and {} receiver address(es) offered", c.id(),
                 c.container_id(), edge_producers_.size(), uplink_consumers_.size());
  // Messages whose `to` has no consumer here go up on one anonymous link.
  if (link* anonymous = c.attach_link(link_kind::outgoing, "fogmesh.uplink", "",
                                      amqp::sender_settle_mode::unsettled)) {
    core_.bind_mesh_link(*anonymous, core_.default_route_key, 1);
    u.anonymous = anonymous;
  }
  attach_uplink_links(c, u);
}

void shard::uplink_consumer(const std::string& key, bool present) {
  if (router_internal(key)) return;
  auto& count = uplink_consumers_[key];
  count += present ? 1 : -1;
  if (count <= 0) uplink_consumers_.erase(key);
  for (auto& [conn, links] : uplinks_) {
    if (!conn->closed()) attach_uplink_links(*conn, links);
  }
}

void shard::attach_uplink_links(amqp_connection& c, uplink_links& u) {
  auto keep_in_step = [&](link_kind kind, const std::map<std::string, int>& wanted,
                          std::map<std::string, link*>& have) {
    std::vector<link*> gone;
    for (auto it = have.begin(); it != have.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      gone.push_back(it->second);
      drop_idle_stream_links(c, it->first);
      it = have.erase(it);
    }
    for (link* l : gone) {
      core_.link_detached(*l);
      c.detach_link(*l, nullptr);
    }
    for (const auto& entry : wanted) {
      const std::string& address = entry.first;
      if (router_internal(address) || have.count(address)) continue;
      const bool out = kind == link_kind::outgoing;
      link* l = c.attach_link(
          kind, std::string(out ? "fogmesh.uplink.out/" : "fogmesh.uplink.in/") + address, address,
          amqp::sender_settle_mode::unsettled);
      if (l == nullptr) continue;
      if (out)
        core_.bind_mesh_link(*l, address, 1);
      else
        core_.bind_mesh_source(*l, address);
      have[address] = l;
    }
  };
  keep_in_step(link_kind::outgoing, edge_producers_, u.out);
  keep_in_step(link_kind::incoming, uplink_consumers_, u.in);
}

void shard::mesh_link_gone(link& l) {
  auto forget = [&l](std::map<std::string, link*>& links) {
    std::erase_if(links, [&l](const auto& entry) { return entry.second == &l; });
  };
  for (auto& [conn, n] : neighbours_) {
    if (static_cast<link_owner*>(conn) != l.owner) continue;
    forget(n.data);
    if (auto it = n.retiring.find(l.address); it != n.retiring.end() && !n.data.count(l.address)) {
      n.retiring.erase(it);
    }
  }
  for (auto& [conn, u] : uplinks_) {
    if (static_cast<link_owner*>(conn) != l.owner) continue;
    forget(u.out);
    forget(u.in);
    if (u.anonymous == &l) u.anonymous = nullptr;
  }
  if (l.stream_link) {
    for (auto it = idle_stream_links_.begin(); it != idle_stream_links_.end();) {
      std::erase(it->second, &l);
      it = it->second.empty() ? idle_stream_links_.erase(it) : std::next(it);
    }
    std::erase_if(surplus_stream_links_, [&l](const auto& entry) { return entry.second == &l; });
  }
}

amqp_connection* shard::data_link_connection(const link& l) {
  auto is_it = [&l](const std::map<std::string, link*>& links) {
    auto it = links.find(l.address);
    return it != links.end() && it->second == &l;
  };
  for (auto& [conn, n] : neighbours_) {
    if (static_cast<link_owner*>(conn) == l.owner) return is_it(n.data) ? conn : nullptr;
  }
  for (auto& [conn, u] : uplinks_) {
    if (static_cast<link_owner*>(conn) == l.owner) return is_it(u.out) ? conn : nullptr;
  }
  return nullptr;
}

link* shard::acquire_stream_link(link& shared) {
  amqp_connection* c = data_link_connection(shared);
  if (c == nullptr || c->closed()) return nullptr;
  auto idle = idle_stream_links_.find({c, shared.address});
  if (idle != idle_stream_links_.end() && !idle->second.empty()) {
    link* l = idle->second.back();
    idle->second.pop_back();
    l->mesh_cost = shared.mesh_cost;
    return l;
  }
  // The peer routes it by its target, as the shared link; its credit follows the attach.
  link* l = c->attach_link(link_kind::outgoing,
                           "fogmesh.stream/" + shared.address + "/" + std::to_string(++stream_links_attached_),
                           shared.address, amqp::sender_settle_mode::unsettled);
  if (l == nullptr) return nullptr;
  l->inter_router = true;
  l->stream_link = true;
  l->mesh_cost = shared.mesh_cost;
  return l;
}

void shard::stream_link_idle(link& l) {
  amqp_connection* c = nullptr;
  bool routed = false;  // the address still leads over this connection
  for (auto& [conn, n] : neighbours_) {
    if (static_cast<link_owner*>(conn) != l.owner) continue;
    c = conn;
    routed = n.data.count(l.address) > 0;
  }
  for (auto& [conn, u] : uplinks_) {
    if (static_cast<link_owner*>(conn) != l.owner) continue;
    c = conn;
    routed = u.out.count(l.address) > 0;
  }
  if (c == nullptr || c->closed()) return;
  // One with deliveries still unsettled stays until their outcome arrives: detaching it now
  // would turn a delivered message into a released one.
  if (routed) {
    auto& idle = idle_stream_links_[{c, l.address}];
    if (idle.size() < idle_stream_links_kept || l.unsettled > 0) {
      idle.push_back(&l);
      return;
    }
  }
  // Not now: the caller may still be working on the link.
  surplus_stream_links_.emplace_back(c, &l);
}

void shard::drop_idle_stream_links(amqp_connection& c, const std::string& address) {
  auto idle = idle_stream_links_.find({&c, address});
  if (idle == idle_stream_links_.end()) return;
  for (link* l : idle->second) surplus_stream_links_.emplace_back(&c, l);
  idle_stream_links_.erase(idle);
}

void shard::attach_mesh_links(amqp_connection& c, neighbour_links& n) {
  if (config_.router.mode == router_mode::edge) {
    // On an edge router the "routes" are the uplink links for our senders' addresses.
    for (auto it = n.data.begin(); it != n.data.end();) {
      if (edge_producers_.count(it->first)) {
        ++it;
      } else {
        it = detach_mesh_link(c, n, it);
      }
    }
    for (const auto& [address, count] : edge_producers_) {
      if (!n.data.count(address)) attach_mesh_link(c, n, address, 1);
    }
    return;
  }
  auto cost_via = [this, &n](const std::string& key) -> std::optional<unsigned> {
    if (!mesh_routes_) return std::nullopt;
    auto route = mesh_routes_->find(key);
    if (route == mesh_routes_->end()) return std::nullopt;
    for (const auto& [via, cost] : route->second) {
      if (via == n.id) return cost;
    }
    return std::nullopt;
  };
  const auto now = std::chrono::steady_clock::now();
  for (auto it = n.data.begin(); it != n.data.end();) {
    const auto cost = cost_via(it->first);
    if (!cost) {
      // No longer a route through this neighbour: what is queued goes elsewhere (or back).
      it = detach_mesh_link(c, n, it);
      continue;
    }
    it->second->mesh_cost = *cost;
    if (mesh_link_wanted(n, it->first)) {
      n.retiring.erase(it->first);
    } else {
      n.retiring.emplace(it->first, now);
    }
    ++it;
  }
  if (!mesh_routes_) return;
  for (const auto& [address, options] : *mesh_routes_) {
    // A link route is reached by forwarding attaches (link_route_hop), not by a data link.
    if (address.starts_with(router_core::link_route_key_prefix)) continue;
    if (n.data.count(address) || !mesh_link_wanted(n, address)) continue;
    for (const auto& [via, cost] : options) {
      if (via == n.id) attach_mesh_link(c, n, address, cost);
    }
  }
}

void shard::attach_mesh_link(amqp_connection& c, neighbour_links& n, const std::string& address,
                             unsigned cost) {
  link* l = c.attach_link(link_kind::outgoing, "fogmesh.data/" + address, address,
                          amqp::sender_settle_mode::unsettled);
  if (l == nullptr) return;
  core_.bind_mesh_link(*l, address, cost);
  n.data[address] = l;
}

std::map<std::string, link*>::iterator shard::detach_mesh_link(
    amqp_connection& c, neighbour_links& n, std::map<std::string, link*>::iterator it) {
  link* l = it->second;
  n.retiring.erase(it->first);
  drop_idle_stream_links(c, it->first);
  it = n.data.erase(it);
  core_.link_detached(*l);
  c.detach_link(*l, nullptr);
  return it;
}

bool shard::mesh_link_wanted(const neighbour_links& n, const std::string& key) {
  // Links to an edge router carry what it consumes for every sender in the mesh; topological
  // addresses carry replies and management requests by `to`; multicast copies go on the
  // address's own link. Other addresses need a link only while something here sends to them.
  if (n.edge || key.starts_with(mesh::topological_prefix) || mesh_producers_.count(key)) {
    return true;
  }
  const address_config* cfg = core_.addresses().matcher().match(key.substr(0, key.find('\x1f')));
  const distribution dist =
      cfg != nullptr ? cfg->dist : core_.addresses().matcher().default_distribution();
  return dist == distribution::multicast;
}

void shard::mesh_producer(const std::string& key, bool present) {
  if (present) {
    ++mesh_producers_[key];
  } else if (auto it = mesh_producers_.find(key);
             it != mesh_producers_.end() && --it->second == 0) {
    mesh_producers_.erase(it);
  }
  if (!mesh_routes_) return;
  auto route = mesh_routes_->find(key);
  if (route == mesh_routes_->end()) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& [conn, n] : neighbours_) {
    if (conn->closed() || n.edge) continue;
    for (const auto& [via, cost] : route->second) {
      if (via != n.id) continue;
      const bool have = n.data.count(key) > 0;
      if (mesh_link_wanted(n, key)) {
        n.retiring.erase(key);
        if (!have) attach_mesh_link(*conn, n, key, cost);
      } else if (have) {
        n.retiring.emplace(key, now);
      }
    }
  }
}

void shard::retire_idle_mesh_links(std::chrono::steady_clock::time_point now) {
  for (auto& [conn, n] : neighbours_) {
    if (conn->closed()) continue;
    for (auto it = n.retiring.begin(); it != n.retiring.end();) {
      auto data = n.data.find(it->first);
      if (data == n.data.end()) {
        it = n.retiring.erase(it);
        continue;
      }
      const link& l = *data->second;
      // One still holding deliveries stays until they are written and settled.
      if (now - it->second < mesh_link_linger || !l.queue.empty() || l.unsettled > 0) {
        ++it;
        continue;
      }
      ++it;  // detach_mesh_link erases the entry `it` was on
      detach_mesh_link(*conn, n, data);
    }
  }
}

std::string shard::mesh_fallback_key(const std::string& key, const link* in) const {
  if (!mesh_routes_) return {};
  auto route = mesh_routes_->find(key);
  if (route == mesh_routes_->end()) return {};
  const std::string* came_from = nullptr;
  if (in != nullptr) {
    for (const auto& [conn, n] : neighbours_) {
      if (static_cast<const link_owner*>(conn) == in->owner) {
        came_from = &n.id;
        break;
      }
    }
  }
  const std::string* best = nullptr;
  unsigned best_cost = 0;
  for (const auto& [via, cost] : route->second) {
    if (came_from != nullptr && via == *came_from) continue;
    if (best == nullptr || cost < best_cost) {
      best = &via;
      best_cost = cost;
    }
  }
  return best != nullptr ? std::string(mesh_anonymous_prefix) + *best : std::string();
}

amqp_connection* shard::link_route_hop(const std::string& key, const link_owner* arrived_on) {
  auto usable = [arrived_on](amqp_connection* c) {
    return static_cast<const link_owner*>(c) != arrived_on && c->opened();
  };
  if (config_.router.mode == router_mode::edge) {
    // An edge router's only way on is its interior, which routes the attach further.
    for (auto& [conn, n] : neighbours_) {
      if (usable(conn)) return conn;
    }
    return nullptr;
  }
  if (!mesh_routes_) return nullptr;
  auto route = mesh_routes_->find(key);
  if (route == mesh_routes_->end()) return nullptr;
  // The cheapest neighbour towards a router whose container for this route is connected.
  amqp_connection* best = nullptr;
  unsigned best_cost = 0;
  for (const auto& [via, cost] : route->second) {
    for (auto& [conn, n] : neighbours_) {
      if (n.id != via || !usable(conn) || (best != nullptr && cost >= best_cost)) continue;
      best = conn;
      best_cost = cost;
    }
  }
  return best;
}

void shard::apply_mesh_routes(std::shared_ptr<const mesh::route_table> routes) {
  mesh_routes_ = std::move(routes);
  for (auto& [conn, n] : neighbours_) {
    if (!conn->closed()) attach_mesh_links(*conn, n);
  }
}

void shard::set_addresses(const std::vector<address_config>& addresses,
                          distribution default_dist) {
  core_.addresses().set_matcher(address_matcher(addresses, default_dist));
}

void shard::mark_dirty(amqp_connection* c) {
  if (c->dirty_) return;
  c->dirty_ = true;
  dirty_.push_back(c);
}

void shard::accept(listener_endpoint& ep, int fd) {
  if (draining_) {
    ::close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ep.config.http) {
    http_connections_.push_back(
        std::make_unique<http_endpoint_connection>(*this, fd, ep.config, describe_peer(fd)));
    return;
  }
  auto conn = std::make_unique<amqp_connection>(*this, fd, group_.next_connection_id(),
                                                describe_peer(fd), settings_for(ep));
  conn->start();
  connections_.push_back(std::move(conn));
}

void shard::tick() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [name, adaptor] : adaptors_) adaptor->tick();
  if (mesh_) mesh_->tick();
  retire_idle_mesh_links(now);
  for (auto& c : connections_) c->tick(now);
  for (auto& c : connectors_) c->tick(now);
  if (draining_ && now >= drain_deadline_) {
    logger()->info("shutdown: {} connection(s) did not close in time; dropping them",
                   connections_.size());
    for (auto& c : connections_) {
      if (!c->closed()) {
        c->teardown();
        c->close_socket();
      }
    }
  }
}

void shard::after_batch() {
  if (stop_requested_.load() && !draining_) {
    draining_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    logger()->info("shutting down: closing {} connection(s)", connections_.size());
    for (auto& t : listener_targets_) t->stop();
    for (auto& [name, adaptor] : adaptors_) adaptor->stop();
    for (auto& h : http_connections_) h->close();
    for (auto& c : connections_) c->shutdown("", "");
  }
  for (auto [conn, l] : std::exchange(surplus_stream_links_, {})) {
    if (conn->closed()) continue;  // its links go with it
    core_.link_detached(*l);
    conn->detach_link(*l, nullptr);
  }
  // Flushing may complete work that dirties other connections: loop until quiet.
  while (!dirty_.empty() || !dirty_endpoints_.empty()) {
    std::vector<local_endpoint*> endpoints;
    endpoints.swap(dirty_endpoints_);
    for (local_endpoint* e : endpoints) {
      const bool released = std::any_of(released_endpoints_.begin(), released_endpoints_.end(),
                                        [e](const auto& p) { return p.get() == e; });
      if (!released) e->flush();
    }
    // Destroying an endpoint detaches its links, which may give connections work: flushed
    // just below.
    released_endpoints_.clear();
    std::vector<amqp_connection*> batch;
    batch.swap(dirty_);
    for (amqp_connection* c : batch) c->flush();
  }
  flush_outboxes();
  if (any_closed_) reap_closed();
  if (!http_connections_.empty()) {
    std::erase_if(http_connections_, [this](std::unique_ptr<http_endpoint_connection>& h) {
      if (!h->done()) return false;
      http_sockets_.bury(h->take_socket());
      return true;
    });
  }
  if (http_sockets_.size() > 0) http_sockets_.reap();
  if (draining_ && connections_.empty()) loop_.stop();
}

void shard::reap_closed() {
  any_closed_ = false;
  std::erase_if(connections_, [this](const std::unique_ptr<amqp_connection>& c) {
    if (!c->closed()) return false;
    if (c->send_in_flight_ || c->recv_armed_) {
      any_closed_ = true;  // wait for the kernel to finish with its buffers
      return false;
    }
    loop_.unregister_target(c->slot_);
    for (auto& connector : connectors_) connector->connection_gone(c.get());
    return true;
  });
}

void shard::run() {
  control_ = std::make_unique<control_target>(*this);
  control_->arm_wake();
  control_->arm_tick();
  for (auto& ep : listeners_) {
    listener_targets_.push_back(std::make_unique<listener_target>(*this, ep));
  }
  core_.on_neighbour = [this](amqp_connection& c, bool up) { neighbour_changed(c, up); };
  core_.on_mesh_link_gone = [this](link& l) { mesh_link_gone(l); };
  core_.acquire_stream_link = [this](link& shared) { return acquire_stream_link(shared); };
  core_.on_stream_link_idle = [this](link& l) { stream_link_idle(l); };
  if (config_.router.mode == router_mode::standalone) {
    // Uplinks (connector role uplink; one may also be created through management): shard 0
    // keeps the set of local sender and receiver addresses it offers upstream.
    core_.default_route_key = "_uplink";
    // A new address on shard 0 (where the uplink lives) goes up at once: a client's reply
    // address must be attached upstream before the request that names it, on the same
    // connection. Removals wait for the next turn: the core is still using the address entry
    // that detaching the uplink link may free.
    core_.on_local_producer = [this](const std::string& key, bool present) {
      if (index_ == 0 && present) return edge_producer(key, present);
      post_task(0, [key, present](shard& s) { s.edge_producer(key, present); });
    };
    core_.on_local_address = [this](const std::string& key, bool present) {
      if (index_ == 0 && present) return uplink_consumer(key, present);
      post_task(0, [key, present](shard& s) { s.uplink_consumer(key, present); });
    };
    const bool has_uplink =
        std::any_of(config_.connectors.begin(), config_.connectors.end(),
                    [](const connector_config& c) { return c.role == connection_role::uplink; });
    // Reply-to addresses must be routable by the router upstream: no _topo/ form there.
    if (has_uplink) core_.dynamic_address_prefix = router_id() + "/";
  }
  if (config_.router.mode != router_mode::standalone) {
    const bool edge = config_.router.mode == router_mode::edge;
    if (index_ == 0) mesh_ = std::make_unique<mesh::agent>(*this, edge);
    core_.on_local_address = [this](const std::string& key, bool present) {
      post_task(0, [key, present](shard& s) {
        if (s.mesh_) s.mesh_->local_address(key, present);
      });
    };
    core_.link_route_hop = [this](const std::string& key, const link_owner* arrived_on) {
      return link_route_hop(key, arrived_on);
    };
    if (!edge) {
      // Every shard keeps the set of addresses something on this router sends to: a shard
      // holding an inter-router connection attaches data links for those only.
      core_.on_producer = [this](const std::string& key, bool present) {
        for (unsigned to = 0; to < group_.size(); ++to) {
          post_task(to, [key, present](shard& s) { s.mesh_producer(key, present); });
        }
      };
      core_.mesh_fallback_key = [this](const std::string& key, const link* in) {
        return mesh_fallback_key(key, in);
      };
    }
    if (edge) {
      core_.default_route_key = "_edge/uplink";
      core_.on_local_producer = [this](const std::string& key, bool present) {
        post_task(0, [key, present](shard& s) { s.edge_producer(key, present); });
      };
    }
  }
  // After the mesh hooks: its $management addresses are advertised like any other.
  management_ = std::make_unique<management::agent>(*this);
  for (const auto& entity : config_.other) add_adaptor(entity);
  for (const auto& c : index_ == 0 ? config_.connectors : std::vector<connector_config>{}) {
    connectors_.push_back(std::make_unique<connector_target>(*this, c));
    connectors_.back()->tick(std::chrono::steady_clock::now());
  }
  loop_.run([this] { after_batch(); });
  listener_targets_.clear();
  adaptors_.clear();
  mesh_.reset();
  management_.reset();
}

}  // namespace fogmesh::router
