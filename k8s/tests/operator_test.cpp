// fogmesh-operator against a real kube-apiserver + etcd and our real controller (a local
// process with its embedded PostgreSQL): ControlPlane → children + ready, drift repair, spec
// changes, LB address → default router, Application CRs in the controller, finalizer cleanup,
// bad input, two replicas → one leader.
#include "fogmesh/k8s/operator.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "control_plane_objects.hpp"
#include "fogmesh/common/free_port.hpp"
#include "fogmesh/k8s/reflector.hpp"
#include "fogmesh/k8s/util.hpp"
#include "k8s_testkit.hpp"
#include "testkit.hpp"

namespace fogmesh::k8s::test {
namespace {

namespace ct = fogmesh::controller::test;

class operator_test : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (kubeconfig_path().empty()) return;
    kube_ = new client(cluster_config::from_kubeconfig(kubeconfig_path()));
    dir_ = new ct::temp_dir();
    controller_ = new ct::controller_process(dir_->path());
    install_crds(*kube_);
  }
  static void TearDownTestSuite() {
    delete controller_;
    delete dir_;
    delete kube_;
  }

 protected:
  void SetUp() override {
    if (!kube_) GTEST_SKIP() << "no test API server (run through ctest: the k8s fixture starts it)";
    ns_ = unique_name("op");
    create_namespace(*kube_, ns_);
  }

  std::string controller_url() const {
    return "http://127.0.0.1:" + std::to_string(controller_->port());
  }

  std::unique_ptr<child_process> start_operator(const std::string& identity = "op-a",
                                                std::vector<std::string> extra = {}) {
    std::vector<std::string> args{FOGMESH_OPERATOR_BIN,
                                  "--kubeconfig",
                                  kubeconfig_path(),
                                  "--namespace",
                                  ns_,
                                  "--controller-url",
                                  controller_url(),
                                  "--identity",
                                  identity,
                                  "--lease-duration",
                                  "4",
                                  "--renew-period",
                                  "1"};
    for (auto& e : extra) args.push_back(e);
    return std::make_unique<child_process>(args, dir_->path() + "/operator-" + ns_ + ".log");
  }

  json::object control_plane(const std::string& email, json::object extra_spec = {}) {
    json::object spec{
        {"user",
         {{"name", "Ada"},
          {"surname", "Admin"},
          {"email", email},
          {"password", "c2VjcmV0LXBhc3N3b3Jk"}}},  // base64("secret-password")
        {"services",
         {{"controller", {{"type", "ClusterIP"}}}, {"router", {{"type", "LoadBalancer"}}}}}};
    for (auto& kv : extra_spec) spec[kv.key()] = kv.value();
    return {{"apiVersion", "iofog.org/v3"},
            {"kind", "ControlPlane"},
            {"metadata", {{"name", "iofog"}, {"namespace", ns_}}},
            {"spec", spec}};
  }

  std::string condition(const resource& res, const std::string& name, std::string* reason = nullptr,
                        std::string* message = nullptr) {
    auto obj = kube_->try_get(res.path(ns_, name));
    if (!obj) return "<gone>";
    auto* st = find_object(*obj, "status");
    if (!st || !st->contains("conditions")) return "";
    for (auto& c : st->at("conditions").as_array()) {
      auto& co = c.as_object();
      if (get_string(co, "status") == "True") {
        if (reason) *reason = get_string(co, "reason");
        if (message) *message = get_string(co, "message");
        return get_string(co, "type");
      }
    }
    return "";
  }

  std::string login(const std::string& email, const std::string& password) {
    auto r = ct::http(controller_->port(), "POST", "/api/v3/user/login",
                      R"({"email":")" + email + R"(","password":")" + password + R"("})");
    if (r.status != 200) return "";
    return std::string(r.json().at("accessToken").as_string());
  }

  std::string router_host(const std::string& token) {
    auto r = ct::http(controller_->port(), "GET", "/api/v3/router", "", token);
    if (r.status != 200) return "";
    auto v = r.json();
    auto& o = v.as_object();
    return o.at("host").is_string() ? std::string(o.at("host").as_string()) : "";
  }

