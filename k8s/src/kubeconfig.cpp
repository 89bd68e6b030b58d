// Cluster configuration: kubeconfig files (yaml-cpp) and the in-cluster service account.
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fogmesh/k8s/client.hpp"
#include "fogmesh/k8s/util.hpp"

namespace fogmesh::k8s {

namespace {

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + what + " '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Relative file names in a kubeconfig are relative to the kubeconfig's folder.
std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p.front() == '/') return p;
  return (std::filesystem::path(base_dir) / p).string();
}

YAML::Node named(const YAML::Node& list, const std::string& name, const char* what,
                 const std::string& file) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
  }
  throw std::runtime_error(file + ": no " + what + " named '" + name + "'");
}

std::string str(const YAML::Node& n, const char* key) {
  return n && n[key] ? n[key].as<std::string>() : std::string();
}

// inline *-data (base64) or a file name
std::string pem(const YAML::Node& n, const char* data_key, const char* file_key,
                const std::string& dir, const std::string& file) {
  if (auto d = str(n, data_key); !d.empty()) {
    auto decoded = base64_decode(d);
    if (!decoded) throw std::runtime_error(file + ": " + data_key + " is not valid base64");
    return *decoded;
  }
  if (auto f = str(n, file_key); !f.empty()) return read_file(resolve(dir, f), file_key);
  return {};
}

}  // namespace

cluster_config cluster_config::from_kubeconfig(const std::string& path, const std::string& ctx) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("kubeconfig '" + path + "': " + e.what());
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  std::string context_name = ctx.empty() ? str(root, "current-context") : ctx;
  if (context_name.empty()) throw std::runtime_error(path + ": no current-context");
  auto context = named(root["contexts"], context_name, "context", path)["context"];
  auto cluster = named(root["clusters"], str(context, "cluster"), "cluster", path)["cluster"];
  cluster_config c;
  c.server = str(cluster, "server");
  if (c.server.empty()) throw std::runtime_error(path + ": cluster has no server");
  c.namespace_ = str(context, "namespace");
  if (c.namespace_.empty()) c.namespace_ = "default";
  c.tls.ca_pem = pem(cluster, "certificate-authority-data", "certificate-authority", dir, path);
  c.tls.insecure_skip_verify =
      cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
  c.tls.server_name = str(cluster, "tls-server-name");
  if (auto user_name = str(context, "user"); !user_name.empty()) {
    auto user = named(root["users"], user_name, "user", path)["user"];
    c.token = str(user, "token");
    if (auto tf = str(user, "tokenFile"); !tf.empty()) c.token_file = resolve(dir, tf);
    c.tls.client_cert_pem = pem(user, "client-certificate-data", "client-certificate", dir, path);
    c.tls.client_key_pem = pem(user, "client-key-data", "client-key", dir, path);
    if (user["exec"] || user["auth-provider"]) {
      throw std::runtime_error(path + ": user '" + user_name +
                               "' uses exec/auth-provider plugins, which are not supported; "
                               "use a token or a client certificate");
    }
  }
  return c;
}

cluster_config cluster_config::in_cluster() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw std::runtime_error("not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset)");
  }
  const std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount/";
  cluster_config c;
  std::string h = host;
  c.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  c.token_file = dir + "token";
  c.tls.ca_pem = read_file(dir + "ca.crt", "service-account CA");
  c.namespace_ = "default";
  if (std::filesystem::exists(dir + "namespace")) c.namespace_ = read_file(dir + "namespace", "");
  return c;
}

cluster_config cluster_config::discover(const std::string& flag) {
  if (!flag.empty()) return from_kubeconfig(flag);
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string first = env;
    first = first.substr(0, first.find(':'));
    return from_kubeconfig(first);
  }
  if (std::getenv("KUBERNETES_SERVICE_HOST")) return in_cluster();
  const char* home = std::getenv("HOME");
  std::string def = std::string(home ? home : "") + "/.kube/config";
  if (std::filesystem::exists(def)) return from_kubeconfig(def);
  throw std::runtime_error(
      "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod");
}

}  // namespace fogmesh::k8s
