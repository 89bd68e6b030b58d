// The Kubernetes client against the real API server: kubeconfig with a token and with a client
// certificate, CRUD, merge-patch, the /status subresource, 409 conflict retry, Lease election.
#include <filesystem>
#include <fstream>
#include <mutex>

#include "fogmesh/k8s/apply.hpp"
#include "fogmesh/k8s/leader_election.hpp"
#include "fogmesh/k8s/util.hpp"
#include "k8s_testkit.hpp"

namespace fogmesh::k8s::test {
namespace {

class client_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kubeconfig_path().empty()) GTEST_SKIP() << "no test API server (run through ctest)";
    kube_ = std::make_unique<client>(cluster_config::from_kubeconfig(kubeconfig_path()));
    ns_ = unique_name("cl");
    create_namespace(*kube_, ns_);
  }
  json::object config_map(const std::string& name) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns_}}},
            {"data", {{"n", "0"}}}};
  }
  std::unique_ptr<client> kube_;
  std::string ns_;
};

TEST_F(client_test, CrudPatchAndConflictRetry) {
  auto path = kinds::config_map.path(ns_, "counter");
  EXPECT_FALSE(kube_->try_get(path));
  kube_->create(kinds::config_map.path(ns_), config_map("counter"));
  try {
    kube_->create(kinds::config_map.path(ns_), config_map("counter"));
    ADD_FAILURE() << "duplicate create accepted";
  } catch (const api_error& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.reason(), "AlreadyExists");
  }
  // Two writers increment through GET+PUT; 409s are retried, so no increment is lost.
  auto bump = [&] {
    for (int i = 0; i < 10; ++i) {
      kube_->update(path, [](json::object& cm) {
        auto& data = cm["data"].as_object();
        data["n"] = std::to_string(std::stoi(std::string(data["n"].as_string())) + 1);
        return true;
      });
    }
  };
  std::thread t1(bump), t2(bump);
  t1.join();
  t2.join();
  EXPECT_EQ(field(kube_->get(path), {"data", "n"}), "20");
  kube_->merge_patch(path, json::parse(R"({"data":{"extra":"x"}})"));
  EXPECT_EQ(field(kube_->get(path), {"data", "extra"}), "x");
  EXPECT_EQ(kube_->list(kinds::config_map.path(ns_))["items"].as_array().size(), 1u);
  EXPECT_TRUE(kube_->remove(path));
  EXPECT_FALSE(kube_->remove(path));
}

// apply() with `based_on`: the write happens only if the object is still as it was read (the
// operator's postgres Secret keeps the password it read; a Secret deleted meanwhile must not come
// back with it).
TEST_F(client_test, ApplyBasedOnReadVersion) {
  auto path = kinds::config_map.path(ns_, "kept");
  auto want = [&](const std::string& n) {
    auto cm = config_map("kept");
    cm["data"].as_object()["n"] = n;
    return cm;
  };
  // Read as absent ("") and still absent: created. Read as absent but there now: not written.
  EXPECT_EQ(apply(*kube_, kinds::config_map, want("1"), false, std::string()),
            apply_result::created);
  EXPECT_EQ(apply(*kube_, kinds::config_map, want("2"), false, std::string()),
            apply_result::conflict);
  EXPECT_EQ(field(kube_->get(path), {"data", "n"}), "1");
  // Still at the version read: replaced.
  std::string read = field(kube_->get(path), {"metadata", "resourceVersion"});
  EXPECT_EQ(apply(*kube_, kinds::config_map, want("3"), false, read), apply_result::replaced);
  EXPECT_EQ(field(kube_->get(path), {"data", "n"}), "3");
  // Changed by someone else since it was read: not written.
  read = field(kube_->get(path), {"metadata", "resourceVersion"});
  kube_->merge_patch(path, json::parse(R"({"data":{"n":"other"}})"));
  EXPECT_EQ(apply(*kube_, kinds::config_map, want("4"), false, read), apply_result::conflict);
  EXPECT_EQ(field(kube_->get(path), {"data", "n"}), "other");
  // Deleted since it was read: not re-created (without based_on it would be).
  read = field(kube_->get(path), {"metadata", "resourceVersion"});
  ASSERT_TRUE(kube_->remove(path));
  EXPECT_EQ(apply(*kube_, kinds::config_map, want("5"), false, read), apply_result::conflict);
  EXPECT_FALSE(kube_->try_get(path));
  EXPECT_EQ(apply(*kube_, kinds::config_map, want("5")), apply_result::created);
  EXPECT_STREQ(to_string(apply_result::conflict), "conflict");
}

