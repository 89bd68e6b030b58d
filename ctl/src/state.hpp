// fogctl's local state: ~/.fogmesh (or $FOGMESH_HOME), one directory per namespace with the
// controller connection, the access token (0600), the password used to log in again when the
// token expires (0600), and the local control plane / agents fogctl started (pid and log files).
#pragma once

#include <optional>
#include <string>

namespace fogmesh::ctl {

struct connection {
  std::string name = "controller";  // controller name shown by `get controllers`
  std::string endpoint;             // http://host:port
  std::string email;
  bool local = false;  // a LocalControlPlane fogctl runs
  // What fogctl deployed: "local" (LocalControlPlane), "remote" (ControlPlane over SSH),
  // "kubernetes" (KubernetesControlPlane); "" for a plain `connect --controller`.
  std::string control_plane;
};

class state {
 public:
  explicit state(std::string ns);
  static std::string home();  // $FOGMESH_HOME, else $HOME/.fogmesh
  const std::string& ns() const { return ns_; }
  std::string ns_dir() const;          // home()/namespaces/<ns>
  std::string controller_dir() const;  // ns_dir()/controller (local control plane)
  std::string agent_dir(const std::string& name) const;  // ns_dir()/agents/<name>

  std::optional<connection> load() const;
  void save(const connection& c, const std::string& token, const std::string& password) const;
  std::string token() const;
  void save_token(const std::string& token) const;
  std::string password() const;
  void forget() const;  // connection, token and password (not the local processes' dirs)
  // The control plane document fogctl deployed last in this namespace (canonical YAML, 0600:
  // it holds the user's password), for `describe controlplane`; "" when none.
  void save_control_plane_document(const std::string& yaml) const;
  std::string control_plane_document() const;

 private:
  std::string ns_;
};

// Writes `content` to `path` atomically (temp file + rename) with `mode`; creates parent dirs.
void write_file(const std::string& path, const std::string& content, unsigned mode = 0644);
std::string read_file(const std::string& path);  // "" when missing

}  // namespace fogmesh::ctl
