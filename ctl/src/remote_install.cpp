#include "remote_install.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "process.hpp"

namespace fogmesh::ctl {

namespace fs = std::filesystem;

host_probe probe_host(const ssh_target& t, const std::string& step_name) {
  std::string out = ssh_run(
      t, step_name, "uname -m; if [ -d /run/systemd/system ]; then echo systemd; else echo none; fi");
  host_probe p;
  p.arch = out.substr(0, out.find('\n'));
  p.systemd = out.find("systemd") != std::string::npos;
  return p;
}

std::string systemd_unit(const std::string& unit) {
  std::vector<std::string> dirs;
  if (const char* e = std::getenv("FOGMESH_SYSTEMD_DIR"); e != nullptr && *e != '\0')
    dirs.emplace_back(e);
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((self.parent_path() / "../share/fogmesh/systemd").string());
#ifdef FOGMESH_SYSTEMD_SOURCE_DIR
  dirs.emplace_back(FOGMESH_SYSTEMD_SOURCE_DIR);
#endif
  for (const auto& d : dirs) {
    if (fs::exists(d + "/" + unit)) return d + "/" + unit;
  }
  throw std::runtime_error("cannot find the systemd unit " + unit + " (set FOGMESH_SYSTEMD_DIR)");
}

std::string sha256_of(const std::string& file) {
  std::string out;
  if (run_command({"/usr/bin/sha256sum", file}, out) != 0)
    throw std::runtime_error("sha256sum " + file + ": " + out);
  return out.substr(0, out.find(' '));
}

bool install_file(const ssh_target& t, const std::string& step_name, const std::string& local,
                  const std::string& remote, const std::string& mode) {
  struct stat sb {};
  if (::stat(local.c_str(), &sb) != 0) throw std::runtime_error("cannot read " + local);
  std::string size_mtime = std::to_string(sb.st_size) + " " + std::to_string(sb.st_mtime);
  // Prints "same" on a quick-check match, else the remote sha256 (nothing when it is missing).
  std::string have =
      ssh_run(t, step_name,
              "if [ \"$(stat -c '%s %Y' " + shell_quote(remote) + " 2>/dev/null)\" = '" +
                  size_mtime + "' ]; then echo same; else sha256sum " + shell_quote(remote) +
                  " 2>/dev/null || true; fi");
  if (have == "same\n") return false;
  if (!have.empty() && have.substr(0, have.find(' ')) == sha256_of(local)) {
    ssh_run(t, step_name, "touch -m -d @" + std::to_string(sb.st_mtime) + " " + shell_quote(remote));
    return false;
  }
  scp_to(t, step_name, local, remote + ".fogctl-new");
  ssh_run(t, step_name,
          "chmod " + mode + " " + shell_quote(remote + ".fogctl-new") + " && mv -f " +
              shell_quote(remote + ".fogctl-new") + " " + shell_quote(remote));
  return true;
}

bool install_systemd_unit(const ssh_target& t, const std::string& unit,
                          const std::string& staging_dir, const std::vector<std::string>& edits) {
  std::string local = systemd_unit(unit);
  std::string step_name = "install the systemd unit " + unit;
  ssh_run(t, step_name, "mkdir -p " + shell_quote(staging_dir));
  std::string staged = staging_dir + "/" + unit;
  install_file(t, "copy " + unit, local, staged, "0644");
  std::string sed = "sed";
  for (const auto& e : edits) sed += " -e " + shell_quote(e);
  std::string target = "/etc/systemd/system/" + unit;
  std::string fresh = target + ".fogctl-new";
  std::string out =
      ssh_run(t, step_name,
              sed + " " + shell_quote(staged) + " > " + fresh + " && if cmp -s " + fresh + " " +
                  target + "; then rm -f " + fresh + "; else mv -f " + fresh + " " + target +
                  " && systemctl daemon-reload && echo changed; fi");
  return out.find("changed") != std::string::npos;
}

std::string background_running_test(const background_process& p) {
  return "pid=$(cat " + shell_quote(p.pid_file) +
         " 2>/dev/null) && [ -n \"$pid\" ] && cmd=$(tr '\\0' ' ' < /proc/$pid/cmdline "
         "2>/dev/null) && case \"$cmd\" in " +
         shell_quote(p.binary + " ") + "*) true ;; *) false ;; esac";
}

std::string background_command_line(const ssh_target& t, const std::string& step_name,
                                    const background_process& p) {
  std::string out =
      ssh_run(t, step_name, background_running_test(p) + " && echo \"$cmd\" || true");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void start_background(const ssh_target& t, const std::string& step_name,
                      const background_process& p, const std::string& quoted_args,
                      const std::string& env_file, int settle_seconds) {
  std::string log = shell_quote(p.log_file);
  std::string run = "setsid " + shell_quote(p.binary) + " " + quoted_args;
  if (!env_file.empty()) run = "(set -a; . " + shell_quote(env_file) + "; set +a; exec " + run + ")";
  ssh_run(t, step_name,
          run + " >> " + log + " 2>&1 < /dev/null & echo $! > " + shell_quote(p.pid_file) +
              "; sleep " + std::to_string(settle_seconds) + "; " + background_running_test(p) +
              " || { echo 'it exited:' >&2; tail -n 15 " + log + " >&2; exit 1; }");
}

std::string background_stop_command(const background_process& p, int grace_seconds) {
  return background_running_test(p) + " && { kill $pid; for i in $(seq " +
         std::to_string(grace_seconds * 10) +
         "); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; kill -9 $pid 2>/dev/null; }; "
         "true";
}

}  // namespace fogmesh::ctl
