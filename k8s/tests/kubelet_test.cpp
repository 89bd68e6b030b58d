// fogmesh-kubelet against a real kube-apiserver and our real controller: 3 agents → 3 Nodes with
// the right readiness, taint and Lease; a microservice → a Pod bound to its agent's Node; a Pod
// deleted in Kubernetes comes back (view-only); an agent deleted in the controller → Node gone.
#include "fogmesh/k8s/kubelet.hpp"

#include "fleet_testkit.hpp"
#include "k8s_testkit.hpp"

namespace fogmesh::k8s::test {
namespace {

std::string to_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(kubelet_test, AgentsAsNodesMicroservicesAsPods) {
  if (kubeconfig_path().empty()) GTEST_SKIP() << "no test API server (run through ctest)";
  client kube(cluster_config::from_kubeconfig(kubeconfig_path()));
  std::string ns = unique_name("kl");
  fleet f("kl@example.com");
  std::vector<std::string> fogs;
  for (int i = 0; i < 3; ++i) {
    auto fog =
        f.call("POST", "/iofog",
               R"({"name":"agent-)" + std::to_string(i) + R"(","fogType":1,"routerMode":"none"})");
    ASSERT_EQ(fog.status, 201) << fog.body;
    fogs.emplace_back(fog.json().at("uuid").as_string());
  }
  // Agents 0 and 1 report RUNNING; agent 2 never reports (UNKNOWN).
  for (int i = 0; i < 2; ++i) {
    auto k = f.call("GET", "/iofog/" + fogs[i] + "/provisioning-key", "");
    ASSERT_EQ(k.status, 201) << k.body;
    auto p =
        f.call_as("", "POST", "/agent/provision",
                  R"({"key":")" + std::string(k.json().at("key").as_string()) + R"(","type":1})");
    ASSERT_EQ(p.status, 200) << p.body;
    std::string agent(p.json().at("token").as_string());
    auto s = f.call_as(agent, "PUT", "/agent/status",
                       R"({"daemonStatus":"RUNNING","memoryUsage":100,"ipAddress":"192.0.2.)" +
                           std::to_string(50 + i) +
                           R"(","microserviceStatus":"[]","lastStatusTime":1})");
    ASSERT_EQ(s.status, 204) << s.body;
  }
  ASSERT_EQ(f.call("POST", "/application", R"({"name":"web","isActivated":true})").status, 201);
  auto ms = f.call("POST", "/microservices",
                   R"({"name":"srv","application":"web","iofogUuid":")" + fogs[0] +
                       R"(","images":[{"containerImage":"busybox:1","fogTypeId":1}]})");
  ASSERT_EQ(ms.status, 201) << ms.body;

  child_process kl({FOGMESH_KUBELET_BIN, "--kubeconfig", kubeconfig_path(), "--namespace", ns,
                    "--controller-url", f.url(), "--email", "kl@example.com", "--password",
                    "password1", "--sync-interval", "300", "--no-leader-elect"},
                   f.dir() + "/kubelet.log");
  auto ready = [&](const std::string& fog) {
    auto n = kube.try_get(kinds::node.path("", "iofog-" + to_lower(fog)));
    if (!n) return std::string("<none>");
    auto* st = find_object(*n, "status");
    if (!st || !st->contains("conditions")) return std::string();
    for (auto& c : st->at("conditions").as_array()) {
      if (get_string(c.as_object(), "type") == "Ready") return get_string(c.as_object(), "status");
    }
    return std::string();
  };
  ASSERT_TRUE(wait_for([&] {
    return ready(fogs[0]) == "True" && ready(fogs[1]) == "True" && ready(fogs[2]) == "Unknown";
  })) << ready(fogs[0])
      << ready(fogs[1]) << ready(fogs[2]) << "\n"
      << read_log(f.dir() + "/kubelet.log");
  auto node = kube.get(kinds::node.path("", "iofog-" + to_lower(fogs[0])));
  EXPECT_EQ(node["spec"].at("taints").at(0).at("effect").as_string(), "NoSchedule");
  EXPECT_EQ(field(node, {"metadata", "labels", "type"}), "iofog-kubelet");
  EXPECT_EQ(field(node, {"status", "capacity", "pods"}), "100");
  EXPECT_NE(json::serialize(node["status"].at("addresses")).find("192.0.2.50"), std::string::npos);
  EXPECT_TRUE(wait_for([&] {
    return kube.try_get(kinds::lease.path("kube-node-lease", "iofog-" + to_lower(fogs[0])))
        .has_value();
  }));

  // The microservice is a Pod bound to its agent's node.
  auto pod_name = [&]() -> std::string {
    auto list = kube.list(kinds::pod.path(ns));
    auto& items = list["items"].as_array();
    return items.empty() ? "" : field(items[0].as_object(), {"metadata", "name"});
  };
  ASSERT_TRUE(wait_for([&] { return !pod_name().empty(); }));
  auto pod = kube.get(kinds::pod.path(ns, pod_name()));
  EXPECT_EQ(field(pod, {"spec", "nodeName"}), "iofog-" + to_lower(fogs[0]));
  EXPECT_EQ(field(pod, {"status", "phase"}), "Pending");  // no status from the agent yet
  // View-only: a Pod deleted in Kubernetes comes back.
  std::string name = pod_name();
  kube.remove(kinds::pod.path(ns, name), "");
  EXPECT_TRUE(wait_for([&] {
    auto p = kube.try_get(kinds::pod.path(ns, name));
    return p && field(*p, {"metadata", "uid"}) != field(pod, {"metadata", "uid"});
  }));

  // Agent deleted in the controller → its Node goes; microservice deleted → its Pod goes.
  ASSERT_EQ(f.call("DELETE", "/iofog/" + fogs[2], "").status / 100, 2);
  EXPECT_TRUE(wait_for([&] { return ready(fogs[2]) == "<none>"; }));
  ASSERT_EQ(f.call("DELETE", "/microservices/" + std::string(ms.json().at("uuid").as_string()), "")
                    .status /
                100,
            2);
  EXPECT_TRUE(wait_for([&] { return pod_name().empty(); }));
  EXPECT_EQ(kl.terminate(), 0);
}

