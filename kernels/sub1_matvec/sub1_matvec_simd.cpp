// CPU fast paths (x86-64): AVX-512 and AVX2 kernels, each compiled with a per-function target
// attribute so the binary still runs on CPUs without them (dispatch: sub1_matvec.cpp).
//
// Decoding a codeword: the entry's two words, read as one little-endian uint64 v, hold symbol t
// at bits 4+2t (t < 14) and 36+2(t-14) (t >= 14). BMI2 pext gathers the low symbol bits into a
// 28-bit mask m1 (slots with symbol 1 = the row min) and the high bits into m2 (symbol 2 = max);
// a validated table has no symbol 3, so the masks are disjoint.
//
// One token (AVX-512): y = min * sum(x[m1 slots]) + max * sum(x[m2 slots]), i.e. four masked
// adds of the 32-lane x window per codeword and no multiply at all. Two codewords are interleaved
// with separate accumulators to hide the add latency.
// Batches: the codeword is dequantised once into a 32-lane weight window (masked moves of min and
// max), then FMA'd with each token's x window; tokens are processed in blocks that fit in
// registers (8 for AVX-512, 2 for AVX2).
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/sub1_matvec/sub1_decode.h"
#include "kernels/sub1_matvec/sub1_internal.h"

#define QMOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi2")))
#define QMOE_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))

namespace qmoe::kernels::sub1 {
namespace {

// Low bit of each of the 28 symbols in the 64-bit entry (bits 4,6,..,30 and 36,38,..,62).
constexpr uint64_t kSymLo = 0x5555555055555550ull;
constexpr uint64_t kSymHi = kSymLo << 1;

inline uint64_t Entry(const uint32_t* dec, uint32_t code) {
  uint64_t v;
  __builtin_memcpy(&v, dec + 2 * code, 8);
  return v;
}

inline float MinOf(const Sub1Matrix& m, int64_t r) { return Bf16BitsToFloat(m.minmax[2 * r].bits); }
inline float MaxOf(const Sub1Matrix& m, int64_t r) {
  return Bf16BitsToFloat(m.minmax[2 * r + 1].bits);
}

// ---------------------------------------------------------------- AVX-512

// One token, masked-add form.
QMOE_AVX512 void Matvec1Avx512(const Sub1Matrix& m, const uint32_t* dec, const float* x,
                               float* y) {
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint16_t* code = m.codes + m.row_off[r];
    const int64_t nc = m.row_off[r + 1] - m.row_off[r];
    __m512 a1l = _mm512_setzero_ps(), a1h = a1l, a2l = a1l, a2h = a1l;
    __m512 b1l = a1l, b1h = a1l, b2l = a1l, b2h = a1l;
    const float* xp = x;
    int64_t i = 0;
    for (; i + 2 <= nc; i += 2) {
      const uint64_t v0 = Entry(dec, code[i]), v1 = Entry(dec, code[i + 1]);
      const uint32_t p1 = uint32_t(_pext_u64(v0, kSymLo)), p2 = uint32_t(_pext_u64(v0, kSymHi));
      const uint32_t q1 = uint32_t(_pext_u64(v1, kSymLo)), q2 = uint32_t(_pext_u64(v1, kSymHi));
      const float* xq = xp + 2 * (v0 & 15);
      const __m512 xl = _mm512_loadu_ps(xp), xh = _mm512_loadu_ps(xp + 16);
      a1l = _mm512_mask_add_ps(a1l, __mmask16(p1), a1l, xl);
      a1h = _mm512_mask_add_ps(a1h, __mmask16(p1 >> 16), a1h, xh);
      a2l = _mm512_mask_add_ps(a2l, __mmask16(p2), a2l, xl);
      a2h = _mm512_mask_add_ps(a2h, __mmask16(p2 >> 16), a2h, xh);
      const __m512 zl = _mm512_loadu_ps(xq), zh = _mm512_loadu_ps(xq + 16);
      b1l = _mm512_mask_add_ps(b1l, __mmask16(q1), b1l, zl);
      b1h = _mm512_mask_add_ps(b1h, __mmask16(q1 >> 16), b1h, zh);
      b2l = _mm512_mask_add_ps(b2l, __mmask16(q2), b2l, zl);
      b2h = _mm512_mask_add_ps(b2h, __mmask16(q2 >> 16), b2h, zh);
      xp = xq + 2 * (v1 & 15);
    }
    if (i < nc) {
      const uint64_t v0 = Entry(dec, code[i]);
      const uint32_t p1 = uint32_t(_pext_u64(v0, kSymLo)), p2 = uint32_t(_pext_u64(v0, kSymHi));
      const __m512 xl = _mm512_loadu_ps(xp), xh = _mm512_loadu_ps(xp + 16);
      a1l = _mm512_mask_add_ps(a1l, __mmask16(p1), a1l, xl);
      a1h = _mm512_mask_add_ps(a1h, __mmask16(p1 >> 16), a1h, xh);
      a2l = _mm512_mask_add_ps(a2l, __mmask16(p2), a2l, xl);
      a2h = _mm512_mask_add_ps(a2h, __mmask16(p2 >> 16), a2h, xh);
    }
    const float s1 = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a1l, a1h),
                                                        _mm512_add_ps(b1l, b1h)));
    const float s2 = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a2l, a2h),
                                                        _mm512_add_ps(b2l, b2h)));
    y[r] = MinOf(m, r) * s1 + MaxOf(m, r) * s2;
  }
}

