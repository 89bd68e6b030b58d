#include "fogmesh/ctl/cli.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "api_client.hpp"
#include "control_planes.hpp"
#include "fogmesh/ctl/resources.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "remote.hpp"
#include "remote_install.hpp"
#include "state.hpp"
#include "steps.hpp"

#ifndef FOGMESH_VERSION
#define FOGMESH_VERSION "0.0.0"
#endif

namespace fogmesh::ctl {

namespace fs = std::filesystem;

namespace {

// --- errors and options ---

class usage_error : public std::runtime_error {
 public:
  usage_error(const std::string& verb, const std::string& msg)
      : std::runtime_error(msg), verb_(verb) {}
  const std::string& verb() const { return verb_; }

 private:
  std::string verb_;
};

const std::map<std::string, std::string>& help_texts() {
  static const std::map<std::string, std::string> h = {
      {"", R"(fogctl: the fogmesh operator CLI (iofogctl-compatible YAML and verbs)

Usage: fogctl [global options] VERB [arguments]

Verbs:
  deploy -f FILE        create or update what the YAML documents describe (idempotent)
  get RESOURCE          list: all, controllers, agents, applications, microservices,
                        routes, catalog, registries, edge-resources, namespaces
  describe KIND NAME    print a resource as YAML that can be deployed again
  delete KIND NAME      delete a resource (application, microservice, route, registry,
                        catalogitem, agent, controlplane)
  delete all            delete everything of the namespace except the control plane
  delete controlplane   stop and remove the namespace's control plane (local, SSH, Kubernetes)
  start|stop application NAME
                        activate or deactivate an application
  detach agent NAME     take an agent off the controller, keep its process (detached)
  attach agent NAME     provision a detached agent again
  move microservice NAME AGENT
                        run a microservice on another agent
  logs controller|agent|microservice [NAME]
                        the log of a local controller or agent, or a microservice's
                        container log on a LocalAgent
  connect               connect this namespace to a running controller
  disconnect            forget this namespace's controller connection
  completion bash|zsh   print a shell completion script
  version               print fogctl's (and the controller's) version

Global options:
  -n, --namespace NS    namespace (one controller connection each; default "default")
  -o, --output FORMAT   json or yaml instead of tables (get, describe)
  -q, --quiet           no progress output
  -h, --help            help; `fogctl VERB --help` for a verb

State lives in ~/.fogmesh (set FOGMESH_HOME to move it).
)"},
      {"deploy", R"(Usage: fogctl deploy -f FILE [-f FILE...] [-n NS] [-q] [--timeout SECONDS]

Creates or updates every document of the YAML file(s) (`---` separates documents; FILE "-"
reads stdin). Kinds: LocalControlPlane, ControlPlane (controllers installed over SSH),
KubernetesControlPlane (the operator and a ControlPlane resource in a cluster), LocalAgent,
AgentConfig, Agent, Registry, CatalogItem, Application, Microservice, Route.
--timeout: how long a control plane may take to answer (default 180 s over SSH, 300 s on
Kubernetes).
Documents are checked before anything is deployed: a bad
document deploys nothing. Deploying the same file twice changes nothing the second time.
Order: control plane, agents, registries, catalog items, applications, microservices, routes.

Example:
  apiVersion: iofog.org/v2
  kind: Application
  metadata:
    name: demo
  spec:
    microservices:
    - name: sensor
      agent: {name: edge-1}
      images: {x86: localhost/sensor:1, registry: local}
      config: {interval: 5}
    routes:
    - {from: sensor, to: viewer}
)"},
      {"get", R"(Usage: fogctl get RESOURCE [-n NS] [-o json|yaml]

RESOURCE: all, controllers, agents, applications, microservices, routes, catalog, registries,
edge-resources, namespaces. `get agents` also lists the namespace's detached agents (status
DETACHED) in its table. `get namespaces` lists the namespaces of ~/.fogmesh (a namespace is made
by `deploy` of a control plane or by `connect`, and removed by `delete controlplane`).
)"},
      {"describe", R"(Usage: fogctl describe KIND NAME [-n NS] [-o json]
       fogctl describe controlplane [NAME] [-n NS] [-o json]

KIND: application, microservice (NAME or APP/NAME), route (APP/NAME or NAME),
registry (ID), catalogitem (NAME), agent (NAME; printed as AgentConfig), controlplane (the
LocalControlPlane, ControlPlane or KubernetesControlPlane document fogctl deployed in the
namespace, with the user's password).
The YAML printed can be deployed again with `fogctl deploy -f`; that changes nothing.
)"},
      {"delete", R"(Usage: fogctl delete KIND NAME [-n NS]
       fogctl delete all [-n NS]
       fogctl delete controlplane [-n NS]

KIND: application, microservice (NAME or APP/NAME), route (APP/NAME or NAME), registry (ID),
catalogitem (NAME), agent (NAME; a LocalAgent's process is stopped and deprovisioned; a
detached agent's saved configuration is removed too).
`delete all` deletes, in this order, the namespace's applications (with their microservices
and routes), agents (LocalAgents are stopped and deprovisioned, detached ones forgotten),
edge resources, registries and catalog items of this user. The control plane stays (as with
iofogctl); run it again to finish if a step failed.
`delete controlplane` stops what fogctl started for the namespace: local agents, agents it
installed over SSH (stopped and deprovisioned on their hosts), the local controller, the
controllers of a ControlPlane (stopped over SSH, their data removed), or a
KubernetesControlPlane's ControlPlane resource and operator; then removes the namespace's state.
)"},
      {"detach", R"(Usage: fogctl detach agent NAME [-n NS]

Takes the agent off the controller but keeps it: its configuration is saved as an AgentConfig
document in ~/.fogmesh/namespaces/NS/detached/NAME.yaml, a LocalAgent is deprovisioned
(`fogmesh-agent deprovision`: its process keeps running, idle) and the agent's record is
deleted from the controller. An agent that still runs microservices is refused: move them
(`fogctl move microservice`) or delete them first. `fogctl attach agent NAME` undoes it.
)"},
      {"attach", R"(Usage: fogctl attach agent NAME [-n NS]

Provisions a detached agent again (see `fogctl detach agent`): the agent record is created
from the saved configuration; a LocalAgent gets a new provisioning key and is started if it
is not running. For an agent fogctl does not run it prints the key and the command to run on
the agent's host.
)"},
      {"move", R"(Usage: fogctl move microservice NAME AGENT [-n NS]

Runs the microservice (NAME or APPLICATION/NAME) on agent AGENT instead: the controller
removes it from the old agent and the new one starts it (public ports follow it).
)"},
      {"completion", R"(Usage: fogctl completion bash|zsh

Prints a script that completes fogctl's verbs, kinds, resource types and options:
  bash:  source <(fogctl completion bash)      (or save it in /etc/bash_completion.d/fogctl)
  zsh:   source <(fogctl completion zsh)       (uses zsh's bashcompinit)
)"},
      {"connect", R"(Usage: fogctl connect --controller URL --email EMAIL --password PASSWORD
                     [--name NAME] [-n NS]

       fogctl connect --kube KUBECONFIG [--name CONTROLPLANE] [--email E --password P] [-n NS]

Logs in to a running controller (URL like http://host:51121) and stores the connection for
the namespace: the token (mode 0600) and the password to log in again when it expires.
With --kube: the ControlPlane resource CONTROLPLANE (default iofog) in Kubernetes namespace NS
of that cluster; its controller's address (load balancer, node port, or the operator's
controllerUrl) and, unless given, its admin user's email and password.
)"},
      {"disconnect", R"(Usage: fogctl disconnect [-n NS]

Logs out and forgets the namespace's controller connection (the controller keeps running).
)"},
      {"start", R"(Usage: fogctl start application NAME [-n NS]

Activates the application: its agents receive and run its microservices.
)"},
      {"stop", R"(Usage: fogctl stop application NAME [-n NS]

Deactivates the application: its agents stop and remove its microservices' containers. The
application stays defined; `fogctl start application NAME` runs it again.
)"},
      {"logs", R"(Usage: fogctl logs controller [-n NS] [--tail N]
       fogctl logs agent NAME [-n NS] [--tail N]
       fogctl logs microservice NAME [-n NS] [--tail N]

Prints the last N lines (default 100) of the log of a controller or agent fogctl runs locally
(LocalControlPlane, LocalAgent), or of a microservice's container (NAME or APP/NAME).
The controller's API has no microservice log endpoint, so microservice logs come from the
container engine of a LocalAgent of this namespace (the agent's dockerUrl, through the
`docker` CLI, else `podman --remote`): for an agent on another host run `docker logs
iofog_UUID` there.
)"},
      {"version", R"(Usage: fogctl version [-n NS]

Prints fogctl's version and, when connected, the controller's.
)"},
  };
  return h;
}

// --- output ---

void pretty(std::ostream& out, const json::value& v, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object() && !v.as_object().empty()) {
    out << "{\n";
    bool first = true;
    for (const auto& kv : v.as_object()) {
      if (!first) out << ",\n";
      first = false;
      out << pad << "  " << json::serialize(json::value(kv.key())) << ": ";
      pretty(out, kv.value(), indent + 2);
    }
    out << "\n" << pad << "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out << "[\n";
    bool first = true;
    for (const auto& e : v.as_array()) {
      if (!first) out << ",\n";
      first = false;
      out << pad << "  ";
      pretty(out, e, indent + 2);
    }
    out << "\n" << pad << "]";
  } else {
    out << json::serialize(v);
  }
}

std::string pretty_json(const json::value& v) {
  std::ostringstream s;
  pretty(s, v, 0);
  s << "\n";
  return s.str();
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> width;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string s_of(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "-";
  return json::serialize(v);
}

std::string field(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? "-" : s_of(it->value());
}

// A copy: callers iterate over it straight from a temporary API answer.
json::array list_of(const json::value& v, const char* key) {
  if (!v.is_object()) return {};
  auto it = v.as_object().find(key);
  if (it == v.as_object().end() || !it->value().is_array()) return {};
  return it->value().as_array();
}

// --- the namespace's controller ---

struct session {
  state st;
  connection conn;
  std::unique_ptr<api_client> api;
};

session open_session(const std::string& ns) {
  session s{state(ns), {}, nullptr};
  auto conn = s.st.load();
  if (!conn) {
    throw std::runtime_error("namespace '" + ns +
                             "' is not connected to a controller: run `fogctl connect --controller "
                             "URL --email EMAIL --password PASSWORD` or deploy a "
                             "LocalControlPlane");
  }
  s.conn = *conn;
  auto ep = endpoint::parse(conn->endpoint);
  state st = s.st;
  std::string email = conn->email;
  s.api = std::make_unique<api_client>(ep, s.st.token(), [st, ep, email]() {
    std::string password = st.password();
    if (password.empty()) throw std::runtime_error("the token expired; run fogctl connect again");
    std::string token = login(ep, email, password);
    st.save_token(token);
    return token;
  });
  return s;
}

fog_name_map fog_names(api_client& api) {
  fog_name_map m;
  for (const auto& f : list_of(api.get("/iofog-list"), "fogs")) {
    const auto& o = f.as_object();
    m[field(o, "uuid")] = field(o, "name");
  }
  return m;
}

std::optional<json::object> find_fog(api_client& api, const std::string& name) {
  for (const auto& f : list_of(api.get("/iofog-list"), "fogs")) {
    if (field(f.as_object(), "name") == name) return f.as_object();
  }
  return std::nullopt;
}

std::optional<json::object> find_application(api_client& api, const std::string& name) {
  try {
    return api.get("/application/" + url_encode(name)).as_object();
  } catch (const api_error& e) {
    if (e.status() == 404) return std::nullopt;
    throw;
  }
}

std::optional<json::object> find_microservice(api_client& api, const std::string& app,
                                              const std::string& name) {
  for (const auto& m :
       list_of(api.get("/microservices?application=" + url_encode(app)), "microservices")) {
    if (field(m.as_object(), "name") == name) return m.as_object();
  }
  return std::nullopt;
}

std::optional<json::object> find_catalog_item(api_client& api, const std::string& name) {
  for (const auto& c : list_of(api.get("/catalog/microservices"), "catalogItems")) {
    if (field(c.as_object(), "name") == name) return c.as_object();
  }
  return std::nullopt;
}

// --- deploy, per kind ---

std::string deploy_application(api_client& api, const resource& r) {
  auto current =
      step("read application '" + r.name + "'", [&] { return find_application(api, r.name); });
  auto body = application_body(r.name, r.spec);
  if (!current) {
    step("create application '" + r.name + "'", [&] { return api.post("/application", body); });
    return "created";
  }
  auto names = step("list agents", [&] { return fog_names(api); });
  auto have = application_spec_from_api(*current, names);
  drop_public_fields_not_asked_for(have, r.spec);
  if (same_spec(have, r.spec)) return "unchanged";
  step("update application '" + r.name + "'",
       [&] { return api.put("/application/" + url_encode(r.name), body); });
  return "updated";
}

std::string deploy_microservice(api_client& api, const resource& r) {
  std::string app(r.spec.at("application").as_string());
  auto current = step("read microservice '" + app + "/" + r.name + "'",
                      [&] { return find_microservice(api, app, r.name); });
  auto body = microservice_body(r.spec);
  if (!current) {
    step("create microservice '" + app + "/" + r.name + "'",
         [&] { return api.post("/microservices", body); });
    return "created";
  }
  auto names = step("list agents", [&] { return fog_names(api); });
  auto have = microservice_spec_from_api(*current, names, true);
  drop_public_fields_not_asked_for(have, r.spec);
  if (same_spec(have, r.spec)) return "unchanged";
  body.erase("application");
  std::string uuid = field(*current, "uuid");
  step("update microservice '" + app + "/" + r.name + "'",
       [&] { return api.patch("/microservices/" + url_encode(uuid), body); });
  return "updated";
}

std::string deploy_route(api_client& api, const resource& r) {
  std::string app(r.spec.at("application").as_string());
  std::string path = "/routes/" + url_encode(app) + "/" + url_encode(r.name);
  auto current =
      step("read route '" + app + "/" + r.name + "'", [&]() -> std::optional<json::object> {
        try {
          return api.get(path).as_object();
        } catch (const api_error& e) {
          if (e.status() == 404 && std::string(e.what()).find("route") != std::string::npos)
            return std::nullopt;
          throw;
        }
      });
  if (!current) {
    step("create route '" + app + "/" + r.name + "'",
         [&] { return api.post("/routes", route_body(r.name, r.spec)); });
    return "created";
  }
  if (same_spec(route_spec_from_api(*current), r.spec)) return "unchanged";
  step("update route '" + app + "/" + r.name + "'", [&] {
    return api.patch(path, json::object{{"from", r.spec.at("from")}, {"to", r.spec.at("to")}});
  });
  return "updated";
}

std::string deploy_registry(api_client& api, const resource& r) {
  auto regs = step("list registries", [&] { return api.get("/registries"); });
  std::optional<json::object> current;
  for (const auto& g : list_of(regs, "registries")) {
    const auto& o = g.as_object();
    if (r.spec.contains("id")) {
      if (o.at("id") == r.spec.at("id")) current = o;
    } else if (!o.at("userId").is_null() && o.at("url") == r.spec.at("url") &&
               field(o, "username") == s_of(r.spec.at("username"))) {
      current = o;
    }
  }
  if (!current && r.spec.contains("id")) {
    throw step_error("find registry " + s_of(r.spec.at("id")) +
                     ": no registry with this id (leave out spec.id to create one)");
  }
  auto body = registry_body(r.spec);
  if (!current) {
    auto res = step("create registry " + s_of(r.spec.at("url")),
                    [&] { return api.post("/registries", body); });
    return "created (id " + field(res.as_object(), "id") + ")";
  }
  auto have = registry_spec_from_api(*current);
  auto want = r.spec;
  have.erase("id");
  want.erase("id");
  bool password = want.erase("password") > 0;
  if (!password && same_spec(have, want)) return "unchanged";
  step("update registry " + field(*current, "id"),
       [&] { return api.patch("/registries/" + field(*current, "id"), body); });
  return "updated";
}

std::string deploy_catalog_item(api_client& api, const resource& r) {
  auto current =
      step("read catalog item '" + r.name + "'", [&] { return find_catalog_item(api, r.name); });
  auto body = catalog_item_body(r.name, r.spec);
  if (!current) {
    auto res = step("create catalog item '" + r.name + "'",
                    [&] { return api.post("/catalog/microservices", body); });
    return "created (id " + field(res.as_object(), "id") + ")";
  }
  if (same_spec(catalog_item_spec_from_api(*current), r.spec)) return "unchanged";
  step("update catalog item '" + r.name + "'",
       [&] { return api.patch("/catalog/microservices/" + field(*current, "id"), body); });
  return "updated";
}

// AgentConfig: create the agent record when missing (it can be provisioned later); Agent: the
// agent must exist. Only the fields the document gives are compared and written.
std::string deploy_agent_config(api_client& api, const resource& r, bool create) {
  auto current = step("read agent '" + r.name + "'", [&] { return find_fog(api, r.name); });
  auto body = agent_config_body(r.name, r.spec);
  if (!current) {
    if (!create) {
      throw step_error("find agent '" + r.name +
                       "': no such agent on the controller (fogctl "
                       "cannot install agents over SSH yet: provision it by hand, use a "
                       "LocalAgent, or deploy an AgentConfig to create the record)");
    }
    if (!body.contains("fogType")) body["fogType"] = 0;
    step("create agent '" + r.name + "'", [&] { return api.post("/iofog", body); });
    return "created";
  }
  if (agent_config_matches(body, *current)) return "unchanged";
  step("update agent '" + r.name + "'",
       [&] { return api.patch("/iofog/" + field(*current, "uuid"), body); });
  return "updated";
}

// --- local control plane and agents ---

// Where the local controller keeps its embedded PostgreSQL. Under root the cluster runs as
// `postgres`, which must be able to traverse every parent directory: ~/.fogmesh is fine when the
// home directory is traversable (we then open our own directories to 0711), else (/root is 0700
// on Debian) the data goes to /var/lib/fogmesh/namespaces/NS/controller-data rather than
// loosening the home directory's permissions.
std::string controller_data_dir(const state& st) {
  std::string inside = st.controller_dir() + "/data";
  if (::geteuid() != 0) return inside;
  fs::path home = fs::path(state::home()).lexically_normal();
  for (fs::path p = home.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat sb {};
    if (::stat(p.c_str(), &sb) == 0 && (sb.st_mode & 0001) == 0) {
      return "/var/lib/fogmesh/namespaces/" + st.ns() + "/controller-data";
    }
  }
  for (fs::path p = st.controller_dir();; p = p.parent_path()) {
    struct stat sb {};
    if (::stat(p.c_str(), &sb) == 0) ::chmod(p.c_str(), (sb.st_mode & 07777) | 0711);
    if (p == home || p == p.root_path() || p.empty()) break;
  }
  return inside;
}

// The namespace's LocalControlPlane runs: natively (pid file) or in a container.
bool local_controller_running(const state& st) {
  return running_pid(st.controller_dir() + "/controller.pid", "fogmesh-controller") ||
         container_control_plane_running(st);
}

std::string deploy_local_control_plane(const resource& r, const std::string& ns,
                                       const options& opt) {
  state st(ns);
  const auto& user = r.spec.at("iofogUser").as_object();
  const auto& ctl = r.spec.at("controller").as_object();
  std::string dir = st.controller_dir();
  std::string pid_file = dir + "/controller.pid";
  std::string log_file = dir + "/controller.log";
  std::string port_file = dir + "/port";
  auto existing = st.load();
  if (existing && !existing->local) {
    throw step_error("start controller: namespace '" + ns + "' is connected to " +
                     existing->endpoint + "; disconnect it first or use another namespace (-n)");
  }
  std::string outcome = "running";
  auto pid = running_pid(pid_file, "fogmesh-controller");
  std::string port;
  if (ctl.contains("container")) {
    if (pid) {
      throw step_error("start controller container: namespace '" + ns +
                       "' runs fogmesh-controller natively (pid " + std::to_string(*pid) +
                       "); delete controlplane first");
    }
    outcome = start_controller_container(st, ctl, opt, port);
  } else if (has_container_control_plane(st)) {
    throw step_error("start fogmesh-controller: namespace '" + ns +
                     "' runs the controller in a container; delete controlplane first");
  } else if (!pid) {
    std::string bin = step("find fogmesh-controller", [] {
      return find_binary("fogmesh-controller", "FOGMESH_CONTROLLER_BIN", "controller");
    });
    fs::create_directories(dir);
    std::string data_dir = controller_data_dir(st);
    write_file(dir + "/data-dir", data_dir + "\n", 0644);
    std::error_code ec;
    fs::remove(port_file, ec);
    std::vector<std::string> argv = {bin,
                                     "--port",
                                     std::to_string(ctl.at("port").as_int64()),
                                     "--bind",
                                     std::string(ctl.at("bind").as_string()),
                                     "--data-dir",
                                     data_dir,
                                     "--port-file",
                                     port_file};
    if (const char* extra = std::getenv("FOGMESH_CONTROLLER_EXTRA_ARGS"); extra != nullptr) {
      std::istringstream words(extra);
      for (std::string w; words >> w;) argv.push_back(w);
    }
    if (!opt.quiet)
      std::cout << "Starting fogmesh-controller (log: " << log_file << ")...\n" << std::flush;
    int child = step("start fogmesh-controller",
                     [&] { return spawn_background(argv, log_file, pid_file); });
    // Embedded PostgreSQL's first start (initdb) takes a while; the child's exit ends the wait.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
    while (read_file(port_file).empty() ||
           !controller_up(
               endpoint::parse("http://127.0.0.1:" +
                               read_file(port_file).substr(0, read_file(port_file).find('\n'))))) {
      if (exited(child)) {
        std::error_code ec2;
        fs::remove(pid_file, ec2);
        throw step_error("start fogmesh-controller: it exited; last lines of " + log_file + ":\n" +
                         tail(log_file, 15));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw step_error(
            "start fogmesh-controller: no answer on /api/v3/status after 3 minutes; see " +
            log_file);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    outcome = "started";
  }
  if (!ctl.contains("container")) {
    port = read_file(port_file);
    port = port.substr(0, port.find('\n'));
    if (port.empty())
      throw step_error("start fogmesh-controller: " + port_file +
                       " is missing; delete controlplane and deploy again");
  }
  std::string host = std::string(ctl.at("bind").as_string());
  if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  auto ep = endpoint::parse("http://" + host + ":" + port);
  connection c;
  c.name = r.name;
  c.local = true;
  connect_control_plane(st, c, ep, user);
  return outcome + " at " + ep.url();
}

std::string deploy_local_agent(const resource& r, const std::string& ns, const options& opt) {
  session s = open_session(ns);
  resource config = r;
  config.spec = r.spec.at("config").as_object();
  std::string outcome = deploy_agent_config(*s.api, config, true);
  auto fog = step("read agent '" + r.name + "'", [&] { return find_fog(*s.api, r.name); });
  if (!fog) throw step_error("read agent '" + r.name + "': it disappeared");
  std::string uuid = field(*fog, "uuid");
  std::string dir = s.st.agent_dir(r.name);
  std::string config_dir = dir + "/config";
  std::string pid_file = dir + "/agent.pid";
  std::string log_file = dir + "/agent.log";
  std::string bin = step("find fogmesh-agent",
                         [] { return find_binary("fogmesh-agent", "FOGMESH_AGENT_BIN", "agent"); });
  std::string identity = read_file(config_dir + "/identity.json");
  bool provisioned = !identity.empty() && identity.find(uuid) != std::string::npos;
  if (!provisioned) {
    stop_background(pid_file, "fogmesh-agent", std::chrono::seconds(30));
    auto key = step("get a provisioning key for '" + r.name + "'",
                    [&] { return s.api->get("/iofog/" + uuid + "/provisioning-key"); });
    fs::create_directories(config_dir);
    std::string out;
    int rc = step("provision agent '" + r.name + "'", [&] {
      return run_command(
          {bin, "--config-dir", config_dir, "provision", field(key.as_object(), "key"),
           "--controller", s.api->ep().url() + "/api/v3"},
          out);
    });
    if (rc != 0)
      throw step_error("provision agent '" + r.name + "': fogmesh-agent provision failed: " + out);
    outcome += ", provisioned";
  }
  if (auto port = r.spec.find("localApiPort"); port != r.spec.end()) {
    std::string out;
    int rc = step("configure agent '" + r.name + "'", [&] {
      return run_command({bin, "--config-dir", config_dir, "config", "--local-api-port",
                          std::to_string(port->value().as_int64())},
                         out);
    });
    if (rc != 0)
      throw step_error("configure agent '" + r.name + "': fogmesh-agent config failed: " + out);
  }
  if (!running_pid(pid_file, "fogmesh-agent")) {
    if (!opt.quiet)
      std::cout << "Starting fogmesh-agent '" << r.name << "' (log: " << log_file << ")...\n"
                << std::flush;
    int child = step("start fogmesh-agent", [&] {
      return spawn_background({bin, "--config-dir", config_dir, "run"}, log_file, pid_file);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (exited(child)) {
      throw step_error("start fogmesh-agent '" + r.name + "': it exited; last lines of " +
                       log_file + ":\n" + tail(log_file, 15));
    }
    outcome += ", started";
  } else {
    outcome += ", running";
  }
  return outcome;
}

// --- remote agents over SSH (kind Agent with spec.ssh) ---

// Where fogctl remembers how it reached a remote agent (delete needs it).
std::string remote_agent_file(const state& st, const std::string& name) {
  return st.ns_dir() + "/remote-agents/" + name + ".json";
}

struct remote_layout {
  ssh_target target;
  std::string bin_dir, config_dir, state_dir;  // state_dir: log and pid without systemd
};

remote_layout layout_of(const json::object& spec) {
  remote_layout l;
  const auto& ssh = spec.at("ssh").as_object();
  l.target.host = std::string(spec.at("host").as_string());
  l.target.user = std::string(ssh.at("user").as_string());
  l.target.key_file = absolute_local_path(std::string(ssh.at("keyFile").as_string()));
  l.target.port = static_cast<int>(ssh.at("port").as_int64());
  std::string dir(spec.at("installDir").as_string());
  l.bin_dir = dir + "/bin";
  // /usr/local is the systemd unit's layout (/usr/local/bin, /etc/fogmesh/agent).
  l.config_dir = dir == "/usr/local" ? "/etc/fogmesh/agent" : dir + "/etc/fogmesh/agent";
  l.state_dir = dir == "/usr/local" ? "/var/lib/fogmesh/agent-run" : dir + "/var/lib/fogmesh";
  return l;
}

// The agent started in the background (no systemd): its pid and log files.
background_process agent_process(const remote_layout& l) {
  return {l.bin_dir + "/fogmesh-agent", l.state_dir + "/agent.pid", l.state_dir + "/agent.log"};
}

std::string deploy_remote_agent(const resource& r, const std::string& ns, const options& opt) {
  remote_layout l = layout_of(r.spec);
  auto progress = [&](const std::string& what) {
    if (!opt.quiet)
      std::cout << "Agent '" << r.name << "' (" << l.target.label() << "): " << what << "\n"
                << std::flush;
  };
  if (!fs::exists(l.target.key_file))
    throw step_error("read the SSH key: " + l.target.key_file + " does not exist");
  // Nothing is created on the controller before the host answers over SSH.
  progress("connecting over SSH");
  bool systemd = step("connect", [&] { return probe_host(l.target, "connect"); }).systemd;
  session s = open_session(ns);
  auto ctl = endpoint::parse(s.conn.endpoint);
  bool loopback_controller =
      ctl.host == "127.0.0.1" || ctl.host == "localhost" || ctl.host == "::1";
  bool loopback_agent =
      l.target.host == "127.0.0.1" || l.target.host == "localhost" || l.target.host == "::1";
  if (loopback_controller && !loopback_agent) {
    throw step_error(
        "provision: the namespace's controller is " + ctl.url() + ", which " + l.target.host +
        " cannot reach; connect the namespace with an address the agent can reach (fogctl connect "
        "--controller http://ADDRESS:PORT ...)");
  }
  resource config = r;
  config.k = kind::agent_config;
  config.spec = r.spec.at("config").as_object();
  std::string outcome = deploy_agent_config(*s.api, config, true);
  auto fog = step("read agent '" + r.name + "'", [&] { return find_fog(*s.api, r.name); });
  if (!fog) throw step_error("read agent '" + r.name + "': it disappeared");
  std::string uuid = field(*fog, "uuid");

  // Binaries (the router only when the agent runs one) and, with systemd, the unit.
  std::string agent_bin = step("find fogmesh-agent", [] {
    return find_binary("fogmesh-agent", "FOGMESH_AGENT_BIN", "agent");
  });
  // The router binary is needed unless the document says the agent runs no router.
  bool router = true;
  if (auto it = config.spec.find("routerConfig");
      it != config.spec.end() && it->value().is_object()) {
    const auto& rc = it->value().as_object();
    router = !(rc.contains("routerMode") && rc.at("routerMode") == "none");
  }
  std::string router_bin;
  if (router) {
    router_bin = step("find fogmesh-router", [] {
      return find_binary("fogmesh-router", "FOGMESH_ROUTER_BIN", "router-core");
    });
  }
  progress("installing binaries into " + l.bin_dir);
  bool changed = step("install binaries", [&] {
    ssh_run(l.target, "install binaries",
            "mkdir -p " + shell_quote(l.bin_dir) + " " + shell_quote(l.state_dir) +
                " && mkdir -p -m 0700 " + shell_quote(l.config_dir));
    bool c = install_file(l.target, "copy fogmesh-agent", agent_bin, l.bin_dir + "/fogmesh-agent",
                          "0755");
    if (router)
      c = install_file(l.target, "copy fogmesh-router", router_bin, l.bin_dir + "/fogmesh-router",
                       "0755") ||
          c;
    return c;
  });
  if (changed) outcome += ", binaries installed";
  std::string agent =
      shell_quote(l.bin_dir + "/fogmesh-agent") + " --config-dir " + shell_quote(l.config_dir);

  std::string identity = step("read the agent's identity", [&] {
    return ssh_run(l.target, "read the agent's identity",
                   "cat " + shell_quote(l.config_dir + "/identity.json") + " 2>/dev/null || true");
  });
  if (identity.find(uuid) == std::string::npos) {
    progress("provisioning");
    auto key = step("get a provisioning key for '" + r.name + "'",
                    [&] { return s.api->get("/iofog/" + uuid + "/provisioning-key"); });
    step("provision agent '" + r.name + "'", [&] {
      return ssh_run(l.target, "provision agent '" + r.name + "'",
                     agent + " provision " + shell_quote(field(key.as_object(), "key")) +
                         " --controller " + shell_quote(ctl.url() + "/api/v3"));
    });
    outcome += ", provisioned";
  }
  if (auto port = r.spec.find("localApiPort"); port != r.spec.end()) {
    step("configure agent '" + r.name + "'", [&] {
      return ssh_run(
          l.target, "configure agent '" + r.name + "'",
          agent + " config --local-api-port " + std::to_string(port->value().as_int64()));
    });
  }

  if (systemd) {
    // The unit's paths are /usr/local/bin and /etc/fogmesh/agent; another installDir is
    // substituted into the installed copy.
    step("install the systemd unit", [&] {
      return install_systemd_unit(
          l.target, "fogmesh-agent.service", l.state_dir,
          {"s|/usr/local/bin/fogmesh-agent|" + l.bin_dir + "/fogmesh-agent|",
           "s|--config-dir /etc/fogmesh/agent|--config-dir " + l.config_dir + "|"});
    });
    bool active = step("start fogmesh-agent", [&] {
      return ssh_run(l.target, "start fogmesh-agent", "systemctl is-active fogmesh-agent || true")
                 .rfind("active", 0) == 0;
    });
    step("start fogmesh-agent", [&] {
      return ssh_run(l.target, "start fogmesh-agent",
                     std::string("systemctl enable fogmesh-agent && systemctl ") +
                         (active && changed ? "restart" : "start") + " fogmesh-agent");
    });
    outcome += active ? (changed ? ", restarted (systemd)" : ", running (systemd)")
                      : ", started (systemd)";
  } else {
    background_process proc = agent_process(l);
    std::string running = background_running_test(proc);
    bool up = step("start fogmesh-agent", [&] {
      return ssh_run(l.target, "start fogmesh-agent", running + " && echo up || true").find("up") !=
             std::string::npos;
    });
    if (up && changed) {
      step("stop the old fogmesh-agent", [&] {
        return ssh_run(l.target, "stop the old fogmesh-agent", background_stop_command(proc, 30));
      });
      up = false;
    }
    if (!up) {
      progress("starting fogmesh-agent (no systemd on the host: in the background, log " +
               proc.log_file + ")");
      step("start fogmesh-agent", [&] {
        start_background(l.target, "start fogmesh-agent", proc,
                         "--config-dir " + shell_quote(l.config_dir) + " run");
        return 0;
      });
      outcome += ", started (background: no systemd)";
    } else {
      outcome += ", running";
    }
  }
  json::object saved{{"host", l.target.host},        {"user", l.target.user},
                     {"keyFile", l.target.key_file}, {"port", l.target.port},
                     {"binDir", l.bin_dir},          {"configDir", l.config_dir},
                     {"stateDir", l.state_dir},      {"systemd", systemd}};
  saved["spec"] = r.spec;  // attach after a detach deploys it again
  write_file(remote_agent_file(s.st, r.name), json::serialize(saved) + "\n", 0600);
  return outcome;
}

// Stops and deprovisions an agent fogctl installed over SSH; false if it did not install it.
// How fogctl reached an agent it installed over SSH (deploy saved it), if it did.
std::optional<remote_layout> installed_remote_agent(const state& st, const std::string& name,
                                                    bool* systemd) {
  std::string text = read_file(remote_agent_file(st, name));
  if (text.empty()) return std::nullopt;
  auto o = json::parse(text).as_object();
  remote_layout l;
  l.target.host = std::string(o.at("host").as_string());
  l.target.user = std::string(o.at("user").as_string());
  l.target.key_file = std::string(o.at("keyFile").as_string());
  l.target.port = static_cast<int>(o.at("port").as_int64());
  l.bin_dir = std::string(o.at("binDir").as_string());
  l.config_dir = std::string(o.at("configDir").as_string());
  l.state_dir = std::string(o.at("stateDir").as_string());
  *systemd = o.at("systemd").as_bool();
  return l;
}

bool stop_remote_agent(const state& st, const std::string& name, const options& opt) {
  std::string file = remote_agent_file(st, name);
  bool systemd = false;
  auto installed = installed_remote_agent(st, name, &systemd);
  if (!installed) return false;
  const remote_layout& l = *installed;
  std::string stop = systemd ? std::string("systemctl disable --now fogmesh-agent || true")
                             : background_stop_command(agent_process(l), 30);
  step("stop agent '" + name + "'",
       [&] { return ssh_run(l.target, "stop agent '" + name + "'", stop); });
  // Deprovision removes the node's containers; "not provisioned" is fine (a retried delete).
  step("deprovision agent '" + name + "'", [&] {
    return ssh_run(l.target, "deprovision agent '" + name + "'",
                   shell_quote(l.bin_dir + "/fogmesh-agent") + " --config-dir " +
                       shell_quote(l.config_dir) + " deprovision >/dev/null 2>&1; true");
  });
  std::error_code ec;
  fs::remove(file, ec);
  if (!opt.quiet)
    std::cout << "Stopped and deprovisioned fogmesh-agent '" << name << "' on " << l.target.label()
              << "\n";
  return true;
}

// The agents fogctl installed over SSH in the namespace (by name).
std::vector<std::string> remote_agents(const state& st) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(st.ns_dir() + "/remote-agents", ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

int order_of(kind k) {
  switch (k) {
    case kind::local_control_plane:
    case kind::remote_control_plane:
    case kind::kubernetes_control_plane:
      return 0;
    case kind::agent_config:
    case kind::agent:
    case kind::local_agent:
    case kind::remote_agent:
      return 1;
    case kind::registry:
      return 2;
    case kind::catalog_item:
      return 3;
    case kind::application:
      return 4;
    case kind::microservice:
      return 5;
    case kind::route:
      return 6;
  }
  return 7;
}

std::string resource_label(const resource& r) {
  std::string name = r.name;
  if (r.k == kind::microservice || r.k == kind::route) {
    name = std::string(r.spec.at("application").as_string()) + "/" + r.name;
  }
  return std::string(kind_name(r.k)) + " '" + name + "'";
}

// The document with the local files it names (a KubernetesControlPlane's kubeconfig, the SSH
// keys of a ControlPlane's controllers and of an Agent) made absolute against this directory:
// deploy stores it so (`describe controlplane`; the remote agent's saved spec that attach,
// delete and logs use), and it deploys again from wherever it is run.
resource with_absolute_paths(const resource& r) {
  resource doc = r;
  auto resolve = [](json::value& path) {
    path = absolute_local_path(std::string(path.as_string()));
  };
  if (r.k == kind::kubernetes_control_plane) {
    resolve(doc.spec.at("config"));
  } else if (r.k == kind::remote_control_plane) {
    for (auto& c : doc.spec.at("controllers").as_array()) resolve(c.at("ssh").at("keyFile"));
  } else if (r.k == kind::remote_agent) {
    resolve(doc.spec.at("ssh").at("keyFile"));
  }
  return doc;
}

int cmd_deploy(const std::vector<std::string>& args, const options& global) {
  options wait = global;
  const options& opt = wait;
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-f" || args[i] == "--file") {
      if (i + 1 >= args.size()) throw usage_error("deploy", "-f needs a file name");
      files.push_back(args[++i]);
    } else if (args[i] == "--timeout") {
      int seconds = 0;
      try {
        seconds = i + 1 < args.size() ? std::stoi(args[++i]) : 0;
      } catch (const std::exception&) {
      }
      if (seconds <= 0) throw usage_error("deploy", "--timeout needs a number of seconds");
      wait.wait_seconds = seconds;
    } else {
      throw usage_error("deploy", "unexpected argument '" + args[i] + "'");
    }
  }
  if (files.empty()) throw usage_error("deploy", "give the YAML file with -f FILE");
  std::vector<resource> all;
  try {
    for (const auto& f : files) {
      auto docs = load_file(f);
      all.insert(all.end(), docs.begin(), docs.end());
    }
  } catch (const spec_error& e) {
    std::cerr << "fogctl: " << e.what() << "\nNothing was deployed.\n";
    return 1;
  }
  std::stable_sort(all.begin(), all.end(), [](const resource& a, const resource& b) {
    return order_of(a.k) < order_of(b.k);
  });
  size_t done = 0;
  std::map<std::string, session> sessions;
  for (const auto& r : all) {
    std::string ns = r.ns.empty() ? opt.ns : r.ns;
    try {
      std::string outcome;
      if (r.k == kind::local_control_plane || r.k == kind::remote_control_plane ||
          r.k == kind::kubernetes_control_plane) {
        resource doc = with_absolute_paths(r);
        outcome = r.k == kind::local_control_plane ? deploy_local_control_plane(doc, ns, opt)
                  : r.k == kind::remote_control_plane
                      ? deploy_remote_control_plane(doc, ns, opt)
                      : deploy_kubernetes_control_plane(doc, ns, opt);
        sessions.erase(ns);
        // What `describe controlplane` prints: the document as deployed, so it deploys again.
        state(ns).save_control_plane_document(to_yaml_document(doc.k, doc.name, ns, doc.spec));
      } else if (r.k == kind::local_agent) {
        outcome = deploy_local_agent(r, ns, opt);
      } else if (r.k == kind::remote_agent) {
        outcome = deploy_remote_agent(with_absolute_paths(r), ns, opt);
      } else {
        auto it = sessions.find(ns);
        if (it == sessions.end()) {
          it = sessions
                   .emplace(ns, step("connect to the controller", [&] { return open_session(ns); }))
                   .first;
        }
        api_client& api = *it->second.api;
        switch (r.k) {
          case kind::application:
            outcome = deploy_application(api, r);
            break;
          case kind::microservice:
            outcome = deploy_microservice(api, r);
            break;
          case kind::route:
            outcome = deploy_route(api, r);
            break;
          case kind::registry:
            outcome = deploy_registry(api, r);
            break;
          case kind::catalog_item:
            outcome = deploy_catalog_item(api, r);
            break;
          case kind::agent_config:
            outcome = deploy_agent_config(api, r, true);
            break;
          case kind::agent:
            outcome = deploy_agent_config(api, r, false);
            break;
          default:
            break;
        }
      }
      ++done;
      if (!opt.quiet) std::cout << resource_label(r) << ": " << outcome << "\n" << std::flush;
    } catch (const std::exception& e) {
      std::cerr << "fogctl: deploy failed at " << r.file << " document " << r.document << " ("
                << resource_label(r) << "): " << e.what() << "\n"
                << done << " of " << all.size()
                << " documents deployed before it; the failed step changed nothing on the "
                   "controller. Fix it and run the same deploy again.\n";
      return 1;
    }
  }
  return 0;
}

// --- detached agents (iofogctl's detach/attach) ---

// A detached agent's AgentConfig document, kept in the namespace until `attach agent`.
std::string detached_file(const state& st, const std::string& name) {
  return st.ns_dir() + "/detached/" + name + ".yaml";
}

std::vector<std::string> detached_agents(const state& st) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(st.ns_dir() + "/detached", ec)) {
    if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// --- get ---

std::vector<std::vector<std::string>> agent_rows(const json::value& fogs) {
  std::vector<std::vector<std::string>> rows = {{"AGENT", "STATUS", "VERSION", "ADDRESS", "UUID"}};
  for (const auto& f : list_of(fogs, "fogs")) {
    const auto& o = f.as_object();
    std::string addr = field(o, "ipAddress");
    if (addr == "-" || addr.empty()) addr = field(o, "host");
    rows.push_back(
        {field(o, "name"), field(o, "daemonStatus"), field(o, "version"), addr, field(o, "uuid")});
  }
  return rows;
}

std::vector<std::vector<std::string>> application_rows(const json::value& apps) {
  std::vector<std::vector<std::string>> rows = {{"APPLICATION", "RUNNING", "MICROSERVICES"}};
  for (const auto& a : list_of(apps, "applications")) {
    const auto& o = a.as_object();
    std::string msvcs;
    for (const auto& m : list_of(a, "microservices"))
      msvcs += (msvcs.empty() ? "" : ", ") + field(m.as_object(), "name");
    rows.push_back({field(o, "name"), field(o, "isActivated"), msvcs.empty() ? "-" : msvcs});
  }
  return rows;
}

std::vector<std::vector<std::string>> microservice_rows(const json::value& msvcs,
                                                        const fog_name_map& names) {
  std::vector<std::vector<std::string>> rows = {
      {"MICROSERVICE", "APPLICATION", "AGENT", "STATUS", "PORTS", "UUID"}};
  for (const auto& m : list_of(msvcs, "microservices")) {
    const auto& o = m.as_object();
    std::string agent = field(o, "iofogUuid");
    if (auto it = names.find(agent); it != names.end()) agent = it->second;
    std::string status = "-";
    if (auto it = o.find("status"); it != o.end() && it->value().is_object())
      status = field(it->value().as_object(), "status");
    std::string ports;
    for (const auto& p : list_of(m, "ports")) {
      const auto& po = p.as_object();
      ports += (ports.empty() ? "" : ", ") + field(po, "external") + ":" + field(po, "internal");
      // Where a public port answers (on the public router), as the controller links it.
      if (auto pub = po.find("public"); pub != po.end() && pub->value().is_object()) {
        for (const auto& link : list_of(pub->value(), "links")) {
          if (link.is_string()) ports += " " + std::string(link.as_string());
        }
      }
    }
    rows.push_back({field(o, "name"), field(o, "application"), agent, status,
                    ports.empty() ? "-" : ports, field(o, "uuid")});
  }
  return rows;
}

std::vector<std::vector<std::string>> route_rows(const json::value& routes) {
  std::vector<std::vector<std::string>> rows = {{"ROUTE", "APPLICATION", "FROM", "TO"}};
  for (const auto& r : list_of(routes, "routes")) {
    const auto& o = r.as_object();
    rows.push_back({field(o, "name"), field(o, "application"), field(o, "from"), field(o, "to")});
  }
  return rows;
}

std::vector<std::vector<std::string>> catalog_rows(const json::value& items) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "REGISTRY", "X86", "ARM", "DESCRIPTION"}};
  for (const auto& c : list_of(items, "catalogItems")) {
    const auto& o = c.as_object();
    std::string x86 = "-", arm = "-";
    for (const auto& i : list_of(c, "images")) {
      const auto& io = i.as_object();
      (field(io, "fogTypeId") == "1" ? x86 : arm) = field(io, "containerImage");
    }
    rows.push_back({field(o, "id"), field(o, "name"), field(o, "registryId"), x86, arm,
                    field(o, "description")});
  }
  return rows;
}

std::vector<std::vector<std::string>> registry_rows(const json::value& regs) {
  std::vector<std::vector<std::string>> rows = {{"ID", "URL", "USERNAME", "PRIVATE"}};
  for (const auto& g : list_of(regs, "registries")) {
    const auto& o = g.as_object();
    std::string user = field(o, "username");
    rows.push_back(
        {field(o, "id"), field(o, "url"), user.empty() ? "-" : user,
         o.contains("isPublic") && o.at("isPublic").is_bool() && !o.at("isPublic").as_bool()
             ? "true"
             : "false"});
  }
  return rows;
}

// Edge resources with the agents they are linked to (from the agents' edgeResources lists).
std::vector<std::vector<std::string>> edge_resource_rows(const json::value& resources,
                                                         const json::value& fogs) {
  std::map<std::string, std::string> linked;  // "name@version" -> agent names
  for (const auto& f : list_of(fogs, "fogs")) {
    for (const auto& e : list_of(f, "edgeResources")) {
      std::string& agents =
          linked[field(e.as_object(), "name") + "@" + field(e.as_object(), "version")];
      agents += (agents.empty() ? "" : ", ") + field(f.as_object(), "name");
    }
  }
  std::vector<std::vector<std::string>> rows = {
      {"EDGE RESOURCE", "VERSION", "PROTOCOL", "AGENTS", "DESCRIPTION"}};
  for (const auto& e : list_of(resources, "edgeResources")) {
    const auto& o = e.as_object();
    std::string agents = linked[field(o, "name") + "@" + field(o, "version")];
    rows.push_back({field(o, "name"), field(o, "version"), field(o, "interfaceProtocol"),
                    agents.empty() ? "-" : agents, field(o, "description")});
  }
  return rows;
}

// Every namespace with state in ~/.fogmesh: its controller endpoint ("-" when not connected) and
// what fogctl deployed there (local, container, remote, kubernetes; "connected" for a plain
// `connect`).
json::value namespaces_value() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state::home() + "/namespaces", ec)) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  json::array out;
  for (const auto& name : names) {
    state st(name);
    auto conn = st.load();
    std::string plane = !conn                         ? "-"
                        : conn->control_plane.empty() ? "connected"
                                                      : conn->control_plane;
    if (plane == "local" && has_container_control_plane(st)) plane = "container";
    out.push_back(json::object{
        {"name", name}, {"endpoint", conn ? conn->endpoint : "-"}, {"controlPlane", plane}});
  }
  return out;
}

