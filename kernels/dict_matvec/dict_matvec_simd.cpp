// CPU fast paths (x86-64): AVX-512 and AVX2 kernels, each compiled with a per-function target
// attribute so the binary still runs on CPUs without them (dispatch: dict_matvec.cpp).
//
// Decoding a codeword: the entry's two words, read as one little-endian uint64 v, hold symbol t
// at bits 4+2t (t < 14) and 36+2(t-14) (t >= 14). BMI2 pext gathers the low symbol bits into a
// 28-bit mask m1 (slots with symbol 1 = the row min) and the high bits into m2 (symbol 2 = max);
// a validated table has no symbol 3, so the masks are disjoint.
//
// AVX-512, chosen by batch size k (measured, see MatvecAvx512):
// - k = 1: y = min * sum(x[m1 slots]) + max * sum(x[m2 slots]): four masked adds of the 32-lane
//   x window per codeword and no multiply. Two codewords interleave with separate accumulators.
// - k = 2: the codeword is dequantised once into a 32-lane weight window (masked moves of min
//   and max) and FMA'd with each token's x window.
// - k >= 3: 16 rows at a time are decoded into an L2-resident buffer (full-window stores), then
//   multiplied with the tokens panel by panel so each x panel is reused from L1 by all 16 rows.
//   (Tried and dropped: visiting only the non-zero slots with x transposed to token lanes; the
//   data-dependent loop trip counts mispredict and it ran 2x slower at k = 4 and 8.)
// AVX2: the dequantised-window form for every k, tokens in blocks of 2 (16 ymm registers).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "codecs/dict/dict_format.h"
#include "kernels/dict_matvec/dict_internal.h"

#define QMOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi,bmi2")))
#define QMOE_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))

