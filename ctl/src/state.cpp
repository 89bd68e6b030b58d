#include "state.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fogmesh::ctl {

namespace fs = std::filesystem;
namespace json = boost::json;

void write_file(const std::string& path, const std::string& content, unsigned mode) {
  fs::create_directories(fs::path(path).parent_path());
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);  // the umask must not widen or narrow it
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + ": " + std::strerror(errno));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

state::state(std::string ns) : ns_(std::move(ns)) {
  if (ns_.empty() || ns_.find('/') != std::string::npos || ns_[0] == '.') {
    throw std::invalid_argument("bad namespace '" + ns_ + "'");
  }
}

std::string state::home() {
  if (const char* h = std::getenv("FOGMESH_HOME"); h != nullptr && *h != '\0') return h;
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* pw = ::getpwuid(::geteuid());
    home = pw != nullptr ? pw->pw_dir : "/tmp";
  }
  return std::string(home) + "/.fogmesh";
}

std::string state::ns_dir() const {
  return home() + "/namespaces/" + ns_;
}
std::string state::controller_dir() const {
  return ns_dir() + "/controller";
}
std::string state::agent_dir(const std::string& name) const {
  return ns_dir() + "/agents/" + name;
}

std::optional<connection> state::load() const {
  std::string text = read_file(ns_dir() + "/controlplane.json");
  if (text.empty()) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    throw std::runtime_error(ns_dir() + "/controlplane.json is damaged; run fogctl disconnect");
  }
  const auto& o = v.as_object();
  connection c;
  auto s = [&](const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
  };
  c.name = s("name");
  c.endpoint = s("endpoint");
  c.email = s("email");
  auto it = o.find("local");
  c.local = it != o.end() && it->value().is_bool() && it->value().as_bool();
  c.control_plane = s("controlPlane");
  if (c.local) c.control_plane = "local";
  return c;
}

void state::save(const connection& c, const std::string& token, const std::string& password) const {
  ::mkdir(home().c_str(), 0700);
  // A new namespace dir is private; an existing one keeps its mode (a local controller's
  // PostgreSQL, running as `postgres` under root, needs 0711 to reach its data dir inside).
  fs::create_directories(fs::path(ns_dir()).parent_path());
  ::mkdir(ns_dir().c_str(), 0700);
  json::object o{{"name", c.name},
                 {"endpoint", c.endpoint},
                 {"email", c.email},
                 {"local", c.local || c.control_plane == "local"}};
  if (!c.control_plane.empty()) o["controlPlane"] = c.control_plane;
  write_file(ns_dir() + "/credentials", password, 0600);
  save_token(token);
  write_file(ns_dir() + "/controlplane.json", json::serialize(o) + "\n", 0644);
}

std::string state::token() const {
  return read_file(ns_dir() + "/token");
}
void state::save_token(const std::string& token) const {
  write_file(ns_dir() + "/token", token, 0600);
}
std::string state::password() const {
  return read_file(ns_dir() + "/credentials");
}

void state::save_control_plane_document(const std::string& yaml) const {
  write_file(ns_dir() + "/deployed-controlplane.yaml", yaml, 0600);
}
std::string state::control_plane_document() const {
  return read_file(ns_dir() + "/deployed-controlplane.yaml");
}

void state::forget() const {
  std::error_code ec;
  fs::remove(ns_dir() + "/controlplane.json", ec);
  fs::remove(ns_dir() + "/deployed-controlplane.yaml", ec);
  fs::remove(ns_dir() + "/token", ec);
  fs::remove(ns_dir() + "/credentials", ec);
  // A namespace that holds nothing else (no local agents, no detached agents) goes with its
  // connection, so `get namespaces` no longer lists it; fs::remove leaves a non-empty one.
  fs::remove(ns_dir(), ec);
}

}  // namespace fogmesh::ctl