json::value controllers_value(const std::string& ns) {
  state st(ns);
  json::array out;
  auto conn = st.load();
  if (!conn) return out;
  json::object c{{"name", conn->name}, {"endpoint", conn->endpoint}, {"local", conn->local}};
  try {
    auto reply = http_request(endpoint::parse(conn->endpoint), "GET", "/api/v3/status", "", "",
                              std::chrono::seconds(5));
    auto v = json::parse(reply.body);
    c["status"] = v.as_object().at("status");
    if (auto it = v.as_object().find("versions");
        it != v.as_object().end() && it->value().is_object()) {
      c["version"] = it->value().as_object().at("controller");
    }
  } catch (const std::exception&) {
    c["status"] = "unreachable";
  }
  if (conn->local) {
    if (auto pid = running_pid(st.controller_dir() + "/controller.pid", "fogmesh-controller"))
      c["pid"] = *pid;
    if (has_container_control_plane(st)) c["container"] = "fogmesh-controller-" + ns;
  }
  out.push_back(std::move(c));
  return out;
}

void print_value(const json::value& v, const options& opt) {
  if (opt.output == "yaml") {
    std::cout << to_yaml(v);
  } else {
    std::cout << pretty_json(v);
  }
}

int cmd_get(const std::vector<std::string>& args, const options& opt) {
  if (args.size() != 1)
    throw usage_error("get", args.empty() ? "say what to get" : "get takes one resource");
  std::string what = args[0];
  static const std::map<std::string, std::string> aliases = {{"all", "all"},
                                                             {"controllers", "controllers"},
                                                             {"controller", "controllers"},
                                                             {"controlplane", "controllers"},
                                                             {"agents", "agents"},
                                                             {"agent", "agents"},
                                                             {"applications", "applications"},
                                                             {"application", "applications"},
                                                             {"apps", "applications"},
                                                             {"microservices", "microservices"},
                                                             {"microservice", "microservices"},
                                                             {"routes", "routes"},
                                                             {"route", "routes"},
                                                             {"catalog", "catalog"},
                                                             {"catalogitems", "catalog"},
                                                             {"catalog-items", "catalog"},
                                                             {"registries", "registries"},
                                                             {"registry", "registries"},
                                                             {"edge-resources", "edge-resources"},
                                                             {"edge-resource", "edge-resources"},
                                                             {"edgeresources", "edge-resources"},
                                                             {"namespaces", "namespaces"},
                                                             {"namespace", "namespaces"}};
  auto it = aliases.find(what);
  if (it == aliases.end()) throw usage_error("get", "unknown resource '" + what + "'");
  what = it->second;
  if (what == "namespaces") {
    auto v = namespaces_value();
    if (!opt.output.empty()) {
      print_value(v, opt);
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"NAMESPACE", "CONTROLLER", "CONTROL PLANE"}};
    for (const auto& n : v.as_array()) {
      const auto& o = n.as_object();
      rows.push_back({field(o, "name"), field(o, "endpoint"), field(o, "controlPlane")});
    }
    print_table(rows);
    return 0;
  }
  if (what == "controllers") {
    auto v = controllers_value(opt.ns);
    if (!opt.output.empty()) {
      print_value(v, opt);
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"CONTROLLER", "ENDPOINT", "STATUS", "VERSION", "LOCAL"}};
    for (const auto& c : v.as_array()) {
      const auto& o = c.as_object();
      rows.push_back({field(o, "name"), field(o, "endpoint"), field(o, "status"),
                      field(o, "version"), field(o, "local")});
    }
    print_table(rows);
    return 0;
  }
  session s = open_session(opt.ns);
  auto& api = *s.api;
  auto fetch = [&](const std::string& w) -> json::value {
    return step("get " + w, [&]() -> json::value {
      if (w == "agents") return api.get("/iofog-list");
      if (w == "applications") return api.get("/application");
      if (w == "microservices") return api.get("/microservices");
      if (w == "routes") return api.get("/routes");
      if (w == "catalog") return api.get("/catalog/microservices");
      if (w == "edge-resources") return api.get("/edgeResources");
      return api.get("/registries");
    });
  };
  if (what == "all") {
    json::object all{{"namespace", opt.ns},
                     {"controllers", controllers_value(opt.ns)},
                     {"agents", list_of(fetch("agents"), "fogs")},
                     {"applications", list_of(fetch("applications"), "applications")},
                     {"microservices", list_of(fetch("microservices"), "microservices")},
                     {"routes", list_of(fetch("routes"), "routes")}};
    if (!opt.output.empty()) {
      print_value(all, opt);
      return 0;
    }
    fog_name_map names;
    for (const auto& f : all["agents"].as_array())
      names[field(f.as_object(), "uuid")] = field(f.as_object(), "name");
    std::cout << "NAMESPACE\n" << opt.ns << "\n\n";
    std::vector<std::vector<std::string>> rows = {{"CONTROLLER", "ENDPOINT", "STATUS", "VERSION"}};
    for (const auto& c : all["controllers"].as_array()) {
      const auto& o = c.as_object();
      rows.push_back(
          {field(o, "name"), field(o, "endpoint"), field(o, "status"), field(o, "version")});
    }
    print_table(rows);
    std::cout << "\n";
    print_table(agent_rows(json::object{{"fogs", all["agents"]}}));
    std::cout << "\n";
    print_table(application_rows(json::object{{"applications", all["applications"]}}));
    std::cout << "\n";
    print_table(microservice_rows(json::object{{"microservices", all["microservices"]}}, names));
    std::cout << "\n";
    print_table(route_rows(json::object{{"routes", all["routes"]}}));
    return 0;
  }
  json::value v = fetch(what);
  static const std::map<std::string, const char*> keys = {{"agents", "fogs"},
                                                          {"applications", "applications"},
                                                          {"microservices", "microservices"},
                                                          {"routes", "routes"},
                                                          {"catalog", "catalogItems"},
                                                          {"registries", "registries"},
                                                          {"edge-resources", "edgeResources"}};
  if (!opt.output.empty()) {
    print_value(list_of(v, keys.at(what)), opt);
    return 0;
  }
  if (what == "agents") {
    auto rows = agent_rows(v);
    for (const auto& name : detached_agents(s.st))
      rows.push_back({name, "DETACHED", "-", "-", "-"});
    print_table(rows);
  }
  if (what == "edge-resources") {
    print_table(edge_resource_rows(v, step("list agents", [&] { return api.get("/iofog-list"); })));
  }
  if (what == "applications") print_table(application_rows(v));
  if (what == "microservices")
    print_table(microservice_rows(v, step("list agents", [&] { return fog_names(api); })));
  if (what == "routes") print_table(route_rows(v));
  if (what == "catalog") print_table(catalog_rows(v));
  if (what == "registries") print_table(registry_rows(v));
  return 0;
}