TEST_F(client_test, StatusSubresource) {
  json::object svc{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", "lb"}}},
      {"spec",
       {{"type", "LoadBalancer"}, {"ports", json::array{{{"port", 80}, {"targetPort", 80}}}}}}};
  kube_->create(kinds::service.path(ns_), svc);
  kube_->merge_patch(
      kinds::service.path(ns_, "lb", "status"),
      json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}})"));
  auto got = kube_->get(kinds::service.path(ns_, "lb"));
  EXPECT_EQ(got["status"].at("loadBalancer").at("ingress").at(0).at("ip").as_string(), "192.0.2.1");
  // The same without reading the answer (protobuf for a built-in kind): applied, and a missing
  // object is a 404 api_error as with merge_patch().
  kube_->merge_patch_no_result(
      kinds::service.path(ns_, "lb", "status"),
      json::parse(R"({"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.2"}]}}})"));
  got = kube_->get(kinds::service.path(ns_, "lb"));
  EXPECT_EQ(got["status"].at("loadBalancer").at("ingress").at(0).at("ip").as_string(), "192.0.2.2");
  try {
    kube_->merge_patch_no_result(kinds::service.path(ns_, "none", "status"),
                                 json::parse(R"({"status":{}})"));
    ADD_FAILURE() << "no error for a missing Service";
  } catch (const api_error& e) {
    EXPECT_TRUE(e.not_found()) << e.what();
  }
}

TEST_F(client_test, ClientCertificateKubeconfig) {
  // A client certificate signed by the API server's client CA, group system:masters.
  auto data = std::filesystem::path(kubeconfig_path()).parent_path().string();
  auto dir = data + "/client-" + ns_;
  std::filesystem::create_directories(dir);
  std::string cmd = "cd " + dir +
                    " && openssl req -newkey rsa:2048 -nodes -subj '/O=system:masters/CN=certuser' "
                    "-keyout c.key -out c.csr 2>/dev/null && openssl x509 -req -in c.csr -CA " +
                    data + "/pki/ca.crt -CAkey " + data +
                    "/pki/ca.key -CAcreateserial -days 1 -out c.crt 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ofstream(dir + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n"
         "  cluster:\n    server: "
      << kube_->config().server
      << "\n    certificate-authority: ../pki/ca.crt\n"
         "users:\n- name: u\n  user:\n    client-certificate: c.crt\n"
         "    client-key: c.key\ncontexts:\n- name: x\n  context: "
         "{cluster: c, user: u, namespace: "
      << ns_ << "}\ncurrent-context: x\n";
  client cert_client(cluster_config::from_kubeconfig(dir + "/kubeconfig"));
  EXPECT_EQ(cert_client.default_namespace(), ns_);
  cert_client.create(kinds::config_map.path(ns_), config_map("by-cert"));
  EXPECT_TRUE(kube_->try_get(kinds::config_map.path(ns_, "by-cert")));
  // Bad material and a missing context are clear errors.
  EXPECT_THROW(cluster_config::from_kubeconfig(dir + "/kubeconfig", "nope"), std::runtime_error);
  EXPECT_THROW(cluster_config::from_kubeconfig(dir + "/missing"), std::runtime_error);
}

TEST_F(client_test, WrongCaFailsTls) {
  auto cfg = kube_->config();
  cfg.tls.ca_pem.clear();  // system CAs do not know the test CA
  client c(cfg);
  EXPECT_THROW(c.list(kinds::config_map.path(ns_)), transport_error);
}

TEST_F(client_test, LeaseOneLeader) {
  leader_elector a(*kube_, {ns_, "lease", "a", std::chrono::seconds(2), std::chrono::seconds(1)});
  leader_elector b(*kube_, {ns_, "lease", "b", std::chrono::seconds(2), std::chrono::seconds(1)});
  EXPECT_TRUE(a.try_acquire_or_renew());
  EXPECT_FALSE(b.try_acquire_or_renew());
  EXPECT_TRUE(a.try_acquire_or_renew());
  EXPECT_FALSE(b.try_acquire_or_renew());
  // a stops renewing: b takes over once the record has been unchanged for the lease duration.
  EXPECT_TRUE(wait_for([&] { return b.try_acquire_or_renew(); }, std::chrono::seconds(6)));
  EXPECT_FALSE(a.try_acquire_or_renew());
  b.release();
  EXPECT_TRUE(a.try_acquire_or_renew());
}

TEST(util_test, Base64) {
  EXPECT_EQ(base64_encode("secret-password"), "c2VjcmV0LXBhc3N3b3Jk");
  EXPECT_EQ(base64_decode("c2VjcmV0LXBhc3N3b3Jk").value_or(""), "secret-password");
  EXPECT_EQ(base64_decode("YQ==").value_or(""), "a");
  EXPECT_FALSE(base64_decode("not base64!"));
}

}  // namespace
}  // namespace fogmesh::k8s::test
