// Cache size and the number of weight copies needed so that cycling over them streams from DRAM,
// not cache. Header-only and free of Google Benchmark, so experiments can use it too.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>

namespace qmoe::kernels::bench {

struct LlcInfo {
  int64_t bytes = 0;
  std::string source;  // where `bytes` came from: "sysfs index3 (L3)", "sysconf", "fallback"
};

// "32768K" / "32M" / "1024" (sysfs cache size text) in bytes; 0 when unreadable.
inline int64_t ParseCacheSize(const std::string& s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return 0;
  int64_t v = std::stoll(s);
  if (s.back() == 'K') v <<= 10;
  if (s.back() == 'M') v <<= 20;
  if (s.back() == 'G') v <<= 30;
  return v;
}

// The last-level cache as this machine reports it. Preferred: the sysfs cache entry of cpu0 whose
// level is 3 (on a chiplet CPU such as Zen 3 that is the L3 of one CCX, 32 MiB: what one core can
// keep); else the highest-level sysfs entry; else sysconf; else 256 MiB as a safe guess.
inline LlcInfo LastLevelCache() {
  int64_t best_bytes = 0;
  int best_level = 0, best_idx = -1;
  for (int idx = 0; idx < 8; ++idx) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/";
    std::ifstream lf(dir + "level"), sf(dir + "size");
    int level = 0;
    std::string size;
    if (!(lf >> level) || !(sf >> size)) continue;
    const int64_t bytes = ParseCacheSize(size);
    if (bytes > 0 && level >= best_level) best_level = level, best_bytes = bytes, best_idx = idx;
  }
  if (best_idx >= 0)
    return {best_bytes, "sysfs index" + std::to_string(best_idx) + " (L" + std::to_string(best_level) + ")"};
#ifdef _SC_LEVEL3_CACHE_SIZE
  if (const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE); l3 > 0) return {l3, "sysconf L3"};
#endif
  return {int64_t{256} << 20, "fallback (no cache size found)"};
}

// Size of the last-level cache in bytes (LastLevelCache(), read once).
inline int64_t LastLevelCacheBytes() {
  static const int64_t bytes = LastLevelCache().bytes;
  return bytes;
}

// Copies of a `bytes_each` object needed so that cycling over them touches `factor` x the LLC.
inline int CopiesToExceedCache(int64_t bytes_each, double factor = 1.5) {
  const double need = factor * double(LastLevelCacheBytes());
  return std::max(2, int(need / double(std::max<int64_t>(bytes_each, 1))) + 1);
}

}  // namespace qmoe::kernels::bench