// --- describe / delete: resolving names ---

std::string normalise_kind(const std::string& verb, const std::string& k) {
  static const std::map<std::string, std::string> aliases = {
      {"application", "application"},
      {"applications", "application"},
      {"app", "application"},
      {"microservice", "microservice"},
      {"microservices", "microservice"},
      {"msvc", "microservice"},
      {"route", "route"},
      {"routes", "route"},
      {"registry", "registry"},
      {"registries", "registry"},
      {"catalogitem", "catalogitem"},
      {"catalog-item", "catalogitem"},
      {"catalog", "catalogitem"},
      {"agent", "agent"},
      {"agents", "agent"},
      {"agentconfig", "agent"},
      {"localagent", "agent"},
      {"controlplane", "controlplane"},
      {"localcontrolplane", "controlplane"},
      {"kubernetescontrolplane", "controlplane"},
      {"controller", "controlplane"}};
  std::string lower = k;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto it = aliases.find(lower);
  if (it == aliases.end()) throw usage_error(verb, "unknown kind '" + k + "'");
  return it->second;
}

json::object resolve_microservice(api_client& api, const std::string& ref) {
  std::string app, name = ref;
  if (auto slash = ref.find('/'); slash != std::string::npos) {
    app = ref.substr(0, slash);
    name = ref.substr(slash + 1);
  }
  std::vector<json::object> hits;
  for (const auto& m :
       list_of(api.get(app.empty() ? "/microservices"
                                   : "/microservices?application=" + url_encode(app)),
               "microservices")) {
    if (field(m.as_object(), "name") == name) hits.push_back(m.as_object());
  }
  if (hits.empty()) throw step_error("no microservice '" + ref + "'");
  if (hits.size() > 1)
    throw step_error("several applications have a microservice '" + name + "': say APPLICATION/" +
                     name);
  return hits[0];
}

