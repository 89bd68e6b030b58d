// Orchestrates the agent benchmarks with real processes, reusing the agent test kit: our
// controller in-process on a throwaway PostgreSQL, fogmesh-agent processes (each supervising its
// fogmesh-router), podman's Docker-compatible service with an offline busybox image, and
// agent_load microservices run as plain processes with the env an agent gives its containers.
//
//   agent_bench idle     [--settle S] [--seconds S]   10 microservices on an edge agent: agent
//                                                      RSS + CPU %, edge router RSS
//   agent_bench messages --load PATH [--count-amqp N] [--count-socket N] [--runs R]
//                        [--disk-limit GB]
//                        two microservices on two edge agents, edge → interior → edge: msg/s
//                        over the SDK's AMQP path and over the local API message socket;
//                        --disk-limit sets the publishing fog's diskLimit (its message archive
//                        bound; 0 = archiving off), else the controller's default (50)
//   agent_bench deploy   [--changes N]                 microservice change at the controller →
//                                                      new container running (p50, max)
//
// Every mode takes --router-binary PATH (the fogmesh-router the agents supervise; default: the
// one next to the agent) and honours FOGMESH_TEST_AGENT_BIN (another build's fogmesh-agent), so
// two builds can be compared on one router.
//
// Prints result lines starting with "RESULT". Timing is measured here, never asserted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "agent_testkit.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fogmesh::agent::test;
using namespace std::chrono_literals;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- /proc ---

std::vector<std::string> stat_fields(int pid) {
  std::string text = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto close = text.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 2));
  fields.push_back("pid");
  fields.push_back("comm");
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[i] is stat field i+1 (1-based as in proc(5))
}
long cpu_ticks(int pid) {
  auto f = stat_fields(pid);
  return f.size() > 14 ? std::stol(f[13]) + std::stol(f[14]) : -1;
}
long rss_kib(int pid) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}
// Resident memory of a process by mapping (/proc/PID/smaps): kB of Rss and of its anonymous part
// (relocated library data, heap, stacks) per file or [heap]/[stack]/anon, largest first, so a
// change to the RSS can be traced to the mapping it came from.
void print_rss_by_mapping(int pid, const std::string& label) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/smaps"));
  std::map<std::string, std::pair<long, long>> by_name;  // name → {Rss kB, Anonymous kB}
  std::string current = "[anon]";
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    bool is_field = colon != std::string::npos && line.find(' ') > colon;
    if (!is_field) {  // a mapping header: "start-end perms offset dev inode [path]"
      std::istringstream header(line);
      std::string field, path;
      for (int i = 0; i < 5 && header >> field; ++i) {
      }
      header >> path;
      current = path.empty() ? "[anon]" : fs::path(path).filename().string();
      continue;
    }
    if (line.rfind("Rss:", 0) == 0) by_name[current].first += std::stol(line.substr(4));
    if (line.rfind("Anonymous:", 0) == 0) by_name[current].second += std::stol(line.substr(10));
  }
  std::vector<std::pair<std::string, std::pair<long, long>>> rows(by_name.begin(), by_name.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  long total = 0, anonymous = 0;
  for (const auto& row : rows) {
    total += row.second.first;
    anonymous += row.second.second;
  }
  std::printf("RESULT %s RSS by mapping (kB): total %ld, anonymous %ld;", label.c_str(), total,
              anonymous);
  for (const auto& [name, kb] : rows) {
    if (kb.first >= 40) std::printf(" %s %ld (anon %ld);", name.c_str(), kb.first, kb.second);
  }
  std::printf("\n");
}

// The agent process whose command line names this config dir, and its fogmesh-router child.
int find_pid(const std::function<bool(int pid, const std::string& cmdline,
                                      const std::vector<std::string>& stat)>& match) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    int pid = std::stoi(name);
    std::string cmdline = read_text("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (match(pid, cmdline, stat_fields(pid))) return pid;
  }
  return -1;
}
int agent_pid(const std::string& config_dir) {
  return find_pid([&](int, const std::string& cmd, const std::vector<std::string>&) {
    return cmd.find("fogmesh-agent --config-dir " + config_dir + " run") != std::string::npos;
  });
}
int router_pid(int agent) {
  return find_pid([&](int, const std::string& cmd, const std::vector<std::string>& stat) {
    return stat.size() > 3 && stat[3] == std::to_string(agent) &&
           cmd.find("fogmesh-router") != std::string::npos;
  });
}

