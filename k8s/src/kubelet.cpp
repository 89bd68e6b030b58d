#include "fogmesh/k8s/kubelet.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "controller_api.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/reflector.hpp"
#include "fogmesh/k8s/util.hpp"

namespace fogmesh::k8s {

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("k8s.kubelet");
  return l;
}

constexpr const char* managed_label = "iofog.org/managed-by";
constexpr const char* managed_value = "fogmesh-kubelet";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A DNS-1123 label from free text.
std::string dns_label(const std::string& s) {
  std::string out;
  for (char c : lower(s)) {
    bool ok = std::isalnum(static_cast<unsigned char>(c));
    out.push_back(ok ? c : '-');
  }
  while (!out.empty() && out.front() == '-') out.erase(0, 1);
  if (out.size() > 40) out.resize(40);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out;
}

std::string str(const json::object& o, const char* key) {
  return get_string(o, key);
}

double num(const json::object& o, const char* key, double fallback = 0) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (it->value().is_double()) return it->value().as_double();
  if (it->value().is_int64()) return static_cast<double>(it->value().as_int64());
  return fallback;
}

struct desired {
  json::object obj;     // metadata + spec
  json::object status;  // status
  std::string hash;     // of both
};

}  // namespace

std::string node_name(const std::string& agent_uuid) {
  return "iofog-" + lower(agent_uuid);
}

struct kubelet::impl {
  client& k;
  kubelet_options opts;
  controller_api api;
  std::mutex mu;                             // guards the caches below (watch threads drop entries)
  std::map<std::string, std::string> nodes;  // node name -> hash written
  std::map<std::string, std::string> pods;   // pod name -> hash written
  std::map<std::string, std::chrono::steady_clock::time_point> lease_renewed;
  bool listed = false;

  impl(client& c, kubelet_options o) : k(c), opts(std::move(o)), api(opts.controller_url) {}

