#include "fogmesh/k8s/kubelet.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

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
// Which kubelet shows the object: its namespace, i.e. its ControlPlane (one per namespace).
// Nodes are cluster-wide; without it, two ControlPlanes' kubelets in one cluster would each
// delete the other's Nodes as agents they do not know.
constexpr const char* owner_label = "iofog.org/kubelet-namespace";
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
  json::object obj;         // metadata + spec
  json::object status;      // status
  std::string spec_hash;    // of obj
  std::string status_hash;  // of status
  // Of each top-level member of status, in its order: a status PATCH carries only the members
  // that changed (an agent's daemon status: the conditions, not capacity, addresses, nodeInfo).
  std::vector<uint64_t> status_parts;
};

// What this process knows of an object it shows: present in the cache = it exists in
// Kubernetes (initial list, our create, kept by the watches). Empty hashes = content unknown,
// written again on the next pass.
struct shown {
  std::string spec_hash;
  std::string status_hash;
  std::vector<uint64_t> status_parts;  // as written; empty = unknown (the whole status is sent)
  std::string node_name;               // pods: spec.nodeName as written (immutable in Kubernetes)
  std::string uid;                     // nodes: for the Lease's ownerReference
  bool fields_cleared = false;         // its managed fields cleared by this process
};

// `metadata.managedFields: [{}]` in a write of the object itself (not a create: those are
// tracked anyway; not /status: metadata is ignored there) makes the API server drop the
// object's managed fields, and an object without any is written without its field manager from
// then on (a status PATCH included). Profile of kube-apiserver 1.20 during 1,000 Node status
// PATCHes: the field manager was 13 % of its CPU. Nothing but this process writes these objects
// (view-only); server-side apply by someone else would start the tracking again.
json::array no_managed_fields() {
  return json::array{json::object{}};
}

// Two hashes so that a status change (the common case: an agent's daemon status, a
// microservice's state) costs one PATCH of /status and nothing else.
void hash_desired(desired& d) {
  d.spec_hash = sha256_hex(json::serialize(d.obj)).substr(0, 32);
  d.status_hash = sha256_hex(json::serialize(d.status)).substr(0, 32);
  // In-memory only, compared within this process: std::hash is enough.
  d.status_parts.clear();
  for (const auto& kv : d.status) {
    d.status_parts.push_back(std::hash<std::string>{}(json::serialize(kv.value())));
  }
}

// The members of `d.status` whose part hash differs from what was written (all of them when
// that is unknown). JSON merge patch leaves the members it does not name as they are.
json::object changed_status(const desired& d, const std::vector<uint64_t>& written) {
  if (written.size() != d.status_parts.size()) return d.status;
  json::object out;
  size_t i = 0;
  for (const auto& kv : d.status) {
    if (written[i] != d.status_parts[i]) out[kv.key()] = kv.value();
    ++i;
  }
  return out;
}

}  // namespace

std::string node_name(const std::string& agent_uuid) {
  return "iofog-" + lower(agent_uuid);
}

struct kubelet::impl {
  client& k;
  kubelet_options opts;
  controller_api api;
  std::mutex mu;                       // guards the caches below (watch threads drop entries)
  std::map<std::string, shown> nodes;  // by node name
  std::map<std::string, shown> pods;   // by pod name
  std::map<std::string, std::chrono::steady_clock::time_point> lease_renewed;
  bool listed = false;
  // The controller's answers whose objects were all written (hashes of the raw bodies; the
  // microservices' with the agents' types), and whether a watch has since invalidated a cache
  // entry: unchanged → nothing to build or write for that kind.
  std::string last_fog_hash;
  std::string last_msvc_key;
  std::map<std::string, int64_t> fog_types;  // agent uuid → fogType, from the last fog list
  std::string fog_types_hash;
  std::atomic<bool> cache_invalidated{false};

  impl(client& c, kubelet_options o) : k(c), opts(std::move(o)), api(opts.controller_url) {}

