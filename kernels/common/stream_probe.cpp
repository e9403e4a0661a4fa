#include "kernels/common/stream_probe.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "framework/core/error.h"
#include "kernels/common/cache_info.h"
#include "kernels/common/cpu_features.h"
#include "kernels/common/cpu_time.h"
#include "kernels/common/worker_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qmoe::kernels {
namespace {

#if defined(__x86_64__)
// 256 bytes (4 cache lines) per iteration with 8 independent accumulators, like the AVX-512 loop:
// fewer in flight would measure the loop, not the memory.
__attribute__((target("avx2"))) float SumAvx2(const float* p, int64_t n) {
  __m256 a[8];
  for (auto& v : a) v = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; ++j) _mm_prefetch(reinterpret_cast<const char*>(p + i + 512 + 16 * j), _MM_HINT_T0);
    for (int j = 0; j < 8; ++j) a[j] = _mm256_add_ps(a[j], _mm256_load_ps(p + i + 8 * j));
  }
  for (int j = 1; j < 8; ++j) a[0] = _mm256_add_ps(a[0], a[j]);
  alignas(32) float t[8];
  _mm256_store_ps(t, a[0]);
  float s = 0;
  for (float v : t) s += v;
  for (; i < n; ++i) s += p[i];
  return s;
}

__attribute__((target("avx512f"))) float SumAvx512(const float* p, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; ++j) _mm_prefetch(reinterpret_cast<const char*>(p + i + 512 + 16 * j), _MM_HINT_T0);
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  for (; i < n; ++i) s += p[i];
  return s;
}
#endif

float SumOne(const float* p, int64_t n) {
#if defined(__x86_64__)
  if (BestCpuIsa() >= CpuIsa::kAvx512) return SumAvx512(p, n);
  if (BestCpuIsa() >= CpuIsa::kAvx2) return SumAvx2(p, n);
#endif
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
  for (; i < n; ++i) s0 += p[i];
  return s0 + s1 + s2 + s3;
}

// The part is read as kStreams interleaved sequential streams (4 KiB steps from each in turn), as
// a GEMV reads several rows at once: one stream per core leaves the prefetchers idle part of the
// time and measures less than the memory delivers (about 25 % less on the VM here with 256-bit loads).
constexpr int64_t kStreams = 4, kStep = 1024;  // floats
float Sum(const float* p, int64_t n) {
  const int64_t per = n / kStreams / kStep * kStep;
  float s = 0;
  for (int64_t o = 0; o < per; o += kStep)
    for (int64_t j = 0; j < kStreams; ++j) s += SumOne(p + j * per + o, kStep);
  return s + SumOne(p + kStreams * per, n - kStreams * per);
}

}  // namespace

int64_t ReadBandwidthBytes() { return std::max<int64_t>(int64_t{256} << 20, 2 * bench::LastLevelCacheBytes()); }

double ReadBandwidthGBs(int threads, int64_t bytes, int reps) {
  QMOE_CHECK(threads >= 1 && bytes >= 4096 && reps >= 1, "ReadBandwidthGBs: threads = ", threads,
             ", bytes = ", bytes, ", reps = ", reps, " (expected >= 1, >= 4096, >= 1)");
  const int64_t n = bytes / 4 / 64 * 64;  // floats, whole 256-byte lines per thread boundary
  std::unique_ptr<float, decltype(&std::free)> buf(static_cast<float*>(std::aligned_alloc(64, size_t(n) * 4)),
                                                    &std::free);
  QMOE_CHECK(buf != nullptr, "ReadBandwidthGBs: cannot allocate ", bytes, " bytes");
  float* p = buf.get();
  // Each thread first-touches (and so places) the part it later reads.
  RunOnThreads(threads, [&](int t) {
    long b, e;
    PartRange(long(n), threads, t, 64, &b, &e);
    std::fill(p + b, p + e, 1.0f);
  });
  std::vector<float> sink(static_cast<size_t>(threads), 0.0f);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = bench::ClockSeconds(threads);
    RunOnThreads(threads, [&](int t) {
      long b, e;
      PartRange(long(n), threads, t, 64, &b, &e);
      sink[size_t(t)] += Sum(p + b, e - b);
    });
    const double s = bench::ClockSeconds(threads) - t0;
    best = std::max(best, double(n) * 4 / s / 1e9);
  }
  QMOE_CHECK(sink[0] > 0, "ReadBandwidthGBs: the probe read nothing");
  return best;
}

}  // namespace qmoe::kernels
