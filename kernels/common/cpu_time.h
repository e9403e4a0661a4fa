// The clocks of qmoe's CPU timings (kernel benchmarks and the kernels experiment). Header-only.
// One thread: thread CPU time, which on a shared machine does not count other processes.
// Several threads: wall-clock time (the work of the other threads is not in the caller's CPU time).
#pragma once
#include <time.h>

namespace qmoe::kernels::bench {

inline double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

inline double WallSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// The clock for a measurement that runs on `threads` threads (see above).
inline double ClockSeconds(int threads) { return threads <= 1 ? ThreadCpuSeconds() : WallSeconds(); }
inline const char* ClockName(int threads) { return threads <= 1 ? "thread CPU time" : "wall clock"; }

}  // namespace qmoe::kernels::bench
