// LocalControlPlane with spec.controller.container: fogmesh-controller runs from an image (e.g.
// localhost/fogmesh-controller built by deploy/containers/build-images.sh) in the local container
// engine, as iofogctl runs its local controller in Docker. The engine CLI is
// $FOGMESH_CONTAINER_CLI (words, e.g. "podman --root /tmp/x"), else podman, else docker on PATH;
// the command line used is remembered in controller/container.json so logs and delete reach the
// same storage later.
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "control_planes.hpp"
#include "process.hpp"

namespace fogmesh::ctl {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* container_port = "51121";
constexpr const char* data_volume_path = "/var/lib/fogmesh-controller";

struct controller_container {
  std::vector<std::string> engine;  // the CLI's argv prefix
  std::string name;                 // container name
  std::string volume;               // named volume holding the embedded PostgreSQL
};

std::string state_file(const state& st) {
  return st.controller_dir() + "/container.json";
}

std::vector<std::string> engine_command() {
  std::vector<std::string> words;
  if (const char* cli = std::getenv("FOGMESH_CONTAINER_CLI"); cli != nullptr && *cli != '\0') {
    std::istringstream in(cli);
    for (std::string w; in >> w;) words.push_back(w);
  }
  if (words.empty()) {
    for (const char* name : {"podman", "docker"}) {
      if (auto path = find_on_path(name)) return {*path};
    }
    throw step_error(
        "find a container engine: neither podman nor docker is on PATH (set "
        "FOGMESH_CONTAINER_CLI, or drop spec.controller.container to run fogmesh-controller "
        "natively)");
  }
  if (words[0].find('/') == std::string::npos) {
    auto path = find_on_path(words[0]);
    if (!path) throw step_error("find a container engine: '" + words[0] + "' is not on PATH");
    words[0] = *path;
  }
  return words;
}

std::optional<controller_container> load(const state& st) {
  std::string text = read_file(state_file(st));
  if (text.empty()) return std::nullopt;
  auto o = json::parse(text).as_object();
  controller_container c;
  for (const auto& w : o.at("engine").as_array()) c.engine.emplace_back(w.as_string());
  c.name = std::string(o.at("name").as_string());
  c.volume = std::string(o.at("volume").as_string());
  return c;
}

// Runs the engine CLI; the exit status and its output (stdout and stderr).
int engine(const controller_container& c, std::vector<std::string> args, std::string& out,
           bool echo = false) {
  std::vector<std::string> argv = c.engine;
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, out, echo);
}

// Like engine() but a failure is a step_error "WHAT: <the CLI's message>".
std::string engine_step(const controller_container& c, const std::string& what,
                        std::vector<std::string> args, bool echo = false) {
  std::string out;
  if (engine(c, std::move(args), out, echo) != 0) {
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    // Output shown as it came (a pull's progress) is not repeated: its last line says why.
    if (echo) out = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    throw step_error(what + ": " + c.engine[0] + " failed: " + out);
  }
  return out;
}