json::object resolve_route(api_client& api, const std::string& ref) {
  std::string app, name = ref;
  if (auto slash = ref.find('/'); slash != std::string::npos) {
    app = ref.substr(0, slash);
    name = ref.substr(slash + 1);
  }
  std::vector<json::object> hits;
  for (const auto& r : list_of(api.get("/routes"), "routes")) {
    const auto& o = r.as_object();
    if (field(o, "name") == name && (app.empty() || field(o, "application") == app))
      hits.push_back(o);
  }
  if (hits.empty()) throw step_error("no route '" + ref + "'");
  if (hits.size() > 1)
    throw step_error("several applications have a route '" + name + "': say APPLICATION/" + name);
  return hits[0];
}

json::object resolve_registry(api_client& api, const std::string& id) {
  for (const auto& g : list_of(api.get("/registries"), "registries")) {
    if (field(g.as_object(), "id") == id) return g.as_object();
  }
  throw step_error("no registry with id '" + id + "' (fogctl get registries lists them)");
}

// `describe controlplane [NAME]`: the LocalControlPlane, ControlPlane or KubernetesControlPlane
// document fogctl deployed in the namespace (as iofogctl prints its ControlPlane from its own
// configuration: a connected controller has no document to give back).
int describe_control_plane(const std::vector<std::string>& args, const options& opt) {
  if (args.size() > 2) throw usage_error("describe", "describe controlplane takes at most a name");
  state st(opt.ns);
  std::string yaml = st.control_plane_document();
  if (yaml.empty()) {
    throw step_error(
        "namespace '" + opt.ns + "' has no control plane fogctl deployed" +
        (st.load() ? " (it is connected to a controller: see `fogctl get controllers`)" : ""));
  }
  auto docs = parse_documents(yaml, st.ns_dir() + "/deployed-controlplane.yaml");
  if (args.size() == 2 && docs.at(0).name != args[1]) {
    throw step_error("namespace '" + opt.ns + "' has control plane '" + docs.at(0).name +
                     "', not '" + args[1] + "'");
  }
  if (opt.output == "json") {
    std::cout << pretty_json(yaml_text_to_json(yaml));
  } else {
    std::cout << yaml;
  }
  return 0;
}