// KB tokens (x rows j*xstride), dequantised-window + FMA form.
template <int KB>
QMOE_AVX512 void MatvecBlockAvx512(const Sub1Matrix& m, const uint32_t* dec, const float* x,
                                   int64_t xstride, float* y) {
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint16_t* code = m.codes + m.row_off[r];
    const int64_t nc = m.row_off[r + 1] - m.row_off[r];
    const __m512 vmin = _mm512_set1_ps(MinOf(m, r)), vmax = _mm512_set1_ps(MaxOf(m, r));
    __m512 al[KB], ah[KB];
    for (int j = 0; j < KB; ++j) al[j] = ah[j] = _mm512_setzero_ps();
    int64_t col = 0;
    for (int64_t i = 0; i < nc; ++i) {
      const uint64_t v = Entry(dec, code[i]);
      const uint32_t p1 = uint32_t(_pext_u64(v, kSymLo)), p2 = uint32_t(_pext_u64(v, kSymHi));
      const __m512 wl = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(__mmask16(p1), vmin), __mmask16(p2), vmax);
      const __m512 wh = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(__mmask16(p1 >> 16), vmin),
                                           __mmask16(p2 >> 16), vmax);
      for (int j = 0; j < KB; ++j) {
        const float* xj = x + j * xstride + col;
        al[j] = _mm512_fmadd_ps(wl, _mm512_loadu_ps(xj), al[j]);
        ah[j] = _mm512_fmadd_ps(wh, _mm512_loadu_ps(xj + 16), ah[j]);
      }
      col += 2 * int64_t(v & 15);
    }
    for (int j = 0; j < KB; ++j) y[j * m.rows + r] = _mm512_reduce_add_ps(_mm512_add_ps(al[j], ah[j]));
  }
}

template <int KB>
QMOE_AVX512 void BlockAvx512(const Sub1Matrix& m, const uint32_t* dec, const float* x,
                             int64_t xstride, int64_t kb, float* y) {
  if constexpr (KB > 1) {
    if (kb < KB) return BlockAvx512<KB - 1>(m, dec, x, xstride, kb, y);
  }
  MatvecBlockAvx512<KB>(m, dec, x, xstride, y);
}

// ---------------------------------------------------------------- AVX2

// Lane l of group g (8 lanes) tests bit 8g+l: shift it into the sign bit for blendv.
QMOE_AVX2 inline __m256i SignShift(int g) {
  return _mm256_setr_epi32(31 - 8 * g, 30 - 8 * g, 29 - 8 * g, 28 - 8 * g, 27 - 8 * g,
                           26 - 8 * g, 25 - 8 * g, 24 - 8 * g);
}