namespace qmoe::kernels::dict_matvec {
namespace {

// Low bit of each of the 28 symbols in the 64-bit entry (bits 4,6,..,30 and 36,38,..,62).
constexpr uint64_t kSymLo = 0x5555555055555550ull;
constexpr uint64_t kSymHi = kSymLo << 1;

inline uint64_t Entry(const uint32_t* dec, uint32_t code) {
  uint64_t v;
  __builtin_memcpy(&v, dec + 2 * code, 8);
  return v;
}

inline float MinOf(const DictView& m, int64_t r) { return Bf16BitsToFloat(m.minmax[2 * r].bits); }
inline float MaxOf(const DictView& m, int64_t r) {
  return Bf16BitsToFloat(m.minmax[2 * r + 1].bits);
}

// ---------------------------------------------------------------- AVX-512

// The weights of one dictionary entry v as two 16-lane vectors (slots 0-15 and 16-31): vmax
// where a slot's symbol is 2, vmin where it is 1, else 0 (slots past the entry's pairs are 0).
struct EntryWeights {
  __m512 lo, hi;
};
QMOE_AVX512 inline EntryWeights DecodeEntryAvx512(uint64_t v, __m512 vmin, __m512 vmax) {
  const uint32_t p1 = uint32_t(_pext_u64(v, kSymLo)), p2 = uint32_t(_pext_u64(v, kSymHi));
  return {_mm512_mask_mov_ps(_mm512_maskz_mov_ps(__mmask16(p1), vmin), __mmask16(p2), vmax),
          _mm512_mask_mov_ps(_mm512_maskz_mov_ps(__mmask16(p1 >> 16), vmin), __mmask16(p2 >> 16), vmax)};
}

// One token, masked-add form.
QMOE_AVX512 void Matvec1Avx512(const DictView& m, const uint32_t* dec, const float* x,
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
QMOE_AVX512 void MatvecBlockAvx512(const DictView& m, const uint32_t* dec, const float* x,
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
      const auto [wl, wh] = DecodeEntryAvx512(v, vmin, vmax);
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

// Decode row r into row[0, w16) (w16 = w rounded up to 16; zeros past w). Full 32-lane windows
// are stored left to right: a later window only overwrites columns its codeword owns or zeros
// past the previous ones, so every column ends with its owner's value. row needs w16 + 32 floats.
QMOE_AVX512 void DecodeRowWindowsAvx512(const DictView& m, const uint32_t* dec, int64_t r,
                                        float* row) {
  const __m512 vmin = _mm512_set1_ps(MinOf(m, r)), vmax = _mm512_set1_ps(MaxOf(m, r));
  const uint16_t* code = m.codes + m.row_off[r];
  const int64_t nc = m.row_off[r + 1] - m.row_off[r];
  float* p = row;
  for (int64_t i = 0; i < nc; ++i) {
    const uint64_t v = Entry(dec, code[i]);
    const EntryWeights w = DecodeEntryAvx512(v, vmin, vmax);
    _mm512_storeu_ps(p, w.lo);
    _mm512_storeu_ps(p + 16, w.hi);
    p += 2 * (v & 15);
  }
  const int64_t w16 = (m.cols + 15) & ~int64_t{15};
  if (w16 > m.cols)  // columns past w may hold stale windows of earlier rows
    _mm512_mask_storeu_ps(row + m.cols, __mmask16((1u << (w16 - m.cols)) - 1), _mm512_setzero_ps());
}

// acc[j][0..1] += row[c0, c1) . x[j][c0, c1) for KB tokens: two 16-lane accumulators per token
// kept in memory between column panels. row and x rows 64-byte aligned; c0, c1 multiples of 16.
template <int KB>
QMOE_AVX512 void DotPanelAvx512(const float* row, int64_t c0, int64_t c1, const float* x,
                                int64_t xstride, float* acc) {
  __m512 a[KB], b[KB];
  for (int j = 0; j < KB; ++j) a[j] = _mm512_load_ps(acc + 32 * j), b[j] = _mm512_load_ps(acc + 32 * j + 16);
  int64_t c = c0;
  for (; c + 32 <= c1; c += 32) {
    const __m512 w0 = _mm512_load_ps(row + c), w1 = _mm512_load_ps(row + c + 16);
    for (int j = 0; j < KB; ++j) {
      a[j] = _mm512_fmadd_ps(w0, _mm512_load_ps(x + j * xstride + c), a[j]);
      b[j] = _mm512_fmadd_ps(w1, _mm512_load_ps(x + j * xstride + c + 16), b[j]);
    }
  }
  if (c < c1) {
    const __m512 w0 = _mm512_load_ps(row + c);
    for (int j = 0; j < KB; ++j) a[j] = _mm512_fmadd_ps(w0, _mm512_load_ps(x + j * xstride + c), a[j]);
  }
  for (int j = 0; j < KB; ++j) _mm512_store_ps(acc + 32 * j, a[j]), _mm512_store_ps(acc + 32 * j + 16, b[j]);
}

using PanelFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*);
constexpr int kDotBlock = 8;  // 16 accumulators + 2 weight vectors fit in 32 zmm registers
const PanelFn kPanel[kDotBlock + 1] = {nullptr,
                                       DotPanelAvx512<1>, DotPanelAvx512<2>, DotPanelAvx512<3>,
                                       DotPanelAvx512<4>, DotPanelAvx512<5>, DotPanelAvx512<6>,
                                       DotPanelAvx512<7>, DotPanelAvx512<8>};

// Batch form. Rows are decoded once each, kRowBlock at a time, into L2-resident buffers; then the
// block is multiplied panel by panel so that the k x-slices of a column panel stay in L1 while
// every row of the block uses them (x is re-read from L2 once per block, not once per row).
QMOE_AVX512 void MatvecRowsAvx512(const DictView& m, const uint32_t* dec, const float* x,
                                  int64_t xstride, int64_t k, float* y) {
  constexpr int64_t kRowBlock = 16;
  const int64_t w16 = (m.cols + 15) & ~int64_t{15};
  const int64_t rstride = w16 + 32;  // window stores reach 32 floats past the row
  // Column panel: k x-slices of ~24 KiB together (half of a 48 KiB L1), multiple of 32 floats.
  const int64_t panel = std::max<int64_t>(128, (int64_t{24} * 1024 / (4 * k)) & ~int64_t{31});
  // Scratch (64-byte aligned): the decoded rows, then per (row, token) two 16-lane accumulators.
  thread_local std::vector<float> buf;
  const int64_t nacc = kRowBlock * k * 32;
  buf.resize(size_t(kRowBlock * rstride + nacc + 16));
  float* rows = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                         ~uintptr_t{63});
  float* acc = rows + kRowBlock * rstride;
  for (int64_t r0 = 0; r0 < m.rows; r0 += kRowBlock) {
    const int64_t nr = std::min(kRowBlock, m.rows - r0);
    for (int64_t i = 0; i < nr; ++i) DecodeRowWindowsAvx512(m, dec, r0 + i, rows + i * rstride);
    std::fill(acc, acc + nacc, 0.0f);
    for (int64_t c0 = 0; c0 < w16; c0 += panel) {
      const int64_t c1 = std::min(w16, c0 + panel);
      for (int64_t i = 0; i < nr; ++i)
        for (int64_t j0 = 0; j0 < k; j0 += kDotBlock) {
          const int64_t kb = std::min<int64_t>(kDotBlock, k - j0);
          kPanel[kb](rows + i * rstride, c0, c1, x + j0 * xstride, xstride,
                     acc + (i * k + j0) * 32);
        }
    }
    for (int64_t i = 0; i < nr; ++i)
      for (int64_t j = 0; j < k; ++j)
        y[j * m.rows + r0 + i] = _mm512_reduce_add_ps(_mm512_add_ps(
            _mm512_load_ps(acc + (i * k + j) * 32), _mm512_load_ps(acc + (i * k + j) * 32 + 16)));
  }
}

// ---------------------------------------------------------------- AVX2

// Lane l of group g (8 lanes) tests bit 8g+l: shift it into the sign bit for blendv.
QMOE_AVX2 inline __m256i SignShift(int g) {
  return _mm256_setr_epi32(31 - 8 * g, 30 - 8 * g, 29 - 8 * g, 28 - 8 * g, 27 - 8 * g,
                           26 - 8 * g, 25 - 8 * g, 24 - 8 * g);
}

template <int KB>
QMOE_AVX2 void MatvecBlockAvx2(const DictView& m, const uint32_t* dec, const float* x,
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

QMOE_AVX512 void MatvecAvx512(const DictView& m, const uint32_t* dec, const float* xpad,
                              int64_t xstride, int64_t k, float* y) {
  // Measured at 2080x6144 (dict_matvec_bench): masked adds win at k = 1, the dequantised-window
  // FMA form at k = 2, decoding rows once and reusing them from L2 at k >= 4.
  if (k == 1) return Matvec1Avx512(m, dec, xpad, y);
  if (k == 2) return MatvecBlockAvx512<2>(m, dec, xpad, xstride, y);
  MatvecRowsAvx512(m, dec, xpad, xstride, k, y);
}

QMOE_AVX2 void MatvecAvx2(const DictView& m, const uint32_t* dec, const float* xpad,
                          int64_t xstride, int64_t k, float* y) {
  int64_t j0 = 0;
  for (; j0 + 2 <= k; j0 += 2)  // 8 accumulators + 4 shifts + 3 levels of 16 ymm registers
    MatvecBlockAvx2<2>(m, dec, xpad + j0 * xstride, xstride, y + j0 * m.rows);
  if (j0 < k) MatvecBlockAvx2<1>(m, dec, xpad + j0 * xstride, xstride, y + j0 * m.rows);
}

QMOE_AVX512 void DecompressRowAvx512(const DictView& m, const uint32_t* dec, int64_t r,
                                     float* row) {
  const __m512 vmin = _mm512_set1_ps(MinOf(m, r)), vmax = _mm512_set1_ps(MaxOf(m, r));
  const uint16_t* code = m.codes + m.row_off[r];
  const int64_t nc = m.row_off[r + 1] - m.row_off[r];
  int64_t col = 0;
  for (int64_t i = 0; i < nc; ++i) {
    const uint64_t v = Entry(dec, code[i]);
    const auto [wl, wh] = DecodeEntryAvx512(v, vmin, vmax);
    // Store only the slots inside the row (2n, or one less at an odd row end).
    const int64_t width = 2 * int64_t(v & 15), keep = width < m.cols - col ? width : m.cols - col;
    const uint32_t st = uint32_t((uint64_t{1} << keep) - 1);
    _mm512_mask_storeu_ps(row + col, __mmask16(st), wl);
    _mm512_mask_storeu_ps(row + col + 16, __mmask16(st >> 16), wh);
    col += width;
  }
}

QMOE_AVX512 void TruncateToBf16Avx512(const float* in, int64_t n, Bf16* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_srli_epi32(_mm512_castps_si512(_mm512_loadu_ps(in + i)), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(v));
  }
  for (; i < n; ++i) out[i] = Bf16{uint16_t(__builtin_bit_cast(uint32_t, in[i]) >> 16)};
}

}  // namespace qmoe::kernels::dict_matvec

#else  // not x86-64: the dispatcher never selects these (CpuSupports is false).
#include "framework/core/error.h"
#include "kernels/dict_matvec/dict_internal.h"
namespace qmoe::kernels::dict_matvec {
void MatvecAvx512(const DictView&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
void MatvecAvx2(const DictView&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX2 kernel on a non-x86 build");
}
void DecompressRowAvx512(const DictView&, const uint32_t*, int64_t, float*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
void TruncateToBf16Avx512(const float*, int64_t, Bf16*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
}  // namespace qmoe::kernels::dict_matvec
#endif