  std::string image_of(const std::string& deployment) {
    auto d = kube_->get(kinds::deployment.path(ns_, deployment));
    return std::string(
        d["spec"].at("template").at("spec").at("containers").at(0).at("image").as_string());
  }

  static inline client* kube_ = nullptr;
  static inline ct::temp_dir* dir_ = nullptr;
  static inline ct::controller_process* controller_ = nullptr;
  std::string ns_;
};

TEST_F(operator_test, ControlPlaneLifecycle) {
  auto op = start_operator();
  const std::string email = ns_ + "@example.com";
  auto t0 = std::chrono::steady_clock::now();
  kube_->create(kinds::control_plane.path(ns_), control_plane(email));

  // Created → every child with the right spec, the admin user and the default router, ready.
  ASSERT_TRUE(wait_for([&] { return condition(kinds::control_plane, "iofog") == "ready"; }))
      << condition(kinds::control_plane, "iofog");
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("ControlPlane create → ready: %lld ms\n", static_cast<long long>(ms));
  for (const char* d : {"controller", "router", "port-manager"}) {
    EXPECT_TRUE(kube_->try_get(kinds::deployment.path(ns_, d))) << d;
    EXPECT_TRUE(kube_->try_get(kinds::service_account.path(ns_, d))) << d;
  }
  for (const char* n : {"router", "port-manager"}) {
    EXPECT_TRUE(kube_->try_get(kinds::role.path(ns_, n))) << n;
    EXPECT_TRUE(kube_->try_get(kinds::role_binding.path(ns_, n))) << n;
  }
  EXPECT_TRUE(kube_->try_get(kinds::persistent_volume_claim.path(ns_, "controller-data")));
  auto ctl_svc = kube_->get(kinds::service.path(ns_, "controller"));
  EXPECT_EQ(field(ctl_svc, {"spec", "type"}), "ClusterIP");
  EXPECT_EQ(ctl_svc["spec"].at("ports").at(0).at("port").as_int64(), 51121);
  auto router_svc = kube_->get(kinds::service.path(ns_, "router"));
  EXPECT_EQ(field(router_svc, {"spec", "type"}), "LoadBalancer");
  EXPECT_EQ(router_svc["spec"].at("ports").as_array().size(), 3u);
  auto cm = kube_->get(kinds::config_map.path(ns_, "router"));
  auto cfg = json::parse(field(cm, {"data", "router.json"})).as_array();
  EXPECT_EQ(cfg.at(0).at(1).at("mode").as_string(), "interior");
  auto ctl = kube_->get(kinds::deployment.path(ns_, "controller"));
  EXPECT_EQ(ctl["spec"].at("replicas").as_int64(), 1);
  EXPECT_EQ(ctl["metadata"].at("ownerReferences").at(0).at("kind").as_string(), "ControlPlane");
  auto secret = kube_->get(kinds::secret.path(ns_, "controller-credentials"));
  EXPECT_FALSE(field(secret, {"data", "password"}).empty());
  // The operator signed the admin up (password decoded from base64) and registered the router.
  std::string token = login(email, "secret-password");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(router_host(token), "router." + ns_ + ".svc.cluster.local");

  // A deleted child is re-created.
  auto old_uid = field(kube_->get(kinds::deployment.path(ns_, "router")), {"metadata", "uid"});
  kube_->remove(kinds::deployment.path(ns_, "router"));
  kube_->remove(kinds::service.path(ns_, "controller"));
  EXPECT_TRUE(wait_for([&] {
    auto d = kube_->try_get(kinds::deployment.path(ns_, "router"));
    return d && field(*d, {"metadata", "uid"}) != old_uid &&
           kube_->try_get(kinds::service.path(ns_, "controller"));
  }));

  // A spec change is applied (image), and the CR goes back to ready for the new generation.
  kube_->merge_patch(kinds::control_plane.path(ns_, "iofog"),
                     json::parse(R"({"spec":{"images":{"controller":"example.org/ctl:2"}}})"));
  EXPECT_TRUE(wait_for([&] { return image_of("controller") == "example.org/ctl:2"; }));
  EXPECT_TRUE(wait_for([&] {
    auto cp = kube_->get(kinds::control_plane.path(ns_, "iofog"));
    return condition(kinds::control_plane, "iofog") == "ready" &&
           cp["status"].at("observedGeneration") == cp["metadata"].at("generation");
  }));

  // The router Service gets a load-balancer address → the controller's default router follows.
  kube_->merge_patch(
      kinds::service.path(ns_, "router", "status"),
      json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10"}]}}})"));
  EXPECT_TRUE(wait_for([&] { return router_host(token) == "192.0.2.10"; }));

  // Application CR → application in the controller; spec change → updated; CR deleted → gone.
  json::object app{{"apiVersion", "iofog.org/v3"},
                   {"kind", "Application"},
                   {"metadata", {{"name", "demo"}, {"namespace", ns_}}},
                   {"spec", {{"description", "first"}, {"microservices", json::array{}}}}};
  kube_->create(kinds::application.path(ns_), app);
  auto app_description = [&] {
    auto r = ct::http(controller_->port(), "GET", "/api/v3/application/demo", "", token);
    if (r.status != 200) return std::string("<") + std::to_string(r.status) + ">";
    auto v = r.json();
    auto& o = v.as_object();
    return o.contains("description") && o.at("description").is_string()
               ? std::string(o.at("description").as_string())
               : std::string();
  };
  EXPECT_TRUE(wait_for([&] { return app_description() == "first"; })) << app_description();
  EXPECT_TRUE(wait_for([&] { return condition(kinds::application, "demo") == "ready"; }));
  kube_->merge_patch(kinds::application.path(ns_, "demo"),
                     json::parse(R"({"spec":{"description":"second"}})"));
  EXPECT_TRUE(wait_for([&] { return app_description() == "second"; })) << app_description();
  // An application the controller refuses: failed condition with its message.
  kube_->create(kinds::application.path(ns_),
                json::parse(R"({"apiVersion":"iofog.org/v3","kind":"Application",
                  "metadata":{"name":"bad"},"spec":{"microservices":[{"name":"m1",
                  "agent":{"name":"no-such-agent"},"images":{"x86":"busybox"}}]}})")
                    .as_object());
  std::string reason, message;
  EXPECT_TRUE(wait_for(
      [&] { return condition(kinds::application, "bad", &reason, &message) == "failed"; }));
  EXPECT_EQ(reason, "Rejected") << message;
  kube_->remove(kinds::application.path(ns_, "bad"));
  kube_->remove(kinds::application.path(ns_, "demo"));
  EXPECT_TRUE(wait_for([&] { return app_description() == "<404>"; })) << app_description();
  EXPECT_TRUE(wait_for([&] { return !kube_->try_get(kinds::application.path(ns_, "demo")); }));

  // CR deleted → the finalizer removes every child, then the CR goes.
  kube_->remove(kinds::control_plane.path(ns_, "iofog"));
  EXPECT_TRUE(wait_for([&] {
    return !kube_->try_get(kinds::control_plane.path(ns_, "iofog")) &&
           !kube_->try_get(kinds::deployment.path(ns_, "controller")) &&
           !kube_->try_get(kinds::service.path(ns_, "router")) &&
           !kube_->try_get(kinds::secret.path(ns_, "controller-credentials")) &&
           kube_->list(kinds::config_map.path(ns_))["items"].as_array().empty();
  }));
  EXPECT_TRUE(op->running());
  EXPECT_EQ(op->terminate(), 0);
}

