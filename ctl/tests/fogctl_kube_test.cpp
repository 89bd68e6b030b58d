// fogctl's KubernetesControlPlane against a real kube-apiserver + etcd (the ctest fixture
// ctl_apiserver: scripts/kube-apiserver-up.sh on its own ports). No kubelet runs, so the
// operator Deployment fogctl applies never gets a pod: first fogctl is shown to apply the CRDs,
// the operator objects and the ControlPlane resource, and to stop with a clear "waiting for
// the operator" timeout, idempotently; then the test runs fogmesh-operator as a local process
// (as the k8s tests do) pointed at a local fogmesh-controller, and fogctl deploys to the end
// (ready, logged in, connected), `connect --kube` finds the same controller, and `delete
// controlplane` removes the resource (through the operator's finalizer) and the operator.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fogctl_runner.hpp"
#include "fogmesh/k8s/client.hpp"
#include "k8s_testkit.hpp"
#include "testkit.hpp"

namespace fogmesh::ctl {
namespace {

namespace fs = std::filesystem;
namespace k = fogmesh::k8s;
namespace kt = fogmesh::k8s::test;
namespace ct = fogmesh::controller::test;
namespace json = boost::json;
using test::fogctl;
using test::result;
using test::slurp;

std::string show(const result& r) {
  return "exit " + std::to_string(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

std::string resource_version(k::client& kube, const std::string& path) {
  return k::field(kube.get(path), {"metadata", "resourceVersion"});
}

TEST(fogctl_kube, kubernetes_control_plane_deploy_wait_connect_delete) {
  if (kt::kubeconfig_path().empty())
    GTEST_SKIP() << "no test API server (run through ctest: the ctl_apiserver fixture starts it)";
  k::client kube(k::cluster_config::from_kubeconfig(kt::kubeconfig_path()));
  ct::temp_dir home, home2, ctl_dir;
  const std::string ns = kt::unique_name("fogctl");
  std::string yaml = R"(apiVersion: iofog.org/v2
kind: KubernetesControlPlane
metadata: {name: iofog, namespace: NS}
spec:
  config: KUBECONFIG
  iofogUser: {name: Ada, surname: Lovelace, email: ada@example.com, password: change-me-please}
  services:
    controller: {type: LoadBalancer}
    router: {type: ClusterIP}
  images: {operator: example.org/fogmesh-operator:test, controller: example.org/ctl:test}
)";
  yaml.replace(yaml.find("NS"), 2, ns);
  // spec.config relative to the directory fogctl deploys from (home; as iofogctl, the current
  // directory), so the stored document must carry it absolute (issue 8: a redeploy of
  // `describe controlplane` from elsewhere no longer found it).
  std::string file = home.path() + "/kcp.yaml";
  const std::string relative_kubeconfig =
      fs::path(kt::kubeconfig_path()).lexically_relative(home.path()).string();
  ASSERT_EQ(relative_kubeconfig.rfind("..", 0), 0u) << relative_kubeconfig;
  std::ofstream(file) << std::string(yaml).replace(yaml.find("KUBECONFIG"), 10,
                                                   relative_kubeconfig);
  const auto in_home = [&](const std::vector<std::string>& args) {
    return fogctl(home.path(), args, {}, home.path());
  };
  std::string missing = home.path() + "/missing.yaml";
  std::ofstream(missing) << std::string(yaml).replace(yaml.find("KUBECONFIG"), 10,
                                                      home.path() + "/no-such-kubeconfig");

  auto bad = fogctl(home.path(), {"deploy", "-f", missing});
  EXPECT_EQ(bad.code, 1) << show(bad);
  EXPECT_NE(
      bad.err.find("read the kubeconfig: " + home.path() + "/no-such-kubeconfig does not exist"),
      std::string::npos)
      << show(bad);

  // No operator runs (its Deployment gets no pod here): fogctl applies everything and stops
  // waiting with the state it saw.
  auto waiting = in_home({"deploy", "-f", file, "--timeout", "3"});
  EXPECT_EQ(waiting.code, 1) << show(waiting);
  EXPECT_NE(waiting.err.find("wait for ControlPlane 'iofog' in namespace '" + ns +
                             "': timed out after 3 s waiting for the operator"),
            std::string::npos)
      << show(waiting);
  EXPECT_NE(waiting.err.find("Deployment 'fogmesh-operator' 0/2 ready"), std::string::npos)
      << show(waiting);
  EXPECT_TRUE(kube.try_get(k::kinds::crd.path("", "controlplanes.iofog.org")));
  for (const auto* res : {&k::kinds::service_account, &k::kinds::role, &k::kinds::role_binding,
                          &k::kinds::deployment}) {
    EXPECT_TRUE(kube.try_get(res->path(ns, "fogmesh-operator"))) << res->plural;
  }
  auto op = kube.get(k::kinds::deployment.path(ns, "fogmesh-operator"));
  EXPECT_EQ(op["spec"].at("template").at("spec").at("containers").at(0).at("image"),
            "example.org/fogmesh-operator:test");
  auto binding = kube.get(k::kinds::role_binding.path(ns, "fogmesh-operator"));
  EXPECT_EQ(binding["subjects"].at(0).at("namespace"), json::value(ns));
  auto cr = kube.get(k::kinds::control_plane.path(ns, "iofog"));
  EXPECT_EQ(k::field(cr, {"spec", "user", "password"}), "Y2hhbmdlLW1lLXBsZWFzZQ==");
  EXPECT_EQ(k::field(cr, {"spec", "images", "controller"}), "example.org/ctl:test");
  EXPECT_EQ(k::field(cr, {"spec", "services", "router", "type"}), "ClusterIP");
  // Deploying again writes nothing.
  std::string op_version =
      resource_version(kube, k::kinds::deployment.path(ns, "fogmesh-operator"));
  std::string cr_version = resource_version(kube, k::kinds::control_plane.path(ns, "iofog"));
  auto again = in_home({"deploy", "-f", file, "--timeout", "1"});
  EXPECT_EQ(again.code, 1) << show(again);
  EXPECT_NE(again.out.find("operator unchanged"), std::string::npos) << show(again);
  EXPECT_NE(again.out.find("ControlPlane resource unchanged"), std::string::npos) << show(again);
  EXPECT_EQ(resource_version(kube, k::kinds::deployment.path(ns, "fogmesh-operator")), op_version);
  EXPECT_EQ(resource_version(kube, k::kinds::control_plane.path(ns, "iofog")), cr_version);

  // The operator as a local process, its controller a local fogmesh-controller: the full path.
  ct::controller_process controller(ctl_dir.path());
  std::string url = "http://127.0.0.1:" + std::to_string(controller.port());
  std::string op_log = ctl_dir.path() + "/operator.log";
  kt::child_process operator_process(
      {FOGMESH_OPERATOR_BIN, "--kubeconfig", kt::kubeconfig_path(), "--namespace", ns,
       "--controller-url", url, "--identity", "fogctl-test", "--lease-duration", "4",
       "--renew-period", "1"},
      op_log);
  auto ready = in_home({"deploy", "-f", file});
  ASSERT_EQ(ready.code, 0) << show(ready) << kt::read_log(op_log);
  EXPECT_NE(ready.out.find("KubernetesControlPlane 'iofog': operator unchanged, ControlPlane "
                           "unchanged, ready at " +
                           url),
            std::string::npos)
      << show(ready);
  EXPECT_TRUE(kube.try_get(k::kinds::deployment.path(ns, "controller")));  // the operator's
  // describe controlplane: the document as deployed (with its namespace), which deploys again
  // to no change.
  auto described = fogctl(home.path(), {"-n", ns, "describe", "controlplane", "iofog"});
  ASSERT_EQ(described.code, 0) << show(described);
  EXPECT_NE(described.out.find("kind: KubernetesControlPlane"), std::string::npos)
      << show(described);
  EXPECT_NE(described.out.find(fs::path(kt::kubeconfig_path()).lexically_normal().string()),
            std::string::npos)
      << show(described);
  EXPECT_EQ(described.out.find(relative_kubeconfig), std::string::npos) << show(described);
  std::string described_file = home.path() + "/described.yaml";
  std::ofstream(described_file) << described.out;
  // From another directory, where the document's relative path would name nothing.
  auto redeployed = fogctl(home.path(), {"deploy", "-f", described_file}, {}, ctl_dir.path());
  ASSERT_EQ(redeployed.code, 0) << show(redeployed);
  EXPECT_NE(redeployed.out.find("operator unchanged, ControlPlane unchanged, ready at " + url),
            std::string::npos)
      << show(redeployed);
  auto controllers = fogctl(home.path(), {"-n", ns, "get", "controllers", "-o", "json"});
  ASSERT_EQ(controllers.code, 0) << show(controllers);
  EXPECT_EQ(json::parse(controllers.out).as_array().at(0).at("endpoint"), json::value(url))
      << controllers.out;
  auto agents = fogctl(home.path(), {"-n", ns, "get", "agents"});
  EXPECT_EQ(agents.code, 0) << show(agents);

  // connect --kube: the same controller, the admin user from the resource.
  auto connect = fogctl(home2.path(), {"-n", ns, "connect", "--kube", kt::kubeconfig_path()});
  ASSERT_EQ(connect.code, 0) << show(connect);
  EXPECT_NE(connect.out.find("Connected namespace '" + ns + "' to " + url), std::string::npos)
      << show(connect);
  auto none = fogctl(home2.path(), {"-n", ns + "-x", "connect", "--kube", kt::kubeconfig_path()});
  EXPECT_EQ(none.code, 1) << show(none);
  EXPECT_NE(none.err.find("there is none"), std::string::npos) << show(none);

  auto del = fogctl(home.path(), {"-n", ns, "delete", "controlplane"});
  ASSERT_EQ(del.code, 0) << show(del) << kt::read_log(op_log);
  EXPECT_FALSE(kube.try_get(k::kinds::control_plane.path(ns, "iofog")));
  EXPECT_FALSE(kube.try_get(k::kinds::deployment.path(ns, "controller")));  // the finalizer's
  EXPECT_FALSE(kube.try_get(k::kinds::deployment.path(ns, "fogmesh-operator")));
  EXPECT_FALSE(kube.try_get(k::kinds::role_binding.path(ns, "fogmesh-operator")));
  EXPECT_FALSE(fs::exists(home.path() + "/namespaces/" + ns));
}

}  // namespace
}  // namespace fogmesh::ctl
