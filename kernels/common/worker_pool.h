// A small persistent pool for row-parallel CPU kernels: RunOnThreads(n, fn) calls fn(0) on the
// calling thread and fn(1..n-1) on parked workers, and returns when all are done. Workers are kept
// between calls (starting a thread per call costs tens of microseconds, a noticeable part of a
// 0.3 ms GEMV), spin briefly for the next call and then sleep on a condition variable, so an idle
// pool costs no CPU. One call at a time (concurrent callers wait for each other).
#pragma once
#include <algorithm>
#include <functional>

namespace qmoe::kernels {

void RunOnThreads(int n, const std::function<void(int)>& fn);

// [begin, end) of part `t` of `parts` equal contiguous parts of [0, n), rounded to multiples of
// `align` (the last part takes the rest).
inline void PartRange(long n, int parts, int t, long align, long* begin, long* end) {
  const long units = (n + align - 1) / align;
  *begin = std::min(n, units * t / parts * align);
  *end = t + 1 == parts ? n : std::min(n, units * (t + 1) / parts * align);
}

}  // namespace qmoe::kernels
