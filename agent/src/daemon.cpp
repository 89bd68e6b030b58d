// The daemon: one io_context thread runs the sync loop (controller), the status loop, the
// reconcile loop (container engine) and the local API. Everything here runs on that thread, so
// no state needs a lock; blocking work (file writes of a few KB) is kept small.
#include "fogmesh/agent/daemon.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>

#include "controller_client.hpp"
#include "fogmesh/agent/config_store.hpp"
#include "fogmesh/agent/docker_client.hpp"
#include "fogmesh/common/log.hpp"
#include "local_api.hpp"
#include "message_archive.hpp"
#include "message_bus.hpp"
#include "reconciler.hpp"
#include "router_config.hpp"
#include "router_supervisor.hpp"
#include "router_transport.hpp"
#include "system_info.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

auto logger() {
  static auto l = log::get("agent");
  return l;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int config_int(const json::object& o, const char* key, int fallback) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return fallback;
  return v->to_number<int>();
}

class agent_daemon {
 public:
  agent_daemon(const std::string& dir, daemon_options options)
      : store_(dir), options_(std::move(options)) {}

  int run() {
    settings_ = store_.load_settings();
    log::set_default_level(settings_.log_level);
    store_.ensure_dir();
    admin_token_ = store_.local_api_admin_token();
    identity_ = store_.load_identity();
    load_state();
    open_archive();

    // The edge router runs as our child process (router_supervisor.hpp), not as a container.
    router_supervisor_options router_options;
    router_options.binary = find_router_binary(
        !options_.router_binary.empty() ? options_.router_binary : settings_.router_binary);
    router_options.data_dir = store_.path("router");
    router_options.restart_backoff =
        std::chrono::milliseconds(std::max(100, settings_.restart_backoff_ms));
    router_options.restart_backoff_max = std::chrono::milliseconds(
        std::max(settings_.restart_backoff_ms, std::min(settings_.restart_backoff_max_ms, 30000)));
    router_options.on_change = [this] {
      status_timer_.cancel();  // report soon
      update_transport_url();
    };
    router_ = std::make_unique<router_supervisor>(io_, router_options);
    router_->start();
    // ioMessages for microservices on other agents travel through the router.
    transport_ = std::make_unique<router_transport>(
        io_,
        [this](const std::string& receiver, const io_message& m) {
          bus_.deliver_inbound(receiver, m);
        },
        static_cast<size_t>(settings_.router_held_messages));
    bus_.set_remote_transport(transport_.get());

    local_api_options api_options;
    api_options.bind = settings_.local_api_bind;
    api_options.port = settings_.local_api_port;
    api_options.require_token = settings_.local_api_require_token;
    api_options.admin_token = admin_token_;
    api_options.status = [this] { return local_status(); };
    api_options.info = [this] { return local_info(); };
    if (!settings_.local_api_require_token) {
      logger()->warn("local API runs WITHOUT microservice tokens (localApiRequireToken=false)");
    }
    api_ = std::make_unique<local_api>(io_, api_options, bus_);
    api_->set_edge_resources(edge_resources_);
    api_->start();
    // Tests and tools find an ephemeral port here.
    write_file_atomic(store_.path("local-api-port"), std::to_string(api_->port()) + "\n", 0644);

    apply_microservices(false);
    asio::co_spawn(io_, sync_loop(), log_exit("sync"));
    asio::co_spawn(io_, reconcile_loop(), log_exit("reconcile"));
    asio::co_spawn(io_, status_loop(), log_exit("status"));

    asio::signal_set signals(io_, SIGTERM, SIGINT);
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      logger()->info("signal {}: stopping (containers keep running)", sig);
      stopping_ = true;
      api_->stop();
      router_->stop_blocking();
      try {
        save_state();
      } catch (const std::exception& e) {
        logger()->error("saving state failed: {}", e.what());
      }
      io_.stop();
    });
    logger()->info(
        "fogmesh-agent started (config dir {}, {})", store_.dir(),
        identity_ ? "provisioned as " + identity_->uuid : std::string("not provisioned"));
    io_.run();
    return 0;
  }

 private:
  static std::function<void(std::exception_ptr)> log_exit(const char* what) {
    return [what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        logger()->critical("{} loop ended: {}", what, ex.what());
      }
    };
  }

  // --- persisted state ---

  void load_state() {
    auto state = store_.load_state();
    if (auto* v = state.if_contains("config"); v && v->is_object())
      controller_config_ = v->get_object();
    if (auto* v = state.if_contains("microservices"); v && v->is_array())
      microservices_ = v->get_array();
    if (auto* v = state.if_contains("registries"); v && v->is_array()) registries_ = v->get_array();
    if (auto* v = state.if_contains("tokens"); v && v->is_object()) tokens_ = v->get_object();
    if (auto* v = state.if_contains("edgeResources"); v && v->is_array())
      edge_resources_ = v->get_array();
    if (auto* v = state.if_contains("fogUuid"); v && v->is_string())
      last_fog_uuid_ = v->get_string();
    if (identity_) last_fog_uuid_ = identity_->uuid;
  }

  void save_state() {
    json::object state{{"config", controller_config_},     {"microservices", microservices_},
                       {"registries", registries_},        {"tokens", tokens_},
                       {"edgeResources", edge_resources_}, {"fogUuid", last_fog_uuid_}};
    store_.save_state(state);
  }

  // --- the message archive ---

  // diskLimit (GB, upstream default 50) bounds the archive, as upstream bounds its message
  // archives with it.
  uint64_t archive_bound_bytes() const {
    double gb = 50;
    if (auto* v = controller_config_.if_contains("diskLimit"); v && v->is_number())
      gb = v->to_number<double>();
    return gb > 0 ? static_cast<uint64_t>(gb * 1e9) : 0;
  }

  void open_archive() {
    try {
      archive_ = std::make_unique<message_archive>(store_.path("archive"), archive_bound_bytes());
      bus_.set_archive(archive_.get());
    } catch (const std::exception& e) {
      // The agent's main work (containers, routing) does not depend on the archive.
      logger()->error("message archive unavailable, /v2/messages/query will find nothing: {}",
                      e.what());
    }
  }

  // --- applying what the controller sent ---

  void apply_microservices(bool notify_changes) {
    if (archive_) archive_->set_max_bytes(archive_bound_bytes());
    std::vector<microservice_desired> desired;
    std::map<std::string, std::string> new_configs;
    std::string router_uuid, router_error;
    std::optional<router_spec> router;
    for (const auto& item : microservices_) {
      if (!item.is_object()) continue;
      if (settings_.router_run_as == "process" && is_router_microservice(item.get_object())) {
        // The fog's router: supervised fogmesh-router process instead of a container.
        const auto& o = item.get_object();
        auto flag = [&o](const char* key) {
          auto* v = o.if_contains(key);
          return v && v->is_bool() && v->get_bool();
        };
        if (flag("delete") || flag("deleteWithCleanup")) continue;
        auto* uuid = o.if_contains("uuid");
        router_uuid =
            uuid && uuid->is_string() ? std::string(uuid->get_string()) : std::string("router");
        auto* config = o.if_contains("config");
        try {
          router = router_spec::from_iofog_json(config ? *config : json::value("{}"),
                                                identity_ ? identity_->uuid : last_fog_uuid_);
        } catch (const std::exception& e) {
          router_error = e.what();
          router.reset();
          logger()->error("router microservice {}: {}", router_uuid, router_error);
        }
        continue;
      }
      try {
        desired.push_back(microservice_desired::from_json(item.get_object()));
      } catch (const std::exception& e) {
        logger()->warn("skipping a microservice the controller sent: {}", e.what());
      }
    }
    if (!identity_) {  // deprovisioned: nothing may run
      desired.clear();
      router.reset();
      router_error.clear();
      router_uuid.clear();
    }
    update_container_router_urls(router ? &*router : nullptr, router_uuid.empty());
    if (router) {
      router_->set_desired(router_uuid, std::move(router));
    } else if (!router_error.empty()) {
      router_->set_invalid(router_uuid, router_error);
    } else {
      router_->clear();
    }
    std::set<std::string> uuids;
    std::map<std::string, std::vector<std::string>> routes;
    std::map<std::string, std::pair<std::string, std::string>> api_view;
    json::object tokens;
    for (const auto& m : desired) {
      uuids.insert(m.uuid);
      routes[m.uuid] = m.routes;
      std::string token;
      if (auto* t = tokens_.if_contains(m.uuid); t && t->is_string()) {
        token = t->get_string();
      } else {
        token = random_token_hex();
      }
      tokens[m.uuid] = token;
      api_view[m.uuid] = {m.config, token};
    }
    tokens_ = std::move(tokens);
    // A microservice that consumes its router address itself (SDK over AMQP, declared by its env
    // FOGMESH_MESSAGE_TRANSPORT=amqp) must not share it with the agent: the router would balance
    // the messages between both consumers.
    std::set<std::string> agent_consumed = uuids;
    for (const auto& m : desired) {
      for (const auto& [key, value] : m.env) {
        if (key == "FOGMESH_MESSAGE_TRANSPORT" && value == "amqp") agent_consumed.erase(m.uuid);
      }
    }
    transport_->set_receivers(agent_consumed);
    // Messages held for a receiver no route leads to any more (deleted, or its route removed)
    // would never be taken by anyone and would hold routerHeldMessages until a restart.
    std::set<std::string> routed;
    for (const auto& [publisher, receivers] : routes)
      routed.insert(receivers.begin(), receivers.end());
    if (size_t dropped = transport_->discard_except(routed); dropped > 0) {
      logger()->info("discarded {} ioMessages held for receivers no route leads to any more",
                     dropped);
    }
    bus_.set_local_microservices(uuids);
    bus_.set_routes(std::move(routes));
    api_->set_microservices(api_view);
    if (notify_changes) {
      for (const auto& m : desired) {
        auto old = configs_.find(m.uuid);
        if (old != configs_.end() && old->second != m.config) {
          logger()->info("config of microservice {} changed: signalling its control socket",
                         m.uuid);
          api_->notify_config_changed(m.uuid);
        }
      }
    }
    configs_.clear();
    for (const auto& m : desired) configs_[m.uuid] = m.config;
    desired_ = std::move(desired);
    registries_map_.clear();
    for (const auto& r : registries_) {
      if (r.is_object()) {
        auto info = registry_info::from_json(r.get_object());
        registries_map_[info.id] = info;
      }
    }
    if (reconciler_) reconciler_->set_desired(desired_, registries_map_);
    reconcile_timer_.cancel();
    update_transport_url();
  }

  // FOGMESH_ROUTER_URL for the containers: the normal listener of the router this agent
  // supervises, else (routerMode none, or the router runs as a container) the controller's
  // routerHost:routerPort, where "localhost" means a router published on this host's addresses.
  void update_container_router_urls(const router_spec* router, bool no_router_microservice) {
    std::string host;
    int port = 0;
    if (router) {
      auto ep = router->client_listener();
      host = ep.host;
      port = ep.port;
    } else if (no_router_microservice) {
      auto* h = controller_config_.if_contains("routerHost");
      host = h && h->is_string() ? std::string(h->get_string()) : std::string();
      if (host == "localhost" || host == "127.0.0.1") host.clear();
      port = config_int(controller_config_, "routerPort", 0);
    }
    container_router_urls_ = {router_url_for_container(host, port, false),
                              router_url_for_container(host, port, true)};
    if (reconciler_)
      reconciler_->set_router_urls(container_router_urls_.first, container_router_urls_.second);
  }

  // The message bus talks to the router this agent supervises once it is up; without one (the
  // fog's routerMode is none) to routerHost:routerPort from the controller's config.
  void update_transport_url() {
    if (!transport_ || !router_) return;
    std::string url;
    if (!router_->status().microservice_uuid.empty()) {
      if (router_->ready() && router_->applied()) {
        auto ep = router_->applied()->management_endpoint();
        if (!ep.host.empty()) {
          url = "amqp://" +
                (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" +
                std::to_string(ep.port);
        }
      }
    } else if (identity_) {
      auto* host = controller_config_.if_contains("routerHost");
      int port = config_int(controller_config_, "routerPort", 0);
      if (host && host->is_string() && !host->get_string().empty() && port > 0) {
        url = "amqp://" + std::string(host->get_string()) + ":" + std::to_string(port);
      }
    }
    transport_->set_url(url);
  }

  // --- container engine ---

  std::string effective_docker_url() const {
    if (const char* env = std::getenv("DOCKER_HOST"); env && *env) return env;
    if (!settings_.docker_url.empty()) return settings_.docker_url;
    if (auto* v = controller_config_.if_contains("dockerUrl");
        v && v->is_string() && !v->get_string().empty()) {
      return std::string(v->get_string());
    }
    return "unix:///var/run/docker.sock";
  }

  void ensure_engine() {
    std::string url = effective_docker_url();
    std::string fog = identity_ ? identity_->uuid : last_fog_uuid_;
    if (docker_ && url == docker_url_ && fog == reconciler_fog_) return;
    try {
      docker_ = std::make_unique<docker_client>(url);
    } catch (const std::exception& e) {
      if (url != docker_url_) logger()->error("container engine URL {}: {}", url, e.what());
      docker_url_ = url;
      docker_.reset();
      reconciler_.reset();
      return;
    }
    docker_url_ = url;
    reconciler_fog_ = fog;
    bridge_checked_ = false;
    reconciler_options o;
    o.fog_uuid = fog;
    o.local_api_port = api_->port();
    o.restart_backoff = std::chrono::milliseconds(settings_.restart_backoff_ms);
    o.restart_backoff_max = std::chrono::milliseconds(settings_.restart_backoff_max_ms);
    if (auto* tz = controller_config_.if_contains("timeZone"); tz && tz->is_string())
      o.time_zone = tz->get_string();
    o.token_for = [this](const std::string& uuid) {
      auto* t = tokens_.if_contains(uuid);
      return t && t->is_string() ? std::string(t->get_string()) : std::string();
    };
    o.router_url_bridge = container_router_urls_.first;
    o.router_url_host_network = container_router_urls_.second;
    reconciler_ = std::make_unique<reconciler>(*docker_, o);
    reconciler_->set_desired(desired_, registries_map_);
    logger()->info("container engine: {}", url);
  }

  asio::awaitable<void> reconcile_loop() {
    bool engine_down_logged = false;
    while (!stopping_) {
      // The CLI may have provisioned or deprovisioned this node meanwhile.
      auto identity = store_.load_identity();
      bool changed = identity.has_value() != identity_.has_value() ||
                     (identity && identity_ &&
                      (identity->uuid != identity_->uuid || identity->token != identity_->token));
      if (changed) on_identity_changed(std::move(identity));
      ensure_engine();
      if (reconciler_ && !reconciler_fog_.empty()) {
        try {
          if (!bridge_checked_) co_await discover_bridge();
          auto before = status_fingerprint();
          co_await reconciler_->reconcile();
          co_await maybe_prune_for_disk();
          if (status_fingerprint() != before) status_timer_.cancel();  // report soon
          if (engine_down_logged) logger()->info("container engine reachable again");
          engine_down_logged = false;
        } catch (const std::exception& e) {
          if (!engine_down_logged)
            logger()->warn("container engine {} unavailable: {}", docker_url_, e.what());
          engine_down_logged = true;
        }
      }
      reconcile_timer_.expires_after(std::chrono::milliseconds(settings_.reconcile_interval_ms));
      boost::system::error_code ec;
      co_await reconcile_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // Containers reach the host (and so the local API) at the bridge's gateway: that is the
  // `iofog` extra host, and the local API listens there too (not on 0.0.0.0).
  asio::awaitable<void> discover_bridge() {
    std::string gateway = co_await docker_->bridge_gateway();
    reconciler_->set_iofog_host(gateway);
    bridge_checked_ = true;
    if (gateway.empty() || !settings_.local_api_bind_bridge || bridge_bound_ == gateway) co_return;
    try {
      api_->listen_also(gateway);
      bridge_bound_ = gateway;
      if (bridge_retry_logged_ == gateway)
        logger()->info("local API now also listening on the bridge {}", gateway);
    } catch (const std::exception& e) {
      // The bridge interface may not exist until the first container starts: retry later,
      // saying so once per address rather than on every reconcile pass.
      if (bridge_retry_logged_ != gateway)
        logger()->info("{} (will retry until the bridge exists)", e.what());
      bridge_retry_logged_ = gateway;
      bridge_checked_ = false;
      reconciler_->set_iofog_host(gateway);
    }
  }

  std::string status_fingerprint() const {
    std::string s;
    if (!reconciler_) return s;
    for (const auto& [uuid, st] : reconciler_->statuses()) {
      s += uuid + st.status + st.container_id + std::to_string(st.percentage) + ";";
    }
    return s;
  }

  void on_identity_changed(std::optional<agent_identity> identity) {
    if (identity) {
      logger()->info("provisioned as {} (controller {})", identity->uuid, identity->controller_url);
      if (identity_ && identity_->uuid != identity->uuid) {
        // A different node identity: the old one's state does not apply.
        microservices_.clear();
        controller_config_.clear();
      }
      last_fog_uuid_ = identity->uuid;
      need_initial_sync_ = true;
    } else {
      logger()->info("deprovisioned: removing this node's microservices");
      microservices_.clear();
      edge_resources_.clear();
      api_->set_edge_resources(edge_resources_);
    }
    identity_ = std::move(identity);
    apply_microservices(false);
    sync_timer_.cancel();
  }

  // --- controller sync ---

  asio::awaitable<void> sync_loop() {
    auto backoff = std::chrono::milliseconds(1000);
    const auto backoff_max = std::chrono::milliseconds(settings_.retry_backoff_max_ms);
    bool offline_logged = false;
    while (!stopping_) {
      if (!identity_) {
        co_await sleep(sync_timer_, std::chrono::seconds(2));
        continue;
      }
      auto identity = *identity_;
      bool failed = true;  // cleared by the paths that succeed
      try {
        controller_client client(identity.controller_url, identity.token,
                                 settings_.controller_ca_file, settings_.controller_tls_insecure);
        if (need_initial_sync_) {
          // As upstream on start: fetch everything regardless of flags.
          controller_config_ = (co_await client.config()).as_object();
          registries_ = (co_await client.registries()).at("registries").as_array();
          microservices_ = (co_await client.microservices()).at("microservices").as_array();
          co_await sync_edge_resources(client);
          need_initial_sync_ = false;
          apply_microservices(true);
          save_state();
          logger()->info("synced with controller: {} microservice(s)", microservices_.size());
          status_timer_.cancel();  // report at once: the controller sees the node up now
        }
        int wait = settings_.long_poll_seconds;
        auto asked = std::chrono::steady_clock::now();
        auto changes = co_await client.changes(wait);
        if (offline_logged) logger()->info("controller reachable again");
        offline_logged = false;
        failed = false;
        backoff = std::chrono::milliseconds(1000);
        if (identity_ && identity_->token != identity.token) continue;  // re-provisioned meanwhile
        bool any = co_await handle_changes(client, changes.as_object());
        if (!any && std::chrono::steady_clock::now() - asked <
                        std::chrono::seconds(std::max(1, wait / 2))) {
          // The controller answered at once with nothing: it does not hold requests (plain
          // ioFog): fall back to polling every changeFrequency seconds.
          co_await sleep(sync_timer_, std::chrono::seconds(
                                          config_int(controller_config_, "changeFrequency", 20)));
        }
      } catch (const controller_error& e) {
        if (e.status() == 401) {
          logger()->error("controller rejects this agent's token ({}): not provisioned?", e.what());
        } else {
          logger()->warn("controller error: {} {} — retrying", e.status(), e.what());
        }
      } catch (const std::exception& e) {
        if (!offline_logged) {
          logger()->warn(
              "controller {} unreachable ({}); running on the last known config, retrying",
              identity.controller_url, e.what());
        }
        offline_logged = true;
      }
      if (failed && !stopping_) {
        // A random wait in [backoff/2, backoff]: agents that lost the controller together (its
        // restart, a network cut) come back spread over the window instead of all at once.
        std::uniform_int_distribution<long long> jitter(backoff.count() / 2, backoff.count());
        co_await sleep(sync_timer_, std::chrono::milliseconds(jitter(retry_random_)));
        backoff = std::min(backoff * 2, backoff_max);
      }
    }
  }

  asio::awaitable<bool> handle_changes(controller_client& client, const json::object& flags) {
    auto flag = [&flags](const char* key) {
      auto* v = flags.if_contains(key);
      return v && v->is_bool() && v->get_bool();
    };
    bool any = false;
    for (const auto& [k, v] : flags) {
      if (v.is_bool() && v.get_bool()) any = true;
    }
    if (!any) co_return false;
    if (flag("deleteNode")) {
      logger()->warn("controller deleted this node: deprovisioning");
      try {
        co_await client.delete_node();
      } catch (const std::exception&) {
      }
      store_.remove_identity();
      on_identity_changed(std::nullopt);
      co_return true;
    }
    if (flag("prune")) co_await prune_images("the controller asked (prune)");
    if (flag("config") || flag("routerChanged")) {
      // The engine (dockerUrl) is switched by the reconcile loop between passes, never here:
      // a pass may be suspended inside the current reconciler.
      controller_config_ = (co_await client.config()).as_object();
    }
    if (flag("registries"))
      registries_ = (co_await client.registries()).at("registries").as_array();
    if (flag("microserviceList") || flag("microserviceConfig") || flag("routing") ||
        flag("registries")) {
      microservices_ = (co_await client.microservices()).at("microservices").as_array();
    }
    if (flag("linkedEdgeResources")) co_await sync_edge_resources(client);
    apply_microservices(true);
    save_state();
    if (auto* last = flags.if_contains("lastUpdated"); last && last->is_string()) {
      co_await client.ack_changes(std::string(last->get_string()));
    }
    last_command_ms_ = now_ms();
    co_return true;
  }

  // Fetches the node's linked edge resources; when they changed, the local API serves the new
  // list and every control socket gets 0xF (the SDK then calls /v2/edgeResources).
  asio::awaitable<void> sync_edge_resources(controller_client& client) {
    json::value answer;
    try {
      answer = co_await client.edge_resources();
    } catch (const controller_error& e) {
      // A controller without edge resources (404) has none for us; other errors retry the sync.
      if (e.status() != 404) throw;
      logger()->debug("controller has no /agent/edgeResources ({}): none linked", e.what());
      answer = json::array{};
    }
    json::array list;
    if (answer.is_array()) {
      list = answer.get_array();
    } else if (auto* wrapped =
                   answer.is_object() ? answer.get_object().if_contains("edgeResources") : nullptr;
               wrapped && wrapped->is_array()) {
      list = wrapped->get_array();
    } else {
      throw std::runtime_error("GET /agent/edgeResources: expected an array, got " +
                               json::serialize(answer));
    }
    if (list == edge_resources_) co_return;
    logger()->info("edge resources linked to this node: {}", list.size());
    edge_resources_ = std::move(list);
    api_->set_edge_resources(edge_resources_);
    api_->notify_edge_resources_changed();
  }

  // Unused images go when the controller asks or free disk drops below
  // availableDiskThreshold % (checked every 30 min, as upstream). Failures are logged only.
  asio::awaitable<void> prune_images(const char* why) {
    if (!docker_) co_return;
    docker_client docker =
        *docker_;  // shares the connection settings; safe if the engine is swapped
    std::vector<std::string> keep;
    if (reconciler_)
      for (const auto& m : reconciler_->desired()) keep.push_back(m.image);
    try {
      int removed = co_await docker.prune_images(keep);
      logger()->info("pruned {} unused image(s): {}", removed, why);
    } catch (const std::exception& e) {
      logger()->warn("image prune failed: {}", e.what());
    }
  }

  asio::awaitable<void> maybe_prune_for_disk() {
    // Not before the first sync: until then the images of the microservices this node is
    // about to run look unused, and pruning them would leave nothing to start.
    if (need_initial_sync_) co_return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_disk_check_ < std::chrono::minutes(30)) co_return;
    last_disk_check_ = now;
    int threshold = config_int(controller_config_, "availableDiskThreshold", 20);
    struct statvfs fs {};
    if (::statvfs("/", &fs) != 0 || fs.f_blocks == 0) co_return;
    double free_percent =
        100.0 * static_cast<double>(fs.f_bavail) / static_cast<double>(fs.f_blocks);
    if (free_percent < threshold) co_await prune_images("free disk below availableDiskThreshold");
  }

  asio::awaitable<void> sleep(asio::steady_timer& timer, std::chrono::milliseconds d) {
    timer.expires_after(d);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // --- status ---

  json::array microservice_statuses() const {
    json::array list;
    if (!reconciler_) return list;
    int64_t now = now_ms();
    for (const auto& [uuid, st] : reconciler_->statuses()) {
      list.push_back(
          json::object{{"id", uuid},
                       {"status", st.status},
                       {"percentage", st.percentage},
                       {"containerId", st.container_id},
                       {"startTime", st.start_time},
                       {"operatingDuration", st.start_time > 0 ? now - st.start_time : 0},
                       {"cpuUsage", usage_for(st.container_id).first},
                       {"memoryUsage", usage_for(st.container_id).second},
                       {"errorMessage", st.error_message}});
    }
    if (router_ && !router_->status().microservice_uuid.empty()) {
      const auto& r = router_->status();
      list.push_back(json::object{
          {"id", r.microservice_uuid},
          {"status", r.status},
          {"percentage", 0},
          {"containerId", ""},
          {"startTime", r.start_time},
          {"operatingDuration", r.pid > 0 && r.start_time > 0 ? now - r.start_time : 0},
          {"cpuUsage", 0.0},
          {"memoryUsage", static_cast<double>(process_rss_bytes(r.pid))},
          {"errorMessage", r.error_message}});
    }
    return list;
  }

  static int64_t process_rss_bytes(pid_t pid) {
    if (pid <= 0) return 0;
    auto statm = read_file("/proc/" + std::to_string(pid) + "/statm");
    if (!statm) return 0;
    long pages = 0, resident = 0;
    if (std::sscanf(statm->c_str(), "%ld %ld", &pages, &resident) != 2) return 0;
    return static_cast<int64_t>(resident) * ::sysconf(_SC_PAGESIZE);
  }

  json::object router_info() const {
    const auto& r = router_->status();
    return json::object{{"microservice", r.microservice_uuid},
                        {"status", r.status},
                        {"pid", r.pid},
                        {"restarts", r.restarts},
                        {"errorMessage", r.error_message},
                        {"config", router_->config_path()},
                        {"log", router_->log_path()}};
  }

  // CPU % and memory (bytes) of a container from the last two stats samples.
  std::pair<double, double> usage_for(const std::string& container_id) const {
    auto it = usage_.find(container_id);
    return it == usage_.end() ? std::pair<double, double>{0, 0} : it->second.usage;
  }

  asio::awaitable<void> sample_containers() {
    if (!docker_ || !reconciler_) co_return;
    docker_client docker = *docker_;  // safe if the engine is swapped meanwhile
    std::map<std::string, usage_sample> next;
    std::vector<std::string> ids;
    for (const auto& [uuid, st] : reconciler_->statuses()) {
      if (st.status == "RUNNING" && !st.container_id.empty()) ids.push_back(st.container_id);
    }
    for (const auto& id : ids) {
      try {
        auto s = co_await docker.stats(id);
        usage_sample u;
        u.stats = s;
        u.usage.second = static_cast<double>(s.memory_bytes);  // bytes, as upstream reports it
        if (auto prev = usage_.find(id); prev != usage_.end()) {
          auto cpu = s.cpu_total_ns - prev->second.stats.cpu_total_ns;
          auto sys = s.system_cpu_ns - prev->second.stats.system_cpu_ns;
          if (s.system_cpu_ns > prev->second.stats.system_cpu_ns &&
              s.cpu_total_ns >= prev->second.stats.cpu_total_ns) {
            u.usage.first =
                100.0 * static_cast<double>(cpu) / static_cast<double>(sys) * s.online_cpus;
          }
        }
        next[id] = u;
      } catch (const std::exception& e) {
        logger()->debug("stats of {} failed: {}", id.substr(0, 12), e.what());
      }
    }
    usage_ = std::move(next);
  }

  json::object status_body() {
    auto sys = sample_system(store_.dir());
    int64_t now = now_ms();
    json::object counts;
    for (const auto& [pub, n] : bus_.published_counts()) counts[pub] = n;
    return json::object{
        {"daemonStatus", "RUNNING"},
        {"daemonOperatingDuration", now - started_ms_},
        {"daemonLastStart", started_ms_},
        {"memoryUsage", sys.process_rss_mb},
        // GB (decimal) of message archive, the unit of diskLimit, as upstream measures it.
        {"diskUsage", archive_ ? static_cast<double>(archive_->bytes()) / 1e9 : 0.0},
        {"cpuUsage", sys.process_cpu_percent},
        // memoryLimit (MB) and cpuLimit (%) are the agent's own limits, as upstream.
        {"memoryViolation",
         sys.process_rss_mb > config_int(controller_config_, "memoryLimit", 4096)},
        {"diskViolation", archive_ && archive_->bytes() > archive_bound_bytes()},
        {"cpuViolation", sys.process_cpu_percent > config_int(controller_config_, "cpuLimit", 80)},
        {"systemAvailableDisk", sys.available_disk_bytes},
        {"systemAvailableMemory", sys.available_memory_bytes},
        {"systemTotalCpu", sys.total_cpu_percent},
        {"securityStatus", "OK"},
        {"securityViolationInfo", "No violation"},
        {"microserviceStatus", json::serialize(microservice_statuses())},
        {"repositoryCount", registries_.size()},
        {"repositoryStatus", "[]"},
        {"systemTime", now},
        {"lastStatusTime", now},
        {"ipAddress", sys.ip_address},
        {"ipAddressExternal", sys.ip_address},
        {"processedMessages", bus_.processed()},
        {"microserviceMessageCounts", json::serialize(counts)},
        {"messageSpeed", 0},
        {"lastCommandTime", last_command_ms_},
        {"tunnelStatus", "closed"},
        {"version", "fogmesh-agent 0.1.0"},
        {"isReadyToUpgrade", false},
        {"isReadyToRollback", false},
    };
  }

  asio::awaitable<void> status_loop() {
    auto last_sent = std::chrono::steady_clock::now() - std::chrono::hours(1);
    while (!stopping_) {
      int every = std::max(1, config_int(controller_config_, "statusFrequency", 10));
      // Woken early when a microservice's state changes, but not more than once a second.
      co_await sleep(status_timer_, std::chrono::seconds(every));
      auto since = std::chrono::steady_clock::now() - last_sent;
      if (since < std::chrono::seconds(1)) {
        co_await sleep(status_retry_timer_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::seconds(1) - since));
      }
      if (!identity_) continue;
      co_await sample_containers();
      co_await report_status();
      last_sent = std::chrono::steady_clock::now();
    }
  }

  // Sends the status. A controller that refuses a field ("Field x must be ...": ours limits
  // some epoch-ms and byte counts to 32 bits) gets reports without that field from then on,
  // rather than no status at all.
  asio::awaitable<void> report_status() {
    for (int attempt = 0; attempt < 16 && identity_; ++attempt) {
      auto body = status_body();
      for (const auto& f : refused_status_fields_) body.erase(f);
      std::string refused;
      try {
        controller_client client(identity_->controller_url, identity_->token,
                                 settings_.controller_ca_file, settings_.controller_tls_insecure);
        co_await client.put_status(body);
        co_return;
      } catch (const controller_error& e) {
        std::string message = e.what();
        if (e.status() == 400 && message.rfind("Field ", 0) == 0) {
          refused = message.substr(6, message.find(' ', 6) - 6);
        }
        if (refused.empty() || !body.contains(refused)) {
          logger()->warn("status report refused: {}", message);
          co_return;
        }
        logger()->warn("controller refuses status field '{}' ({}); leaving it out", refused,
                       message);
        refused_status_fields_.insert(refused);
      } catch (const std::exception& e) {
        logger()->debug("status report failed: {}", e.what());
        co_return;
      }
    }
  }

  json::object local_status() {
    json::object o{{"provisioned", identity_.has_value()},
                   {"uuid", identity_ ? identity_->uuid : ""},
                   {"controllerUrl", identity_ ? identity_->controller_url : ""},
                   {"containerEngine", docker_url_},
                   {"localApiPort", api_->port()},
                   {"microservices", microservice_statuses()},
                   {"processedMessages", bus_.processed()},
                   {"undeliverableMessages", bus_.undeliverable()},
                   {"droppedMessages", bus_.dropped()},
                   {"duplicateMessagesDropped", bus_.duplicates()},
                   {"archive", archive_status()},
                   {"routerConnected", transport_->connected()},
                   {"messagesSentToRouter", transport_->sent()},
                   {"messagesHeldForRouter", transport_->held()},
                   {"messagesResentToRouter", transport_->resent()},
                   {"messagesRejectedByRouter", transport_->rejected()},
                   {"messagesDiscardedNoRoute", transport_->discarded()},
                   {"messagesFromRouter", transport_->received()},
                   {"router", router_info()},
                   {"uptimeMs", now_ms() - started_ms_}};
    return o;
  }

  json::object archive_status() const {
    if (!archive_) return json::object{{"available", false}};
    return json::object{{"available", true},
                        {"dir", archive_->dir()},
                        {"bytes", archive_->bytes()},
                        {"boundBytes", archive_->max_bytes()},
                        {"messages", archive_->messages()},
                        {"droppedMessages", archive_->dropped()},
                        {"notArchivedMessages", archive_->failed()},
                        {"tornBytesDiscarded", archive_->recovered_bytes_discarded()}};
  }

  json::object local_info() {
    json::object o = local_status();
    o["settings"] = settings_.to_json();
    o["controllerConfig"] = controller_config_;
    return o;
  }

  asio::io_context io_;
  config_store store_;
  daemon_options options_;
  agent_settings settings_;
  std::string admin_token_;
  std::optional<agent_identity> identity_;
  std::string last_fog_uuid_;
  bool need_initial_sync_ = true;
  json::object controller_config_;
  json::array microservices_;
  json::array registries_;
  json::object tokens_;
  json::array edge_resources_;  // linked to this node (GET /agent/edgeResources)
  std::pair<std::string, std::string>
      container_router_urls_;  // FOGMESH_ROUTER_URL: bridge, host network
  std::map<std::string, std::string> configs_;
  std::vector<microservice_desired> desired_;
  std::map<int64_t, registry_info> registries_map_;
  std::unique_ptr<message_archive> archive_;  // before bus_, which points to it
  message_bus bus_;
  std::unique_ptr<local_api> api_;
  std::unique_ptr<docker_client> docker_;
  std::unique_ptr<reconciler> reconciler_;
  std::string docker_url_;
  std::string reconciler_fog_;
  bool bridge_checked_ = false;
  std::string bridge_bound_;
  std::string bridge_retry_logged_;  // the gateway whose bind failure was last logged
  asio::steady_timer reconcile_timer_{io_};
  asio::steady_timer sync_timer_{io_};
  std::minstd_rand retry_random_{std::random_device{}()};
  asio::steady_timer status_timer_{io_};
  asio::steady_timer status_retry_timer_{io_};
  bool stopping_ = false;
  int64_t started_ms_ = now_ms();
  int64_t last_command_ms_ = 0;
  std::chrono::steady_clock::time_point last_disk_check_{};
  struct usage_sample {
    container_stats stats;
    std::pair<double, double> usage;  // CPU %, memory bytes
  };
  std::map<std::string, usage_sample> usage_;  // by container id
  std::set<std::string> refused_status_fields_;
  std::unique_ptr<router_transport> transport_;
  // Last: destroyed first, stopping the router child while io_ still exists.
  std::unique_ptr<router_supervisor> router_;
};

}  // namespace

int run_daemon(const std::string& config_dir, const daemon_options& options) {
  agent_daemon d(config_dir, options);
  return d.run();
}

}  // namespace fogmesh::agent
