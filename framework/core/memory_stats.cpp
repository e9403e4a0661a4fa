#include "framework/core/memory_stats.h"

#include <fstream>
#include <string>

namespace qmoe {
namespace {

// The value of a "Key:  1234 kB" line of a /proc file, in bytes.
int64_t ProcBytes(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size())) * 1024;
  return 0;
}

}  // namespace

int64_t PeakRssBytes() { return ProcBytes("/proc/self/status", "VmHWM:"); }

int64_t CurrentRssBytes() { return ProcBytes("/proc/self/status", "VmRSS:"); }

bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

int64_t PhysicalMemoryBytes() { return ProcBytes("/proc/meminfo", "MemTotal:"); }

}  // namespace qmoe
