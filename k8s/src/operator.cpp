#include "fogmesh/k8s/operator.hpp"

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "control_plane_objects.hpp"
#include "controller_api.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/k8s/apply.hpp"
#include "fogmesh/k8s/leader_election.hpp"
#include "fogmesh/k8s/reflector.hpp"
#include "fogmesh/k8s/util.hpp"

namespace fogmesh::k8s {

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("k8s.operator");
  return l;
}

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool has_finalizer(const json::object& obj) {
  auto* m = find_object(obj, "metadata");
  if (!m || !m->contains("finalizers")) return false;
  for (auto& f : m->at("finalizers").as_array()) {
    if (f.is_string() && f.as_string() == finalizer) return true;
  }
  return false;
}

bool being_deleted(const json::object& obj) {
  return !field(obj, {"metadata", "deletionTimestamp"}).empty();
}

int64_t generation(const json::object& obj) {
  auto* m = find_object(obj, "metadata");
  if (!m) return 0;
  auto it = m->find("generation");
  return it != m->end() && it->value().is_int64() ? it->value().as_int64() : 0;
}

// The condition type that is True, its reason, and the observed generation.
struct current_state {
  std::string type, reason, message;
  int64_t observed = -1;
};

current_state state_of(const json::object& obj) {
  current_state st;
  auto* status = find_object(obj, "status");
  if (!status) return st;
  if (auto it = status->find("observedGeneration"); it != status->end() && it->value().is_int64()) {
    st.observed = it->value().as_int64();
  }
  if (auto it = status->find("conditions"); it != status->end() && it->value().is_array()) {
    for (auto& c : it->value().as_array()) {
      auto* co = c.if_object();
      if (co && get_string(*co, "status") == "True") {
        st.type = get_string(*co, "type");
        st.reason = get_string(*co, "reason");
        st.message = get_string(*co, "message");
      }
    }
  }
  return st;
}

// A work queue of keys: each key at most once in the ready list; delayed adds keep the earliest.
class work_queue {
 public:
  void add(const std::string& key, milliseconds delay = milliseconds(0)) {
    std::lock_guard lock(mu_);
    auto when = clock::now() + delay;
    auto it = due_.find(key);
    if (it != due_.end() && it->second <= when) return;
    due_[key] = when;
    cv_.notify_one();
  }
  // Blocks until a key is due or `stop`; empty string on stop.
  std::string next(const std::atomic<bool>& stop) {
    std::unique_lock lock(mu_);
    while (!stop) {
      auto now = clock::now();
      auto best = due_.end();
      for (auto it = due_.begin(); it != due_.end(); ++it) {
        if (best == due_.end() || it->second < best->second) best = it;
      }
      if (best != due_.end() && best->second <= now) {
        std::string key = best->first;
        due_.erase(best);
        return key;
      }
      auto wait = best == due_.end()
                      ? milliseconds(200)
                      : std::min(milliseconds(200),
                                 std::chrono::duration_cast<milliseconds>(best->second - now) +
                                     milliseconds(1));
      cv_.wait_for(lock, wait);
    }
    return {};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, clock::time_point> due_;
};

}  // namespace

const std::vector<std::string>& embedded_crds();