// --- processes ---

struct child {
  int pid = -1;
  std::string output;
};
child spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
            const std::string& output) {
  child c;
  c.output = output;
  c.pid = ::fork();
  if (c.pid == 0) {
    int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return c;
}
// Exit code, or -1 after killing it at the deadline; *cpu_seconds = its user + system time.
int wait_child(child& c, std::chrono::seconds deadline, double* cpu_seconds = nullptr) {
  int status = 0;
  struct rusage usage {};
  auto until = std::chrono::steady_clock::now() + deadline;
  while (::wait4(c.pid, &status, WNOHANG, &usage) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(c.pid, SIGKILL);
      ::wait4(c.pid, &status, 0, &usage);
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (cpu_seconds) {
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    *cpu_seconds = secs(usage.ru_utime) + secs(usage.ru_stime);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// --router-binary: the fogmesh-router every agent supervises (default: the one next to the agent),
// so that two agent builds can be compared on the same router.
std::string g_router_binary;

// Realistic agent settings (not the tests' short intervals and debug log).
void write_bench_settings(const std::string& config_dir) {
  fs::create_directories(config_dir);
  std::string router = g_router_binary.empty()
                           ? std::string()
                           : R"(,"routerBinary":)" + json::serialize(json::value(g_router_binary));
  std::ofstream(config_dir + "/agent.json")
      << R"({"localApiPort":0,"localApiBind":["127.0.0.1"],"localApiBindBridge":false,"logLevel":"info")"
      << router << "}";
}

struct edge_setup {
  std::string fog, config_dir;
  int amqp_port = 0;
};

edge_setup provision(controller_env& controller, const std::string& base, const std::string& name,
                     const std::string& extra) {
  edge_setup e;
  e.amqp_port = free_port();
  e.fog = controller.create_fog(
      name, R"("routerMode":"edge","messagingPort":)" + std::to_string(e.amqp_port) +
                R"(,"availableDiskThreshold":0)" + (extra.empty() ? "" : "," + extra));
  e.config_dir = base + "/" + name;
  write_bench_settings(e.config_dir);
  auto p = run_agent_cli({"--config-dir", e.config_dir, "provision",
                          controller.provisioning_key(e.fog), "--controller", controller.url()});
  if (p.exit_code != 0) throw std::runtime_error("provision " + name + ": " + p.err);
  return e;
}

// A hub (system fog, interior router) so edge routers have an upstream, like a real deployment.
edge_setup provision_hub(controller_env& controller, const std::string& base) {
  edge_setup hub;
  hub.amqp_port = free_port();
  hub.fog = controller.create_fog(
      "hub", R"("isSystem":true,"routerMode":"interior","messagingPort":)" +
                 std::to_string(hub.amqp_port) + R"(,"interRouterPort":)" +
                 std::to_string(free_port()) + R"(,"edgeRouterPort":)" +
                 std::to_string(free_port()) + R"(,"availableDiskThreshold":0)");
  hub.config_dir = base + "/hub";
  write_bench_settings(hub.config_dir);
  auto p = run_agent_cli({"--config-dir", hub.config_dir, "provision",
                          controller.provisioning_key(hub.fog), "--controller", controller.url()});
  if (p.exit_code != 0) throw std::runtime_error("provision hub: " + p.err);
  return hub;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string arg(int argc, char** argv, const std::string& flag, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return fallback;
}

// --- idle ---

int bench_idle(int argc, char** argv) {
  int settle = std::stoi(arg(argc, argv, "--settle", "30"));
  int seconds = std::stoi(arg(argc, argv, "--seconds", "60"));
  if (auto reason = podman_service::skip_reason(); !reason.empty()) {
    std::cerr << "needs podman: " << reason << "\n";
    return 77;
  }
  temp_dir dir;
  podman_service podman;
  controller_env controller;
  auto hub = provision_hub(controller, dir.path());
  auto edge = provision(controller, dir.path(), "idle-edge", "");
  agent_process hub_agent(hub.config_dir, {"DOCKER_HOST=" + podman.docker_host()});
  agent_process agent(edge.config_dir, {"DOCKER_HOST=" + podman.docker_host()});
  json::array microservices;
  for (int i = 0; i < 10; ++i) {
    microservices.push_back(json::object{
        {"name", "idle-" + std::to_string(i)},
        {"agentName", "idle-edge"},
        {"registryId", 2},
        {"images", json::array{json::object{{"containerImage", "localhost/busybox:latest"},
                                            {"fogTypeId", 1}}}},
        {"cmd", json::array{"sleep", "1000000"}}});
  }
  auto c = controller.post(
      "/api/v3/application",
      json::serialize(json::object{
          {"name", "idle-app"}, {"isActivated", true}, {"microservices", microservices}}));
  if (c.status != 201) throw std::runtime_error("application: " + c.body);
  std::vector<std::string> uuids;
  for (int i = 0; i < 10; ++i)
    uuids.push_back(controller.microservice_uuid("idle-app", "idle-" + std::to_string(i)));
  bool running = eventually(
      [&] {
        return std::all_of(uuids.begin(), uuids.end(), [&](const std::string& u) {
          return controller.microservice_status(u) == "RUNNING";
        });
      },
      300s);
  if (!running)
    throw std::runtime_error("the 10 microservices did not reach RUNNING\n" + agent.log());
  int pid = agent_pid(edge.config_dir);
  int router = router_pid(pid);
  std::cout << "all 10 RUNNING; agent pid " << pid << ", edge router pid " << router
            << "; settling " << settle << " s, then sampling " << seconds << " s" << std::endl;
  std::this_thread::sleep_for(std::chrono::seconds(settle));
  long ticks0 = cpu_ticks(pid);
  auto t0 = std::chrono::steady_clock::now();
  long agent_rss_max = 0, router_rss_max = 0, router_rss_min = -1;
  int router_missing = 0;
  double agent_rss_sum = 0, router_rss_sum = 0;
  int samples = 0;
  for (int s = 0; s < seconds; ++s) {
    std::this_thread::sleep_for(1s);
    long a = rss_kib(pid), r = router > 0 ? rss_kib(router) : -1;
    // A router that restarted has a new pid: counted, not averaged in as zero.
    if (r < 0) {
      ++router_missing;
      router = router_pid(pid);
      r = router > 0 ? rss_kib(router) : 0;
    }
    router_rss_min = router_rss_min < 0 ? r : std::min(router_rss_min, r);
    agent_rss_max = std::max(agent_rss_max, a);
    router_rss_max = std::max(router_rss_max, r);
    agent_rss_sum += static_cast<double>(a);
    router_rss_sum += static_cast<double>(r);
    ++samples;
  }
  long ticks1 = cpu_ticks(pid);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = 100.0 * static_cast<double>(ticks1 - ticks0) /
               static_cast<double>(::sysconf(_SC_CLK_TCK)) / wall;
  std::printf(
      "RESULT idle agent (10 microservices RUNNING): RSS mean %.1f MiB, max %.1f MiB; CPU %.2f %% "
      "of one core over %.0f s\n",
      agent_rss_sum / samples / 1024, static_cast<double>(agent_rss_max) / 1024, cpu, wall);
  std::printf(
      "RESULT idle edge router: RSS mean %.1f MiB, min %.1f MiB, max %.1f MiB (pid re-found in %d "
      "samples)\n",
      router_rss_sum / samples / 1024, static_cast<double>(router_rss_min) / 1024,
      static_cast<double>(router_rss_max) / 1024, router_missing);
  print_rss_by_mapping(pid, "idle agent");
  controller.del("/api/v3/application/idle-app");
  eventually([&] { return podman.podman({"ps", "-q"}).empty(); }, 120s);
  return 0;
}

// --- messages ---

// The line of `text` that starts with `prefix` (the last one), or "".
std::string line_from(const std::string& text, const std::string& prefix) {
  auto at = text.rfind(prefix);
  return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
}
std::string result_line(const std::string& output_file) {
  std::string text = read_text(output_file);
  auto at = text.rfind("received ");
  if (at == std::string::npos) at = text.rfind("sent ");
  return at == std::string::npos ? text : text.substr(at, text.find('\n', at) - at);
}
double rate_of(const std::string& line) {
  auto eq = line.find(" = ");
  return eq == std::string::npos ? 0 : std::stod(line.substr(eq + 3));
}

int bench_messages(int argc, char** argv) {
  std::string load = arg(argc, argv, "--load", "");
  long count_amqp = std::stol(arg(argc, argv, "--count-amqp", "300000"));
  long count_socket = std::stol(arg(argc, argv, "--count-socket", "100000"));
  int runs = std::stoi(arg(argc, argv, "--runs", "3"));
  std::string disk_limit = arg(argc, argv, "--disk-limit", "");
  if (load.empty()) throw std::runtime_error("--load PATH/agent_load is required");
  temp_dir dir;
  controller_env controller;
  auto hub = provision_hub(controller, dir.path());
  auto edge1 = provision(
      controller, dir.path(), "edge-1",
      disk_limit.empty() ? "" : R"("diskLimit":)" + std::to_string(std::stod(disk_limit)));
  auto edge2 = provision(controller, dir.path(), "edge-2", "");
  std::string no_engine = "DOCKER_HOST=unix://" + dir.path() + "/no-engine.sock";
  agent_process hub_agent(hub.config_dir, {no_engine});
  agent_process agent1(edge1.config_dir, {no_engine});
  agent_process agent2(edge2.config_dir, {no_engine});
  auto c = controller.post("/api/v3/application", R"({
      "name": "bench-app", "isActivated": true,
      "microservices": [
        {"name": "sender", "agentName": "edge-1",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "socket-receiver", "agentName": "edge-2",
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]},
        {"name": "amqp-receiver", "agentName": "edge-2",
         "env": [{"key": "FOGMESH_MESSAGE_TRANSPORT", "value": "amqp"}],
         "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}]}],
      "routes": [{"name": "to-socket", "from": "sender", "to": "socket-receiver"}]})");
  if (c.status != 201) throw std::runtime_error("application: " + c.body);
  std::string sender = controller.microservice_uuid("bench-app", "sender");
  std::string socket_receiver = controller.microservice_uuid("bench-app", "socket-receiver");
  std::string amqp_receiver = controller.microservice_uuid("bench-app", "amqp-receiver");
  int port1 = agent1.local_api_port(), port2 = agent2.local_api_port();
  if (!eventually([&] {
        return !agent1.microservice_token(sender).empty() &&
               !agent2.microservice_token(socket_receiver).empty();
      })) {
    throw std::runtime_error("no tokens");
  }
  auto env = [&](agent_process& a, int port, const std::string& uuid, int amqp) {
    return std::vector<std::string>{
        "SELFNAME=" + uuid, "FOGMESH_LOCAL_API_TOKEN=" + a.microservice_token(uuid),
        "FOGMESH_LOCAL_API_PORT=" + std::to_string(port), "FOGMESH_LOCAL_API_HOST=127.0.0.1",
        "FOGMESH_ROUTER_URL=amqp://127.0.0.1:" + std::to_string(amqp)};
  };
  auto send_env = env(agent1, port1, sender, edge1.amqp_port);
  auto socket_env = env(agent2, port2, socket_receiver, edge2.amqp_port);
  auto amqp_env = env(agent2, port2, amqp_receiver, edge2.amqp_port);

  // One round: receiver first (until it says ready), then the sender; returns the receiver's line.
  auto round = [&](const std::string& via, long count, const std::vector<std::string>& receiver_env,
                   const std::string& to, const std::string& tag) {
    std::string rout = dir.path() + "/" + tag + "-receiver.out",
                sout = dir.path() + "/" + tag + "-sender.out";
    auto receiver = spawn({load, "receive", "--via", via, "--count", std::to_string(count)},
                          receiver_env, rout);
    eventually([&] { return read_text(rout).find("ready") != std::string::npos; }, 120s);
    std::vector<std::string> sargs = {
        load, "send", "--via", via, "--count", std::to_string(count), "--size", "1024"};
    if (!to.empty()) {
      sargs.push_back("--to");
      sargs.push_back(to);
    }
    // CPU time per message of every process on the path (agents and routers from /proc, the
    // two microservices from their rusage): where the time goes, without a profiler.
    std::vector<std::pair<std::string, int>> daemons;
    for (auto& [name, config_dir] : std::vector<std::pair<std::string, std::string>>{
             {"edge-1", edge1.config_dir}, {"hub", hub.config_dir}, {"edge-2", edge2.config_dir}}) {
      int agent = agent_pid(config_dir);
      daemons.emplace_back("agent " + name, agent);
      daemons.emplace_back("router " + name, agent > 0 ? router_pid(agent) : -1);
    }
    std::vector<long> ticks0;
    for (auto& d : daemons) ticks0.push_back(d.second > 0 ? cpu_ticks(d.second) : -1);
    auto s = spawn(sargs, send_env, sout);
    double sender_cpu = 0, receiver_cpu = 0;
    int sent_rc = wait_child(s, 600s, &sender_cpu);
    int received_rc = wait_child(receiver, 600s, &receiver_cpu);
    std::cout << "  " << tag << ": sender rc " << sent_rc << " [" << result_line(sout)
              << "], receiver rc " << received_rc << " [" << result_line(rout) << "]" << std::endl;
    if (auto released = line_from(read_text(sout), "released and resent"); !released.empty())
      std::cout << "    sender: " << released << std::endl;
    double per = 1e6 / static_cast<double>(count),
           tick = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::ostringstream cpu;
    cpu << std::fixed << std::setprecision(1) << "    CPU µs/msg: sender " << sender_cpu * per
        << ", receiver " << receiver_cpu * per;
    for (size_t i = 0; i < daemons.size(); ++i) {
      long t1 = daemons[i].second > 0 ? cpu_ticks(daemons[i].second) : -1;
      if (ticks0[i] >= 0 && t1 >= 0)
        cpu << ", " << daemons[i].first << " " << static_cast<double>(t1 - ticks0[i]) * tick * per;
    }
    std::cout << cpu.str() << std::endl;
    return received_rc == 0 ? result_line(rout) : std::string();
  };
  // Warm-up: until a message crosses the mesh on each path (routers attached, addresses known).
  for (int i = 0; i < 60 && round("socket", 100, socket_env, "", "warmup-socket").empty(); ++i) {
  }
  for (int i = 0; i < 60 && round("amqp", 100, amqp_env, amqp_receiver, "warmup-amqp").empty();
       ++i) {
  }
  std::vector<double> amqp_rates, socket_rates;
  for (int r = 0; r < runs; ++r) {
    amqp_rates.push_back(
        rate_of(round("amqp", count_amqp, amqp_env, amqp_receiver, "amqp-" + std::to_string(r))));
    socket_rates.push_back(
        rate_of(round("socket", count_socket, socket_env, "", "socket-" + std::to_string(r))));
  }
  auto list = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v) s += (s.empty() ? "" : ", ") + std::to_string(static_cast<long>(x));
    return s;
  };
  std::printf(
      "RESULT AMQP SDK path, 1 KiB, edge-1 → hub → edge-2, %ld msgs x %d runs: median %.0f msg/s "
      "(runs: %s)\n",
      count_amqp, runs, median(amqp_rates), list(amqp_rates).c_str());
  std::printf(
      "RESULT message socket path (SDK → agent → router mesh → agent → SDK), 1 KiB, %ld msgs x %d "
      "runs: median %.0f msg/s (runs: %s)\n",
      count_socket, runs, median(socket_rates), list(socket_rates).c_str());
  return 0;
}

// --- deploy ---

// State.StartedAt of a podman inspect ("2026-11-26T03:40:00.123456789Z" or with +hh:mm) → epoch ms.
int64_t started_at_ms(const std::string& text) {
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return -1;
  int64_t ms = static_cast<int64_t>(::timegm(&tm)) * 1000;
  if (*rest == '.') {
    ++rest;
    int64_t scale = 100;
    while (std::isdigit(static_cast<unsigned char>(*rest))) {
      ms += (*rest - '0') * scale;
      scale /= 10;
      ++rest;
    }
  }
  if (*rest == '+' || *rest == '-') {
    int sign = *rest == '+' ? 1 : -1;
    int hours = std::stoi(std::string(rest + 1, 2)), minutes = std::stoi(std::string(rest + 4, 2));
    ms -= sign * (hours * 60 + minutes) * 60000LL;
  }
  return ms;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int bench_deploy(int argc, char** argv) {
  int changes = std::stoi(arg(argc, argv, "--changes", "10"));
  if (auto reason = podman_service::skip_reason(); !reason.empty()) {
    std::cerr << "needs podman: " << reason << "\n";
    return 77;
  }
  temp_dir dir;
  podman_service podman;
  controller_env controller;
  // routerMode none: no router to wait for; this measures the controller → agent → engine path.
  std::string fog =
      controller.create_fog("deploy-edge", R"("routerMode":"none","availableDiskThreshold":0)");
  std::string config_dir = dir.path() + "/deploy-edge";
  write_bench_settings(config_dir);
  if (run_agent_cli({"--config-dir", config_dir, "provision", controller.provisioning_key(fog),
                     "--controller", controller.url()})
          .exit_code != 0) {
    throw std::runtime_error("provision");
  }
  agent_process agent(config_dir, {"DOCKER_HOST=" + podman.docker_host()});
  auto c = controller.post("/api/v3/application",
                           R"({"name": "deploy-app", "isActivated": true, "microservices": [
      {"name": "d", "agentName": "deploy-edge", "registryId": 2,
       "images": [{"containerImage": "localhost/busybox:latest", "fogTypeId": 1}],
       "env": [{"key": "ROUND", "value": "0"}], "cmd": ["sleep", "1000000"]}]})");
  if (c.status != 201) throw std::runtime_error("application: " + c.body);
  std::string uuid = controller.microservice_uuid("deploy-app", "d");
  std::string name = "iofog_" + uuid;
  auto inspect = [&]() -> json::value {
    int rc = 0;
    auto out = podman.podman({"inspect", name}, &rc);
    boost::system::error_code ec;
    auto v = json::parse(out, ec);
    if (rc != 0 || ec || !v.is_array() || v.as_array().empty()) return nullptr;
    return v.as_array()[0];
  };
  auto running_id = [&]() -> std::pair<std::string, int64_t> {
    auto v = inspect();
    if (v.is_null() || !v.at("State").at("Running").as_bool()) return {"", 0};
    return {std::string(v.at("Id").as_string()),
            started_at_ms(std::string(v.at("State").at("StartedAt").as_string()))};
  };
  if (!eventually([&] { return !running_id().first.empty(); }, 300s)) {
    throw std::runtime_error("first container never ran\n" + agent.log());
  }
  std::this_thread::sleep_for(5s);  // let the agent's status settle
  std::vector<double> latencies;
  for (int i = 1; i <= changes; ++i) {
    std::string before = running_id().first;
    int64_t t0 = now_ms();
    auto p =
        controller.patch("/api/v3/microservices/" + uuid,
                         R"({"env": [{"key": "ROUND", "value": ")" + std::to_string(i) + R"("}]})");
    if (p.status != 204)
      throw std::runtime_error("PATCH: " + std::to_string(p.status) + " " + p.body);
    std::pair<std::string, int64_t> now{"", 0};
    if (!eventually(
            [&] {
              now = running_id();
              return !now.first.empty() && now.first != before;
            },
            120s)) {
      throw std::runtime_error("change " + std::to_string(i) + " never ran\n" + agent.log());
    }
    double ms = static_cast<double>(now.second - t0);
    latencies.push_back(ms);
    std::cout << "  change " << i << ": new container started " << ms << " ms after the PATCH"
              << std::endl;
    std::this_thread::sleep_for(2s);
  }
  std::vector<double> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  std::printf(
      "RESULT microservice change (env) at the controller → new container running, %d changes: p50 "
      "%.0f ms, min %.0f ms, max %.0f ms\n",
      changes, median(latencies), sorted.front(), sorted.back());
  controller.del("/api/v3/application/deploy-app");
  eventually([&] { return podman.podman({"ps", "-q"}).empty(); }, 120s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  try {
    g_router_binary = arg(argc, argv, "--router-binary", "");
    if (mode == "idle") return bench_idle(argc, argv);
    if (mode == "messages") return bench_messages(argc, argv);
    if (mode == "deploy") return bench_deploy(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "agent_bench " << mode << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: agent_bench idle|messages|deploy [options]\n";
  return 2;
}
