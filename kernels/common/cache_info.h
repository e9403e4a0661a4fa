// Cache size and the number of weight copies needed so that cycling over them streams from DRAM,
// not cache. Header-only and free of Google Benchmark, so experiments can use it too.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>

namespace qmoe::kernels::bench {

// Size of the last-level cache in bytes (sysconf, then sysfs, then 256 MiB as a safe guess).
inline int64_t LastLevelCacheBytes() {
#ifdef _SC_LEVEL3_CACHE_SIZE
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) return l3;
#endif
  for (int idx = 4; idx >= 0; --idx) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/size");
    std::string s;
    if (f >> s && !s.empty()) {
      int64_t v = std::stoll(s);
      if (s.back() == 'K') v <<= 10;
      if (s.back() == 'M') v <<= 20;
      if (v > 0) return v;
    }
  }
  return int64_t{256} << 20;
}

// Copies of a `bytes_each` object needed so that cycling over them touches `factor` x the LLC.
inline int CopiesToExceedCache(int64_t bytes_each, double factor = 1.5) {
  const double need = factor * double(LastLevelCacheBytes());
  return std::max(2, int(need / double(std::max<int64_t>(bytes_each, 1))) + 1);
}

}  // namespace qmoe::kernels::bench