TEST_F(operator_test, InvalidControlPlaneRejectedOrFailed) {
  // The CRD schema rejects what it can express...
  auto bad = control_plane("x@example.com", {{"replicas", {{"controller", 0}}}});
  try {
    kube_->create(kinds::control_plane.path(ns_), bad);
    ADD_FAILURE() << "replicas.controller: 0 was accepted";
  } catch (const api_error& e) {
    EXPECT_EQ(e.status(), 422) << e.what();
  }
  bad = control_plane("x@example.com");
  bad["spec"].as_object().erase("user");
  EXPECT_THROW(kube_->create(kinds::control_plane.path(ns_), bad), api_error);

  // ...the operator reports the rest as a failed condition, creates nothing, and keeps running.
  auto op = start_operator();
  kube_->create(kinds::control_plane.path(ns_),
                control_plane("y@example.com",
                              {{"database", {{"provider", "mysql"}, {"host", "db.example.org"}}}}));
  std::string reason, message;
  ASSERT_TRUE(wait_for(
      [&] { return condition(kinds::control_plane, "iofog", &reason, &message) == "failed"; }));
  EXPECT_EQ(reason, "InvalidSpec");
  EXPECT_NE(message.find("mysql"), std::string::npos) << message;
  EXPECT_FALSE(kube_->try_get(kinds::deployment.path(ns_, "controller")));
  // Fixed → deployed with the external database (a Secret with its URL, no PVC).
  kube_->merge_patch(kinds::control_plane.path(ns_, "iofog"),
                     json::parse(R"({"spec":{"database":{"provider":"postgres","user":"u",
                                   "password":"p@ss","databaseName":"fog"}}})"));
  EXPECT_TRUE(wait_for(
      [&] { return kube_->try_get(kinds::secret.path(ns_, "controller-db")).has_value(); }));
  auto s = kube_->get(kinds::secret.path(ns_, "controller-db"));
  EXPECT_FALSE(kube_->try_get(kinds::persistent_volume_claim.path(ns_, "controller-data")));
  EXPECT_TRUE(op->running());
  EXPECT_EQ(op->terminate(), 0);
}