// The API cost of a pass, in-process through sync_once(): the first pass creates every object
// and writes its status; a pass with no change writes nothing; one agent's status change is one
// PATCH of its Node's /status, one microservice's status change one PATCH of its Pod's /status
// (plus, the first time after the create, the clearing of its managed fields).
TEST(kubelet_test, WritesOnlyWhatChanged) {
  if (kubeconfig_path().empty()) GTEST_SKIP() << "no test API server (run through ctest)";
  client kube(cluster_config::from_kubeconfig(kubeconfig_path()));
  std::string ns = unique_name("klw");
  fleet f("klw@example.com");
  auto fog = f.call("POST", "/iofog", R"({"name":"w-0","fogType":1,"routerMode":"none"})");
  ASSERT_EQ(fog.status, 201) << fog.body;
  std::string uuid(fog.json().at("uuid").as_string());
  auto key = f.call("GET", "/iofog/" + uuid + "/provisioning-key", "");
  auto prov =
      f.call_as("", "POST", "/agent/provision",
                R"({"key":")" + std::string(key.json().at("key").as_string()) + R"(","type":1})");
  ASSERT_EQ(prov.status, 200) << prov.body;
  std::string agent(prov.json().at("token").as_string());
  ASSERT_EQ(f.call("POST", "/application", R"({"name":"w","isActivated":true})").status, 201);
  auto ms = f.call("POST", "/microservices",
                   R"({"name":"m","application":"w","iofogUuid":")" + uuid +
                       R"(","images":[{"containerImage":"busybox:1","fogTypeId":1}]})");
  ASSERT_EQ(ms.status, 201) << ms.body;
  std::string ms_uuid(ms.json().at("uuid").as_string());
  auto report = [&](const std::string& daemon, const std::string& msvc_status) {
    std::string list = msvc_status.empty() ? "[]"
                                           : R"([{\"id\":\")" + ms_uuid + R"(\",\"status\":\")" +
                                                 msvc_status + R"(\"}])";
    auto s = f.call_as(agent, "PUT", "/agent/status",
                       R"({"daemonStatus":")" + daemon +
                           R"(","memoryUsage":100,"microserviceStatus":")" + list + R"("})");
    ASSERT_EQ(s.status, 204) << s.body;
  };
  report("RUNNING", "");

  kubelet_options o;
  o.controller_url = f.url();
  o.email = "klw@example.com";
  o.password = "password1";
  o.pod_namespace = ns;
  o.lease_renew = std::chrono::hours(1);  // no renewal due between these passes, however slow
  kubelet kl(kube, o);
  // Node + status + Lease, Pod + status.
  EXPECT_EQ(kl.sync_once(), 5);
  EXPECT_EQ(kl.sync_once(), 0);
  auto node_path = kinds::node.path("", "iofog-" + to_lower(uuid));
  std::string version = field(kube.get(node_path), {"metadata", "resourceVersion"});

  report("STOPPED", "");
  EXPECT_EQ(kl.sync_once(), 1);
  auto node = kube.get(node_path);
  EXPECT_NE(field(node, {"metadata", "resourceVersion"}), version);
  std::string ready;
  for (auto& c : node["status"].at("conditions").as_array()) {
    if (get_string(c.as_object(), "type") == "Ready") ready = get_string(c.as_object(), "status");
  }
  EXPECT_EQ(ready, "False");
  // That PATCH carried only the conditions (what changed): the rest of the status is kept.
  EXPECT_EQ(field(node, {"status", "nodeInfo", "machineID"}), uuid);
  EXPECT_EQ(field(node, {"status", "capacity", "pods"}), "100");
  EXPECT_FALSE(node["status"].at("addresses").as_array().empty())
      << json::serialize(node["status"]);
  // Its managed fields were cleared after the create: the API server skips its field manager
  // on these writes.
  EXPECT_FALSE(node["metadata"].as_object().contains("managedFields"))
      << json::serialize(node["metadata"]);

  // The Pod's first status change after the create: its managed fields are cleared first (one
  // more request, once), then its status PATCH; the next change is one PATCH.
  report("STOPPED", "RUNNING");
  EXPECT_EQ(kl.sync_once(), 2);
  auto pods = kube.list_items(kinds::pod.path(ns));
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(field(pods[0].as_object(), {"status", "phase"}), "Running");
  const auto& pod_meta = pods[0].as_object().at("metadata").as_object();
  EXPECT_FALSE(pod_meta.contains("managedFields")) << json::serialize(pod_meta);
  EXPECT_EQ(kl.sync_once(), 0);
  report("STOPPED", "STOPPED");
  EXPECT_EQ(kl.sync_once(), 1);
  EXPECT_EQ(field(kube.list_items(kinds::pod.path(ns)).at(0).as_object(), {"status", "phase"}),
            "Succeeded");
}

}  // namespace
}  // namespace fogmesh::k8s::test