void install_crds(client& c) {
  for (const auto& text : embedded_crds()) {
    auto crd = json::parse(text).as_object();
    std::string name = field(crd, {"metadata", "name"});
    auto path = kinds::crd.path("", name);
    auto existing = c.try_get(path);
    if (!existing) {
      c.create(kinds::crd.path(), crd);
      logger()->info("created CRD {}", name);
    } else if (json::serialize((*existing)["spec"].as_object()["versions"]) !=
               json::serialize(crd["spec"].as_object()["versions"])) {
      c.update(path, [&](json::object& cur) {
        cur["spec"] = crd["spec"];
        return true;
      });
      logger()->info("updated CRD {}", name);
    }
    // Custom resources can be created once the CRD is Established.
    for (int i = 0; i < 100; ++i) {
      auto got = c.get(path);
      bool established = false;
      auto* st = find_object(got, "status");
      auto* conds = st && st->contains("conditions") ? st->at("conditions").if_array() : nullptr;
      if (conds) {
        for (auto& cond : *conds) {
          auto& co = cond.as_object();
          if (get_string(co, "type") == "Established" && get_string(co, "status") == "True") {
            established = true;
          }
        }
      }
      if (established) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
}

struct fog_operator::impl {
  client& k;
  operator_options opts;
  work_queue queue;
  // Per ControlPlane (ns/name): its controller session; reused across reconciles so the login
  // happens once.
  std::map<std::string, std::unique_ptr<controller_api>> sessions;
  std::map<std::string, backoff> retry;

  impl(client& c, operator_options o) : k(c), opts(std::move(o)) {}

  std::string controller_url(const std::string& ns) const {
    if (!opts.controller_url.empty()) return opts.controller_url;
    return "http://controller." + ns + ".svc.cluster.local:" + std::to_string(controller_port);
  }

  // Writes the conditions so that `type` is the one True condition (deploying / ready / failed).
  void set_condition(const resource& res, const json::object& obj, const std::string& type,
                     const std::string& reason, const std::string& message,
                     json::object extra = {}) {
    auto st = state_of(obj);
    int64_t gen = generation(obj);
    bool extras_same = true;
    const json::object* cur_status = find_object(obj, "status");
    for (auto& kv : extra) {
      if (!cur_status || !cur_status->contains(kv.key()) ||
          json::serialize(cur_status->at(kv.key())) != json::serialize(kv.value())) {
        extras_same = false;
      }
    }
    if (st.type == type && st.reason == reason && st.message == message && st.observed == gen &&
        extras_same) {
      return;
    }
    const std::string now = now_rfc3339();
    json::array conditions;
    const json::array* old = nullptr;
    if (auto* s = find_object(obj, "status"); s && s->contains("conditions")) {
      old = s->at("conditions").if_array();
    }
    for (const char* t : {"deploying", "ready", "failed"}) {
      bool on = type == t;
      json::object prev;
      if (old) {
        for (auto& c : *old) {
          if (c.is_object() && get_string(c.as_object(), "type") == t) prev = c.as_object();
        }
      }
      if (!on && prev.empty()) continue;
      bool was_on = get_string(prev, "status") == "True";
      json::object c{
          {"type", t},
          {"status", on ? "True" : "False"},
          {"observedGeneration", gen},
          {"lastTransitionTime",
           was_on == on && !prev.empty() ? get_string(prev, "lastTransitionTime", now) : now},
          {"reason",
           on ? reason
              : (was_on ? "transition_to_" + type : get_string(prev, "reason", "initial"))},
          {"message", on ? message : get_string(prev, "message")}};
      conditions.push_back(std::move(c));
    }
    json::object status{{"conditions", conditions}, {"observedGeneration", gen}};
    for (auto& kv : extra) status[kv.key()] = kv.value();
    k.merge_patch(
        res.path(field(obj, {"metadata", "namespace"}), field(obj, {"metadata", "name"}), "status"),
        json::object{{"status", status}});
    if (st.type != type || st.reason != reason) {
      logger()->info("{} {}/{}: {} ({}{}{})", res.plural, field(obj, {"metadata", "namespace"}),
                     field(obj, {"metadata", "name"}), type, reason, message.empty() ? "" : ": ",
                     message);
    }
  }

  // Adds or removes our finalizer with optimistic concurrency (409 → re-read, retry).
  void set_finalizer(const resource& res, const std::string& ns, const std::string& name,
                     bool present) {
    k.update(res.path(ns, name), [&](json::object& obj) {
      auto& m = obj["metadata"].as_object();
      json::array fins;
      bool had = false;
      if (m.contains("finalizers")) {
        for (auto& f : m["finalizers"].as_array()) {
          if (f.is_string() && f.as_string() == finalizer) {
            had = true;
            if (!present) continue;
          }
          fins.push_back(f);
        }
      }
      if (had == present) return false;
      if (present) fins.push_back(json::string(finalizer));
      m["finalizers"] = fins;
      return true;
    });
  }

  // Deletes every object labelled for this ControlPlane.
  int delete_children(const std::string& ns, const std::string& cp) {
    int n = 0;
    std::string sel = url_encode(std::string(control_plane_label) + "=" + cp + "," +
                                 managed_by_label + "=" + managed_by_value);
    for (const auto& res : owned_kinds()) {
      auto list = k.list(res.path(ns), "labelSelector=" + sel);
      for (auto& item : list["items"].as_array()) {
        if (k.remove(res.path(ns, field(item.as_object(), {"metadata", "name"})))) ++n;
      }
    }
    return n;
  }

  // Address agents and edge routers use for the interior router.
  std::string router_host(const std::string& ns, const control_plane_spec& s) {
    if (!s.router_ingress_address.empty()) return s.router_ingress_address;
    if (!s.router_address.empty()) return s.router_address;
    if (auto svc = k.try_get(kinds::service.path(ns, "router"))) {
      if (auto* st = find_object(*svc, "status")) {
        if (auto* lb = find_object(*st, "loadBalancer"); lb && lb->contains("ingress")) {
          for (auto& ing : lb->at("ingress").as_array()) {
            auto ip = get_string(ing.as_object(), "ip");
            if (!ip.empty()) return ip;
            auto host = get_string(ing.as_object(), "hostname");
            if (!host.empty()) return host;
          }
        }
      }
    }
    return "router." + ns + ".svc.cluster.local";
  }

  milliseconds requeue_after_error(const std::string& key) {
    auto [it, _] = retry.try_emplace(key, std::chrono::seconds(30), milliseconds(500));
    return it->second.next();
  }

  milliseconds reconcile_cp(const std::string& ns, const std::string& name) {
    const std::string key = "cp/" + ns + "/" + name;
    auto cp = k.try_get(kinds::control_plane.path(ns, name));
    if (!cp) {
      sessions.erase(ns + "/" + name);
      retry.erase(key);
      return milliseconds(0);
    }
    if (being_deleted(*cp)) {
      if (!has_finalizer(*cp)) return milliseconds(0);
      int n = delete_children(ns, name);
      logger()->info("controlplanes {}/{}: deleted, removed {} children", ns, name, n);
      set_finalizer(kinds::control_plane, ns, name, false);
      sessions.erase(ns + "/" + name);
      return milliseconds(0);
    }
    if (!has_finalizer(*cp)) {
      set_finalizer(kinds::control_plane, ns, name, true);
      cp = k.get(kinds::control_plane.path(ns, name));
    }
    control_plane_spec spec;
    try {
      spec = parse_control_plane_spec((*cp)["spec"].as_object(), opts);
    } catch (const std::invalid_argument& e) {
      // Bad input: reported, not retried (a spec change queues the CR again).
      set_condition(kinds::control_plane, *cp, "failed", "InvalidSpec", e.what());
      return milliseconds(0);
    }
    // The Secret as its password was read: its resourceVersion, "" when there was none.
    std::optional<std::string> secret_read;
    if (spec.statefulset_db) {
      // The in-cluster database keeps the password of its Secret; a new one only when the
      // Secret is new (or was deleted: the StatefulSet's pod applies it at its restart).
      secret_read = "";
      if (auto sec = k.try_get(kinds::secret.path(ns, postgres_name))) {
        secret_read = field(*sec, {"metadata", "resourceVersion"});
        if (auto pw = base64_decode(field(*sec, {"data", "password"})); pw && !pw->empty()) {
          spec.db_password = *pw;
        }
      }
      if (spec.db_password.empty()) spec.db_password = generate_password();
    }
    auto st = state_of(*cp);
    if (st.type != "ready" || st.observed != generation(*cp)) {
      if (st.type != "deploying") {
        set_condition(kinds::control_plane, *cp, "deploying", "initial_status", "");
        cp = k.get(kinds::control_plane.path(ns, name));
      }
    }
    int written = 0;
    for (const auto& d : control_plane_children(*cp, spec)) {
      // The postgres Secret is written only if it is still as its password was read: deleted
      // (or re-created, or changed) meanwhile, it is not brought back with the old password;
      // the pass starts again and reads it again (a deleted one: a new password).
      const bool postgres_secret = secret_read && d.res.plural == kinds::secret.plural &&
                                   field(d.obj, {"metadata", "name"}) == postgres_name;
      const apply_result result =
          apply(k, d.res, d.obj, d.create_only, postgres_secret ? secret_read : std::nullopt);
      if (result == apply_result::conflict) {
        logger()->info("controlplanes {}/{}: Secret {} changed during reconcile; again", ns, name,
                       postgres_name);
        return milliseconds(1);
      }
      written += result != apply_result::unchanged ? 1 : 0;
    }

    // Controller API: admin user, default router. Pods may not be up yet: retry with back-off,
    // the CR stays `deploying` with the reason.
    auto& session = sessions[ns + "/" + name];
    try {
      if (!session || session->url() != controller_url(ns)) {
        session = std::make_unique<controller_api>(controller_url(ns));
      }
      if (!session->logged_in()) {
        session->status();
        session->ensure_user(spec.first_name, spec.last_name, spec.email, spec.password);
      }
      json::object want{{"host", router_host(ns, spec)},
                        {"messagingPort", router_messaging_port},
                        {"edgeRouterPort", router_edge_port},
                        {"interRouterPort", router_interior_port}};
      json::value have;
      int s = session->call_status("GET", "/router", nullptr, &have);
      // PUT only on a change: every PUT flags all agents' routers for reconfiguration.
      if (s == 404 || json::serialize(have) != json::serialize(json::value(want))) {
        json::value body = want;
        session->call("PUT", "/router", &body);
        logger()->info("controlplanes {}/{}: default router registered at {}", ns, name,
                       json::serialize(want["host"]));
      }
    } catch (const controller_error& e) {
      auto delay = requeue_after_error(key);
      if (e.status() == 401 || e.status() == 403 || e.status() == 429) session.reset();
      set_condition(kinds::control_plane, *cp, "deploying", "WaitingForController", e.what());
      logger()->debug("controlplanes {}/{}: {} (retry in {} ms)", ns, name, e.what(),
                      delay.count());
      return delay;
    }
    retry.erase(key);
    set_condition(kinds::control_plane, *cp, "ready", "Reconciled",
                  "controller, router and port manager deployed",
                  {{"controllerUrl", controller_url(ns)}});
    (void)written;
    return milliseconds(0);
  }

  // The ControlPlane of the namespace (first one that is not being deleted).
  std::optional<json::object> control_plane_of(const std::string& ns) {
    auto list = k.list(kinds::control_plane.path(ns));
    for (auto& item : list["items"].as_array()) {
      if (!being_deleted(item.as_object())) return item.as_object();
    }
    return std::nullopt;
  }

  controller_api& session_for(const json::object& cp) {
    std::string ns = field(cp, {"metadata", "namespace"});
    auto& s = sessions[ns + "/" + field(cp, {"metadata", "name"})];
    if (!s || !s->logged_in()) {
      auto spec = parse_control_plane_spec(cp.at("spec").as_object(), opts);
      s = std::make_unique<controller_api>(controller_url(ns));
      s->ensure_user(spec.first_name, spec.last_name, spec.email, spec.password);
    }
    return *s;
  }

  milliseconds reconcile_app(const std::string& ns, const std::string& name) {
    const std::string key = "app/" + ns + "/" + name;
    auto app = k.try_get(kinds::application.path(ns, name));
    if (!app) {
      retry.erase(key);
      return milliseconds(0);
    }
    auto cp = control_plane_of(ns);
    if (being_deleted(*app)) {
      if (!has_finalizer(*app)) return milliseconds(0);
      if (cp) {
        try {
          auto& s = session_for(*cp);
          s.call_status("DELETE", "/application/" + url_encode(name), nullptr, nullptr);
          logger()->info("apps {}/{}: deleted from the controller", ns, name);
        } catch (const std::exception& e) {
          logger()->warn("apps {}/{}: cannot delete from the controller: {}", ns, name, e.what());
          return requeue_after_error(key);
        }
      }
      set_finalizer(kinds::application, ns, name, false);
      return milliseconds(0);
    }
    if (!cp) {
      set_condition(kinds::application, *app, "failed", "NoControlPlane",
                    "no ControlPlane in namespace " + ns);
      return std::chrono::seconds(10);
    }
    if (!has_finalizer(*app)) {
      set_finalizer(kinds::application, ns, name, true);
      app = k.get(kinds::application.path(ns, name));
    }
    // The CR as iofogctl's Application document (JSON is YAML): the controller's /yaml
    // endpoints translate it exactly as for iofogctl.
    json::object doc{{"apiVersion", "iofog.org/v3"},
                     {"kind", "Application"},
                     {"metadata", {{"name", name}}},
                     {"spec", (*app)["spec"]}};
    std::string text = json::serialize(doc);
    std::string hash = sha256_hex(text).substr(0, 32);
    std::string applied;
    if (auto* st = find_object(*app, "status")) applied = get_string(*st, "specHash");
    try {
      auto& s = session_for(*cp);
      json::value existing;
      int code = s.call_status("GET", "/application/" + url_encode(name), nullptr, &existing);
      if (code == 404) {
        s.upload("POST", "/application/yaml", "application", text);
        logger()->info("apps {}/{}: created in the controller", ns, name);
      } else if (applied != hash) {
        s.upload("PUT", "/application/yaml/" + url_encode(name), "application", text);
        logger()->info("apps {}/{}: updated in the controller", ns, name);
      }
    } catch (const controller_error& e) {
      if (e.status() >= 400 && e.status() < 500 && e.status() != 401 && e.status() != 429) {
        set_condition(kinds::application, *app, "failed", "Rejected", e.what());
        return milliseconds(0);
      }
      sessions.erase(ns + "/" + field(*cp, {"metadata", "name"}));
      set_condition(kinds::application, *app, "deploying", "WaitingForController", e.what());
      return requeue_after_error(key);
    }
    retry.erase(key);
    set_condition(kinds::application, *app, "ready", "Applied", "application is in the controller",
                  applied == hash ? json::object{} : json::object{{"specHash", hash}});
    return milliseconds(0);
  }

  void work(const std::atomic<bool>& stop) {
    while (!stop) {
      std::string key = queue.next(stop);
      if (key.empty()) continue;
      auto first = key.find('/');
      auto second = key.find('/', first + 1);
      std::string kind = key.substr(0, first);
      std::string ns = key.substr(first + 1, second - first - 1);
      std::string name = key.substr(second + 1);
      milliseconds again(0);
      try {
        again = kind == "cp" ? reconcile_cp(ns, name) : reconcile_app(ns, name);
      } catch (const std::exception& e) {
        again = requeue_after_error(key);
        logger()->warn("{}: reconcile failed: {} (retry in {} ms)", key, e.what(), again.count());
      }
      if (again.count() > 0) queue.add(key, again);
    }
  }

  void run(const std::atomic<bool>& stop) {
    std::string ns = opts.namespace_;
    auto enqueue_cr = [this](const char* kind) {
      return [this, kind](const watch_event& ev) {
        queue.add(std::string(kind) + "/" + object_key(ev.object));
      };
    };
    std::vector<std::unique_ptr<reflector>> reflectors;
    reflectors.push_back(std::make_unique<reflector>(
        k, kinds::control_plane, reflector::options{ns, "", "", 300}, enqueue_cr("cp")));
    reflectors.push_back(std::make_unique<reflector>(
        k, kinds::application, reflector::options{ns, "", "", 300}, enqueue_cr("app")));
    // Children: any change (deleted, edited, LB address) re-queues their ControlPlane.
    for (const auto& res : owned_kinds()) {
      reflectors.push_back(std::make_unique<reflector>(
          k, res,
          reflector::options{ns, std::string(managed_by_label) + "=" + managed_by_value, "", 300},
          [this](const watch_event& ev) {
            std::string cp = field(ev.object, {"metadata", "labels", control_plane_label});
            std::string ons = field(ev.object, {"metadata", "namespace"});
            if (cp.empty() || ons.empty()) {  // DELETED seen only at relist: no labels left
              std::string ns2 = ons.empty() ? opts.namespace_ : ons;
              for (auto& item : k.list_items(kinds::control_plane.path(ns2))) {
                queue.add("cp/" + object_key(item.as_object()));
              }
              return;
            }
            queue.add("cp/" + ons + "/" + cp);
          }));
    }
    std::vector<std::thread> threads;
    for (auto& r : reflectors) {
      threads.emplace_back([&stop, r = r.get()] { r->run(stop); });
    }
    std::thread resync([&] {
      auto next = clock::now() + opts.resync;
      while (!stop) {
        std::this_thread::sleep_for(milliseconds(200));
        if (clock::now() < next) continue;
        next = clock::now() + opts.resync;
        try {
          for (auto& item : k.list_items(kinds::control_plane.path(ns))) {
            queue.add("cp/" + object_key(item.as_object()));
          }
          for (auto& item : k.list_items(kinds::application.path(ns))) {
            queue.add("app/" + object_key(item.as_object()));
          }
        } catch (const std::exception& e) {
          logger()->warn("resync: {}", e.what());
        }
      }
    });
    logger()->info("watching ControlPlanes and Applications in namespace {}", ns);
    work(stop);
    for (auto& t : threads) t.join();
    resync.join();
  }
};

fog_operator::fog_operator(client& c, operator_options opts)
    : impl_(std::make_unique<impl>(c, std::move(opts))) {
  if (impl_->opts.namespace_.empty()) impl_->opts.namespace_ = c.default_namespace();
  if (impl_->opts.identity.empty()) impl_->opts.identity = default_identity();
}

fog_operator::~fog_operator() = default;

std::chrono::milliseconds fog_operator::reconcile_control_plane(const std::string& ns,
                                                                const std::string& name) {
  return impl_->reconcile_cp(ns, name);
}

std::chrono::milliseconds fog_operator::reconcile_application(const std::string& ns,
                                                              const std::string& name) {
  return impl_->reconcile_app(ns, name);
}

void fog_operator::run(const std::atomic<bool>& stop) {
  auto& o = impl_->opts;
  if (o.install_crds) install_crds(impl_->k);
  if (!o.leader_elect) {
    impl_->run(stop);
    return;
  }
  bool kept = run_as_leader(
      impl_->k, {o.namespace_, o.lease_name, o.identity, o.lease_duration, o.renew_period}, stop,
      [this](const std::atomic<bool>& inner_stop) { impl_->run(inner_stop); });
  if (!kept) throw std::runtime_error("lost the leader Lease " + o.lease_name);
}

}  // namespace fogmesh::k8s
