// Shared helpers for kernel benchmarks (Google Benchmark). Header-only; include from *_bench.cpp.
// - LastLevelCacheBytes(): so benchmarks can cycle over enough copies ("experts") that weights
//   come from DRAM, not cache.
// - BaselineTimes: a baseline benchmark records its time per iteration under a key; the kernel
//   benchmark of the same shape (registered after it, so it runs later in the same process)
//   reads it and prints the ratio as a counter. Missing baselines are measured on the spot.
// - SetRateCounters(): effective GB/s and weights/s.
#pragma once
#include <benchmark/benchmark.h>

#include "kernels/common/cache_info.h"
#include "kernels/common/cpu_time.h"
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace qmoe::kernels::bench {

// Seconds per iteration, keyed by e.g. "dense_bf16/2080x6144/k1".
class BaselineTimes {
 public:
  static BaselineTimes& Get() {
    static BaselineTimes t;
    return t;
  }
  void Record(const std::string& key, double sec) { times_[key] = sec; }
  // The recorded time, or `measure()` (seconds per iteration) if none was recorded yet.
  double Lookup(const std::string& key, const std::function<double()>& measure) {
    auto it = times_.find(key);
    if (it != times_.end()) return it->second;
    const double s = measure();
    times_[key] = s;
    return s;
  }

 private:
  std::map<std::string, double> times_;
};

// CPU seconds of the calling thread. Ratios use CPU time, like Google Benchmark's CPU column:
// on a shared machine wall time also counts the time other processes hold the core.
// Median thread-CPU seconds per call of fn over `reps` calls (after one warm-up call).
inline double MedianSeconds(const std::function<void()>& fn, int reps = 15) {
  fn();
  std::vector<double> t(reps);
  for (auto& s : t) {
    const double a = ThreadCpuSeconds();
    fn();
    s = ThreadCpuSeconds() - a;
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[reps / 2];
}

// Thread-CPU seconds per iteration of a finished benchmark loop started at `start_cpu`
// (a ThreadCpuSeconds() value).
inline double SecondsPerIter(const benchmark::State& state, double start_cpu) {
  return (ThreadCpuSeconds() - start_cpu) /
         double(std::max<benchmark::IterationCount>(state.iterations(), 1));
}

// bytes/s ("GB/s" column, bytes moved from memory per iteration) and weights/s.
inline void SetRateCounters(benchmark::State& state, double bytes_per_iter,
                            double weights_per_iter) {
  using C = benchmark::Counter;
  state.counters["bytes/s"] = C(bytes_per_iter, C::kIsIterationInvariantRate, C::kIs1024);
  state.counters["weights/s"] = C(weights_per_iter, C::kIsIterationInvariantRate);
}

}  // namespace qmoe::kernels::bench