int cmd_describe(const std::vector<std::string>& args, const options& opt) {
  if (!args.empty() && normalise_kind("describe", args[0]) == "controlplane") {
    return describe_control_plane(args, opt);
  }
  if (args.size() != 2) throw usage_error("describe", "describe takes KIND and NAME");
  std::string k = normalise_kind("describe", args[0]);
  const std::string& name = args[1];
  session s = open_session(opt.ns);
  auto& api = *s.api;
  std::string yaml;
  json::value raw;
  try {
    if (k == "application") {
      auto app = step("read application '" + name + "'",
                      [&] { return api.get("/application/" + url_encode(name)).as_object(); });
      raw = app;
      yaml = to_yaml_document(kind::application, name, "",
                              application_spec_from_api(app, fog_names(api)));
    } else if (k == "microservice") {
      auto m =
          step("read microservice '" + name + "'", [&] { return resolve_microservice(api, name); });
      raw = m;
      yaml = to_yaml_document(kind::microservice, field(m, "name"), "",
                              microservice_spec_from_api(m, fog_names(api), true));
    } else if (k == "route") {
      auto r = step("read route '" + name + "'", [&] { return resolve_route(api, name); });
      raw = r;
      yaml = to_yaml_document(kind::route, field(r, "name"), "", route_spec_from_api(r));
    } else if (k == "registry") {
      auto g = step("read registry " + name, [&] { return resolve_registry(api, name); });
      raw = g;
      yaml = to_yaml_document(kind::registry, "registry-" + name, "", registry_spec_from_api(g));
    } else if (k == "catalogitem") {
      auto c =
          step("read catalog item '" + name + "'", [&] { return find_catalog_item(api, name); });
      if (!c) throw step_error("no catalog item '" + name + "'");
      raw = *c;
      yaml = to_yaml_document(kind::catalog_item, name, "", catalog_item_spec_from_api(*c));
    } else if (k == "agent") {
      auto f = step("read agent '" + name + "'", [&] { return find_fog(api, name); });
      if (!f) throw step_error("no agent '" + name + "'");
      raw = *f;
      yaml = to_yaml_document(kind::agent_config, name, "", agent_config_spec_from_api(*f));
    }
  } catch (const api_error& e) {
    throw step_error(std::string(e.what()) + " (HTTP " + std::to_string(e.status()) + ")");
  }
  if (opt.output == "json") {
    std::cout << pretty_json(raw);
  } else {
    std::cout << yaml;
  }
  return 0;
}

