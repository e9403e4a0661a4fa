// bf16 GEMV (bf16_gemv.h). The bf16 -> fp32 widening costs one instruction per vector of weights
// and parity: a 32-bit lane holding the bf16 pair (w[2i], w[2i+1]) is w[2i+1] in fp32 after
// masking off the low half and w[2i] after shifting it up by 16 bits. So x is permuted once per
// call into the same order (per chunk of 2L weights, L = lanes: the L even-indexed x, then the L
// odd-indexed ones) and each chunk costs one load, a shift, an and and 2 FMAs per token and row.
#include "kernels/common/bf16_gemv.h"

#include <algorithm>
#include <vector>

#include "framework/core/error.h"
#include "kernels/common/worker_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define QMOE_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define QMOE_T256 __attribute__((target("avx2,fma")))
#endif

namespace qmoe::kernels {
namespace {

constexpr int64_t kMaxK = 8;     // tokens per pass over W
constexpr int64_t kBlock = 16;   // rows that share one x panel in L1
constexpr int64_t kPanelFloats = 4096;  // x floats of all k tokens per panel: 16 KiB

// Column panel (multiple of the chunk) for k tokens: k x panel floats fit kPanelFloats.
int64_t PanelCols(int64_t k, int64_t chunk) {
  return std::max<int64_t>(8 * chunk, kPanelFloats / k / chunk * chunk);
}

// The call's operands after the x permutation.
struct Call {
  const Bf16* w;
  int64_t h, cols, main;  // main = cols rounded down to the chunk: the vector part
  const float* x;         // original x (the tail columns [main, cols))
  const float* xp;        // permuted x, [k][xs]
  int64_t xs;             // row stride of xp: main + 16 floats, so the k rows do not alias in L1
  float* y;
};

#if defined(__x86_64__)
// acc[R][K] (16 fp32 lanes each, in memory between panels) += rows w[0..R) . x over [c0, c1).
template <int R, int K>
QMOE_T512 void Panel512(const Bf16* w, int64_t cols, const float* xp, int64_t xs, int64_t c0, int64_t c1,
                        float* acc) {
  const __m512i hi = _mm512_set1_epi32(int(0xffff0000u));
  __m512 a[R][K];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) a[r][j] = _mm512_loadu_ps(acc + (r * K + j) * 16);
  for (int64_t c = c0; c < c1; c += 32) {
    __m512 we[R], wo[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i v = _mm512_loadu_si512(w + r * cols + c);
      we[r] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      wo[r] = _mm512_castsi512_ps(_mm512_and_si512(v, hi));
    }
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) {
      const __m512 xe = _mm512_loadu_ps(xp + j * xs + c), xo = _mm512_loadu_ps(xp + j * xs + c + 16);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r][j] = _mm512_fmadd_ps(wo[r], xo, _mm512_fmadd_ps(we[r], xe, a[r][j]));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) _mm512_storeu_ps(acc + (r * K + j) * 16, a[r][j]);
}

// The same with 8 lanes (a chunk is 16 weights).
template <int R, int K>
QMOE_T256 void Panel256(const Bf16* w, int64_t cols, const float* xp, int64_t xs, int64_t c0, int64_t c1,
                        float* acc) {
  const __m256i hi = _mm256_set1_epi32(int(0xffff0000u));
  __m256 a[R][K];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) a[r][j] = _mm256_loadu_ps(acc + (r * K + j) * 8);
  for (int64_t c = c0; c < c1; c += 16) {
    __m256 we[R], wo[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * cols + c));
      we[r] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      wo[r] = _mm256_castsi256_ps(_mm256_and_si256(v, hi));
    }
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) {
      const __m256 xe = _mm256_loadu_ps(xp + j * xs + c), xo = _mm256_loadu_ps(xp + j * xs + c + 8);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r][j] = _mm256_fmadd_ps(wo[r], xo, _mm256_fmadd_ps(we[r], xe, a[r][j]));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) _mm256_storeu_ps(acc + (r * K + j) * 8, a[r][j]);
}

using PanelFn = void (*)(const Bf16*, int64_t, const float*, int64_t, int64_t, int64_t, float*);

// Rows [r0, r1) for K tokens: blocks of kBlock rows; per column panel, groups of R rows (then
// single rows); per row and token the lane sums plus the scalar tail columns.
template <int K, int Lanes, int R>
void RowsSimd(const Call& c, int64_t r0, int64_t r1, PanelFn group, PanelFn single) {
  const int64_t panel = PanelCols(K, 2 * Lanes);
  alignas(64) float acc[kBlock * K * Lanes];
  for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
    const int64_t nb = std::min(kBlock, r1 - b0);
    std::fill(acc, acc + nb * K * Lanes, 0.0f);
    for (int64_t p0 = 0; p0 < c.main; p0 += panel) {
      const int64_t p1 = std::min(c.main, p0 + panel);
      int64_t i = 0;
      for (; i + R <= nb; i += R) group(c.w + (b0 + i) * c.cols, c.cols, c.xp, c.xs, p0, p1, acc + i * K * Lanes);
      for (; i < nb; ++i) single(c.w + (b0 + i) * c.cols, c.cols, c.xp, c.xs, p0, p1, acc + i * K * Lanes);
    }
    for (int64_t i = 0; i < nb; ++i)
      for (int j = 0; j < K; ++j) {
        float s = 0;
        for (int l = 0; l < Lanes; ++l) s += acc[(i * K + j) * Lanes + l];
        const Bf16* wr = c.w + (b0 + i) * c.cols;
        for (int64_t col = c.main; col < c.cols; ++col) s += Bf16ToFloat(wr[col]) * c.x[j * c.cols + col];
        c.y[j * c.h + b0 + i] = s;
      }
  }
}

