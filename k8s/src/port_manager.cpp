#include "fogmesh/k8s/port_manager.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "controller_api.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/apply.hpp"
#include "fogmesh/k8s/reflector.hpp"
#include "fogmesh/k8s/util.hpp"

namespace fogmesh::k8s {

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("k8s.port-manager");
  return l;
}

struct public_port {
  int64_t port = 0;
  std::string address;  // AMQP address (queueName)
  std::string protocol;
  bool operator<(const public_port& o) const { return port < o.port; }
};

std::string lb_address(const json::object& svc) {
  auto* st = find_object(svc, "status");
  auto* lb = st ? find_object(*st, "loadBalancer") : nullptr;
  if (!lb || !lb->contains("ingress") || !lb->at("ingress").is_array()) return {};
  for (auto& ing : lb->at("ingress").as_array()) {
    if (!ing.is_object()) continue;
    auto ip = get_string(ing.as_object(), "ip");
    if (!ip.empty()) return ip;
    auto host = get_string(ing.as_object(), "hostname");
    if (!host.empty()) return host;
  }
  return {};
}

void sleep_for(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

struct port_manager::impl {
  client& k;
  port_manager_options opts;
  controller_api api;  // the reporter's (and one-shot syncs') session
  std::mutex api_mu;
  // The long-poll has its own session: a held GET must not delay an address report.
  controller_api poll_api;
  std::string etag;  // of the last public-port list (If-None-Match of the next long-poll)
  std::vector<public_port> current;
  // Address reporting: the newest LB address seen, and the one the controller has.
  std::mutex addr_mu;
  std::condition_variable addr_cv;
  std::string wanted_address, reported_address;

  impl(client& c, port_manager_options o)
      : k(c), opts(std::move(o)), api(opts.controller_url), poll_api(opts.controller_url) {
    auto decoded = base64_decode(opts.password);
    if (decoded && !decoded->empty() &&
        std::all_of(decoded->begin(), decoded->end(),
                    [](unsigned char ch) { return std::isprint(ch); })) {
      opts.password = *decoded;
    }
  }

  void login() {
    std::lock_guard lock(api_mu);
    if (!api.logged_in()) api.ensure_user("Port", "Manager", opts.email, opts.password);
  }

  std::vector<public_port> fetch(bool wait, const std::atomic<bool>& stop) {
    json::value v;
    if (wait) {
      // Held by the controller until the list changes (ETag), so changes arrive at once and an
      // idle port manager costs one request per wait_seconds.
      if (!poll_api.logged_in()) {
        poll_api.ensure_user("Port", "Manager", opts.email, opts.password);
      }
      v = poll_api.long_poll("/microservices/public-ports", opts.wait_seconds, etag, stop);
    } else {
      login();
      std::lock_guard lock(api_mu);
      v = api.call("GET", "/microservices/public-ports");
    }
    std::vector<public_port> out;
    if (!v.is_array()) return out;
    for (auto& item : v.as_array()) {
      auto* o = item.if_object();
      auto* pp = o ? find_object(*o, "publicPort") : nullptr;
      if (!pp) continue;
      // Only the default (Kubernetes) router's public ports: hostId null.
      if (pp->contains("hostId") && !pp->at("hostId").is_null()) continue;
      public_port p;
      if (auto it = pp->find("publicPort"); it != pp->end() && it->value().is_int64()) {
        p.port = it->value().as_int64();
      }
      p.address = get_string(*pp, "queueName");
      p.protocol = get_string(*pp, "protocol", "tcp");
      if (p.port > 0 && !p.address.empty()) out.push_back(p);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  json::array owner_refs() {
    if (opts.owner_deployment.empty()) return {};
    auto d = k.try_get(kinds::deployment.path(opts.namespace_, opts.owner_deployment));
    if (!d) return {};
    return json::array{{{"apiVersion", "apps/v1"},
                        {"kind", "Deployment"},
                        {"name", opts.owner_deployment},
                        {"uid", field(*d, {"metadata", "uid"})}}};
  }

  void apply_ports(const std::vector<public_port>& ports) {
    const auto& ns = opts.namespace_;
    const auto& name = opts.proxy_name;
    if (ports.empty()) {
      bool a = k.remove(kinds::deployment.path(ns, name));
      bool b = k.remove(kinds::service.path(ns, name));
      if (a || b) logger()->info("no public ports: removed the proxy Deployment and Service");
      return;
    }
    json::object labels{{"app.kubernetes.io/name", name},
                        {"app.kubernetes.io/managed-by", "fogmesh-port-manager"}};
    json::object meta{{"name", name}, {"namespace", ns}, {"labels", labels}};
    if (auto refs = owner_refs(); !refs.empty()) meta["ownerReferences"] = refs;
    // HTTP public ports are carried as TCP streams too (the agent side is a tcpConnector).
    std::string mappings;
    json::array svc_ports, container_ports;
    for (const auto& p : ports) {
      if (!mappings.empty()) mappings += ",";
      mappings += "tcp:" + std::to_string(p.port) + "=>amqp:" + p.address;
      svc_ports.push_back({{"name", "p-" + std::to_string(p.port)},
                           {"port", p.port},
                           {"targetPort", p.port},
                           {"protocol", "TCP"}});
      container_ports.push_back(json::object{{"containerPort", p.port}});
    }
    json::object container{
        {"name", "proxy"},
        {"image", opts.proxy_image},
        {"command", {"fogmesh-proxy"}},
        {"args", {"--router", opts.router_address, mappings}},
        {"env", json::array{{{"name", "ICPROXY_BRIDGE_HOST"}, {"value", opts.router_address}}}},
        {"ports", container_ports}};
    json::object deployment{{"apiVersion", "apps/v1"},
                            {"kind", "Deployment"},
                            {"metadata", meta},
                            {"spec",
                             {{"replicas", 1},
                              {"selector", {{"matchLabels", {{"app.kubernetes.io/name", name}}}}},
                              {"template",
                               {{"metadata", {{"labels", labels}}},
                                {"spec", {{"containers", json::array{container}}}}}}}}};
    json::object spec{{"type", opts.service_type},
                      {"selector", {{"app.kubernetes.io/name", name}}},
                      {"ports", svc_ports}};
    if (opts.service_type == "LoadBalancer") spec["externalTrafficPolicy"] = "Local";
    json::object service{
        {"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", meta}, {"spec", spec}};
    apply(k, kinds::deployment, deployment);
    apply(k, kinds::service, service);
  }

  // Reads the public ports; true when they differ from the last read.
  bool refresh(bool wait, const std::atomic<bool>& stop) {
    auto ports = fetch(wait, stop);
    bool changed = ports.size() != current.size() ||
                   !std::equal(ports.begin(), ports.end(), current.begin(),
                               [](const public_port& a, const public_port& b) {
                                 return a.port == b.port && a.address == b.address;
                               });
    if (changed) logger()->info("{} public port(s) on the default router", ports.size());
    current = std::move(ports);
    return changed;
  }

  int sync() {
    static const std::atomic<bool> never{false};
    refresh(false, never);
    apply_ports(current);
    return static_cast<int>(current.size());
  }

  // The proxy objects follow the last public-port list: applied when it changes and whenever a
  // watch sees one of them deleted or edited (repair), on the applier thread, so a long-poll
  // held by the controller never delays a repair.
  std::mutex apply_mu;
  std::condition_variable apply_cv;
  std::optional<std::vector<public_port>> to_apply;  // none until the first read
  bool apply_pending = false;

  void request_apply(std::optional<std::vector<public_port>> ports = std::nullopt) {
    std::lock_guard lock(apply_mu);
    if (ports) to_apply = std::move(ports);
    apply_pending = true;
    apply_cv.notify_all();
  }

  void applier(const std::atomic<bool>& stop) {
    backoff delay(std::chrono::seconds(30), std::chrono::milliseconds(500));
    while (!stop) {
      std::vector<public_port> ports;
      {
        std::unique_lock lock(apply_mu);
        apply_cv.wait_for(lock, std::chrono::milliseconds(200));
        // Before the first read nothing is applied: an empty list would delete the proxy.
        if (!apply_pending || !to_apply) continue;
        apply_pending = false;
        ports = *to_apply;
      }
      try {
        apply_ports(ports);
        delay.reset();
      } catch (const std::exception& e) {
        auto d = delay.next();
        logger()->warn("applying the proxy objects: {} (retry in {} ms)", e.what(), d.count());
        sleep_for(d, stop);
        request_apply();
      }
    }
  }

  void on_address(const std::string& address) {
    std::lock_guard lock(addr_mu);
    if (address.empty() || address == wanted_address) return;
    wanted_address = address;
    addr_cv.notify_all();
  }

  void reporter(const std::atomic<bool>& stop) {
    backoff delay(std::chrono::seconds(30), std::chrono::milliseconds(500));
    while (!stop) {
      std::string want;
      {
        std::unique_lock lock(addr_mu);
        addr_cv.wait_for(lock, std::chrono::milliseconds(200));
        if (wanted_address == reported_address) continue;
        want = wanted_address;
      }
      try {
        login();
        json::value body = {{"key", "default-proxy-host"}, {"value", want}};
        {
          std::lock_guard lock(api_mu);
          api.call("PUT", "/config", &body);
        }
        logger()->info("default-proxy-host = {}", want);
        std::lock_guard lock(addr_mu);
        reported_address = want;
        delay.reset();
      } catch (const std::exception& e) {
        auto d = delay.next();
        logger()->warn("reporting the proxy address {}: {} (retry in {} ms)", want, e.what(),
                       d.count());
        sleep_for(d, stop);
      }
    }
  }
};

port_manager::port_manager(client& k, port_manager_options opts)
    : impl_(std::make_unique<impl>(k, std::move(opts))) {}
port_manager::~port_manager() = default;

int port_manager::sync_once() {
  return impl_->sync();
}

void port_manager::run(const std::atomic<bool>& stop) {
  auto& o = impl_->opts;
  const std::string by_name = "metadata.name=" + o.proxy_name;
  reflector svc_watch(impl_->k, kinds::service, {o.namespace_, "", by_name, 300},
                      [this](const watch_event& ev) {
                        if (ev.type != "DELETED") impl_->on_address(lb_address(ev.object));
                        impl_->request_apply();
                      });
  reflector deployment_watch(impl_->k, kinds::deployment, {o.namespace_, "", by_name, 300},
                             [this](const watch_event&) { impl_->request_apply(); });
  std::thread svc_thread([&] { svc_watch.run(stop); });
  std::thread deployment_thread([&] { deployment_watch.run(stop); });
  std::thread report_thread([&] { impl_->reporter(stop); });
  std::thread apply_thread([&] { impl_->applier(stop); });
  logger()->info("following public ports of {} (proxy {}/{})", o.controller_url, o.namespace_,
                 o.proxy_name);
  backoff delay(std::chrono::seconds(30), std::chrono::milliseconds(500));
  bool first = true;
  while (!stop) {
    auto started = std::chrono::steady_clock::now();
    try {
      bool changed = impl_->refresh(true, stop);
      if (changed || first) impl_->request_apply(impl_->current);
      first = false;
      delay.reset();
      // A controller without long-poll support answers at once, and ours answers early when
      // some agent's config changed but not the public ports: pace unchanged quick answers.
      bool quick = std::chrono::steady_clock::now() - started < std::chrono::seconds(1);
      if (quick && !changed) sleep_for(o.poll_interval, stop);
    } catch (const std::exception& e) {
      if (stop) break;  // the held long-poll was abandoned
      auto d = delay.next();
      logger()->warn("reading public ports: {} (retry in {} ms)", e.what(), d.count());
      if (auto* ce = dynamic_cast<const controller_error*>(&e); ce && ce->status() == 401) {
        std::lock_guard lock(impl_->api_mu);
        impl_->api = controller_api(o.controller_url);
        impl_->poll_api = controller_api(o.controller_url);
      }
      sleep_for(d, stop);
    }
  }
  svc_thread.join();
  deployment_thread.join();
  report_thread.join();
  apply_thread.join();
}

}  // namespace fogmesh::k8s