// spec.database.statefulSet: an in-cluster PostgreSQL. The objects' specs are checked on the
// API server (no kubelet runs its pod); its start script, taken from the StatefulSet as
// stored, is then run here with the host's PostgreSQL 15 (the binaries the controller image
// carries, same paths), and our controller is started on it with the URL of the Secret.
TEST_F(operator_test, PostgresStatefulSet) {
  auto op = start_operator();
  const std::string email = ns_ + "@example.com";
  kube_->create(kinds::control_plane.path(ns_),
                control_plane(email, {{"database", {{"statefulSet", {{"storage", "2Gi"}}}}},
                                      {"replicas", {{"controller", 2}}}}));
  ASSERT_TRUE(wait_for([&] { return condition(kinds::control_plane, "iofog") == "ready"; }))
      << condition(kinds::control_plane, "iofog");

  auto secret = kube_->get(kinds::secret.path(ns_, "postgres"));
  auto decoded = [&](const json::object& sec, const char* key) {
    return base64_decode(field(sec, {"data", key})).value_or("<bad base64>");
  };
  const std::string password = decoded(secret, "password");
  EXPECT_EQ(password.size(), 32u);
  EXPECT_EQ(decoded(secret, "url"), "postgresql://fogmesh:" + password + "@postgres." + ns_ +
                                        ".svc.cluster.local:5432/fogmesh");
  auto svc = kube_->get(kinds::service.path(ns_, "postgres"));
  EXPECT_EQ(field(svc, {"spec", "clusterIP"}), "None");
  EXPECT_EQ(svc["spec"].at("ports").at(0).at("port").as_int64(), 5432);
  auto sts = kube_->get(kinds::stateful_set.path(ns_, "postgres"));
  auto& sts_spec = sts["spec"].as_object();
  EXPECT_EQ(field(sts_spec, {"serviceName"}), "postgres");
  EXPECT_EQ(sts_spec.at("replicas").as_int64(), 1);
  EXPECT_EQ(sts_spec.at("volumeClaimTemplates")
                .at(0)
                .at("spec")
                .at("resources")
                .at("requests")
                .at("storage")
                .as_string(),
            "2Gi");
  auto& pod_spec = sts_spec.at("template").at("spec").as_object();
  EXPECT_EQ(pod_spec.at("securityContext").at("runAsUser").as_int64(), 102);
  auto& pg = pod_spec.at("containers").at(0).as_object();
  EXPECT_EQ(pg.at("image").as_string(), "ghcr.io/fogmesh/controller:0.1.0");
  EXPECT_EQ(pg.at("volumeMounts").at(0).at("mountPath").as_string(), "/var/lib/postgresql/data");
  // The controller: two replicas (allowed with a database server), --db from the Secret, no
  // embedded database's PVC.
  auto ctl = kube_->get(kinds::deployment.path(ns_, "controller"));
  EXPECT_EQ(ctl["spec"].at("replicas").as_int64(), 2);
  auto& ctl_c = ctl["spec"].at("template").at("spec").at("containers").at(0).as_object();
  EXPECT_NE(json::serialize(ctl_c.at("args")).find(R"x("--db","$(DB_URL)")x"), std::string::npos)
      << json::serialize(ctl_c.at("args"));
  EXPECT_EQ(json::serialize(ctl_c.at("env").at(0)),
            R"({"name":"DB_URL","valueFrom":{"secretKeyRef":{"name":"postgres","key":"url"}}})");
  EXPECT_FALSE(kube_->try_get(kinds::persistent_volume_claim.path(ns_, "controller-data")));

  // Deleted → re-created; the Secret keeps its password while it exists.
  auto old_uid = field(sts, {"metadata", "uid"});
  kube_->remove(kinds::stateful_set.path(ns_, "postgres"));
  kube_->remove(kinds::service.path(ns_, "postgres"));
  EXPECT_TRUE(wait_for([&] {
    auto s = kube_->try_get(kinds::stateful_set.path(ns_, "postgres"));
    return s && field(*s, {"metadata", "uid"}) != old_uid &&
           kube_->try_get(kinds::service.path(ns_, "postgres"));
  }));
  EXPECT_EQ(decoded(kube_->get(kinds::secret.path(ns_, "postgres")), "password"), password);
  // A deleted Secret comes back with a new password, and the pods of the StatefulSet and the
  // controller roll (their config hash follows the URL).
  auto hash_of = [&](const resource& res, const char* name) {
    auto o = kube_->get(res.path(ns_, name));
    return field(o["spec"].at("template").as_object(),
                 {"metadata", "annotations", "iofog.org/config-hash"});
  };
  auto old_hash = hash_of(kinds::stateful_set, "postgres");
  kube_->remove(kinds::secret.path(ns_, "postgres"));
  std::string new_password;
  EXPECT_TRUE(wait_for([&] {
    auto s = kube_->try_get(kinds::secret.path(ns_, "postgres"));
    if (s) new_password = decoded(*s, "password");
    return s && new_password != password && hash_of(kinds::stateful_set, "postgres") != old_hash &&
           hash_of(kinds::deployment, "controller") == hash_of(kinds::stateful_set, "postgres");
  })) << new_password;

  // The start script of the StatefulSet as stored, run here: a fresh volume is initialised, and
  // our controller runs on it with the Secret's password.
  const std::string bin = "/usr/lib/postgresql/15/bin";
  if (::access((bin + "/initdb").c_str(), X_OK) == 0) {
    sts = kube_->get(kinds::stateful_set.path(ns_, "postgres"));
    auto& c = sts["spec"].at("template").at("spec").at("containers").at(0).as_object();
    std::string script(c.at("command").at(2).as_string());
    char tmpl[] = "/tmp/k8s-pg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string base = tmpl;
    const uint16_t pg_port = fogmesh::free_loopback_port();
    auto start_postgres = [&](const std::string& pw) {
      std::vector<std::string> cmd;
      if (::geteuid() == 0) {  // PostgreSQL refuses to run as root: the pod's runAsUser
        EXPECT_EQ(std::system(("chown postgres: " + base).c_str()), 0);
        cmd = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"};
      }
      cmd.insert(cmd.end(), {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin"});
      for (auto& e : c.at("env").as_array()) {
        std::string name(e.at("name").as_string());
        std::string value = e.as_object().contains("value") ? std::string(e.at("value").as_string())
                            : name == "POSTGRES_PASSWORD"   ? pw
                                                            : "";
        if (name == "PGDATA") value = base + "/pgdata";
        if (name == "PGPORT") value = std::to_string(pg_port);
        cmd.push_back(name + "=" + value);
      }
      cmd.insert(cmd.end(), {"/bin/sh", "-c", script});
      return std::make_unique<child_process>(cmd, base + "/postgres.log");
    };
    auto pg_ready = [&] {
      return std::system(
                 (bin + "/pg_isready -q -h 127.0.0.1 -p " + std::to_string(pg_port)).c_str()) == 0;
    };
    auto url = [&](const std::string& pw) {
      return "postgresql://fogmesh:" + pw + "@127.0.0.1:" + std::to_string(pg_port) + "/fogmesh";
    };
    {
      auto pgp = start_postgres(password);
      ASSERT_TRUE(wait_for(pg_ready, std::chrono::seconds(60))) << read_log(base + "/postgres.log");
      ct::temp_dir d2;
      ct::controller_process ctl2(d2.path(), {"--db", url(password)});
      EXPECT_EQ(ct::http(ctl2.port(), "GET", "/api/v3/status").status, 200);
      EXPECT_EQ(ctl2.terminate(), 0);
      EXPECT_EQ(pgp->terminate(), 0) << read_log(base + "/postgres.log");
    }
    {
      // Restarted with the re-created Secret's password: the existing volume takes it.
      auto pgp = start_postgres(new_password);
      ASSERT_TRUE(wait_for(pg_ready, std::chrono::seconds(60))) << read_log(base + "/postgres.log");
      ct::temp_dir d2;
      EXPECT_THROW(ct::controller_process(d2.path(), {"--db", url(password)}), std::exception);
      ct::controller_process ctl2(d2.path(), {"--db", url(new_password)});
      EXPECT_EQ(ct::http(ctl2.port(), "GET", "/api/v3/status").status, 200);
      EXPECT_EQ(ctl2.terminate(), 0);
      EXPECT_EQ(pgp->terminate(), 0) << read_log(base + "/postgres.log");
    }
    std::filesystem::remove_all(base);
  } else {
    std::printf("PostgreSQL 15 not installed here: the start script was not run\n");
  }

  // An external server and the StatefulSet exclude each other (condition failed/InvalidSpec).
  EXPECT_THROW(parse_control_plane_spec(json::parse(R"({"user":{"email":"a@b.c","password":
                  "12345678"},"database":{"host":"db.example.org","statefulSet":{}}})")
                                            .as_object(),
                                        operator_options{}),
               std::invalid_argument);

  // CR deleted → the finalizer removes the database's objects too.
  kube_->remove(kinds::control_plane.path(ns_, "iofog"));
  EXPECT_TRUE(wait_for([&] {
    return !kube_->try_get(kinds::control_plane.path(ns_, "iofog")) &&
           !kube_->try_get(kinds::stateful_set.path(ns_, "postgres")) &&
           !kube_->try_get(kinds::service.path(ns_, "postgres")) &&
           !kube_->try_get(kinds::secret.path(ns_, "postgres"));
  }));
  EXPECT_EQ(op->terminate(), 0);
}

