#include "control_plane_objects.hpp"

#include <openssl/rand.h>

#include <cctype>

#include "fogmesh/k8s/util.hpp"

namespace fogmesh::k8s {

namespace {

std::string str_at(const json::object& o, std::initializer_list<std::string_view> path) {
  return field(o, path);
}

int64_t int_at(const json::object& o, std::initializer_list<std::string_view> path,
               int64_t fallback) {
  const json::object* cur = &o;
  std::size_t i = 0;
  for (auto key : path) {
    auto it = cur->find(key);
    if (it == cur->end()) return fallback;
    if (++i == path.size()) return it->value().is_int64() ? it->value().as_int64() : fallback;
    cur = it->value().if_object();
    if (!cur) return fallback;
  }
  return fallback;
}

// ioFog keeps the admin password base64-encoded in the CR, and uses it as is when it is not.
std::string maybe_base64(const std::string& s) {
  auto d = base64_decode(s);
  if (!d || d->empty()) return s;
  for (unsigned char c : *d) {
    if (!std::isprint(c)) return s;
  }
  return *d;
}

std::string pct(const std::string& s) {
  return url_encode(s);
}

json::object meta(const json::object& owner, const std::string& name,
                  const std::string& component) {
  std::string ns = field(owner, {"metadata", "namespace"});
  std::string cp = field(owner, {"metadata", "name"});
  return {{"name", name},
          {"namespace", ns},
          {"labels",
           {{managed_by_label, managed_by_value},
            {control_plane_label, cp},
            {"app.kubernetes.io/name", component},
            {"app.kubernetes.io/part-of", "fogmesh"}}},
          {"ownerReferences", json::array{{{"apiVersion", "iofog.org/v3"},
                                           {"kind", "ControlPlane"},
                                           {"name", cp},
                                           {"uid", field(owner, {"metadata", "uid"})},
                                           {"controller", true},
                                           {"blockOwnerDeletion", true}}}}};
}

desired_object make(const resource& res, const std::string& kind, json::object m, json::object body,
                    bool create_only = false) {
  json::object obj{{"apiVersion", res.api_version}, {"kind", kind}};
  obj["metadata"] = std::move(m);
  for (auto& kv : body) obj[kv.key()] = kv.value();
  return {res, std::move(obj), create_only};
}

json::object selector(const std::string& cp, const std::string& component) {
  return {{"app.kubernetes.io/name", component}, {control_plane_label, cp}};
}

json::object pod_template(const std::string& cp, const std::string& component,
                          const std::string& service_account, json::object container,
                          json::array volumes, const std::string& config_hash,
                          const std::string& pull_secret) {
  json::object labels = selector(cp, component);
  labels[managed_by_label] = managed_by_value;
  json::object spec{{"serviceAccountName", service_account},
                    {"containers", json::array{std::move(container)}}};
  if (!volumes.empty()) spec["volumes"] = std::move(volumes);
  if (!pull_secret.empty()) spec["imagePullSecrets"] = json::array{{{"name", pull_secret}}};
  json::object m{{"labels", labels}};
  // A changed configuration (router config, database secret) rolls the pods.
  if (!config_hash.empty()) m["annotations"] = {{"iofog.org/config-hash", config_hash}};
  return {{"metadata", m}, {"spec", spec}};
}

json::object service_spec(const std::string& cp, const std::string& component,
                          const std::string& type, const std::string& address, json::array ports) {
  json::object s{
      {"type", type}, {"selector", selector(cp, component)}, {"ports", std::move(ports)}};
  if (type == "LoadBalancer") {
    s["externalTrafficPolicy"] = "Local";
    if (!address.empty()) s["loadBalancerIP"] = address;
  }
  return s;
}

json::object port(const std::string& name, int p) {
  return {{"name", name}, {"port", p}, {"targetPort", p}, {"protocol", "TCP"}};
}

json::object env(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

json::object env_secret(const std::string& name, const std::string& secret,
                        const std::string& key) {
  return {{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", key}}}}}};
}

}  // namespace

control_plane_spec parse_control_plane_spec(const json::object& spec, const operator_options& o) {
  control_plane_spec s;
  s.first_name = str_at(spec, {"user", "name"});
  s.last_name = str_at(spec, {"user", "surname"});
  s.email = str_at(spec, {"user", "email"});
  s.password = maybe_base64(str_at(spec, {"user", "password"}));
  if (s.first_name.empty()) s.first_name = "Admin";
  if (s.last_name.empty()) s.last_name = "Admin";
  if (s.email.find('@') == std::string::npos) {
    throw std::invalid_argument("spec.user.email '" + s.email + "' is not an email address");
  }
  if (s.password.size() < 8) {
    throw std::invalid_argument("spec.user.password must have at least 8 characters");
  }
  std::string provider = str_at(spec, {"database", "provider"});
  std::string host = str_at(spec, {"database", "host"});
  if (!provider.empty() && provider != "postgres" && provider != "postgresql") {
    throw std::invalid_argument("spec.database.provider '" + provider +
                                "' is not supported: the fogmesh controller stores its data in "
                                "PostgreSQL (use provider: postgres)");
  }
  const json::object* statefulset = nullptr;
  if (auto* db = find_object(spec, "database")) statefulset = find_object(*db, "statefulSet");
  if (statefulset) {
    if (!host.empty()) {
      throw std::invalid_argument(
          "spec.database: host (an external PostgreSQL) and statefulSet (an in-cluster one) "
          "exclude each other");
    }
    s.statefulset_db = true;
    std::string storage = str_at(*statefulset, {"storage"});
    if (!storage.empty()) s.db_storage = storage;
    s.db_storage_class = str_at(*statefulset, {"storageClassName"});
  }
  if (!host.empty()) {
    s.external_db = true;
    std::string user = str_at(spec, {"database", "user"});
    std::string pass = str_at(spec, {"database", "password"});
    std::string db = str_at(spec, {"database", "databaseName"});
    if (db.empty()) db = "iofog";
    int64_t p = int_at(spec, {"database", "port"}, 5432);
    s.db_url = "postgresql://" + pct(user) + (pass.empty() ? "" : ":" + pct(pass)) +
               (user.empty() ? "" : "@") + host + ":" + std::to_string(p) + "/" + pct(db);
    std::string ssl = str_at(spec, {"database", "sslMode"});
    if (!ssl.empty()) s.db_url += "?sslmode=" + pct(ssl);
  }
  s.controller_replicas = static_cast<int>(int_at(spec, {"replicas", "controller"}, 1));
  if (s.controller_replicas < 1) {
    throw std::invalid_argument("spec.replicas.controller must be at least 1");
  }
  if (s.controller_replicas > 1 && !s.external_db && !s.statefulset_db) {
    throw std::invalid_argument(
        "spec.replicas.controller > 1 needs a database server (spec.database.host or "
        "spec.database.statefulSet): the embedded PostgreSQL serves one replica");
  }
  auto svc_type = [](const json::object& sp, const char* which, std::string fallback) {
    std::string t = str_at(sp, {"services", which, "type"});
    return t.empty() ? fallback : t;
  };
  s.controller_service_type = svc_type(spec, "controller", "LoadBalancer");
  s.router_service_type = svc_type(spec, "router", "LoadBalancer");
  s.controller_address = str_at(spec, {"services", "controller", "address"});
  s.router_address = str_at(spec, {"services", "router", "address"});
  s.router_ingress_address = str_at(spec, {"ingresses", "router", "address"});
  auto image = [&](const char* key, const std::string& fallback) {
    std::string i = str_at(spec, {"images", key});
    return i.empty() ? fallback : i;
  };
  s.controller_image = image("controller", o.controller_image);
  s.router_image = image("router", o.router_image);
  s.port_manager_image = image("portManager", o.port_manager_image);
  s.proxy_image = image("proxy", o.proxy_image);
  s.pull_secret = str_at(spec, {"images", "pullSecret"});
  s.public_ports = str_at(spec, {"controller", "publicPorts"});
  return s;
}

std::string statefulset_db_url(const std::string& ns, const std::string& password) {
  return std::string("postgresql://") + postgres_user + ":" + pct(password) + "@" + postgres_name +
         "." + ns + ".svc.cluster.local:" + std::to_string(postgres_port) + "/" + postgres_user;
}

std::string generate_password() {
  static constexpr std::string_view alphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  while (out.size() < 32) {
    unsigned char buf[64];
    if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : buf) {
      // 248 = 4 * 62: no bias towards the first letters.
      if (b < 248 && out.size() < 32) out.push_back(alphabet[b % alphabet.size()]);
    }
  }
  return out;
}

const std::string& postgres_start_script() {
  // $POSTGRES_PASSWORD is generated (alphanumerics), so it can stand in an SQL literal.
  static const std::string script = R"(set -eu
bin=/usr/lib/postgresql/15/bin
mkdir -p "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  "$bin/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C
  rm -f "$pwfile"
  printf 'host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
' >> "$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE "$POSTGRES_DB"" | "$bin/postgres" --single -D "$PGDATA" postgres > /dev/null
fi
# The Secret is the source of truth: a re-created Secret's password applies at the next start.
echo "ALTER ROLE "$POSTGRES_USER" PASSWORD '$POSTGRES_PASSWORD'" | "$bin/postgres" --single -D "$PGDATA" postgres > /dev/null
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c port="$PGPORT" -c unix_socket_directories=/tmp
)";
  return script;
}

std::string router_config(const std::string& router_id) {
  json::array cfg{json::array{"router", {{"mode", "interior"}, {"id", router_id}}},
                  json::array{"listener",
                              {{"host", "0.0.0.0"},
                               {"port", router_messaging_port},
                               {"role", "normal"},
                               {"saslMechanisms", "ANONYMOUS"}}},
                  json::array{"listener",
                              {{"host", "0.0.0.0"},
                               {"port", router_interior_port},
                               {"role", "inter-router"},
                               {"saslMechanisms", "ANONYMOUS"}}},
                  json::array{"listener",
                              {{"host", "0.0.0.0"},
                               {"port", router_edge_port},
                               {"role", "edge"},
                               {"saslMechanisms", "ANONYMOUS"}}},
                  json::array{"listener",
                              {{"host", "0.0.0.0"},
                               {"port", router_health_port},
                               {"http", true},
                               {"healthz", true},
                               {"metrics", true}}},
                  json::array{"log", {{"module", "DEFAULT"}, {"enable", "info+"}}}};
  return json::serialize(cfg);
}

const std::vector<resource>& owned_kinds() {
  static const std::vector<resource> all = {
      kinds::deployment,      kinds::service, kinds::config_map,   kinds::secret,
      kinds::service_account, kinds::role,    kinds::role_binding, kinds::persistent_volume_claim,
      kinds::stateful_set};
  return all;
}

std::vector<desired_object> control_plane_children(const json::object& owner,
                                                   const control_plane_spec& s) {
  const std::string cp = field(owner, {"metadata", "name"});
  const std::string ns = field(owner, {"metadata", "namespace"});
  std::vector<desired_object> out;

  // RBAC: one ServiceAccount per component; the router reads pods, the port manager manages its
  // proxy Deployment/Service.
  for (const char* sa : {"controller", "router", "port-manager"}) {
    out.push_back(make(kinds::service_account, "ServiceAccount", meta(owner, sa, sa), {}));
  }
  out.push_back(make(kinds::role, "Role", meta(owner, "router", "router"),
                     {{"rules", json::array{{{"apiGroups", {""}},
                                             {"resources", {"pods"}},
                                             {"verbs", {"get", "list", "watch"}}}}}}));
  out.push_back(make(
      kinds::role, "Role", meta(owner, "port-manager", "port-manager"),
      {{"rules",
        json::array{
            {{"apiGroups", {"", "apps"}},
             {"resources", {"deployments", "services", "services/status", "pods", "configmaps"}},
             {"verbs", {"get", "list", "watch", "create", "update", "patch", "delete"}}},
            {{"apiGroups", {""}}, {"resources", {"secrets"}}, {"verbs", {"get"}}},
            {{"apiGroups", {"coordination.k8s.io"}},
             {"resources", {"leases"}},
             {"verbs", {"get", "create", "update"}}}}}}));
  for (const char* rb : {"router", "port-manager"}) {
    out.push_back(make(
        kinds::role_binding, "RoleBinding", meta(owner, rb, rb),
        {{"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", rb}}},
         {"subjects",
          json::array{{{"kind", "ServiceAccount"}, {"name", rb}, {"namespace", ns}}}}}));
  }