  desired node_for(const json::object& fog) {
    std::string uuid = str(fog, "uuid");
    std::string name = node_name(uuid);
    std::string daemon = str(fog, "daemonStatus");
    std::string arch = num(fog, "fogType", 1) == 2 ? "arm64" : "amd64";
    json::object labels{{"type", "iofog-kubelet"},
                        {"kubernetes.io/role", "agent"},
                        {"kubernetes.io/hostname", name},
                        {"kubernetes.io/os", "linux"},
                        {"kubernetes.io/arch", arch},
                        {"node.kubernetes.io/exclude-from-external-load-balancers", "true"},
                        {"iofog.org/agent-name", dns_label(str(fog, "name"))},
                        {managed_label, managed_value}};
    json::object obj{
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata",
         {{"name", name},
          {"labels", labels},
          {"annotations",
           {{"iofog.org/agent-uuid", uuid}, {"iofog.org/agent-name", str(fog, "name")}}}}},
        {"spec",
         {{"taints",
           json::array{
               {{"key", "iofog.org/agent"}, {"value", "view-only"}, {"effect", "NoSchedule"}}}}}}};
    // Capacity from the agent's limits (ioFog: cpuLimit %, memoryLimit MB), allocatable =
    // what is left after its current usage.
    double cpu_total = num(fog, "systemTotalCpu", 0);
    double mem_mb = num(fog, "memoryLimit", 4096);
    double mem_used = num(fog, "memoryUsage", 0);
    std::string cpu = cpu_total > 0 ? std::to_string(static_cast<int>(cpu_total)) : "1";
    json::object capacity{{"cpu", cpu},
                          {"memory", std::to_string(static_cast<long long>(mem_mb)) + "Mi"},
                          {"pods", "100"}};
    json::object allocatable{
        {"cpu", cpu},
        {"memory", std::to_string(static_cast<long long>(std::max(0.0, mem_mb - mem_used))) + "Mi"},
        {"pods", "100"}};
    std::string ready = daemon == "RUNNING"                     ? "True"
                        : daemon.empty() || daemon == "UNKNOWN" ? "Unknown"
                                                                : "False";
    std::string reason = daemon == "RUNNING"  ? "AgentRunning"
                         : ready == "Unknown" ? "AgentStatusUnknown"
                                              : "Agent" + daemon;
    const std::string now = now_rfc3339();
    json::array conditions{
        {{"type", "Ready"},
         {"status", ready},
         {"reason", reason},
         {"message", "ioFog agent daemon status: " + (daemon.empty() ? "none yet" : daemon)}},
        {{"type", "MemoryPressure"},
         {"status", num(fog, "memoryViolation") > 0 ? "True" : "False"},
         {"reason", "AgentMemory"}},
        {{"type", "DiskPressure"},
         {"status", num(fog, "diskViolation") > 0 ? "True" : "False"},
         {"reason", "AgentDisk"}}};
    json::array addresses{{{"type", "Hostname"}, {"address", name}}};
    if (auto ip = str(fog, "ipAddress"); !ip.empty()) {
      addresses.push_back({{"type", "InternalIP"}, {"address", ip}});
    }
    if (auto ip = str(fog, "ipAddressExternal"); !ip.empty()) {
      addresses.push_back({{"type", "ExternalIP"}, {"address", ip}});
    }
    json::object status{{"capacity", capacity},
                        {"allocatable", allocatable},
                        {"conditions", conditions},
                        {"addresses", addresses},
                        {"nodeInfo",
                         {{"kubeletVersion", "fogmesh-kubelet/" + opts.version},
                          {"operatingSystem", "linux"},
                          {"architecture", arch},
                          {"machineID", uuid},
                          {"systemUUID", uuid},
                          {"bootID", ""},
                          {"kernelVersion", ""},
                          {"osImage", ""},
                          {"containerRuntimeVersion", "docker://"},
                          {"kubeProxyVersion", ""}}}};
    std::string h = sha256_hex(json::serialize(obj) + json::serialize(status)).substr(0, 32);
    // Heartbeat times are set when written, not hashed (they would make every tick a write).
    for (auto& c : status["conditions"].as_array()) {
      c.as_object()["lastHeartbeatTime"] = now;
      c.as_object()["lastTransitionTime"] = now;
    }
    return {obj, status, h};
  }

  desired pod_for(const json::object& m, const std::map<std::string, int64_t>& fog_types) {
    std::string uuid = str(m, "uuid");
    std::string app = str(m, "application");
    std::string name =
        dns_label(app) + "-" + dns_label(str(m, "name")) + "-" + lower(uuid).substr(0, 8);
    std::string agent = str(m, "iofogUuid");
    int64_t type = 1;
    if (auto it = fog_types.find(agent); it != fog_types.end()) type = it->second;
    std::string image;
    if (auto it = m.find("images"); it != m.end() && it->value().is_array()) {
      for (auto& i : it->value().as_array()) {
        auto& io = i.as_object();
        if (image.empty() || num(io, "fogTypeId") == static_cast<double>(type)) {
          image = str(io, "containerImage");
        }
      }
    }
    if (image.empty()) image = "unknown";
    std::string cname = dns_label(str(m, "name"));
    json::object obj{
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name},
          {"namespace", opts.pod_namespace},
          {"labels",
           {{"iofog.org/application", dns_label(app)},
            {"iofog.org/microservice-uuid", lower(uuid)},
            {managed_label, managed_value}}},
          {"annotations",
           {{"iofog.org/microservice-name", str(m, "name")}, {"iofog.org/application", app}}}}},
        {"spec",
         {{"nodeName", agent.empty() ? "" : node_name(agent)},
          {"containers", json::array{{{"name", cname}, {"image", image}}}},
          {"tolerations",
           json::array{
               {{"key", "iofog.org/agent"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}}}}}};
    std::string st;
    std::string err;
    if (auto* s = find_object(m, "status")) {
      st = str(*s, "status");
      err = str(*s, "errorMessage");
    }
    bool running = st == "RUNNING";
    std::string phase = running                              ? "Running"
                        : st == "FAILED" || st == "EXITING"  ? "Failed"
                        : st == "DELETED" || st == "STOPPED" ? "Succeeded"
                                                             : "Pending";
    json::object state;
    if (running) {
      state["running"] = json::object{};
    } else {
      state["waiting"] = {{"reason", st.empty() ? "NOT_DEPLOYED" : st}, {"message", err}};
    }
    json::object status{
        {"phase", phase},
        {"conditions", json::array{{{"type", "Ready"}, {"status", running ? "True" : "False"}}}},
        {"containerStatuses", json::array{{{"name", cname},
                                           {"image", image},
                                           {"imageID", ""},
                                           {"ready", running},
                                           {"restartCount", 0},
                                           {"state", state}}}}};
    std::string h = sha256_hex(json::serialize(obj) + json::serialize(status)).substr(0, 32);
    return {obj, status, h};
  }

  // Create (if missing) and write status; true when something was written.
  int write(const resource& res, const std::string& ns, const desired& d) {
    const std::string name = field(d.obj, {"metadata", "name"});
    int writes = 0;
    auto existing = k.try_get(res.path(ns, name));
    if (!existing) {
      k.create(res.path(ns), d.obj);
      ++writes;
    } else if (res.plural == "pods" &&
               json::serialize((*existing)["spec"].as_object()["nodeName"]) !=
                   json::serialize(d.obj.at("spec").at("nodeName"))) {
      // A moved microservice: a Pod's node cannot change; re-create it.
      force_delete_pod(name);
      k.create(res.path(ns), d.obj);
      writes += 2;
    } else {
      // Labels/taints (view-only: our values win).
      json::object patch{{"metadata", {{"labels", d.obj.at("metadata").at("labels")}}}};
      if (res.plural == "nodes") patch["spec"] = d.obj.at("spec");
      k.merge_patch(res.path(ns, name), patch);
      ++writes;
    }
    k.merge_patch(res.path(ns, name, "status"), json::object{{"status", d.status}});
    return writes + 1;
  }

  void renew_lease(const std::string& node, const std::string& uid) {
    const std::string path = kinds::lease.path("kube-node-lease", node);
    json::object spec{{"holderIdentity", node},
                      {"leaseDurationSeconds", 2 * opts.lease_renew.count()},
                      {"renewTime", now_rfc3339(true)}};
    try {
      k.merge_patch(path, json::object{{"spec", spec}});
    } catch (const api_error& e) {
      if (!e.not_found()) throw;
      json::object lease{
          {"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata",
           {{"name", node},
            {"namespace", "kube-node-lease"},
            {"ownerReferences",
             json::array{{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}, {"uid", uid}}}}}},
          {"spec", spec}};
      k.create(kinds::lease.path("kube-node-lease"), lease);
    }
  }

  void ensure_namespaces() {
    for (const auto& ns : {std::string("kube-node-lease"), opts.pod_namespace}) {
      if (!k.try_get(kinds::namespace_.path("", ns))) {
        try {
          k.create(kinds::namespace_.path(),
                   json::object{
                       {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
        } catch (const api_error& e) {
          if (e.status() != 409) throw;
        }
      }
    }
  }

  // Objects we own that exist in Kubernetes now (start-up; later the watches keep this).
  void initial_list() {
    std::string sel =
        "labelSelector=" + url_encode(std::string(managed_label) + "=" + managed_value);
    std::lock_guard lock(mu);
    for (auto& n : k.list_items(kinds::node.path(), sel)) {
      nodes[field(n.as_object(), {"metadata", "name"})] = "";
    }
    for (auto& p : k.list_items(kinds::pod.path(opts.pod_namespace), sel)) {
      pods[field(p.as_object(), {"metadata", "name"})] = "";
    }
    listed = true;
  }

  int sync() {
    if (!api.logged_in()) api.ensure_user("Virtual", "Kubelet", opts.email, opts.password);
    if (!listed) {
      ensure_namespaces();
      initial_list();
    }
    auto fogs = api.call("GET", "/iofog-list");
    auto msvcs = api.call("GET", "/microservices");
    int writes = 0;
    std::map<std::string, desired> want_nodes, want_pods;
    std::map<std::string, int64_t> fog_types;
    for (auto& f : fogs.at("fogs").as_array()) {
      auto& fo = f.as_object();
      fog_types[str(fo, "uuid")] = static_cast<int64_t>(num(fo, "fogType", 1));
      auto d = node_for(fo);
      want_nodes[field(d.obj, {"metadata", "name"})] = std::move(d);
    }
    for (auto& m : msvcs.at("microservices").as_array()) {
      auto d = pod_for(m.as_object(), fog_types);
      want_pods[field(d.obj, {"metadata", "name"})] = std::move(d);
    }
    std::map<std::string, std::string> have_nodes, have_pods;
    {
      std::lock_guard lock(mu);
      have_nodes = nodes;
      have_pods = pods;
    }
    auto apply_set =
        [&](const resource& res, const std::string& ns, std::map<std::string, desired>& want,
            std::map<std::string, std::string>& have, std::map<std::string, std::string>& cache) {
          for (auto& [name, d] : want) {
            auto it = have.find(name);
            if (it != have.end() && it->second == d.hash) continue;
            writes += write(res, ns, d);
            std::lock_guard lock(mu);
            cache[name] = d.hash;
          }
          for (auto& [name, _] : have) {
            if (want.count(name)) continue;
            if (res.plural == "pods") {
              force_delete_pod(name);
            } else {
              k.remove(res.path(ns, name));
            }
            ++writes;
            logger()->info("{} {}: its {} is gone from the controller, removed", res.plural, name,
                           res.plural == "pods" ? "microservice" : "agent");
            std::lock_guard lock(mu);
            cache.erase(name);
          }
        };
    apply_set(kinds::node, "", want_nodes, have_nodes, nodes);
    apply_set(kinds::pod, opts.pod_namespace, want_pods, have_pods, pods);
    // Node heartbeats.
    auto now = std::chrono::steady_clock::now();
    for (auto& [name, d] : want_nodes) {
      auto& last = lease_renewed[name];
      if (now - last < opts.lease_renew) continue;
      auto node = k.try_get(kinds::node.path("", name));
      if (!node) continue;
      renew_lease(name, field(*node, {"metadata", "uid"}));
      last = now;
      ++writes;
    }
    for (auto it = lease_renewed.begin(); it != lease_renewed.end();) {
      it = want_nodes.count(it->first) ? std::next(it) : lease_renewed.erase(it);
    }
    return writes;
  }

  // This process is the kubelet of these Pods: a deletion is final at once (grace period 0),
  // or the Pod would stay Terminating for ever waiting for a node agent to confirm it.
  void force_delete_pod(const std::string& name) {
    try {
      json::value opts = {
          {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0}};
      k.call("DELETE", kinds::pod.path(opts_ns(), name), &opts);
    } catch (const api_error& e) {
      if (!e.not_found()) throw;
    }
  }
  const std::string& opts_ns() const { return opts.pod_namespace; }

  // Deleted/edited in Kubernetes → forget the written hash so the next tick restores it.
  void forget(std::map<std::string, std::string>& cache, const watch_event& ev) {
    std::string name = field(ev.object, {"metadata", "name"});
    if (&cache == &pods && !field(ev.object, {"metadata", "deletionTimestamp"}).empty()) {
      try {
        force_delete_pod(name);  // confirm the deletion someone asked for
      } catch (const std::exception& e) {
        logger()->warn("pods {}: confirming its deletion: {}", name, e.what());
      }
    }
    std::lock_guard lock(mu);
    auto it = cache.find(name);
    if (it == cache.end()) return;
    if (ev.type == "DELETED") {
      cache.erase(it);
    } else if (ev.type == "MODIFIED" &&
               field(ev.object, {"metadata", "labels", managed_label}) != managed_value) {
      it->second.clear();
    }
  }
};

kubelet::kubelet(client& k, kubelet_options opts)
    : impl_(std::make_unique<impl>(k, std::move(opts))) {}
kubelet::~kubelet() = default;

int kubelet::sync_once() {
  return impl_->sync();
}

void kubelet::run(const std::atomic<bool>& stop) {
  auto& o = impl_->opts;
  std::string sel = std::string(managed_label) + "=" + managed_value;
  reflector node_watch(impl_->k, kinds::node, {"", sel, "", 300},
                       [this](const watch_event& ev) { impl_->forget(impl_->nodes, ev); });
  reflector pod_watch(impl_->k, kinds::pod, {o.pod_namespace, sel, "", 300},
                      [this](const watch_event& ev) { impl_->forget(impl_->pods, ev); });
  std::thread t1([&] { node_watch.run(stop); });
  std::thread t2([&] { pod_watch.run(stop); });
  logger()->info("showing the agents of {} as Nodes, microservices as Pods in {}", o.controller_url,
                 o.pod_namespace);
  backoff delay(std::chrono::seconds(30), std::chrono::milliseconds(500));
  while (!stop) {
    std::chrono::milliseconds wait = o.sync_interval;
    try {
      int writes = impl_->sync();
      if (writes > 0) logger()->debug("sync: {} writes", writes);
      delay.reset();
    } catch (const std::exception& e) {
      wait = delay.next();
      logger()->warn("sync: {} (retry in {} ms)", e.what(), wait.count());
      if (auto* ce = dynamic_cast<const controller_error*>(&e); ce && ce->status() == 401) {
        impl_->api = controller_api(o.controller_url);
      }
    }
    auto until = std::chrono::steady_clock::now() + wait;
    while (!stop && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  t1.join();
  t2.join();
}

}  // namespace fogmesh::k8s