TEST_F(operator_test, TwoReplicasOneLeader) {
  auto a = start_operator("replica-a");
  ASSERT_TRUE(wait_for([&] {
    auto l = kube_->try_get(kinds::lease.path(ns_, "fogmesh-operator"));
    return l && field(*l, {"spec", "holderIdentity"}) == "replica-a";
  }));
  auto b = start_operator("replica-b");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto lease = kube_->get(kinds::lease.path(ns_, "fogmesh-operator"));
  EXPECT_EQ(field(lease, {"spec", "holderIdentity"}), "replica-a");
  // Only the leader reconciles: the CR gets ready (deploying/ready written by one replica).
  kube_->create(kinds::control_plane.path(ns_), control_plane(ns_ + "@example.com"));
  EXPECT_TRUE(wait_for([&] { return condition(kinds::control_plane, "iofog") == "ready"; }));
  // The leader stops cleanly and releases the Lease; the other replica takes over and keeps
  // reconciling (a deleted child comes back).
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_TRUE(wait_for([&] {
    auto l = kube_->try_get(kinds::lease.path(ns_, "fogmesh-operator"));
    return l && field(*l, {"spec", "holderIdentity"}) == "replica-b";
  }));
  kube_->remove(kinds::deployment.path(ns_, "port-manager"));
  EXPECT_TRUE(wait_for(
      [&] { return kube_->try_get(kinds::deployment.path(ns_, "port-manager")).has_value(); }));
  EXPECT_EQ(b->terminate(), 0);
}

