// A STREAM-style read-bandwidth probe: `threads` threads each sum their own contiguous part of one
// buffer (vector loads, independent accumulators), the best of `reps` passes, in GB/s (1e9 bytes/s).
// It is the ceiling a memory-bound kernel such as the bf16 GEMV is measured against. The buffer
// should exceed the last-level cache (ReadBandwidthBytes()). Clock: cpu_time.h (thread CPU time
// for 1 thread, wall clock for more).
#pragma once
#include <cstdint>

namespace qmoe::kernels {

double ReadBandwidthGBs(int threads, int64_t bytes, int reps = 5);
// The buffer size the probe should use here: 2x the last-level cache, at least 256 MiB.
int64_t ReadBandwidthBytes();

}  // namespace qmoe::kernels