// Rows per group: as many as keep R x K accumulators within half the vector registers; at k = 1,
// 8 rows, so that 8 weight streams are in flight (4 reached 60-80 % of the STREAM probe on an AMD
// EPYC Zen 4 core, 8 reached 84-97 %: dict_matvec_bench's stream_% column).
constexpr int Rows512(int k) { return k == 1 ? 8 : std::max(1, std::min(4, 16 / k)); }
constexpr int Rows256(int k) { return k == 1 ? 8 : std::max(1, std::min(4, 8 / k)); }

template <int K>
void Rows512K(const Call& c, int64_t r0, int64_t r1) {
  constexpr int R = Rows512(K);
  RowsSimd<K, 16, R>(c, r0, r1, Panel512<R, K>, Panel512<1, K>);
}
template <int K>
void Rows256K(const Call& c, int64_t r0, int64_t r1) {
  constexpr int R = Rows256(K);
  RowsSimd<K, 8, R>(c, r0, r1, Panel256<R, K>, Panel256<1, K>);
}
#endif

void RowsScalar(const Call& c, int64_t k, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t j = 0; j < k; ++j) {
      float s = 0;
      for (int64_t col = 0; col < c.cols; ++col) s += Bf16ToFloat(c.w[r * c.cols + col]) * c.x[j * c.cols + col];
      c.y[j * c.h + r] = s;
    }
}

using RowsFn = void (*)(const Call&, int64_t, int64_t);

RowsFn SimdRows(CpuIsa isa, int64_t k) {
#if defined(__x86_64__)
  static const RowsFn f512[] = {Rows512K<1>, Rows512K<2>, Rows512K<3>, Rows512K<4>,
                                Rows512K<5>, Rows512K<6>, Rows512K<7>, Rows512K<8>};
  static const RowsFn f256[] = {Rows256K<1>, Rows256K<2>, Rows256K<3>, Rows256K<4>,
                                Rows256K<5>, Rows256K<6>, Rows256K<7>, Rows256K<8>};
  if (isa == CpuIsa::kAvx512) return f512[k - 1];
  if (isa == CpuIsa::kAvx2) return f256[k - 1];
#endif
  (void)isa, (void)k;
  return nullptr;
}

// One group of k <= kMaxK tokens: permute x, then the row ranges on the pool.
void Group(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y, int threads, CpuIsa isa) {
  const int64_t chunk = isa == CpuIsa::kAvx512 ? 32 : 16, half = chunk / 2;
  const RowsFn rows = SimdRows(isa, k);
  Call c{w, h, cols, rows ? cols / chunk * chunk : 0, x, nullptr, 0, y};
  c.xs = c.main + 16;
  thread_local std::vector<float> xp;
  if (rows) {
    xp.resize(size_t(k * c.xs));
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c0 = 0; c0 < c.main; c0 += chunk)
        for (int64_t i = 0; i < half; ++i) {
          xp[size_t(j * c.xs + c0 + i)] = x[j * cols + c0 + 2 * i];
          xp[size_t(j * c.xs + c0 + half + i)] = x[j * cols + c0 + 2 * i + 1];
        }
    c.xp = xp.data();
  }
  const int parts = int(std::clamp<int64_t>(threads, 1, h));
  RunOnThreads(parts, [&](int t) {
    long r0, r1;
    PartRange(long(h), parts, t, 1, &r0, &r1);
    if (rows) rows(c, r0, r1);
    else RowsScalar(c, k, r0, r1);
  });
}

}  // namespace

void Bf16Gemv(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y, int threads,
              CpuIsa isa) {
  QMOE_CHECK(h >= 1 && cols >= 1 && k >= 1, "Bf16Gemv: h = ", h, ", cols = ", cols, ", k = ", k,
             " (expected all >= 1)");
  QMOE_CHECK(threads >= 1, "Bf16Gemv: threads = ", threads, " (expected >= 1)");
  QMOE_CHECK(CpuSupports(isa), "Bf16Gemv: the ", CpuIsaName(isa), " path needs a CPU that has it");
  for (int64_t j0 = 0; j0 < k; j0 += kMaxK) {
    const int64_t kg = std::min(kMaxK, k - j0);
    // y is [k][h]: the group's tokens are rows j0.. of x and y.
    Group(w, h, cols, x + j0 * cols, kg, y + j0 * h, threads, isa);
  }
}

void Bf16GemvRef(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  for (int64_t j = 0; j < k; ++j)
    for (int64_t r = 0; r < h; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < cols; ++c) acc += double(Bf16ToFloat(w[r * cols + c])) * double(x[j * cols + c]);
      y[j * h + r] = float(acc);
    }
}

}  // namespace qmoe::kernels