// "true LABEL" of an existing container, "" when there is none.
std::string inspect(const controller_container& c) {
  std::string out;
  if (engine(c,
             {"container", "inspect", "--format",
              "{{.State.Running}} {{index .Config.Labels \"fogmesh.spec\"}}", c.name},
             out) != 0) {
    return "";
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool running(const controller_container& c) {
  return inspect(c).rfind("true", 0) == 0;
}

std::string last_lines(const controller_container& c, int lines) {
  std::string out;
  engine(c, {"logs", "--tail", std::to_string(lines), c.name}, out);
  return out;
}

// The host port the engine published the controller's port on ("127.0.0.1:45763" -> "45763").
std::string published_port(const controller_container& c) {
  std::string out;
  if (engine(c, {"port", c.name, std::string(container_port) + "/tcp"}, out) != 0) return "";
  out = out.substr(0, out.find('\n'));
  auto colon = out.rfind(':');
  return colon == std::string::npos ? "" : out.substr(colon + 1);
}

}  // namespace

bool has_container_control_plane(const state& st) {
  return fs::exists(state_file(st));
}

std::string start_controller_container(const state& st, const json::object& ctl, const options& opt,
                                       std::string& port) {
  const std::string image(ctl.at("container").as_object().at("image").as_string());
  const std::string bind(ctl.at("bind").as_string());
  const auto host_port = ctl.at("port").as_int64();
  controller_container c;
  if (auto known = load(st)) {
    c = *known;
  } else {
    c.engine = engine_command();
    c.name = "fogmesh-controller-" + st.ns();
    c.volume = c.name + "-data";
  }
  std::vector<std::string> args = {"--port", container_port, "--data-dir", data_volume_path};
  if (const char* extra = std::getenv("FOGMESH_CONTROLLER_EXTRA_ARGS"); extra != nullptr) {
    std::istringstream words(extra);
    for (std::string w; words >> w;) args.push_back(w);
  }
  // What the container was created from: a change of any of it recreates the container (the
  // data volume stays, so the controller keeps its database).
  json::object what{
      {"image", image}, {"bind", bind}, {"port", host_port}, {"args", json::value_from(args)}};
  std::string spec = std::to_string(std::hash<std::string>{}(json::serialize(what)));
  std::string current = inspect(c);
  if (current == "true " + spec) {
    port = published_port(c);
    return "running";
  }
  std::string outcome = current.empty() ? "started" : "restarted";
  if (!current.empty()) {
    engine_step(c, "replace container " + c.name, {"rm", "-f", c.name});
  }
  fs::create_directories(st.controller_dir());
  json::array engine_words;
  for (const auto& w : c.engine) engine_words.emplace_back(w);
  write_file(state_file(st),
             json::serialize(json::object{
                 {"engine", std::move(engine_words)}, {"name", c.name}, {"volume", c.volume}}) +
                 "\n",
             0644);
  std::string out;
  if (engine(c, {"image", "inspect", "--format", "{{.Id}}", image}, out) != 0) {
    if (!opt.quiet) std::cout << "Pulling " << image << "...\n" << std::flush;
    engine_step(c, "pull image " + image, {"pull", image}, !opt.quiet);
  }
  std::string publish =
      std::string(host_port == 0 ? "" : std::to_string(host_port)) + ":" + container_port;
  if (bind != "0.0.0.0")
    publish = (bind.find(':') != std::string::npos ? "[" + bind + "]" : bind) + ":" + publish;
  std::vector<std::string> run = {"run",     "-d",
                                  "--name",  c.name,
                                  "--label", "fogmesh.spec=" + spec,
                                  "--label", "fogmesh.namespace=" + st.ns(),
                                  "-p",      publish,
                                  "-v",      c.volume + ":" + data_volume_path,
                                  image};
  run.insert(run.end(), args.begin(), args.end());
  if (!opt.quiet) {
    std::cout << "Starting fogmesh-controller in container " << c.name << " from " << image
              << "...\n"
              << std::flush;
  }
  engine_step(c, "start container " + c.name, run);
  // The embedded PostgreSQL's first start (initdb) takes a while; the container's exit ends it.
  auto limit = std::chrono::seconds(opt.wait_seconds > 0 ? opt.wait_seconds : 180);
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string host = bind == "0.0.0.0" || bind == "::" ? "127.0.0.1" : bind;
  for (;;) {
    port = published_port(c);
    if (!port.empty() && controller_up(endpoint::parse("http://" + host + ":" + port))) break;
    if (!running(c)) {
      throw step_error("start container " + c.name + ": it exited; last lines of its log:\n" +
                       last_lines(c, 15));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw step_error("start container " + c.name + ": no answer on /api/v3/status after " +
                       std::to_string(limit.count()) + " s; see `fogctl -n " + st.ns() +
                       " logs controller`");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return outcome;
}

bool container_control_plane_running(const state& st) {
  auto c = load(st);
  return c && running(*c);
}

std::string container_controller_log(const state& st, int lines) {
  auto c = load(st);
  if (!c) return "";
  return engine_step(*c, "log of container", {"logs", "--tail", std::to_string(lines), c->name});
}

bool delete_container_control_plane(const state& st, const options& opt) {
  auto c = load(st);
  if (!c) return false;
  std::string out;
  if (!inspect(*c).empty()) {
    // SIGTERM first: the controller stops its embedded PostgreSQL cleanly (60 s, as natively).
    engine_step(*c, "stop container " + c->name, {"stop", "-t", "60", c->name});
    engine_step(*c, "remove container " + c->name, {"rm", "-f", c->name});
  }
  if (engine(*c, {"volume", "inspect", c->volume}, out) == 0) {
    engine_step(*c, "remove volume " + c->volume, {"volume", "rm", c->volume});
  }
  std::error_code ec;
  fs::remove(state_file(st), ec);
  if (!opt.quiet)
    std::cout << "Removed container " << c->name << " and volume " << c->volume << "\n";
  return true;
}

}  // namespace fogmesh::ctl
