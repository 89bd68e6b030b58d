// fogmesh-port-manager against a real kube-apiserver and our real controller: a public port
// created in the controller → a Service port and a proxy mapping; the Service's load-balancer
// address → the controller's default-proxy-host, again when it changes; no public port left →
// proxy objects removed.
#include "fleet_testkit.hpp"
#include "k8s_testkit.hpp"

namespace fogmesh::k8s::test {
namespace {

TEST(port_manager_test, PublicPortsToServiceAndAddressBack) {
  if (kubeconfig_path().empty()) GTEST_SKIP() << "no test API server (run through ctest)";
  client kube(cluster_config::from_kubeconfig(kubeconfig_path()));
  std::string ns = unique_name("pm");
  create_namespace(kube, ns);
  fleet f("pm@example.com");
  ASSERT_EQ(
      f.call(
           "PUT", "/router",
           R"({"host":"router.svc","messagingPort":5672,"edgeRouterPort":45672,"interRouterPort":55672})")
              .status /
          100,
      2);
  auto fog = f.call("POST", "/iofog", R"({"name":"edge-1","fogType":1,"host":"10.5.0.2"})");
  ASSERT_EQ(fog.status, 201) << fog.body;
  std::string fog_uuid(fog.json().at("uuid").as_string());
  ASSERT_EQ(f.call("POST", "/application", R"({"name":"web","isActivated":true})").status, 201);

  child_process pm(
      {FOGMESH_PORT_MANAGER_BIN, "--kubeconfig", kubeconfig_path(), "--namespace", ns,
       "--controller-url", f.url(), "--email", "pm@example.com", "--password",
       "cGFzc3dvcmQx",  // base64
       "--router-address", "router.svc:5672", "--poll-interval", "300", "--no-leader-elect"},
      f.dir() + "/port-manager.log");

  auto ms = f.call(
      "POST", "/microservices",
      R"({"name":"srv","application":"web","iofogUuid":")" + fog_uuid +
          R"(","images":[{"containerImage":"busybox","fogTypeId":1}],)"
          R"("ports":[{"internal":80,"external":8080,"public":{"protocol":"http","router":{"port":6100}}}]})");
  ASSERT_EQ(ms.status, 201) << ms.body;
  std::string ms_uuid(ms.json().at("uuid").as_string());
  auto svc_port = [&]() -> int64_t {
    auto svc = kube.try_get(kinds::service.path(ns, "http-proxy"));
    if (!svc) return 0;
    return svc->at("spec").at("ports").at(0).at("port").as_int64();
  };
  ASSERT_TRUE(wait_for([&] { return svc_port() == 6100; })) << svc_port();
  auto svc = kube.get(kinds::service.path(ns, "http-proxy"));
  EXPECT_EQ(field(svc, {"spec", "type"}), "LoadBalancer");
  auto dep = kube.get(kinds::deployment.path(ns, "http-proxy"));
  auto args = dep["spec"].at("template").at("spec").at("containers").at(0).at("args").as_array();
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(std::string(args[2].as_string()).rfind("tcp:6100=>amqp:", 0), 0u) << args[2];

  // LB address → default-proxy-host; changed → updated again.
  auto proxy_host = [&] {
    auto r = f.call("GET", "/config/default-proxy-host", "");
    if (r.status != 200) return std::string();
    auto v = r.json();
    auto& o = v.as_object();
    return o.contains("value") && o.at("value").is_string() ? std::string(o.at("value").as_string())
                                                            : std::string();
  };
  for (const char* ip : {"192.0.2.20", "192.0.2.21"}) {
    kube.merge_patch(kinds::service.path(ns, "http-proxy", "status"),
                     json::parse(std::string(R"({"status":{"loadBalancer":{"ingress":[{"ip":")") +
                                 ip + R"("}]}}})"));
    EXPECT_TRUE(wait_for([&] { return proxy_host() == ip; })) << proxy_host();
  }
  // The microservice's link now uses the LB address.
  auto m = f.call("GET", "/microservices/" + ms_uuid, "");
  EXPECT_NE(m.body.find("192.0.2.21:6100"), std::string::npos) << m.body;

  // A deleted proxy Service is repaired; no public port left → both objects removed.
  kube.remove(kinds::service.path(ns, "http-proxy"));
  EXPECT_TRUE(wait_for([&] { return svc_port() == 6100; }));
  ASSERT_EQ(f.call("DELETE", "/microservices/" + ms_uuid, "").status / 100, 2);
  EXPECT_TRUE(wait_for([&] {
    return !kube.try_get(kinds::service.path(ns, "http-proxy")) &&
           !kube.try_get(kinds::deployment.path(ns, "http-proxy"));
  }));
  EXPECT_EQ(pm.terminate(), 0);
}

TEST(port_manager_test, HelpAndMissingSettings) {
  std::string cmd = std::string(FOGMESH_PORT_MANAGER_BIN) + " --help > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  cmd = "env -u IOFOG_USER_EMAIL " + std::string(FOGMESH_PORT_MANAGER_BIN) + " 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 2);
}

}  // namespace
}  // namespace fogmesh::k8s::test