  // Credentials: the admin user (port manager logs in with them) and the database URL.
  out.push_back(make(
      kinds::secret, "Secret", meta(owner, "controller-credentials", "controller"),
      {{"type", "Opaque"},
       {"data", {{"email", base64_encode(s.email)}, {"password", base64_encode(s.password)}}}}));
  std::string db_hash;
  if (s.external_db) {
    out.push_back(make(kinds::secret, "Secret", meta(owner, "controller-db", "controller"),
                       {{"type", "Opaque"}, {"data", {{"url", base64_encode(s.db_url)}}}}));
    db_hash = sha256_hex(s.db_url).substr(0, 16);
  } else if (s.statefulset_db) {
    // In-cluster PostgreSQL: Secret (generated password, the controller's URL), headless
    // Service (stable DNS name), one-replica StatefulSet with its own volume.
    const std::string url = statefulset_db_url(ns, s.db_password);
    db_hash = sha256_hex(url).substr(0, 16);
    out.push_back(make(kinds::secret, "Secret", meta(owner, postgres_name, postgres_name),
                       {{"type", "Opaque"},
                        {"data",
                         {{"user", base64_encode(postgres_user)},
                          {"database", base64_encode(postgres_user)},
                          {"password", base64_encode(s.db_password)},
                          {"url", base64_encode(url)}}}}));
    out.push_back(make(kinds::service, "Service", meta(owner, postgres_name, postgres_name),
                       {{"spec",
                         {{"clusterIP", "None"},
                          {"selector", selector(cp, postgres_name)},
                          {"ports", json::array{port("postgres", postgres_port)}}}}}));
    json::object pg{
        {"name", "postgres"},
        {"image", s.controller_image},  // carries the PostgreSQL 15 server binaries
        {"command", {"/bin/sh", "-c", postgres_start_script()}},
        {"env", json::array{env("PGDATA", "/var/lib/postgresql/data/pgdata"),
                            env("PGPORT", std::to_string(postgres_port)),
                            env("POSTGRES_USER", postgres_user), env("POSTGRES_DB", postgres_user),
                            env_secret("POSTGRES_PASSWORD", postgres_name, "password")}},
        {"ports", json::array{{{"name", "postgres"}, {"containerPort", postgres_port}}}},
        {"volumeMounts",
         json::array{{{"name", "data"}, {"mountPath", "/var/lib/postgresql/data"}}}},
        {"readinessProbe",
         {{"exec",
           {{"command",
             {"/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-p",
              std::to_string(postgres_port), "-U", postgres_user}}}},
          {"periodSeconds", 5}}}};
    auto tmpl = pod_template(cp, postgres_name, "controller", pg, {}, db_hash, s.pull_secret);
    // The image's postgres user (PostgreSQL refuses to run as root); fsGroup makes the volume
    // writable for it.
    tmpl["spec"].as_object()["securityContext"] = {
        {"runAsUser", 102}, {"runAsGroup", 102}, {"fsGroup", 102}, {"runAsNonRoot", true}};
    json::object claim_spec{{"accessModes", {"ReadWriteOnce"}},
                            {"resources", {{"requests", {{"storage", s.db_storage}}}}}};
    if (!s.db_storage_class.empty()) claim_spec["storageClassName"] = s.db_storage_class;
    // The claim's labels reach the PVC the StatefulSet controller creates (data-postgres-0), so
    // the finalizer's clean-up finds it like the embedded database's PVC.
    json::object claim_labels = selector(cp, postgres_name);
    claim_labels[managed_by_label] = managed_by_value;
    out.push_back(make(kinds::stateful_set, "StatefulSet",
                       meta(owner, postgres_name, postgres_name),
                       {{"spec",
                         {{"serviceName", postgres_name},
                          {"replicas", 1},
                          {"selector", {{"matchLabels", selector(cp, postgres_name)}}},
                          {"template", tmpl},
                          {"volumeClaimTemplates",
                           json::array{{{"metadata", {{"name", "data"}, {"labels", claim_labels}}},
                                        {"spec", claim_spec}}}}}}}));
  } else {
    out.push_back(make(kinds::persistent_volume_claim, "PersistentVolumeClaim",
                       meta(owner, "controller-data", "controller"),
                       {{"spec",
                         {{"accessModes", {"ReadWriteOnce"}},
                          {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}},
                       true));
  }

  // Controller.
  json::array args{"--port", std::to_string(controller_port), "--bind", "0.0.0.0"};
  json::array env_list;
  json::array volumes;
  json::object container{{"name", "controller"}, {"image", s.controller_image}};
  if (s.external_db || s.statefulset_db) {
    args.push_back("--db");
    args.push_back("$(DB_URL)");
    env_list.push_back(
        env_secret("DB_URL", s.external_db ? "controller-db" : postgres_name, "url"));
  } else {
    args.push_back("--data-dir");
    args.push_back("/var/lib/fogmesh-controller");
    container["volumeMounts"] =
        json::array{{{"name", "data"}, {"mountPath", "/var/lib/fogmesh-controller"}}};
    volumes.push_back(
        {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "controller-data"}}}});
  }
  if (!s.public_ports.empty()) {
    args.push_back("--public-ports");
    args.push_back(json::string(s.public_ports));
  }
  container["args"] = args;
  if (!env_list.empty()) container["env"] = env_list;
  container["ports"] = json::array{{{"name", "api"}, {"containerPort", controller_port}}};
  container["readinessProbe"] = {
      {"httpGet", {{"path", "/api/v3/status"}, {"port", controller_port}}}, {"periodSeconds", 5}};
  json::object ctl_spec{{"replicas", s.controller_replicas},
                        {"selector", {{"matchLabels", selector(cp, "controller")}}},
                        {"template", pod_template(cp, "controller", "controller", container,
                                                  volumes, db_hash, s.pull_secret)}};
  // The embedded database's volume is RWO: never two pods at once.
  if (!s.external_db && !s.statefulset_db) ctl_spec["strategy"] = {{"type", "Recreate"}};
  out.push_back(make(kinds::deployment, "Deployment", meta(owner, "controller", "controller"),
                     {{"spec", ctl_spec}}));
  out.push_back(
      make(kinds::service, "Service", meta(owner, "controller", "controller"),
           {{"spec", service_spec(cp, "controller", s.controller_service_type, s.controller_address,
                                  {port("api", controller_port)})}}));

  // Interior router with its generated configuration.
  std::string cfg = router_config(ns + "-" + cp + "-router");
  out.push_back(make(kinds::config_map, "ConfigMap", meta(owner, "router", "router"),
                     {{"data", {{"router.json", cfg}}}}));
  json::object router_container{
      {"name", "router"},
      {"image", s.router_image},
      {"args", {"-c", "/etc/fogmesh-router/router.json"}},
      {"ports", json::array{{{"name", "messaging"}, {"containerPort", router_messaging_port}},
                            {{"name", "interior"}, {"containerPort", router_interior_port}},
                            {{"name", "edge"}, {"containerPort", router_edge_port}}}},
      {"volumeMounts", json::array{{{"name", "config"}, {"mountPath", "/etc/fogmesh-router"}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz"}, {"port", router_health_port}}}, {"periodSeconds", 5}}}};
  out.push_back(
      make(kinds::deployment, "Deployment", meta(owner, "router", "router"),
           {{"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", selector(cp, "router")}}},
              {"template",
               pod_template(cp, "router", "router", router_container,
                            json::array{{{"name", "config"}, {"configMap", {{"name", "router"}}}}},
                            sha256_hex(cfg).substr(0, 16), s.pull_secret)}}}}));
  out.push_back(make(kinds::service, "Service", meta(owner, "router", "router"),
                     {{"spec", service_spec(cp, "router", s.router_service_type, s.router_address,
                                            {port("messaging", router_messaging_port),
                                             port("interior", router_interior_port),
                                             port("edge", router_edge_port)})}}));

  // Port manager.
  json::object pm_container{
      {"name", "port-manager"},
      {"image", s.port_manager_image},
      {"env", json::array{env("WATCH_NAMESPACE", ns),
                          env("CONTROLLER_URL", "http://controller." + ns + ".svc.cluster.local:" +
                                                    std::to_string(controller_port)),
                          env_secret("IOFOG_USER_EMAIL", "controller-credentials", "email"),
                          env_secret("IOFOG_USER_PASS", "controller-credentials", "password"),
                          env("ROUTER_ADDRESS", "router." + ns + ".svc.cluster.local"),
                          env("PROXY_IMAGE", s.proxy_image)}}};
  out.push_back(make(
      kinds::deployment, "Deployment", meta(owner, "port-manager", "port-manager"),
      {{"spec",
        {{"replicas", 1},
         {"strategy", {{"type", "Recreate"}}},
         {"selector", {{"matchLabels", selector(cp, "port-manager")}}},
         {"template",
          pod_template(cp, "port-manager", "port-manager", pm_container, {},
                       sha256_hex(s.email + "\n" + s.password).substr(0, 16), s.pull_secret)}}}}));

  return out;
}

}  // namespace fogmesh::k8s