  // The label selector of the objects this kubelet shows.
  std::string selector() const {
    return std::string(managed_label) + "=" + managed_value + "," + owner_label + "=" +
           opts.pod_namespace;
  }

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
                        {managed_label, managed_value},
                        {owner_label, opts.pod_namespace}};
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
    desired d{std::move(obj), std::move(status), {}, {}, {}};
    hash_desired(d);
    // Heartbeat times are set when written, not hashed (they would make every tick a write).
    for (auto& c : d.status["conditions"].as_array()) {
      c.as_object()["lastHeartbeatTime"] = now;
      c.as_object()["lastTransitionTime"] = now;
    }
    return d;
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
            {managed_label, managed_value},
            {owner_label, opts.pod_namespace}}},
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
    desired d{std::move(obj), std::move(status), {}, {}, {}};
    hash_desired(d);
    return d;
  }

  // Brings one object to `d`: create it when it is not known to exist, patch labels (+ taints
  // for Nodes) when they differ from what was written, patch /status when it differs. Returns
  // the new cache entry; counts the API writes in `writes`.
  shown write(const resource& res, const std::string& ns, const desired& d,
              const std::optional<shown>& have, int& writes) {
    const std::string name = field(d.obj, {"metadata", "name"});
    const std::string node = field(d.obj, {"spec", "nodeName"});
    shown now = have.value_or(shown{});
    bool created_here = false;
    auto create = [&] {
      if (res.plural == "nodes") {
        // A Node keeps the status it is created with; then one write of the Node itself
        // clears the managed fields the API server recorded for the create (see
        // no_managed_fields()): as many requests as create + status PATCH, and every later
        // status PATCH of this Node skips the field manager.
        json::object with_status = d.obj;
        with_status["status"] = d.status;
        auto created = k.create(res.path(ns), with_status);
        now.uid = field(created, {"metadata", "uid"});
        k.merge_patch_no_result(
            res.path(ns, name),
            json::object{{"metadata", {{"managedFields", no_managed_fields()}}}});
        writes += 2;
        now.status_hash = d.status_hash;
        now.status_parts = d.status_parts;
        now.fields_cleared = true;
      } else {
        // A Pod's status is dropped at create (its status PATCH follows). Its managed fields
        // are cleared only when its status changes again (below): 5,000 Pods at the first pass
        // would be 5,000 more requests, and a Pod whose status never changes gains nothing.
        auto created = k.create(res.path(ns), d.obj);
        now.uid = field(created, {"metadata", "uid"});
        ++writes;
        now.status_hash.clear();
        now.status_parts.clear();
        now.fields_cleared = false;
        created_here = true;
      }
      now.spec_hash = d.spec_hash;
      now.node_name = node;
    };
    if (!have) {
      try {
        create();
      } catch (const api_error& e) {
        if (e.status() != 409) throw;
        now.spec_hash.clear();  // there already (created outside our view): patch it below
      }
    } else if (res.plural == "pods" && !have->node_name.empty() && have->node_name != node) {
      // A moved microservice: a Pod's node cannot change; re-create it.
      force_delete_pod(name);
      ++writes;
      create();
    }
    if (now.spec_hash != d.spec_hash) {
      // Labels/taints (view-only: our values win).
      json::object patch{{"metadata",
                          {{"labels", d.obj.at("metadata").at("labels")},
                           {"managedFields", no_managed_fields()}}}};
      if (res.plural == "nodes") patch["spec"] = d.obj.at("spec");
      try {
        auto patched = k.merge_patch(res.path(ns, name), patch);
        now.uid = field(patched, {"metadata", "uid"});
        now.node_name = field(patched, {"spec", "nodeName"});
        ++writes;
        now.spec_hash = d.spec_hash;
        now.fields_cleared = true;
        if (res.plural == "pods" && now.node_name != node) {
          force_delete_pod(name);
          ++writes;
          create();
        }
      } catch (const api_error& e) {
        if (!e.not_found()) throw;
        create();  // deleted in Kubernetes before its watch event reached us
      }
    }
    if (now.status_hash != d.status_hash) {
      try {
        if (!now.fields_cleared && !created_here) {
          // A status change after the one written with the create: from here on its status
          // PATCHes skip the field manager (kube-apiserver CPU per Pod status PATCH 1.85 →
          // 1.30 ms; this one request 1.6 ms: RESULTS.md, Kubernetes).
          k.merge_patch_no_result(
              res.path(ns, name),
              json::object{{"metadata", {{"managedFields", no_managed_fields()}}}});
          ++writes;
          now.fields_cleared = true;
        }
        k.merge_patch_no_result(res.path(ns, name, "status"),
                                json::object{{"status", changed_status(d, now.status_parts)}});
      } catch (const api_error& e) {
        if (!e.not_found()) throw;
        create();
        k.merge_patch_no_result(res.path(ns, name, "status"), json::object{{"status", d.status}});
        ++writes;
      }
      ++writes;
      now.status_hash = d.status_hash;
      now.status_parts = d.status_parts;
    }
    return now;
  }

  // Renews the node's Lease; true when it had to be created.
  bool renew_lease(const std::string& node, std::string uid) {
    const std::string path = kinds::lease.path("kube-node-lease", node);
    json::object spec{{"holderIdentity", node},
                      {"leaseDurationSeconds", 2 * opts.lease_renew.count()},
                      {"renewTime", now_rfc3339(true)}};
    try {
      k.merge_patch_no_result(
          path,
          json::object{{"metadata", {{"managedFields", no_managed_fields()}}}, {"spec", spec}});
      return false;
    } catch (const api_error& e) {
      if (!e.not_found()) throw;
      if (uid.empty()) uid = field(k.get(kinds::node.path("", node)), {"metadata", "uid"});
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
      return true;
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

  // Objects we own that exist in Kubernetes now (start-up; later the watches keep this). Their
  // content is unknown (empty hashes): the first pass patches each once.
  void initial_list() {
    std::string sel = "labelSelector=" + url_encode(selector());
    auto node_items = k.list_items(kinds::node.path(), sel);
    auto pod_items = k.list_items(kinds::pod.path(opts.pod_namespace), sel);
    std::lock_guard lock(mu);
    for (auto& n : node_items) {
      auto& o = n.as_object();
      nodes[field(o, {"metadata", "name"})].uid = field(o, {"metadata", "uid"});
    }
    for (auto& p : pod_items) {
      auto& o = p.as_object();
      pods[field(o, {"metadata", "name"})].node_name = field(o, {"spec", "nodeName"});
    }
    listed = true;
  }

  // Runs the jobs on up to opts.write_concurrency threads (the API server handles requests in
  // parallel; one at a time, 1,000 Node status changes took seconds of round trips). A failed
  // job is logged and leaves its cache entry as it was, so the next pass retries it; the first
  // failure is rethrown at the end so the caller backs off.
  void run_jobs(std::vector<std::function<void()>>& jobs) {
    std::atomic<size_t> next{0};
    std::mutex err_mu;
    std::string first_error;
    size_t failures = 0;
    auto worker = [&] {
      for (size_t i = next++; i < jobs.size(); i = next++) {
        try {
          jobs[i]();
        } catch (const std::exception& e) {
          std::lock_guard lock(err_mu);
          if (failures++ == 0) first_error = e.what();
        }
      }
    };
    size_t threads = std::min<size_t>(static_cast<size_t>(opts.write_concurrency), jobs.size());
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (failures > 0) {
      throw std::runtime_error(std::to_string(failures) + " of " + std::to_string(jobs.size()) +
                               " writes failed, first: " + first_error);
    }
  }

  int sync() {
    if (!api.logged_in()) api.ensure_user("Virtual", "Kubelet", opts.email, opts.password);
    if (!listed) {
      ensure_namespaces();
      initial_list();
    }
    std::set<std::string> node_names;
    // Exchanged before the writes: an invalidation that arrives during this pass counts for the
    // next one.
    if (cache_invalidated.exchange(false)) {
      last_fog_hash.clear();
      last_msvc_key.clear();
    }
    std::atomic<int> writes{0};
    std::vector<std::function<void()>> jobs;
    auto plan = [&](const resource& res, const std::string& ns,
                    std::map<std::string, desired>& want, std::map<std::string, shown>& cache) {
      std::map<std::string, shown> have;
      {
        std::lock_guard lock(mu);
        have = cache;
      }
      for (auto& [name, d] : want) {
        std::optional<shown> known;
        if (auto it = have.find(name); it != have.end()) {
          if (it->second.spec_hash == d.spec_hash && it->second.status_hash == d.status_hash) {
            continue;
          }
          known = it->second;
        }
        // `ns` by value: the caller's may be a temporary, and the jobs run after plan() returns.
        jobs.emplace_back([&, ns, known, name = name, &d = d] {
          int n = 0;
          shown now;
          try {
            now = write(res, ns, d, known, n);
          } catch (...) {
            writes += n;
            throw;
          }
          writes += n;
          std::lock_guard lock(mu);
          cache[name] = std::move(now);
        });
      }
      for (auto& [name, _] : have) {
        if (want.count(name)) continue;
        jobs.emplace_back([&, ns, name = name] {
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
        });
      }
    };
    // Agents first, and their Nodes written before the microservice list is read: an agent's
    // status change reaches its Node without waiting for the larger list (5 per agent in the
    // benchmark) to be read, parsed and compared. Nodes first also because Pods name them.
    // An answer identical to the last one written (and no watch event since) is not parsed:
    // parsing and rebuilding a quiet fleet of 1,000 agents / 5,000 microservices took 0.25 s of
    // CPU per pass. The controller's answers are the biggest allocation of a pass (about 1 KB
    // per agent and per microservice): they go as soon as the desired objects are built.
    {
      std::string fog_text = api.get_text("/iofog-list");
      const std::string fog_hash = sha256_hex(fog_text);
      if (fog_hash == last_fog_hash) {
        std::lock_guard lock(mu);
        for (auto& [name, _] : nodes) node_names.insert(name);
      } else {
        auto fogs = json::parse(fog_text);
        fog_text = std::string();
        std::map<std::string, desired> want_nodes;
        fog_types.clear();
        std::string types;
        for (auto& f : fogs.at("fogs").as_array()) {
          auto& fo = f.as_object();
          auto type = static_cast<int64_t>(num(fo, "fogType", 1));
          fog_types[str(fo, "uuid")] = type;
          types += str(fo, "uuid") + "=" + std::to_string(type) + ",";
          auto d = node_for(fo);
          std::string name = field(d.obj, {"metadata", "name"});
          node_names.insert(name);
          want_nodes[name] = std::move(d);
        }
        fogs = nullptr;
        // Pods depend on the agents only through their types (which image is shown).
        fog_types_hash = sha256_hex(types);
        plan(kinds::node, "", want_nodes, nodes);
        run_jobs(jobs);
        jobs.clear();
        last_fog_hash = fog_hash;  // every write succeeded (run_jobs throws)
      }
    }
    {
      std::string msvc_text = api.get_text("/microservices");
      const std::string msvc_key = sha256_hex(msvc_text) + fog_types_hash;
      if (msvc_key != last_msvc_key) {
        auto msvcs = json::parse(msvc_text);
        msvc_text = std::string();
        std::map<std::string, desired> want_pods;
        for (auto& m : msvcs.at("microservices").as_array()) {
          auto d = pod_for(m.as_object(), fog_types);
          want_pods[field(d.obj, {"metadata", "name"})] = std::move(d);
        }
        msvcs = nullptr;
        plan(kinds::pod, opts.pod_namespace, want_pods, pods);
        run_jobs(jobs);
        jobs.clear();
        last_msvc_key = msvc_key;
      }
    }
    // Node heartbeats: one Lease PATCH per node every lease_renew.
    auto now = std::chrono::steady_clock::now();
    for (const auto& name : node_names) {
      auto& last = lease_renewed[name];
      if (now - last < opts.lease_renew) continue;
      std::string uid;
      {
        std::lock_guard lock(mu);
        auto it = nodes.find(name);
        if (it == nodes.end()) continue;
        uid = it->second.uid;
      }
      jobs.emplace_back([&, name = name, uid] {
        bool created = renew_lease(name, uid);
        ++writes;
        // A new Lease counts as renewed at a point spread over the last lease_renew (by its
        // name), so the Leases of Nodes created together are not all renewed in the same pass
        // later: 1,000 at once every 40 s competed with the status writes of that pass.
        const auto period = std::max<int64_t>(
            1, std::chrono::duration_cast<std::chrono::milliseconds>(opts.lease_renew).count());
        auto spread = std::chrono::milliseconds(
            static_cast<int64_t>(std::hash<std::string>{}(name) % static_cast<size_t>(period)));
        lease_renewed_at(name, created ? now - spread : now);
      });
    }
    run_jobs(jobs);
    for (auto it = lease_renewed.begin(); it != lease_renewed.end();) {
      it = node_names.count(it->first) ? std::next(it) : lease_renewed.erase(it);
    }
    return writes;
  }

  void lease_renewed_at(const std::string& node, std::chrono::steady_clock::time_point t) {
    std::lock_guard lock(mu);
    lease_renewed[node] = t;
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

  // Deleted/edited in Kubernetes → forget what was written so the next pass restores it.
  void forget(std::map<std::string, shown>& cache, const watch_event& ev) {
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
      cache_invalidated = true;
    } else if (ev.type == "MODIFIED" &&
               field(ev.object, {"metadata", "labels", managed_label}) != managed_value) {
      it->second.spec_hash.clear();
      it->second.status_hash.clear();
      it->second.status_parts.clear();
      cache_invalidated = true;
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
  std::string sel = impl_->selector();
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
    auto started = std::chrono::steady_clock::now();
    try {
      int writes = impl_->sync();
      if (writes > 0) {
        logger()->info("sync: {} writes in {} ms", writes,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count());
      }
      delay.reset();
      // sync_interval from the start of this pass to the start of the next (a change waits at
      // most one interval plus the pass, not the pass plus a whole interval), at least a tenth
      // of it in between.
      auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started);
      wait = std::max(o.sync_interval - took, o.sync_interval / 10);
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
