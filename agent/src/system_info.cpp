#include "system_info.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string_view>

namespace fogmesh::agent {

namespace {

struct cpu_times {
  uint64_t busy = 0;
  uint64_t total = 0;
};

cpu_times read_total_cpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  cpu_times t;
  t.busy = user + nice + system + irq + softirq + steal;
  t.total = t.busy + idle + iowait;
  return t;
}

uint64_t read_process_ticks() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the command name (which may contain spaces) start after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

}  // namespace

system_sample sample_system(const std::string& disk_path) {
  static cpu_times last_total = read_total_cpu();
  static uint64_t last_proc = read_process_ticks();
  static auto last_time = std::chrono::steady_clock::now();

  system_sample s;
  {
    std::ifstream in("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    in >> size >> resident;
    s.process_rss_mb = static_cast<double>(resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE))) / (1024.0 * 1024.0);
  }
  auto total = read_total_cpu();
  auto proc = read_process_ticks();
  auto now = std::chrono::steady_clock::now();
  if (total.total > last_total.total) {
    s.total_cpu_percent = 100.0 * static_cast<double>(total.busy - last_total.busy) /
                          static_cast<double>(total.total - last_total.total);
  }
  double seconds = std::chrono::duration<double>(now - last_time).count();
  if (seconds > 0) {
    s.process_cpu_percent = 100.0 * static_cast<double>(proc - last_proc) /
                            static_cast<double>(::sysconf(_SC_CLK_TCK)) / seconds;
  }
  last_total = total;
  last_proc = proc;
  last_time = now;
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t value = 0;
    std::string unit;
    while (in >> key >> value >> unit) {
      if (key == "MemAvailable:") {
        s.available_memory_bytes = static_cast<int64_t>(value * 1024);
        break;
      }
    }
  }
  struct statvfs fs {};
  if (::statvfs(disk_path.c_str(), &fs) == 0) {
    s.available_disk_bytes = static_cast<int64_t>(fs.f_bavail * fs.f_frsize);
  }
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (auto* a = list; a; a = a->ifa_next) {
      if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
      auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
      char buf[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
      s.ip_address = buf;
      break;
    }
    ::freeifaddrs(list);
  }
  return s;
}

int detect_fog_type() {
  utsname u{};
  ::uname(&u);
  std::string_view machine(u.machine);
  if (machine.rfind("arm", 0) == 0 || machine.rfind("aarch64", 0) == 0) return 2;
  return 1;
}

}  // namespace fogmesh::agent
