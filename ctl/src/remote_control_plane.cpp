// kind ControlPlane: fogmesh-controller installed and run on other hosts over SSH.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "control_planes.hpp"
#include "process.hpp"
#include "remote_install.hpp"

namespace fogmesh::ctl {

namespace fs = std::filesystem;

namespace {

// One controller host: how fogctl reaches it and where things are there.
struct controller_host {
  std::string name;
  ssh_target target;
  int api_port = 51121;
  std::string bin, config_dir, data_dir, state_dir;
  bool systemd = false;

  std::string label() const { return "controller '" + name + "' (" + target.label() + ")"; }
  std::string env_file() const { return config_dir + "/controller.env"; }
  background_process process() const {
    return {bin, state_dir + "/controller.pid", state_dir + "/controller.log"};
  }
  endpoint api() const {
    std::string host =
        target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
    return endpoint::parse("http://" + host + ":" + std::to_string(api_port));
  }
};

std::string state_file(const state& st) {
  return st.ns_dir() + "/remote-controlplane.json";
}

std::vector<controller_host> hosts_of(const json::object& spec) {
  std::string dir(spec.at("installDir").as_string());
  bool usr_local = dir == "/usr/local";
  std::vector<controller_host> out;
  for (const auto& c : spec.at("controllers").as_array()) {
    const auto& o = c.as_object();
    const auto& ssh = o.at("ssh").as_object();
    controller_host h;
    h.name = std::string(o.at("name").as_string());
    h.target.host = std::string(o.at("host").as_string());
    h.target.user = std::string(ssh.at("user").as_string());
    h.target.key_file = absolute_local_path(std::string(ssh.at("keyFile").as_string()));
    h.target.port = static_cast<int>(ssh.at("port").as_int64());
    h.api_port = static_cast<int>(spec.at("controller").at("port").as_int64());
    // /usr/local is the systemd unit's layout (/usr/local/bin, /var/lib/fogmesh-controller).
    h.bin = dir + "/bin/fogmesh-controller";
    h.config_dir = usr_local ? "/etc/fogmesh" : dir + "/etc/fogmesh";
    h.data_dir = usr_local ? "/var/lib/fogmesh-controller" : dir + "/var/lib/fogmesh-controller";
    h.state_dir = usr_local ? "/var/lib/fogmesh/controller-run" : dir + "/var/lib/fogmesh";
    out.push_back(std::move(h));
  }
  return out;
}

json::object saved_host(const controller_host& h) {
  return {{"name", h.name},        {"host", h.target.host},
          {"user", h.target.user}, {"keyFile", h.target.key_file},
          {"port", h.target.port}, {"apiPort", h.api_port},
          {"bin", h.bin},          {"configDir", h.config_dir},
          {"dataDir", h.data_dir}, {"stateDir", h.state_dir},
          {"systemd", h.systemd}};
}

controller_host loaded_host(const json::object& o) {
  controller_host h;
  auto s = [&](const char* k) { return std::string(o.at(k).as_string()); };
  h.name = s("name");
  h.target.host = s("host");
  h.target.user = s("user");
  h.target.key_file = s("keyFile");
  h.target.port = static_cast<int>(o.at("port").as_int64());
  h.api_port = static_cast<int>(o.at("apiPort").as_int64());
  h.bin = s("bin");
  h.config_dir = s("configDir");
  h.data_dir = s("dataDir");
  h.state_dir = s("stateDir");
  h.systemd = o.at("systemd").as_bool();
  return h;
}

// The controller's arguments; the database password goes in the environment file (PGPASSWORD,
// which libpq reads), never on a command line.
std::vector<std::string> controller_args(const controller_host& h, const json::object& spec) {
  std::vector<std::string> a = {
      "--port", std::to_string(h.api_port), "--bind", "0.0.0.0", "--data-dir", h.data_dir};
  if (auto db = spec.find("database"); db != spec.end()) {
    const auto& d = db->value().as_object();
    std::string conninfo = "host=" + std::string(d.at("host").as_string()) +
                           " port=" + std::to_string(d.at("port").as_int64()) +
                           " user=" + std::string(d.at("user").as_string()) +
                           " dbname=" + std::string(d.at("databaseName").as_string());
    if (auto ssl = d.find("sslMode"); ssl != d.end())
      conninfo += " sslmode=" + std::string(ssl->value().as_string());
    a.insert(a.end(), {"--db", conninfo});
  }
  return a;
}

std::string joined(const std::vector<std::string>& args, bool quoted) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + (quoted ? shell_quote(a) : a);
  return s;
}

// The environment file's text (mode 0600 on the host): read by systemd (EnvironmentFile) and by
// the shell of the background start, so values are single-quoted without quotes inside.
std::string env_text(const json::object& spec) {
  std::string text = "# written by fogctl (ControlPlane): the controller's database password\n";
  if (auto db = spec.find("database"); db != spec.end()) {
    std::string pw(db->value().as_object().at("password").as_string());
    if (pw.find_first_of("'\\\n") != std::string::npos) {
      throw step_error(
          "configure the controller: spec.database.password must not contain ', \\ or a line "
          "break (it goes into an environment file on the host)");
    }
    if (!pw.empty()) text += "PGPASSWORD='" + pw + "'\n";
  }
  return text;
}

// Writes `text` to `remote_path` on the host with mode 0600 (through a private local file).
void put_private_file(const ssh_target& t, const std::string& step_name, const std::string& text,
                      const std::string& remote_path) {
  std::string local = state::home() + "/tmp-" + std::to_string(::getpid()) + ".env";
  write_file(local, text, 0600);
  try {
    scp_to(t, step_name, local, remote_path + ".fogctl-new");
    ssh_run(t, step_name,
            "chmod 0600 " + shell_quote(remote_path + ".fogctl-new") + " && if cmp -s " +
                shell_quote(remote_path + ".fogctl-new") + " " + shell_quote(remote_path) +
                "; then rm -f " + shell_quote(remote_path + ".fogctl-new") + "; else mv -f " +
                shell_quote(remote_path + ".fogctl-new") + " " + shell_quote(remote_path) +
                " && echo changed; fi");
  } catch (...) {
    std::error_code ec;
    fs::remove(local, ec);
    throw;
  }
  std::error_code ec;
  fs::remove(local, ec);
}

// Stops the controller on its host and removes what fogctl put there (unit, data, environment
// file); the binary stays (a later deploy skips copying it).
void stop_controller(const controller_host& h) {
  std::string what = "stop " + h.label();
  std::string stop = h.systemd
                         ? std::string(
                               "systemctl disable --now fogmesh-controller 2>/dev/null; rm -f "
                               "/etc/systemd/system/fogmesh-controller.service && systemctl "
                               "daemon-reload")
                         : background_stop_command(h.process(), 60);
  // A controller killed before it stopped its embedded PostgreSQL leaves the postmaster
  // running on the data directory: stop it (SIGINT = fast shutdown) if it is that cluster's.
  std::string pgdata = shell_quote(h.data_dir + "/pgdata");
  std::string leftover =
      "p=$(head -n 1 " + pgdata +
      "/postmaster.pid 2>/dev/null) && [ -n \"$p\" ] && tr '\\0' ' ' "
      "< /proc/$p/cmdline 2>/dev/null | grep -q -- " +
      pgdata +
      " && { kill -INT $p; for i in $(seq 600); do kill -0 $p 2>/dev/null || break; sleep 0.1; "
      "done; }; true";
  step(what, [&] {
    return ssh_run(h.target, what,
                   stop + "; " + leftover + "; rm -rf " + shell_quote(h.data_dir) + " " +
                       shell_quote(h.env_file()) + " " +
                       shell_quote(h.state_dir + "/controller.pid"));
  });
}

// Waits for GET /api/v3/status; every few seconds checks over SSH that the controller still
// runs, and shows its log's last lines when it does not.
void wait_for_controller(const controller_host& h, const options& opt) {
  auto limit = std::chrono::seconds(opt.wait_seconds > 0 ? opt.wait_seconds : 180);
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto next_check = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  endpoint ep = h.api();
  std::string what = "wait for " + h.label() + " to answer on " + ep.url() + "/api/v3/status";
  while (!controller_up(ep)) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_check) {
      next_check = now + std::chrono::seconds(5);
      std::string check =
          h.systemd
              ? "systemctl is-active --quiet fogmesh-controller || { echo 'it is not running "
                "(systemctl status fogmesh-controller):' >&2; journalctl -u fogmesh-controller "
                "--no-pager -n 15 >&2; exit 1; }"
              : background_running_test(h.process()) + " || { echo 'it exited; last lines of " +
                    h.process().log_file + ":' >&2; tail -n 15 " +
                    shell_quote(h.process().log_file) + " >&2; exit 1; }";
      step(what, [&] { return ssh_run(h.target, what, check); });
    }
    if (now > deadline) {
      throw step_error(what + ": no answer after " + std::to_string(limit.count()) +
                       " s (it runs; is port " + std::to_string(h.api_port) +
                       " reachable from here? `fogctl logs controller` shows its log)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

}  // namespace

bool has_remote_control_plane(const state& st) {
  return fs::exists(state_file(st));
}

std::string deploy_remote_control_plane(const resource& r, const std::string& ns,
                                        const options& opt) {
  state st(ns);
  auto hosts = hosts_of(r.spec);
  auto progress = [&](const controller_host& h, const std::string& what) {
    if (!opt.quiet)
      std::cout << "ControlPlane '" << r.name << "', " << h.label() << ": " << what << "\n"
                << std::flush;
  };
  if (auto existing = st.load(); existing && existing->control_plane != "remote") {
    throw step_error("connect: namespace '" + ns + "' is connected to " + existing->endpoint +
                     (existing->control_plane == "local" ? " (a LocalControlPlane)" : "") +
                     "; delete controlplane or disconnect first, or use another namespace (-n)");
  }
  // Every host answers before anything is changed anywhere.
  for (auto& h : hosts) {
    if (!fs::exists(h.target.key_file))
      throw step_error("read the SSH key of " + h.label() + ": " + h.target.key_file +
                       " does not exist");
    progress(h, "connecting over SSH");
    h.systemd = step("connect", [&] { return probe_host(h.target, "connect"); }).systemd;
  }
  // Saved before anything is installed: from here `delete controlplane` knows what to stop.
  json::array saved;
  for (const auto& h : hosts) saved.push_back(saved_host(h));
  write_file(state_file(st), json::serialize(json::object{{"controllers", saved}}) + "\n", 0600);
  std::string bin = step("find fogmesh-controller", [] {
    return find_binary("fogmesh-controller", "FOGMESH_CONTROLLER_BIN", "controller");
  });
  std::string env = env_text(r.spec);
  bool has_db = r.spec.contains("database");
  std::string outcome;
  for (auto& h : hosts) {
    std::string result;
    auto args = controller_args(h, r.spec);
    progress(h, "installing fogmesh-controller into " + fs::path(h.bin).parent_path().string());
    bool changed = step("install fogmesh-controller on " + h.label(), [&] {
      ssh_run(h.target, "install fogmesh-controller",
              "mkdir -p " + shell_quote(fs::path(h.bin).parent_path().string()) + " " +
                  shell_quote(h.state_dir) + " && mkdir -p -m 0700 " + shell_quote(h.config_dir));
      return install_file(h.target, "copy fogmesh-controller", bin, h.bin, "0755");
    });
    if (changed) result += "binary installed, ";
    step("configure " + h.label(), [&] {
      if (has_db) {
        put_private_file(h.target, "configure the controller", env, h.env_file());
      } else {
        ssh_run(h.target, "configure the controller", "rm -f " + shell_quote(h.env_file()));
      }
      return 0;
    });
    if (h.systemd) {
      std::vector<std::string> edits = {"s|^ExecStart=.*|ExecStart=" + h.bin + " " +
                                        joined(args, false) + "|"};
      if (has_db) edits.push_back("/^ExecStart=/i EnvironmentFile=" + h.env_file());
      bool unit_changed = step("install the systemd unit on " + h.label(), [&] {
        return install_systemd_unit(h.target, "fogmesh-controller.service", h.state_dir, edits);
      });
      bool active = step("start " + h.label(), [&] {
        return ssh_run(h.target, "start fogmesh-controller",
                       "systemctl is-active fogmesh-controller || true")
                   .rfind("active", 0) == 0;
      });
      bool restart = active && (changed || unit_changed);
      step("start " + h.label(), [&] {
        return ssh_run(h.target, "start fogmesh-controller",
                       std::string("systemctl enable fogmesh-controller && systemctl ") +
                           (restart ? "restart" : "start") + " fogmesh-controller");
      });
      result +=
          active ? (restart ? "restarted (systemd)" : "running (systemd)") : "started (systemd)";
    } else {
      auto proc = h.process();
      std::string expected = h.bin + " " + joined(args, false);
      std::string running = step("start " + h.label(), [&] {
        return background_command_line(h.target, "start fogmesh-controller", proc);
      });
      if (!running.empty() && (changed || running != expected)) {
        progress(h, "stopping the running controller (" +
                        std::string(changed ? "new binary" : "new configuration") + ")");
        step("stop the old controller on " + h.label(), [&] {
          return ssh_run(h.target, "stop the old controller", background_stop_command(proc, 60));
        });
      }
      if (running.empty() || changed || running != expected) {
        progress(h,
                 "starting fogmesh-controller (no systemd on the host: in the background, "
                 "log " +
                     proc.log_file + ")");
        step("start " + h.label(), [&] {
          start_background(h.target, "start fogmesh-controller", proc, joined(args, true),
                           has_db ? h.env_file() : "");
          return 0;
        });
        result += running.empty() ? "started (background: no systemd)"
                                  : "restarted (background: no systemd)";
      } else {
        result += "running";
      }
    }
    progress(h, "waiting for the controller's API (a first start creates its database)");
    wait_for_controller(h, opt);
    outcome += (outcome.empty() ? "" : "; ") + h.name + ": " + result;
  }
  endpoint ep = hosts.front().api();
  connection c;
  c.name = r.name;
  c.control_plane = "remote";
  connect_control_plane(st, c, ep, r.spec.at("iofogUser").as_object());
  return outcome + " at " + ep.url();
}

std::string remote_controller_log(const state& st, int lines) {
  std::string text = read_file(state_file(st));
  if (text.empty()) return "";
  controller_host h =
      loaded_host(json::parse(text).as_object().at("controllers").at(0).as_object());
  std::string n = std::to_string(lines);
  std::string what = "log of " + h.label();
  return step(what, [&] {
    return ssh_run(h.target, what,
                   h.systemd ? "journalctl -u fogmesh-controller --no-pager -n " + n
                             : "tail -n " + n + " " + shell_quote(h.process().log_file));
  });
}

void delete_remote_control_plane(const state& st, const options& opt) {
  std::string text = read_file(state_file(st));
  if (text.empty()) return;
  auto saved = json::parse(text).as_object();
  for (const auto& c : saved.at("controllers").as_array()) {
    controller_host h = loaded_host(c.as_object());
    stop_controller(h);
    if (!opt.quiet)
      std::cout << "Stopped " << h.label() << " and removed its data (" << h.data_dir << ")\n";
  }
  std::error_code ec;
  fs::remove(state_file(st), ec);
}

}  // namespace fogmesh::ctl
