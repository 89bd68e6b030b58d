#include "fogmesh/k8s/port_manager.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "apply.hpp"
#include "controller_api.hpp"
#include "fogmesh/common/log.hpp"
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
  controller_api api;
  std::mutex api_mu;  // the sync loop and the reporter share the controller session
  std::string last_body;
  std::vector<public_port> current;
  // Address reporting: the newest LB address seen, and the one the controller has.
  std::mutex addr_mu;
  std::condition_variable addr_cv;
  std::string wanted_address, reported_address;

  impl(client& c, port_manager_options o) : k(c), opts(std::move(o)), api(opts.controller_url) {
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

  std::vector<public_port> fetch(bool wait) {
    login();
    json::value v;
    {
      std::lock_guard lock(api_mu);
      v = api.call("GET", "/microservices/public-ports" +
                              (wait ? "?wait=" + std::to_string(opts.wait_seconds) : ""));
    }
    last_body = json::serialize(v);
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

  int sync(bool wait) {
    auto ports = fetch(wait);
    bool changed = ports.size() != current.size() ||
                   !std::equal(ports.begin(), ports.end(), current.begin(),
                               [](const public_port& a, const public_port& b) {
                                 return a.port == b.port && a.address == b.address;
                               });
    // Applied every pass (cheap when unchanged: one GET per object) so a deleted or edited
    // proxy object is repaired.
    apply_ports(ports);
    if (changed) {
      logger()->info("{} public port(s) on the default router", ports.size());
      current = ports;
    }
    return static_cast<int>(ports.size());
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
  return impl_->sync(false);
}

void port_manager::run(const std::atomic<bool>& stop) {
  auto& o = impl_->opts;
  reflector svc_watch(impl_->k, kinds::service,
                      {o.namespace_, "", "metadata.name=" + o.proxy_name, 300},
                      [this](const watch_event& ev) {
                        if (ev.type != "DELETED") impl_->on_address(lb_address(ev.object));
                      });
  std::thread watch_thread([&] { svc_watch.run(stop); });
  std::thread report_thread([&] { impl_->reporter(stop); });
  logger()->info("following public ports of {} (proxy {}/{})", o.controller_url, o.namespace_,
                 o.proxy_name);
  backoff delay(std::chrono::seconds(30), std::chrono::milliseconds(500));
  while (!stop) {
    auto started = std::chrono::steady_clock::now();
    std::string before = impl_->last_body;
    try {
      impl_->sync(true);
      delay.reset();
      // Without long-poll support the answer is immediate: pace unchanged answers.
      bool quick = std::chrono::steady_clock::now() - started < std::chrono::seconds(1);
      if (quick && impl_->last_body == before) sleep_for(o.poll_interval, stop);
    } catch (const std::exception& e) {
      auto d = delay.next();
      logger()->warn("sync: {} (retry in {} ms)", e.what(), d.count());
      if (auto* ce = dynamic_cast<const controller_error*>(&e); ce && ce->status() == 401) {
        std::lock_guard lock(impl_->api_mu);
        impl_->api = controller_api(o.controller_url);
      }
      sleep_for(d, stop);
    }
  }
  watch_thread.join();
  report_thread.join();
}

}  // namespace fogmesh::k8s
