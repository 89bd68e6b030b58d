// kind KubernetesControlPlane: fogmesh-operator and a ControlPlane resource in a cluster, through
// the k8s/ client library (kubeconfig, REST, CRD installation).
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "control_planes.hpp"

#ifdef FOGCTL_WITH_K8S
#include "fogmesh/k8s/apply.hpp"
#include "fogmesh/k8s/client.hpp"
#include "fogmesh/k8s/operator.hpp"
#endif

namespace fogmesh::ctl {

namespace fs = std::filesystem;

namespace {

std::string state_file(const state& st) {
  return st.ns_dir() + "/kubernetes.json";
}

}  // namespace

bool has_kubernetes_control_plane(const state& st) {
  return fs::exists(state_file(st));
}

#ifndef FOGCTL_WITH_K8S

std::string deploy_kubernetes_control_plane(const resource&, const std::string&, const options&) {
  throw step_error(
      "deploy: this fogctl was built without the k8s component (KubernetesControlPlane "
      "needs it)");
}
void delete_kubernetes_control_plane(const state&, const options&) {
  throw step_error("delete controlplane: this fogctl was built without the k8s component");
}
void connect_kubernetes(const std::string&, const std::string&, const std::string&,
                        const std::string&, const options&) {
  throw step_error("connect --kube: this fogctl was built without the k8s component");
}

#else

// deploy/kubernetes/operator.yaml, compiled in (ctl/CMakeLists.txt).
extern const char* const operator_manifest;

namespace {

namespace k = fogmesh::k8s;
using clock = std::chrono::steady_clock;

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// The decoded text when `in` is base64 of printable text (as the operator reads the CR), else `in`.
std::string maybe_unbase64(const std::string& in) {
  static const std::string t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (in.empty() || in.size() % 4 != 0) return in;
  std::string out;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=') {
      if (i + 2 < in.size()) return in;
      break;
    }
    auto p = t.find(c);
    if (p == std::string::npos) return in;
    v = (v << 6) | static_cast<unsigned>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  for (char c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return in;
  }
  return out;
}

struct kube_target {
  std::string kubeconfig;  // absolute path
  std::string ns;          // Kubernetes namespace (= fogctl's namespace)
  std::string name;        // the ControlPlane resource
};

std::unique_ptr<k::client> make_client(const std::string& kubeconfig) {
  return step("read the kubeconfig " + kubeconfig, [&] {
    return std::make_unique<k::client>(k::cluster_config::from_kubeconfig(kubeconfig));
  });
}

// Where to apply an object of the operator manifest.
const k::resource& resource_of(const std::string& kind) {
  if (kind == "ServiceAccount") return k::kinds::service_account;
  if (kind == "Role") return k::kinds::role;
  if (kind == "RoleBinding") return k::kinds::role_binding;
  if (kind == "Deployment") return k::kinds::deployment;
  throw std::runtime_error("deploy/kubernetes/operator.yaml has a " + kind +
                           " that fogctl does not know how to apply");
}

// The operator manifest's objects (not its Namespace) moved into `ns`, the operator's image
// replaced when the document names one.
std::vector<json::object> operator_objects(const std::string& ns, const json::object& images) {
  std::vector<json::object> out;
  std::string text = operator_manifest;
  size_t start = 0;
  while (start < text.size()) {
    size_t sep = text.find("\n---", start);
    std::string doc =
        text.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
    start = sep == std::string::npos ? text.size() : sep + 4;
    auto v = yaml_text_to_json(doc);
    if (!v.is_object() || !v.as_object().contains("kind")) continue;
    auto o = v.as_object();
    std::string kind(o.at("kind").as_string());
    if (kind == "Namespace") continue;
    o["metadata"].as_object()["namespace"] = ns;
    if (kind == "RoleBinding") {
      for (auto& s : o["subjects"].as_array()) s.as_object()["namespace"] = ns;
    }
    if (kind == "Deployment" && images.contains("operator")) {
      auto& c = o["spec"]
                    .as_object()["template"]
                    .as_object()["spec"]
                    .as_object()["containers"]
                    .as_array()
                    .at(0)
                    .as_object();
      c["image"] = images.at("operator");
    }
    out.push_back(std::move(o));
  }
  return out;
}

// The ControlPlane resource (iofog.org/v3) of a KubernetesControlPlane document.
json::object control_plane_resource(const resource& r, const std::string& ns) {
  const auto& s = r.spec;
  const auto& u = s.at("iofogUser").as_object();
  json::object spec{{"user",
                     {{"name", u.at("name")},
                      {"surname", u.at("surname")},
                      {"email", u.at("email")},
                      // Base64, as iofogctl stores it; the operator decodes it.
                      {"password", base64(std::string(u.at("password").as_string()))}}},
                    {"replicas", s.at("replicas")},
                    {"services", s.at("services")}};
  if (s.contains("database")) spec["database"] = s.at("database");
  json::object images = s.at("images").as_object();
  images.erase("operator");
  if (!images.empty()) spec["images"] = images;
  if (s.contains("ingresses")) spec["ingresses"] = s.at("ingresses");
  return {{"apiVersion", "iofog.org/v3"},
          {"kind", "ControlPlane"},
          {"metadata", {{"name", r.name}, {"namespace", ns}}},
          {"spec", spec}};
}

// Creates the ControlPlane resource or merge-patches its spec when it differs.
std::string apply_control_plane(k::client& kube, const json::object& cr) {
  std::string ns(cr.at("metadata").at("namespace").as_string());
  std::string name(cr.at("metadata").at("name").as_string());
  auto current = kube.try_get(k::kinds::control_plane.path(ns, name));
  if (current && current->contains("metadata") &&
      !k::field(*current, {"metadata", "deletionTimestamp"}).empty()) {
    throw std::runtime_error(
        "it is being deleted (the operator removes its children first); "
        "deploy again when it is gone");
  }
  if (!current) {
    kube.create(k::kinds::control_plane.path(ns), cr);
    return "created";
  }
  json::value want = cr.at("spec");
  json::value have = current->contains("spec") ? current->at("spec") : json::value(json::object{});
  if (same_spec(want, have)) return "unchanged";
  // Merge-patch with null for what the document no longer sets.
  json::object patch = want.as_object();
  for (const auto& kv : have.as_object())
    if (!patch.contains(kv.key())) patch[kv.key()] = nullptr;
  kube.merge_patch(k::kinds::control_plane.path(ns, name), json::object{{"spec", patch}});
  return "updated";
}

// The one True condition of the ControlPlane: {type, reason, message}, and whether it is for
// the current generation.
struct cr_state {
  std::string type, reason, message;
  bool current = false;
  bool exists = false;
  std::string controller_url;  // status.controllerUrl (the operator's address of the controller)
};

cr_state state_of(k::client& kube, const kube_target& t) {
  cr_state s;
  auto cr = kube.try_get(k::kinds::control_plane.path(t.ns, t.name));
  if (!cr) return s;
  s.exists = true;
  const auto* st = k::find_object(*cr, "status");
  if (st == nullptr) return s;
  s.controller_url = k::get_string(*st, "controllerUrl");
  if (auto it = st->find("conditions"); it != st->end() && it->value().is_array()) {
    for (const auto& c : it->value().as_array()) {
      if (!c.is_object() || k::get_string(c.as_object(), "status") != "True") continue;
      s.type = k::get_string(c.as_object(), "type");
      s.reason = k::get_string(c.as_object(), "reason");
      s.message = k::get_string(c.as_object(), "message");
    }
  }
  auto gen = cr->at("metadata").as_object().if_contains("generation");
  auto obs = st->if_contains("observedGeneration");
  s.current = gen && obs && json::serialize(*gen) == json::serialize(*obs);
  return s;
}

bool cluster_internal(const std::string& host) {
  auto ends = [&](const std::string& suffix) {
    return host.size() >= suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".svc") || ends(".svc.cluster.local") || ends(".cluster.local");
}

// Addresses of the controller from outside the cluster, best first: the controller Service's
// load-balancer address, a node's address with its NodePort, the operator's controllerUrl when
// it is not a cluster-internal name (an operator run outside the cluster), the ClusterIP.
std::vector<std::string> controller_urls(k::client& kube, const kube_target& t, const cr_state& s,
                                         std::string* why_none) {
  std::vector<std::string> urls;
  auto svc = kube.try_get(k::kinds::service.path(t.ns, "controller"));
  if (svc) {
    std::string type = k::field(*svc, {"spec", "type"});
    int port = 51121, node_port = 0;
    if (const auto* spec = k::find_object(*svc, "spec")) {
      if (auto p = spec->if_contains("ports"); p && p->is_array() && !p->as_array().empty()) {
        const auto& p0 = p->as_array()[0].as_object();
        if (auto v = p0.if_contains("port"); v && v->is_int64()) port = int(v->as_int64());
        if (auto v = p0.if_contains("nodePort"); v && v->is_int64()) node_port = int(v->as_int64());
      }
    }
    if (const auto* st = k::find_object(*svc, "status")) {
      if (const auto* lb = k::find_object(*st, "loadBalancer")) {
        if (auto ing = lb->if_contains("ingress"); ing && ing->is_array()) {
          for (const auto& i : ing->as_array()) {
            std::string a = k::get_string(i.as_object(), "ip");
            if (a.empty()) a = k::get_string(i.as_object(), "hostname");
            if (!a.empty()) urls.push_back("http://" + a + ":" + std::to_string(port));
          }
        }
      }
    }
    if (node_port > 0) {
      try {
        for (const auto& n : kube.list_items(k::kinds::node.path())) {
          const auto* st = k::find_object(n.as_object(), "status");
          if (!st || !st->contains("addresses")) continue;
          for (const char* want : {"ExternalIP", "InternalIP"}) {
            for (const auto& a : st->at("addresses").as_array()) {
              if (k::get_string(a.as_object(), "type") == want)
                urls.push_back("http://" + k::get_string(a.as_object(), "address") + ":" +
                               std::to_string(node_port));
            }
          }
        }
      } catch (const k::api_error&) {
        // Listing nodes needs a ClusterRole: without it, the other addresses.
      }
    }
    if (urls.empty()) {
      *why_none = "Service 'controller' (type " + type + ") has no " +
                  (type == "LoadBalancer" ? "load-balancer address yet" : "external address");
    }
    if (!s.controller_url.empty()) {
      try {
        if (!cluster_internal(endpoint::parse(s.controller_url).host))
          urls.push_back(s.controller_url);
      } catch (const std::exception&) {
      }
    }
    std::string cluster_ip = k::field(*svc, {"spec", "clusterIP"});
    if (!cluster_ip.empty() && cluster_ip != "None")
      urls.push_back("http://" + cluster_ip + ":" + std::to_string(port));
  } else {
    *why_none = "the operator has not created Service 'controller' yet";
    if (!s.controller_url.empty()) {
      try {
        if (!cluster_internal(endpoint::parse(s.controller_url).host))
          urls.push_back(s.controller_url);
      } catch (const std::exception&) {
      }
    }
  }
  return urls;
}

// "R of N ready" for a Deployment, or "missing".
std::string deployment_readiness(k::client& kube, const std::string& ns, const std::string& name) {
  auto d = kube.try_get(k::kinds::deployment.path(ns, name));
  if (!d) return "Deployment '" + name + "' missing";
  int64_t want = 1, ready = 0;
  if (const auto* spec = k::find_object(*d, "spec"))
    if (auto v = spec->if_contains("replicas"); v && v->is_int64()) want = v->as_int64();
  if (const auto* st = k::find_object(*d, "status"))
    if (auto v = st->if_contains("readyReplicas"); v && v->is_int64()) ready = v->as_int64();
  return "Deployment '" + name + "' " + std::to_string(ready) + "/" + std::to_string(want) +
         " ready";
}

// Waits until the operator reports the ControlPlane ready for its current generation and the
// controller answers on an address fogctl can reach; returns that address.
std::string wait_until_ready(k::client& kube, const kube_target& t, const options& opt,
                             const std::string& label, int default_seconds) {
  auto limit = std::chrono::seconds(opt.wait_seconds > 0 ? opt.wait_seconds : default_seconds);
  auto deadline = clock::now() + limit;
  std::string shown;
  for (;;) {
    cr_state s = step("read ControlPlane '" + t.name + "'", [&] { return state_of(kube, t); });
    if (!s.exists) throw step_error("read ControlPlane '" + t.name + "': it is gone");
    if (s.type == "failed" && s.current) {
      throw step_error("the operator reports ControlPlane '" + t.name + "' failed: " + s.reason +
                       (s.message.empty() ? "" : ": " + s.message));
    }
    std::string why_none, now;
    if (s.type == "ready" && s.current) {
      auto urls = step("find the controller's address",
                       [&] { return controller_urls(kube, t, s, &why_none); });
      for (const auto& u : urls) {
        if (controller_up(endpoint::parse(u))) return u;
      }
      now = "waiting for the controller's address: " +
            (urls.empty() ? why_none
                          : "none of " + std::to_string(urls.size()) +
                                " addresses answers /api/v3/status (" + urls.front() +
                                (urls.size() > 1 ? ", ..." : "") + ")");
    } else if (s.type.empty()) {
      now = "waiting for the operator to take ControlPlane '" + t.name + "' (no status yet; " +
            deployment_readiness(kube, t.ns, "fogmesh-operator") + ")";
    } else {
      now =
          "waiting for controller: the operator reports " + s.type +
          (s.reason.empty() ? ""
                            : " (" + s.reason + (s.message.empty() ? "" : ": " + s.message) + ")") +
          "; " + deployment_readiness(kube, t.ns, "controller");
    }
    if (now != shown && !opt.quiet) std::cout << label << ": " << now << "\n" << std::flush;
    shown = now;
    if (clock::now() > deadline) {
      throw step_error(
          "wait for ControlPlane '" + t.name + "' in namespace '" + t.ns + "': timed out after " +
          std::to_string(limit.count()) + " s " + now + " (no pods running? `kubectl -n " + t.ns +
          " get pods`; deploy again to keep waiting, --timeout SECONDS to wait longer)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void save_kube_state(const state& st, const kube_target& t, bool created_namespace) {
  write_file(state_file(st),
             json::serialize(json::object{{"kubeconfig", t.kubeconfig},
                                          {"namespace", t.ns},
                                          {"name", t.name},
                                          {"createdNamespace", created_namespace}}) +
                 "\n",
             0600);
}

}  // namespace

std::string deploy_kubernetes_control_plane(const resource& r, const std::string& ns,
                                            const options& opt) {
  state st(ns);
  std::string label = "KubernetesControlPlane '" + r.name + "'";
  auto say = [&](const std::string& what) {
    if (!opt.quiet) std::cout << label << ": " << what << "\n" << std::flush;
  };
  kube_target t{absolute_local_path(std::string(r.spec.at("config").as_string())), ns, r.name};
  if (auto existing = st.load(); existing && existing->control_plane != "kubernetes") {
    throw step_error("connect: namespace '" + ns + "' is connected to " + existing->endpoint +
                     "; delete controlplane or disconnect first, or use another namespace (-n)");
  }
  if (!fs::exists(t.kubeconfig))
    throw step_error("read the kubeconfig: " + t.kubeconfig + " does not exist (spec.config)");
  auto kube_client = make_client(t.kubeconfig);
  k::client& kube = *kube_client;
  std::string server = kube.config().server;
  bool created_ns = false;
  step("create namespace '" + ns + "' on " + server, [&] {
    if (kube.try_get(k::kinds::namespace_.path("", ns))) return 0;
    kube.create(
        k::kinds::namespace_.path(),
        json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    created_ns = true;
    return 0;
  });
  // Remembered from here: delete controlplane knows what to remove even if a later step fails.
  bool had_state = has_kubernetes_control_plane(st);
  if (!had_state || created_ns) save_kube_state(st, t, created_ns);
  say("installing the CRDs (controlplanes.iofog.org, apps.iofog.org)");
  step("install the CRDs", [&] {
    k::install_crds(kube);
    return 0;
  });
  std::string operator_result = "unchanged";
  step("apply the operator (deploy/kubernetes/operator.yaml)", [&] {
    for (auto& o : operator_objects(ns, r.spec.at("images").as_object())) {
      std::string kind(o.at("kind").as_string());
      std::string name(o.at("metadata").at("name").as_string());
      std::string res = step("apply " + kind + " '" + name + "'",
                             [&] { return k::to_string(k::apply(kube, resource_of(kind), o)); });
      if (res != "unchanged") operator_result = "applied";
    }
    return 0;
  });
  say("operator " + operator_result);
  std::string cr_result = step("apply ControlPlane '" + r.name + "'", [&] {
    return apply_control_plane(kube, control_plane_resource(r, ns));
  });
  say("ControlPlane resource " + cr_result + "; waiting for the operator to deploy it");
  std::string url = wait_until_ready(kube, t, opt, label, 300);
  auto ep = endpoint::parse(url);
  connection c;
  c.name = r.name;
  c.control_plane = "kubernetes";
  connect_control_plane(st, c, ep, r.spec.at("iofogUser").as_object());
  return "operator " + operator_result + ", ControlPlane " + cr_result + ", ready at " + ep.url();
}

void delete_kubernetes_control_plane(const state& st, const options& opt) {
  auto o = json::parse(read_file(state_file(st))).as_object();
  kube_target t{std::string(o.at("kubeconfig").as_string()),
                std::string(o.at("namespace").as_string()), std::string(o.at("name").as_string())};
  auto kube_client = make_client(t.kubeconfig);
  k::client& kube = *kube_client;
  std::string what = "delete ControlPlane '" + t.name + "' in namespace '" + t.ns + "'";
  bool existed =
      step(what, [&] { return kube.remove(k::kinds::control_plane.path(t.ns, t.name)); });
  if (existed) {
    // The operator's finalizer removes the children, then the resource goes.
    auto limit = std::chrono::seconds(opt.wait_seconds > 0 ? opt.wait_seconds : 120);
    auto deadline = clock::now() + limit;
    while (step(what, [&] { return kube.try_get(k::kinds::control_plane.path(t.ns, t.name)); })) {
      if (clock::now() > deadline) {
        throw step_error(what + ": it is still there after " + std::to_string(limit.count()) +
                         " s: the operator has not removed its finalizer (" +
                         deployment_readiness(kube, t.ns, "fogmesh-operator") +
                         "); run delete controlplane again once the operator runs");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    if (!opt.quiet)
      std::cout << "Deleted ControlPlane '" << t.name << "' (the operator removed its controller, "
                << "router and port manager)\n";
  }
  // The operator objects fogctl applied, in reverse order.
  auto objects = operator_objects(t.ns, json::object{});
  for (auto it = objects.rbegin(); it != objects.rend(); ++it) {
    std::string kind(it->at("kind").as_string());
    std::string name(it->at("metadata").at("name").as_string());
    step("delete " + kind + " '" + name + "'",
         [&] { return kube.remove(resource_of(kind).path(t.ns, name)); });
  }
  if (o.at("createdNamespace").as_bool() && t.ns != "default") {
    step("delete namespace '" + t.ns + "'",
         [&] { return kube.remove(k::kinds::namespace_.path("", t.ns)); });
  }
  if (!opt.quiet)
    std::cout << "Removed the operator from namespace '" << t.ns << "' of " << kube.config().server
              << " (the CRDs stay: other namespaces may use them)\n";
  std::error_code ec;
  fs::remove(state_file(st), ec);
}

void connect_kubernetes(const std::string& kubeconfig, const std::string& email,
                        const std::string& password, const std::string& name, const options& opt) {
  state st(opt.ns);
  kube_target t{absolute_local_path(kubeconfig), opt.ns, name};
  if (!fs::exists(t.kubeconfig))
    throw step_error("read the kubeconfig: " + t.kubeconfig + " does not exist");
  auto kube_client = make_client(t.kubeconfig);
  k::client& kube = *kube_client;
  auto cr = step(
      "read ControlPlane '" + name + "' in namespace '" + opt.ns + "' on " + kube.config().server,
      [&] { return kube.try_get(k::kinds::control_plane.path(opt.ns, name)); });
  if (!cr) {
    throw step_error("read ControlPlane '" + name + "' in namespace '" + opt.ns + "' on " +
                     kube.config().server + ": there is none (-n NAMESPACE, --name NAME)");
  }
  // The admin user of the resource unless given.
  json::object user{{"email", email}, {"password", password}};
  if (email.empty()) user["email"] = k::field(*cr, {"spec", "user", "email"});
  if (password.empty())
    user["password"] = maybe_unbase64(k::field(*cr, {"spec", "user", "password"}));
  options once = opt;
  if (once.wait_seconds == 0) once.wait_seconds = 10;
  std::string url = wait_until_ready(kube, t, once, "ControlPlane '" + name + "'", 10);
  auto ep = endpoint::parse(url);
  std::string user_email(user["email"].as_string());
  std::string token = step("log in to " + ep.url() + " as " + user_email, [&] {
    return login(ep, user_email, std::string(user["password"].as_string()));
  });
  connection c;
  c.name = name;
  c.endpoint = ep.url();
  c.email = user_email;
  st.save(c, token, std::string(user["password"].as_string()));
  if (!opt.quiet)
    std::cout << "Connected namespace '" << opt.ns << "' to " << ep.url() << " (ControlPlane '"
              << name << "' on " << kube.config().server << ") as " << user_email << "\n";
}

#endif

}  // namespace fogmesh::ctl
