#include "framework/core/memory_stats.h"

#include <fstream>
#include <string>

namespace qmoe {
namespace {

// The value of a "Key:  1234 kB" line of /proc/self/status, in bytes.
int64_t StatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size())) * 1024;
  return 0;
}

}  // namespace

int64_t PeakRssBytes() { return StatusBytes("VmHWM:"); }

int64_t CurrentRssBytes() { return StatusBytes("VmRSS:"); }

}  // namespace qmoe