void stop_local_agent(const state& st, const std::string& name, const options& opt) {
  std::string dir = st.agent_dir(name);
  if (!fs::exists(dir)) return;
  if (stop_background(dir + "/agent.pid", "fogmesh-agent", std::chrono::seconds(30)) &&
      !opt.quiet) {
    std::cout << "Stopped fogmesh-agent '" << name << "'\n";
  }
  try {
    std::string bin = find_binary("fogmesh-agent", "FOGMESH_AGENT_BIN", "agent");
    std::string out;
    run_command({bin, "--config-dir", dir + "/config", "deprovision"}, out);
  } catch (const std::exception&) {
    // Best effort: the controller record is deleted anyway.
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The controller stops its embedded PostgreSQL on SIGTERM; if it was killed (or its stop
// failed) the postmaster is still running on a data dir we are about to remove: stop it
// (SIGINT = fast shutdown), checking that the pid really is that cluster's postmaster.
void stop_leftover_postgres(const std::string& pgdata) {
  std::string pid_text = read_file(pgdata + "/postmaster.pid");
  if (pid_text.empty()) return;
  int pid = std::atoi(pid_text.c_str());
  auto is_ours = [&] {
    std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    return pid > 1 && cmdline.find("postgres") != std::string::npos &&
           cmdline.find(pgdata) != std::string::npos;
  };
  if (!is_ours()) return;
  ::kill(pid, SIGINT);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (is_ours() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (is_ours()) ::kill(pid, SIGKILL);
}

// Everything of the namespace on the controller and the local agents, not the control plane.
// Applications go first (the controller deletes their microservices and routes with them),
// then agents, then what applications referred to. Stops at the first failing step; what was
// deleted before stays deleted, so running it again finishes the job.
int cmd_delete_all(const options& opt) {
  session s = open_session(opt.ns);
  auto& api = *s.api;
  // In deletion order: {singular, plural, count}.
  std::vector<std::tuple<std::string, std::string, int>> counts = {
      {"application", "applications", 0},
      {"microservice", "microservices", 0},
      {"agent", "agents", 0},
      {"edge resource", "edge resources", 0},
      {"registry", "registries", 0},
      {"catalog item", "catalog items", 0}};
  auto count = [&](const char* plural) {
    for (auto& [one, many, n] : counts) n += many == plural;
  };
  auto say = [&](const std::string& what) {
    if (!opt.quiet) std::cout << what << ": deleted\n" << std::flush;
  };
  for (const auto& a : list_of(step("list applications", [&] { return api.get("/application"); }),
                               "applications")) {
    std::string name = field(a.as_object(), "name");
    step("delete application '" + name + "'",
         [&] { return api.del("/application/" + url_encode(name)); });
    say("Application '" + name + "'");
    count("applications");
  }
  // Normally none are left: the controller deletes an application's microservices and routes.
  for (const auto& m :
       list_of(step("list microservices", [&] { return api.get("/microservices"); }),
               "microservices")) {
    const auto& o = m.as_object();
    std::string label = field(o, "application") + "/" + field(o, "name");
    step("delete microservice '" + label + "'",
         [&] { return api.del("/microservices/" + field(o, "uuid")); });
    say("Microservice '" + label + "'");
    count("microservices");
  }
  for (const auto& f :
       list_of(step("list agents", [&] { return api.get("/iofog-list"); }), "fogs")) {
    const auto& o = f.as_object();
    std::string name = field(o, "name");
    stop_local_agent(s.st, name, opt);
    stop_remote_agent(s.st, name, opt);
    step("delete agent '" + name + "'", [&] { return api.del("/iofog/" + field(o, "uuid")); });
    say("Agent '" + name + "'");
    count("agents");
  }
  for (const auto& name : detached_agents(s.st)) {
    stop_local_agent(s.st, name, opt);
    std::error_code ec;
    fs::remove(detached_file(s.st, name), ec);
    say("Detached agent '" + name + "'");
    count("agents");
  }
  for (const auto& e :
       list_of(step("list edge resources", [&] { return api.get("/edgeResources"); }),
               "edgeResources")) {
    const auto& o = e.as_object();
    std::string label = field(o, "name") + "@" + field(o, "version");
    step("delete edge resource " + label, [&] {
      return api.del("/edgeResource/" + url_encode(field(o, "name")) + "/" +
                     url_encode(field(o, "version")));
    });
    say("EdgeResource " + label);
    count("edge resources");
  }
  // The controller also lists public registries and built-in catalog items (no userId): not ours.
  for (const auto& g :
       list_of(step("list registries", [&] { return api.get("/registries"); }), "registries")) {
    const auto& o = g.as_object();
    if (!o.contains("userId") || o.at("userId").is_null()) continue;
    step("delete registry " + field(o, "id"),
         [&] { return api.del("/registries/" + field(o, "id")); });
    say("Registry " + field(o, "id") + " (" + field(o, "url") + ")");
    count("registries");
  }
  for (const auto& c :
       list_of(step("list catalog items", [&] { return api.get("/catalog/microservices"); }),
               "catalogItems")) {
    const auto& o = c.as_object();
    if (!o.contains("userId") || o.at("userId").is_null()) continue;
    step("delete catalog item '" + field(o, "name") + "'",
         [&] { return api.del("/catalog/microservices/" + field(o, "id")); });
    say("CatalogItem '" + field(o, "name") + "'");
    count("catalog items");
  }
  if (!opt.quiet) {
    std::string summary;
    for (const auto& [one, many, n] : counts) {
      if (n > 0)
        summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + (n == 1 ? one : many);
    }
    std::cout << "Namespace '" << opt.ns
              << "': " << (summary.empty() ? "nothing to delete" : "deleted " + summary)
              << " (the control plane stays)\n";
  }
  return 0;
}

int cmd_delete(const std::vector<std::string>& args, const options& opt) {
  if (args.empty()) throw usage_error("delete", "delete takes KIND and NAME");
  if (args[0] == "all") {
    if (args.size() != 1) throw usage_error("delete", "delete all takes no name");
    return cmd_delete_all(opt);
  }
  std::string k = normalise_kind("delete", args[0]);
  if (k == "controlplane") {
    if (args.size() > 2)
      throw usage_error("delete", "delete controlplane takes no more than a name");
    state st(opt.ns);
    auto conn = st.load();
    if (fs::exists(st.ns_dir() + "/agents")) {
      for (const auto& e : fs::directory_iterator(st.ns_dir() + "/agents")) {
        stop_local_agent(st, e.path().filename().string(), opt);
      }
    }
    // Agents fogctl installed over SSH: stopped and deprovisioned on their hosts (while the
    // controller still answers), before the state that says how to reach them goes.
    for (const auto& name : remote_agents(st)) {
      try {
        stop_remote_agent(st, name, opt);
      } catch (const std::exception& e) {
        throw step_error(std::string(e.what()) +
                         "\n(delete controlplane stopped there; run it "
                         "again once the host answers, or remove " +
                         remote_agent_file(st, name) +
                         " to leave that agent running and forget it)");
      }
    }
    bool remote = has_remote_control_plane(st);
    bool kube = has_kubernetes_control_plane(st);
    if (kube) delete_kubernetes_control_plane(st, opt);
    if (remote) delete_remote_control_plane(st, opt);
    bool stopped = stop_background(st.controller_dir() + "/controller.pid", "fogmesh-controller",
                                   std::chrono::seconds(60));
    stopped = delete_container_control_plane(st, opt) || stopped;
    std::string data_dir = read_file(st.controller_dir() + "/data-dir");
    data_dir = data_dir.substr(0, data_dir.find('\n'));
    if (!data_dir.empty()) stop_leftover_postgres(data_dir + "/pgdata");
    if (!conn && !stopped && !remote && !kube)
      throw step_error("namespace '" + opt.ns + "' has no control plane");
    std::error_code ec;
    if (!data_dir.empty() && data_dir.rfind(st.ns_dir(), 0) != 0) fs::remove_all(data_dir, ec);
    fs::remove_all(st.ns_dir(), ec);
    if (!opt.quiet) {
      std::cout << (stopped ? "Stopped the local controller and removed" : "Removed")
                << " namespace '" << opt.ns << "' state\n";
    }
    return 0;
  }
  if (args.size() != 2) throw usage_error("delete", "delete takes KIND and NAME");
  const std::string& name = args[1];
  session s = open_session(opt.ns);
  auto& api = *s.api;
  std::string label;
  if (k == "application") {
    step("delete application '" + name + "'",
         [&] { return api.del("/application/" + url_encode(name)); });
    label = "Application '" + name + "'";
  } else if (k == "microservice") {
    auto m =
        step("find microservice '" + name + "'", [&] { return resolve_microservice(api, name); });
    step("delete microservice '" + name + "'",
         [&] { return api.del("/microservices/" + field(m, "uuid")); });
    label = "Microservice '" + field(m, "application") + "/" + field(m, "name") + "'";
  } else if (k == "route") {
    auto r = step("find route '" + name + "'", [&] { return resolve_route(api, name); });
    step("delete route '" + name + "'", [&] {
      return api.del("/routes/" + url_encode(field(r, "application")) + "/" +
                     url_encode(field(r, "name")));
    });
    label = "Route '" + field(r, "application") + "/" + field(r, "name") + "'";
  } else if (k == "registry") {
    step("delete registry " + name, [&] { return api.del("/registries/" + url_encode(name)); });
    label = "Registry " + name;
  } else if (k == "catalogitem") {
    auto c = step("find catalog item '" + name + "'", [&] { return find_catalog_item(api, name); });
    if (!c) throw step_error("find catalog item '" + name + "': no such catalog item");
    step("delete catalog item '" + name + "'",
         [&] { return api.del("/catalog/microservices/" + field(*c, "id")); });
    label = "CatalogItem '" + name + "'";
  } else if (k == "agent") {
    auto f = step("find agent '" + name + "'", [&] { return find_fog(api, name); });
    bool detached = fs::exists(detached_file(s.st, name));
    bool remote = fs::exists(remote_agent_file(s.st, name));
    if (!f && !detached && !remote) throw step_error("find agent '" + name + "': no such agent");
    stop_local_agent(s.st, name, opt);
    stop_remote_agent(s.st, name, opt);
    if (f)
      step("delete agent '" + name + "'", [&] { return api.del("/iofog/" + field(*f, "uuid")); });
    std::error_code ec;
    fs::remove(detached_file(s.st, name), ec);
    label = std::string(f ? "Agent '" : "Detached agent '") + name + "'";
  }
  if (!opt.quiet) std::cout << label << ": deleted\n";
  return 0;
}

int cmd_start_stop(const std::string& verb, const std::vector<std::string>& args,
                   const options& opt) {
  if (args.size() != 2 || normalise_kind(verb, args[0]) != "application") {
    throw usage_error(verb, verb + " takes: application NAME");
  }
  session s = open_session(opt.ns);
  bool start = verb == "start";
  step(verb + " application '" + args[1] + "'", [&] {
    return s.api->patch("/application/" + url_encode(args[1]),
                        json::object{{"isActivated", start}});
  });
  if (!opt.quiet)
    std::cout << "Application '" << args[1] << "': " << (start ? "started" : "stopped") << "\n";
  return 0;
}

// The controller's API has no microservice logs (upstream iofogctl SSHes to the agent and runs
// `docker logs`). fogctl reads them from the container engine of a LocalAgent it runs: the
// agent names containers iofog_<microservice uuid> and uses the agent's dockerUrl.
int logs_microservice(const std::string& ref, int lines, const options& opt) {
  session s = open_session(opt.ns);
  auto& api = *s.api;
  auto m = step("find microservice '" + ref + "'", [&] { return resolve_microservice(api, ref); });
  std::string label = field(m, "application") + "/" + field(m, "name");
  std::string fog_uuid = field(m, "iofogUuid");
  std::optional<json::object> fog;
  for (const auto& f :
       list_of(step("list agents", [&] { return api.get("/iofog-list"); }), "fogs")) {
    if (field(f.as_object(), "uuid") == fog_uuid) fog = f.as_object();
  }
  if (!fog) throw step_error("logs of microservice '" + label + "': it is not placed on an agent");
  std::string agent = field(*fog, "name");
  std::string container = "iofog_" + field(m, "uuid");
  std::string url = field(*fog, "dockerUrl");
  if (url == "-" || url.empty()) url = "unix:///var/run/docker.sock";
  bool systemd = false;
  if (auto remote = installed_remote_agent(s.st, agent, &systemd)) {
    // As iofogctl: the container engine's CLI on the agent's host, over SSH.
    std::string tail_n = std::to_string(lines);
    std::string what = "logs of microservice '" + label + "' (container " + container +
                       " on agent '" + agent + "', " + url + ")";
    std::cout << step(what, [&] {
      return ssh_run(remote->target, what,
                     "if command -v docker >/dev/null; then docker -H " + shell_quote(url) +
                         " logs --tail " + tail_n + " " + container +
                         "; else podman --remote --url " + shell_quote(url) + " logs --tail " +
                         tail_n + " " + container + "; fi");
    });
    return 0;
  }
  if (!fs::exists(s.st.agent_dir(agent) + "/config")) {
    throw step_error(
        "logs of microservice '" + label + "': it runs on agent '" + agent +
        "', which fogctl neither runs (LocalAgent) nor installed over SSH in namespace '" + opt.ns +
        "', and the controller's API has no microservice logs; on that agent's host run "
        "`docker logs " +
        container + "`");
  }
  std::vector<std::string> argv;
  if (auto docker = find_on_path("docker")) {
    argv = {*docker, "-H", url, "logs", "--tail", std::to_string(lines), container};
  } else if (auto podman = find_on_path("podman")) {
    argv = {*podman, "--remote", "--url", url, "logs", "--tail", std::to_string(lines), container};
  } else {
    throw step_error("logs of microservice '" + label +
                     "': neither the docker nor the podman CLI is on PATH to read "
                     "container " +
                     container + " from " + url);
  }
  std::string out;
  int rc = run_command(argv, out);
  if (rc != 0) {
    std::string status = "-";
    if (auto it = m.find("status"); it != m.end() && it->value().is_object())
      status = field(it->value().as_object(), "status");
    throw step_error("logs of microservice '" + label + "' (container " + container +
                     " on agent '" + agent + "', " + url + ", microservice status " + status +
                     "): " + fs::path(argv[0]).filename().string() + " logs failed: " + out);
  }
  std::cout << out;
  return 0;
}

int cmd_logs(const std::vector<std::string>& args, const options& opt) {
  std::vector<std::string> rest;
  int lines = 100;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--tail") {
      if (i + 1 >= args.size()) throw usage_error("logs", "--tail needs a number");
      try {
        lines = std::stoi(args[++i]);
      } catch (const std::exception&) {
        throw usage_error("logs", "--tail needs a number");
      }
    } else {
      rest.push_back(args[i]);
    }
  }
  if (rest.empty()) throw usage_error("logs", "say controller, agent NAME or microservice NAME");
  state st(opt.ns);
  std::string file;
  if (rest[0] == "controller" && rest.size() <= 2) {
    file = st.controller_dir() + "/controller.log";
    if (has_container_control_plane(st)) {
      std::cout << step("log of the controller's container",
                        [&] { return container_controller_log(st, lines); });
      return 0;
    }
    if (!fs::exists(file) && has_remote_control_plane(st)) {
      std::cout << remote_controller_log(st, lines);
      return 0;
    }
  } else if (rest[0] == "agent" && rest.size() == 2) {
    file = st.agent_dir(rest[1]) + "/agent.log";
    bool systemd = false;
    if (auto remote = installed_remote_agent(st, rest[1], &systemd); remote && !fs::exists(file)) {
      std::string n = std::to_string(lines);
      std::string what = "log of agent '" + rest[1] + "'";
      std::cout << step(what, [&] {
        return ssh_run(remote->target, what,
                       systemd
                           ? "journalctl -u fogmesh-agent --no-pager -n " + n
                           : "tail -n " + n + " " + shell_quote(remote->state_dir + "/agent.log"));
      });
      return 0;
    }
  } else if (rest[0] == "microservice" && rest.size() == 2) {
    return logs_microservice(rest[1], lines, opt);
  } else {
    throw usage_error("logs", "say controller, agent NAME or microservice NAME");
  }
  if (!fs::exists(file)) {
    throw step_error("no local log at " + file +
                     " (fogctl only has logs of the controller and agents it runs itself)");
  }
  std::cout << tail(file, lines);
  if (!std::string(tail(file, 1)).empty() && tail(file, 1).back() != '\n') std::cout << "\n";
  return 0;
}

int cmd_connect(const std::vector<std::string>& args, const options& opt) {
  std::string url, email, password, name, kube;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw usage_error("connect", args[i] + " needs a value");
      return args[++i];
    };
    if (args[i] == "--controller" || args[i] == "--endpoint") {
      url = value();
    } else if (args[i] == "--kube" || args[i] == "--kubeconfig") {
      kube = value();
    } else if (args[i] == "--email") {
      email = value();
    } else if (args[i] == "--password" || args[i] == "--pass") {
      password = value();
    } else if (args[i] == "--name") {
      name = value();
    } else {
      throw usage_error("connect", "unexpected argument '" + args[i] + "'");
    }
  }
  if (!kube.empty() && !url.empty()) {
    throw usage_error("connect", "give either --controller or --kube");
  }
  state st(opt.ns);
  if (auto existing = st.load();
      existing && (existing->control_plane == "remote" || existing->control_plane == "kubernetes" ||
                   (existing->control_plane == "local" && local_controller_running(st)))) {
    throw step_error("namespace '" + opt.ns + "' has a control plane fogctl deployed (" +
                     existing->endpoint +
                     "); delete controlplane first or use another namespace (-n)");
  }
  if (!kube.empty()) {
    connect_kubernetes(kube, email, password, name.empty() ? "iofog" : name, opt);
    return 0;
  }
  if (name.empty()) name = "controller";
  if (url.empty() || email.empty() || password.empty()) {
    throw usage_error("connect", "--controller, --email and --password are required (or --kube)");
  }
  endpoint ep;
  try {
    ep = endpoint::parse(url);
  } catch (const std::invalid_argument& e) {
    throw usage_error("connect", e.what());
  }
  std::string token =
      step("log in to " + ep.url() + " as " + email, [&] { return login(ep, email, password); });
  connection c;
  c.name = name;
  c.endpoint = ep.url();
  c.email = email;
  st.save(c, token, password);
  if (!opt.quiet)
    std::cout << "Connected namespace '" << opt.ns << "' to " << ep.url() << " as " << email
              << "\n";
  return 0;
}

