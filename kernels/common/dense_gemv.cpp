#include "kernels/common/dense_gemv.h"

#include <algorithm>

#include "framework/core/error.h"
#include "kernels/common/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define QMOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#endif

namespace qmoe::kernels {
namespace {

float Load(const float* p) { return *p; }
float Load(const Bf16* p) { return Bf16ToFloat(*p); }

template <class W>
void RefImpl(const W* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  for (int64_t j = 0; j < k; ++j)
    for (int64_t r = 0; r < h; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < cols; ++c) acc += double(Load(w + r * cols + c)) * x[j * cols + c];
      y[j * h + r] = float(acc);
    }
}

#if defined(__x86_64__)
QMOE_AVX512 inline __m512 Load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
QMOE_AVX512 inline __m512 Load16(const Bf16* p, __mmask16 m) {
  const __m256i b = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
}

// acc[j] (two 16-lane vectors per token, in memory) += W[r][c0, c1) . x[j][c0, c1).
template <int K, class W>
QMOE_AVX512 void PanelAvx512(const W* wr, int64_t c0, int64_t c1, const float* x, int64_t cols,
                             float* acc) {
  __m512 a0[K], a1[K];
  for (int j = 0; j < K; ++j) a0[j] = _mm512_loadu_ps(acc + 32 * j), a1[j] = _mm512_loadu_ps(acc + 32 * j + 16);
  int64_t c = c0;
  for (; c + 32 <= c1; c += 32) {
    const __m512 w0 = Load16(wr + c, 0xffff), w1 = Load16(wr + c + 16, 0xffff);
    for (int j = 0; j < K; ++j) {
      a0[j] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + j * cols + c), a0[j]);
      a1[j] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + j * cols + c + 16), a1[j]);
    }
  }
  for (; c < c1; c += 16) {
    const __mmask16 m = c1 - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (c1 - c)) - 1);
    const __m512 w0 = Load16(wr + c, m);
    for (int j = 0; j < K; ++j)
      a0[j] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x + j * cols + c), a0[j]);
  }
  for (int j = 0; j < K; ++j) _mm512_storeu_ps(acc + 32 * j, a0[j]), _mm512_storeu_ps(acc + 32 * j + 16, a1[j]);
}

// Blocks of kRows rows x column panels sized so the k x-slices of a panel (~24 KiB) stay in L1
// while the block's rows use them; W is streamed from memory exactly once.
template <int K, class W>
QMOE_AVX512 void GemvAvx512(const W* w, int64_t h, int64_t cols, const float* x, float* y) {
  constexpr int64_t kRows = 8;
  const int64_t panel = std::max<int64_t>(128, (int64_t{24} * 1024 / (4 * K)) & ~int64_t{31});
  float acc[kRows * K * 32];
  for (int64_t r0 = 0; r0 < h; r0 += kRows) {
    const int64_t nr = std::min(kRows, h - r0);
    std::fill(acc, acc + nr * K * 32, 0.0f);
    for (int64_t c0 = 0; c0 < cols; c0 += panel) {
      const int64_t c1 = std::min(cols, c0 + panel);
      for (int64_t i = 0; i < nr; ++i)
        PanelAvx512<K>(w + (r0 + i) * cols, c0, c1, x, cols, acc + i * K * 32);
    }
    for (int64_t i = 0; i < nr; ++i)
      for (int j = 0; j < K; ++j)
        y[j * h + r0 + i] = _mm512_reduce_add_ps(_mm512_add_ps(
            _mm512_loadu_ps(acc + (i * K + j) * 32), _mm512_loadu_ps(acc + (i * K + j) * 32 + 16)));
  }
}

template <class W>
void Dispatch(const W* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  switch (k) {
    case 1: return GemvAvx512<1>(w, h, cols, x, y);
    case 2: return GemvAvx512<2>(w, h, cols, x, y);
    case 3: return GemvAvx512<3>(w, h, cols, x, y);
    case 4: return GemvAvx512<4>(w, h, cols, x, y);
    case 5: return GemvAvx512<5>(w, h, cols, x, y);
    case 6: return GemvAvx512<6>(w, h, cols, x, y);
    case 7: return GemvAvx512<7>(w, h, cols, x, y);
    case 8: return GemvAvx512<8>(w, h, cols, x, y);
  }
}
#endif

template <class W>
void Gemv(const W* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  QMOE_CHECK(k >= 1 && k <= kDenseGemvMaxBatch, "DenseGemv: batch k = ", k, " (expected 1..",
             kDenseGemvMaxBatch, ")");
#if defined(__x86_64__)
  if (BestCpuIsa() >= CpuIsa::kAvx512) return Dispatch(w, h, cols, x, k, y);
#endif
  RefImpl(w, h, cols, x, k, y);
}

}  // namespace

void DenseGemvF32(const float* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  Gemv(w, h, cols, x, k, y);
}
void DenseGemvBf16(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  Gemv(w, h, cols, x, k, y);
}
void DenseGemvF32Ref(const float* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) {
  RefImpl(w, h, cols, x, k, y);
}
void DenseGemvBf16Ref(const Bf16* w, int64_t h, int64_t cols, const float* x, int64_t k,
                      float* y) {
  RefImpl(w, h, cols, x, k, y);
}

}  // namespace qmoe::kernels