template <int KB>
QMOE_AVX2 void MatvecBlockAvx2(const Sub1Matrix& m, const uint32_t* dec, const float* x,
                               int64_t xstride, float* y) {
  const __m256i sh[4] = {SignShift(0), SignShift(1), SignShift(2), SignShift(3)};
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint16_t* code = m.codes + m.row_off[r];
    const int64_t nc = m.row_off[r + 1] - m.row_off[r];
    const __m256 vmin = _mm256_set1_ps(MinOf(m, r)), vmax = _mm256_set1_ps(MaxOf(m, r));
    __m256 acc[KB][4];
    for (int j = 0; j < KB; ++j)
      for (int g = 0; g < 4; ++g) acc[j][g] = _mm256_setzero_ps();
    int64_t col = 0;
    for (int64_t i = 0; i < nc; ++i) {
      const uint64_t v = Entry(dec, code[i]);
      const __m256i m1 = _mm256_set1_epi32(int(_pext_u64(v, kSymLo)));
      const __m256i m2 = _mm256_set1_epi32(int(_pext_u64(v, kSymHi)));
      for (int g = 0; g < 4; ++g) {
        __m256 w = _mm256_blendv_ps(_mm256_setzero_ps(), vmin,
                                    _mm256_castsi256_ps(_mm256_sllv_epi32(m1, sh[g])));
        w = _mm256_blendv_ps(w, vmax, _mm256_castsi256_ps(_mm256_sllv_epi32(m2, sh[g])));
        for (int j = 0; j < KB; ++j)
          acc[j][g] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + j * xstride + col + 8 * g), acc[j][g]);
      }
      col += 2 * int64_t(v & 15);
    }
    for (int j = 0; j < KB; ++j) {
      const __m256 s = _mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]),
                                     _mm256_add_ps(acc[j][2], acc[j][3]));
      __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
      q = _mm_add_ps(q, _mm_movehl_ps(q, q));
      q = _mm_add_ss(q, _mm_movehdup_ps(q));
      y[j * m.rows + r] = _mm_cvtss_f32(q);
    }
  }
}

}  // namespace

QMOE_AVX512 void MatvecAvx512(const Sub1Matrix& m, const uint32_t* dec, const float* xpad,
                              int64_t xstride, int64_t k, float* y) {
  if (k == 1) return Matvec1Avx512(m, dec, xpad, y);
  constexpr int kBlock = 8;  // 16 accumulators + 2 weight windows fit in 32 zmm registers
  for (int64_t j0 = 0; j0 < k; j0 += kBlock) {
    const int64_t kb = k - j0 < kBlock ? k - j0 : kBlock;
    BlockAvx512<kBlock>(m, dec, xpad + j0 * xstride, xstride, kb, y + j0 * m.rows);
  }
}

QMOE_AVX2 void MatvecAvx2(const Sub1Matrix& m, const uint32_t* dec, const float* xpad,
                          int64_t xstride, int64_t k, float* y) {
  int64_t j0 = 0;
  for (; j0 + 2 <= k; j0 += 2)  // 8 accumulators + 4 shifts + 3 levels of 16 ymm registers
    MatvecBlockAvx2<2>(m, dec, xpad + j0 * xstride, xstride, y + j0 * m.rows);
  if (j0 < k) MatvecBlockAvx2<1>(m, dec, xpad + j0 * xstride, xstride, y + j0 * m.rows);
}

QMOE_AVX512 void DecompressRowAvx512(const Sub1Matrix& m, const uint32_t* dec, int64_t r,
                                     float* row) {
  const __m512 vmin = _mm512_set1_ps(MinOf(m, r)), vmax = _mm512_set1_ps(MaxOf(m, r));
  const uint16_t* code = m.codes + m.row_off[r];
  const int64_t nc = m.row_off[r + 1] - m.row_off[r];
  int64_t col = 0;
  for (int64_t i = 0; i < nc; ++i) {
    const uint64_t v = Entry(dec, code[i]);
    const uint32_t p1 = uint32_t(_pext_u64(v, kSymLo)), p2 = uint32_t(_pext_u64(v, kSymHi));
    const __m512 wl = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(__mmask16(p1), vmin), __mmask16(p2), vmax);
    const __m512 wh = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(__mmask16(p1 >> 16), vmin),
                                         __mmask16(p2 >> 16), vmax);
    // Store only the slots inside the row (2n, or one less at an odd row end).
    const int64_t width = 2 * int64_t(v & 15), keep = width < m.cols - col ? width : m.cols - col;
    const uint32_t st = uint32_t((uint64_t{1} << keep) - 1);
    _mm512_mask_storeu_ps(row + col, __mmask16(st), wl);
    _mm512_mask_storeu_ps(row + col + 16, __mmask16(st >> 16), wh);
    col += width;
  }
}

}  // namespace qmoe::kernels::sub1

#else  // not x86-64: the dispatcher never selects these (CpuSupports is false).
#include "framework/core/error.h"
#include "kernels/sub1_matvec/sub1_internal.h"
namespace qmoe::kernels::sub1 {
void MatvecAvx512(const Sub1Matrix&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
void MatvecAvx2(const Sub1Matrix&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX2 kernel on a non-x86 build");
}
void DecompressRowAvx512(const Sub1Matrix&, const uint32_t*, int64_t, float*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
}  // namespace qmoe::kernels::sub1
#endif