int cmd_disconnect(const std::vector<std::string>& args, const options& opt) {
  if (!args.empty()) throw usage_error("disconnect", "disconnect takes no arguments");
  state st(opt.ns);
  auto conn = st.load();
  if (!conn) throw step_error("namespace '" + opt.ns + "' is not connected");
  if (conn->local && local_controller_running(st)) {
    throw step_error(
        "namespace '" + opt.ns +
        "' runs a local control plane fogctl started: use `fogctl delete controlplane` to stop it");
  }
  try {
    api_client(endpoint::parse(conn->endpoint), st.token()).post("/user/logout", json::object{});
  } catch (const std::exception&) {
    // Already expired or unreachable: forgetting it locally is what matters.
  }
  st.forget();
  if (!opt.quiet)
    std::cout << "Disconnected namespace '" << opt.ns << "' from " << conn->endpoint << "\n";
  return 0;
}

std::string agent_name_arg(const std::string& verb, const std::vector<std::string>& args) {
  if (args.size() != 2 || normalise_kind(verb, args[0]) != "agent")
    throw usage_error(verb, verb + " takes: agent NAME");
  return args[1];
}

// iofogctl's detach: the agent leaves the controller, fogctl keeps its configuration (and a
// LocalAgent's process and directory) so that attach can provision it again. Steps are
// ordered so that running detach again after a failure finishes it: save, deprovision, delete.
int cmd_detach(const std::vector<std::string>& args, const options& opt) {
  std::string name = agent_name_arg("detach", args);
  session s = open_session(opt.ns);
  auto& api = *s.api;
  auto f = step("find agent '" + name + "'", [&] { return find_fog(api, name); });
  std::string saved = detached_file(s.st, name);
  if (!f) {
    throw step_error("find agent '" + name + "': " +
                     (fs::exists(saved)
                          ? "it is detached already (fogctl attach agent " + name + ")"
                          : "no such agent"));
  }
  std::string uuid = field(*f, "uuid");
  std::string on_it;
  for (const auto& m :
       list_of(step("list microservices", [&] { return api.get("/microservices"); }),
               "microservices")) {
    const auto& o = m.as_object();
    if (field(o, "iofogUuid") == uuid)
      on_it += (on_it.empty() ? "" : ", ") + field(o, "application") + "/" + field(o, "name");
  }
  if (!on_it.empty()) {
    throw step_error(
        "detach agent '" + name + "': it runs microservices " + on_it +
        " (deleting its record would delete them): move them with `fogctl move microservice NAME "
        "AGENT` or delete them first");
  }
  // The system agent's router is the controller's default router: the other agents' routers
  // connect to it and public ports are opened on it, so deleting its record would silently cut
  // them off (and drop every public port's allocation).
  if (auto sys = f->find("isSystem"); sys != f->end() && sys->value() == true) {
    std::string others;
    for (const auto& [id, other] : step("list agents", [&] { return fog_names(api); })) {
      if (id != uuid) others += (others.empty() ? "" : ", ") + other;
    }
    if (!others.empty()) {
      throw step_error("detach agent '" + name +
                       "': its router is the controller's default router (isSystem), which the "
                       "routers and public ports of agents " +
                       others + " go through: detach or delete those agents first");
    }
  }
  write_file(saved, to_yaml_document(kind::agent_config, name, "", agent_config_spec_from_api(*f)),
             0600);
  std::string local_dir = s.st.agent_dir(name);
  bool local = fs::exists(local_dir + "/config");
  if (local) {
    std::string bin = step("find fogmesh-agent", [] {
      return find_binary("fogmesh-agent", "FOGMESH_AGENT_BIN", "agent");
    });
    std::string out;
    int rc = run_command({bin, "--config-dir", local_dir + "/config", "deprovision"}, out);
    // "not provisioned": an earlier detach got this far already.
    if (rc != 0 && out.find("not provisioned") == std::string::npos) {
      throw step_error("deprovision agent '" + name +
                       "': fogmesh-agent deprovision failed: " + out);
    }
  }
  bool systemd = false;
  auto remote = installed_remote_agent(s.st, name, &systemd);
  if (remote) {
    // The same over SSH; "not provisioned" again means an earlier detach got this far.
    std::string what = "deprovision agent '" + name + "'";
    step(what, [&] {
      return ssh_run(remote->target, what,
                     "out=$(" + shell_quote(remote->bin_dir + "/fogmesh-agent") + " --config-dir " +
                         shell_quote(remote->config_dir) +
                         " deprovision 2>&1) || { echo \"$out\" | grep -q 'not provisioned' || "
                         "{ echo \"$out\" >&2; exit 1; }; }");
    });
  }
  step("delete agent '" + name + "' from the controller",
       [&] { return api.del("/iofog/" + uuid); });
  if (!opt.quiet) {
    std::cout << "Agent '" << name << "': detached (configuration saved in " << saved << ")"
              << (local && running_pid(local_dir + "/agent.pid", "fogmesh-agent")
                      ? "; its process keeps running, deprovisioned"
                      : "")
              << (remote ? "; its process on " + remote->target.label() +
                               " keeps running, deprovisioned"
                         : std::string())
              << "\n";
  }
  return 0;
}

