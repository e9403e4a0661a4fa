// RunOnThreads(n, fn): fn(0) on the calling thread and fn(1..n-1) on the shared persistent pool
// (thread_pool.h), returning when all are done; PartRange splits a range into aligned parts.
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
