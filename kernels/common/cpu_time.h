// The clock of qmoe's CPU timings (kernel benchmarks and the kernels experiment): thread CPU
// time, which on a shared machine does not count other processes. Header-only.
#pragma once
#include <time.h>

namespace qmoe::kernels::bench {

inline double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace qmoe::kernels::bench