int cmd_attach(const std::vector<std::string>& args, const options& opt) {
  std::string name = agent_name_arg("attach", args);
  state st(opt.ns);
  std::string saved = detached_file(st, name);
  if (!fs::exists(saved)) {
    throw step_error("attach agent '" + name + "': namespace '" + opt.ns +
                     "' has no detached agent '" + name +
                     "' (fogctl get agents lists them as DETACHED)");
  }
  auto docs = load_file(saved);
  if (docs.size() != 1 || docs[0].k != kind::agent_config) {
    throw step_error("attach agent '" + name + "': " + saved + " is not one AgentConfig document");
  }
  std::string outcome;
  std::string installed_text = read_file(remote_agent_file(st, name));
  json::object installed =
      installed_text.empty() ? json::object{} : json::parse(installed_text).as_object();
  if (fs::exists(st.agent_dir(name) + "/config")) {
    resource local = docs[0];
    local.k = kind::local_agent;
    local.spec = json::object{{"config", docs[0].spec}};
    outcome = deploy_local_agent(local, opt.ns, opt);
  } else if (installed.contains("spec")) {
    // Installed over SSH: deployed again with the saved configuration (provisions it there).
    resource remote = docs[0];
    remote.k = kind::remote_agent;
    remote.spec = installed.at("spec").as_object();
    remote.spec["config"] = docs[0].spec;
    outcome = deploy_remote_agent(remote, opt.ns, opt);
  } else {
    session s = open_session(opt.ns);
    outcome = deploy_agent_config(*s.api, docs[0], true);
    auto f = step("read agent '" + name + "'", [&] { return find_fog(*s.api, name); });
    if (!f) throw step_error("read agent '" + name + "': it disappeared");
    auto key = step("get a provisioning key for '" + name + "'", [&] {
      return s.api->get("/iofog/" + field(*f, "uuid") + "/provisioning-key");
    });
    std::cout << "Provision it on its host with:\n  fogmesh-agent provision "
              << field(key.as_object(), "key") << " --controller " << s.api->ep().url()
              << "/api/v3\n";
  }
  std::error_code ec;
  fs::remove(saved, ec);
  if (!opt.quiet) std::cout << "Agent '" << name << "': attached (" << outcome << ")\n";
  return 0;
}

int cmd_move(const std::vector<std::string>& args, const options& opt) {
  if (args.size() != 3 || normalise_kind("move", args[0]) != "microservice") {
    throw usage_error("move", "move takes: microservice NAME AGENT");
  }
  session s = open_session(opt.ns);
  auto& api = *s.api;
  auto m = step("find microservice '" + args[1] + "'",
                [&] { return resolve_microservice(api, args[1]); });
  std::string label = field(m, "application") + "/" + field(m, "name");
  auto to = step("find agent '" + args[2] + "'", [&] { return find_fog(api, args[2]); });
  if (!to) throw step_error("find agent '" + args[2] + "': no such agent");
  auto names = step("list agents", [&] { return fog_names(api); });
  std::string from = field(m, "iofogUuid");
  if (auto it = names.find(from); it != names.end()) from = it->second;
  std::string result;
  if (field(m, "iofogUuid") == field(*to, "uuid")) {
    result = "unchanged (it runs on " + args[2] + ")";
  } else {
    step("move microservice '" + label + "' to agent '" + args[2] + "'", [&] {
      return api.patch("/microservices/" + url_encode(field(m, "uuid")),
                       json::object{{"iofogUuid", field(*to, "uuid")}});
    });
    result = "moved from " + (from == "-" ? std::string("no agent") : from) + " to " + args[2];
  }
  if (!opt.quiet) std::cout << "Microservice '" << label << "': " << result << "\n";
  return 0;
}

// Completion data: verbs, and what each verb's first and second arguments complete to.
// The bash script is generated from these tables; zsh runs it through bashcompinit.
std::string completion_script(const std::string& shell) {
  const std::vector<std::string> verbs = {
      "deploy", "get",  "describe", "delete",     "start",   "stop",       "logs", "attach",
      "detach", "move", "connect",  "disconnect", "version", "completion", "help"};
  const std::map<std::string, std::string> first = {
      {"get",
       "all controllers agents applications microservices routes catalog registries "
       "edge-resources namespaces"},
      {"describe", "application microservice route registry catalogitem agent controlplane"},
      {"delete", "all application microservice route registry catalogitem agent controlplane"},
      {"start", "application"},
      {"stop", "application"},
      {"logs", "controller agent microservice"},
      {"attach", "agent"},
      {"detach", "agent"},
      {"move", "microservice"},
      {"completion", "bash zsh"},
      {"deploy", "-f"},
      {"help",
       "deploy get describe delete start stop logs attach detach move connect disconnect version "
       "completion"}};
  const std::map<std::string, std::string> flags = {
      {"deploy", "-f --file --timeout"},
      {"connect", "--controller --kube --email --password --name"},
      {"logs", "--tail"},
      {"get", "-o --output"},
      {"describe", "-o --output"}};
  std::string all_verbs;
  for (const auto& v : verbs) all_verbs += (all_verbs.empty() ? "" : " ") + v;
  std::string flag_cases, first_cases;
  for (const auto& [verb, f] : flags)
    flag_cases += "      " + verb + ") opts=\"$opts " + f + "\" ;;\n";
  for (const auto& [verb, kinds] : first) {
    first_cases +=
        "      " + verb + ") COMPREPLY=($(compgen -W \"" + kinds + "\" -- \"$cur\")) ;;\n";
  }
  std::string script =
      "# fogctl completion for " + shell + " (generated by `fogctl completion " + shell + "`)\n";
  if (shell == "zsh") script += "autoload -U +X bashcompinit && bashcompinit\n";
  script += R"sh(_fogctl() {
  local cur prev verb i n words=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  COMPREPLY=()
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "json yaml" -- "$cur")); return 0 ;;
    -f|--file) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    -n|--namespace)
      COMPREPLY=($(compgen -W "$(ls "${FOGMESH_HOME:-$HOME/.fogmesh}/namespaces" 2>/dev/null)" -- "$cur"))
      return 0 ;;
    --kube) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    --tail|--timeout|--controller|--email|--password|--name) return 0 ;;
  esac
  # The words before the cursor without the options (and their values): verb, kind, name.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      -n|--namespace|-o|--output|-f|--file|--tail|--timeout|--controller|--kube|--email|--password|--name) ((i++)) ;;
      -*) ;;
      *) words+=("${COMP_WORDS[i]}") ;;
    esac
  done
  n=${#words[@]}
  verb="${words[0]}"
  if [[ "$cur" == -* ]]; then
    local opts="-n --namespace -q --quiet -h --help"
    case "$verb" in
)sh" + flag_cases +
            R"sh(    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif ((n == 0)); then
    COMPREPLY=($(compgen -W ")sh" +
            all_verbs + R"sh(" -- "$cur"))
  elif ((n == 1)); then
    case "$verb" in
)sh" + first_cases +
            R"sh(    esac
  fi
  return 0
}
complete -o default -F _fogctl fogctl
)sh";
  return script;
}

int cmd_completion(const std::vector<std::string>& args, const options&) {
  if (args.size() != 1 || (args[0] != "bash" && args[0] != "zsh")) {
    throw usage_error("completion", "completion takes bash or zsh");
  }
  std::cout << completion_script(args[0]);
  return 0;
}

int cmd_version(const std::vector<std::string>& args, const options& opt) {
  if (!args.empty()) throw usage_error("version", "version takes no arguments");
  std::cout << "fogctl " << FOGMESH_VERSION << "\n";
  if (opt.quiet) return 0;
  state st(opt.ns);
  if (auto conn = st.load()) {
    auto v = controllers_value(opt.ns);
    if (!v.as_array().empty()) {
      const auto& o = v.as_array()[0].as_object();
      std::cout << "controller " << field(o, "version") << " at " << field(o, "endpoint") << " ("
                << field(o, "status") << ")\n";
    }
  }
  return 0;
}

}  // namespace

// argv without the program, each `--name=value` of an option that takes a value written as
// `--name value`, so every verb's loop sees one spelling (as the other binaries do, through
// common/cli.hpp). A value given apart is never split (`--password --a=b`); a flag given `=value`
// stays whole and is refused by its verb as an unexpected argument.
std::vector<std::string> split_attached_values(int argc, char** argv) {
  static const std::set<std::string, std::less<>> takes_value = {
      "--namespace",  "--output",   "--file", "--timeout",    "--tail",
      "--controller", "--endpoint", "--kube", "--kubeconfig", "--email",
      "--password",   "--pass",     "--name"};
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto eq = a.find('=');
    if (takes_value.contains(a) || a == "-n" || a == "-o" || a == "-f") {
      out.emplace_back(a);
      if (i + 1 < argc) out.emplace_back(argv[++i]);
    } else if (a.starts_with("--") && eq != std::string_view::npos &&
               takes_value.contains(a.substr(0, eq))) {
      out.emplace_back(a.substr(0, eq));
      out.emplace_back(a.substr(eq + 1));
    } else {
      out.emplace_back(a);
    }
  }
  return out;
}

int run(int argc, char** argv) {
  options opt;
  std::string verb;
  std::vector<std::string> args;
  bool help = false;
  try {
    const std::vector<std::string> argv_split = split_attached_values(argc, argv);
    for (size_t i = 0; i < argv_split.size(); ++i) {
      const std::string& a = argv_split[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argv_split.size()) throw usage_error(verb, a + " needs a value");
        return argv_split[++i];
      };
      if (a == "-n" || a == "--namespace") {
        opt.ns = value();
      } else if (a == "-o" || a == "--output") {
        opt.output = value();
        if (opt.output != "json" && opt.output != "yaml")
          throw usage_error(verb, "-o takes json or yaml");
      } else if (a == "-q" || a == "--quiet") {
        opt.quiet = true;
      } else if (a == "-h" || a == "--help") {
        help = true;
      } else if (verb.empty() && !a.empty() && a[0] != '-') {
        verb = a;
      } else {
        args.push_back(a);
      }
    }
    if (help || verb == "help") {
      std::string topic = verb == "help" ? (args.empty() ? "" : args[0]) : verb;
      auto it = help_texts().find(topic);
      if (it == help_texts().end()) throw usage_error("", "unknown verb '" + topic + "'");
      std::cout << it->second;
      return 0;
    }
    if (verb.empty()) throw usage_error("", "no verb given");
    (void)state(opt.ns);  // validates the namespace name
    if (verb == "deploy") return cmd_deploy(args, opt);
    if (verb == "get") return cmd_get(args, opt);
    if (verb == "describe") return cmd_describe(args, opt);
    if (verb == "delete") return cmd_delete(args, opt);
    if (verb == "connect") return cmd_connect(args, opt);
    if (verb == "start" || verb == "stop") return cmd_start_stop(verb, args, opt);
    if (verb == "logs") return cmd_logs(args, opt);
    if (verb == "disconnect") return cmd_disconnect(args, opt);
    if (verb == "version") return cmd_version(args, opt);
    if (verb == "detach") return cmd_detach(args, opt);
    if (verb == "attach") return cmd_attach(args, opt);
    if (verb == "move") return cmd_move(args, opt);
    if (verb == "completion") return cmd_completion(args, opt);
    throw usage_error("", "unknown verb '" + verb + "'");
  }  // namespace
  catch (const usage_error& e) {
    std::string v = help_texts().count(e.verb()) ? e.verb() : "";
    std::cerr << "fogctl" << (v.empty() ? "" : " " + v) << ": " << e.what() << "\n\n"
              << help_texts().at(v);
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "fogctl: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "fogctl: " << e.what() << "\n";
    return 1;
  }
}  // namespace fogmesh::ctl

}  // namespace fogmesh::ctl
