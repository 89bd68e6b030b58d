// Resource figures for the status report, read from /proc and statvfs. CPU percentages are
// computed against the previous call (the first call reports 0).
#pragma once

#include <cstdint>
#include <string>

namespace fogmesh::agent {

struct system_sample {
  double process_rss_mb = 0;
  double process_cpu_percent = 0;
  double total_cpu_percent = 0;
  int64_t available_memory_bytes = 0;
  int64_t available_disk_bytes = 0;
  std::string ip_address;  // first non-loopback IPv4 address, "" if none
};

system_sample sample_system(const std::string& disk_path);

// 1 = x86 (x86_64, i686), 2 = ARM (aarch64, armv7l): ioFog's fog types.
int detect_fog_type();

}  // namespace fogmesh::agent