TEST_F(operator_test, ApiServerRestartMidWatch) {
  // A reflector on ConfigMaps and a running operator; the API server restarts; changes made
  // right after it is back reach both (resumed watch, or relist + diff on 410).
  std::map<std::string, std::string> seen;  // name -> last event type
  std::mutex mu;
  reflector r(*kube_, kinds::config_map, {ns_, "test=watch", "", 300}, [&](const watch_event& ev) {
    std::lock_guard lock(mu);
    seen[field(ev.object, {"metadata", "name"})] = ev.type;
  });
  std::atomic<bool> stop{false};
  std::thread t([&] { r.run(stop); });
  auto cm = [&](const std::string& name) {
    return json::object{{"apiVersion", "v1"},
                        {"kind", "ConfigMap"},
                        {"metadata", {{"name", name}, {"labels", {{"test", "watch"}}}}},
                        {"data", {{"k", "v"}}}};
  };
  auto type_of = [&](const std::string& name) {
    std::lock_guard lock(mu);
    return seen.count(name) ? seen[name] : std::string();
  };
  kube_->create(kinds::config_map.path(ns_), cm("a"));
  kube_->create(kinds::config_map.path(ns_), cm("c"));
  ASSERT_TRUE(wait_for([&] { return type_of("a") == "ADDED" && type_of("c") == "ADDED"; }));

  // A Lease long enough to ride through the restart (a leader that cannot renew within 2/3 of
  // it steps down and exits 1, to be restarted by its Deployment). 40 s was too short once: on
  // this machine at load 14 the restarted API server answered only after more than 26 s.
  auto op = start_operator("op-a", {"--lease-duration", "120", "--renew-period", "2"});
  kube_->create(kinds::control_plane.path(ns_), control_plane(ns_ + "@example.com"));
  ASSERT_TRUE(wait_for([&] { return condition(kinds::control_plane, "iofog") == "ready"; }));

  ASSERT_EQ(run_script("restart-apiserver"), 0);
  kube_->create(kinds::config_map.path(ns_), cm("b"));
  kube_->remove(kinds::config_map.path(ns_, "a"));
  kube_->merge_patch(kinds::config_map.path(ns_, "c"), json::parse(R"({"data":{"k":"w"}})"));
  EXPECT_TRUE(wait_for([&] {
    return type_of("b") == "ADDED" && type_of("a") == "DELETED" && type_of("c") == "MODIFIED";
  })) << type_of("a")
      << " " << type_of("b") << " " << type_of("c");
  EXPECT_GE(r.watches(), 2);
  // The operator's watches resumed too: a deleted child is re-created.
  kube_->remove(kinds::deployment.path(ns_, "controller"));
  EXPECT_TRUE(wait_for(
      [&] { return kube_->try_get(kinds::deployment.path(ns_, "controller")).has_value(); },
      std::chrono::seconds(30)));
  stop = true;
  t.join();
  EXPECT_EQ(op->terminate(), 0);
}

TEST_F(operator_test, HelpAndBadArguments) {
  std::string cmd = std::string(FOGMESH_OPERATOR_BIN) + " --help > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  cmd = std::string(FOGMESH_OPERATOR_BIN) + " --bogus 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 2);
}

}  // namespace
}  // namespace fogmesh::k8s::test
