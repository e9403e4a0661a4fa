// AVX-512 and AVX2 row-block kernels (rans_internal.h), per-function targets, chosen at run time.
// A pair symbol r = 3·t_odd + t_even indexes two per-row 16-lane tables (lane r: the even and the
// odd weight, levels 0/lo/hi), so 16 (AVX-512) or 8 (AVX2) pairs become two weight vectors with
// one permute each; x is stored deinterleaved (even and odd columns apart), so the weights meet x
// without an interleave. Columns are taken in panels whose k x-slices fit in half of L1, and every
// row of the block uses a panel before the next is loaded (x is read from L2 once per block).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "codecs/ternary/bf16.h"
#include "kernels/rans_matvec/rans_internal.h"

#define QMOE_RANS_MV_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define QMOE_RANS_MV_AVX2 __attribute__((target("avx2,fma")))

namespace qmoe::kernels::rans_matvec {
namespace {

// Pairs per panel: k·panel·8 bytes of x (even + odd) ~ 24 KiB, a multiple of 16, at least 64.
int64_t PanelPairs(int64_t k) { return std::max<int64_t>(64, (int64_t{24} * 1024 / (8 * k)) & ~int64_t{15}); }

// A 64-byte aligned, thread-local scratch of n floats.
float* Scratch(int64_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < size_t(n + 16)) buf.resize(size_t(n + 16));
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
}

// ---------------------------------------------------------------- AVX-512

// acc[32j .. 32j+16) += even products, [32j+16 .. 32j+32) += odd products of token j < KB, over
// pairs [0, n) (n a multiple of 16) of one row.
template <int KB>
QMOE_RANS_MV_AVX512 void PanelAvx512(const uint8_t* pr, int64_t n, __m512 etab, __m512 otab, const float* xe,
                                     int64_t xs, float* acc) {
  __m512 a[KB], b[KB];
  for (int j = 0; j < KB; ++j) a[j] = _mm512_load_ps(acc + 32 * j), b[j] = _mm512_load_ps(acc + 32 * j + 16);
  for (int64_t p = 0; p < n; p += 16) {
    const __m512i sym = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p)));
    const __m512 ev = _mm512_permutexvar_ps(sym, etab), od = _mm512_permutexvar_ps(sym, otab);
    for (int j = 0; j < KB; ++j) {
      a[j] = _mm512_fmadd_ps(ev, _mm512_load_ps(xe + 2 * j * xs + p), a[j]);
      b[j] = _mm512_fmadd_ps(od, _mm512_load_ps(xe + (2 * j + 1) * xs + p), b[j]);
    }
  }
  for (int j = 0; j < KB; ++j) _mm512_store_ps(acc + 32 * j, a[j]), _mm512_store_ps(acc + 32 * j + 16, b[j]);
}

// One token, two accumulator pairs (the FMA latency chains of a single pair would bound the loop).
QMOE_RANS_MV_AVX512 void Panel1Avx512(const uint8_t* pr, int64_t n, __m512 etab, __m512 otab, const float* xe,
                                      int64_t xs, float* acc) {
  const float* xo = xe + xs;
  __m512 a0 = _mm512_load_ps(acc), b0 = _mm512_load_ps(acc + 16);
  __m512 a1 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 32 <= n; p += 32) {
    const __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p)));
    const __m512i s1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p + 16)));
    a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(s0, etab), _mm512_load_ps(xe + p), a0);
    b0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(s0, otab), _mm512_load_ps(xo + p), b0);
    a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(s1, etab), _mm512_load_ps(xe + p + 16), a1);
    b1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(s1, otab), _mm512_load_ps(xo + p + 16), b1);
  }
  if (p < n) {
    const __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p)));
    a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(s0, etab), _mm512_load_ps(xe + p), a0);
    b0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(s0, otab), _mm512_load_ps(xo + p), b0);
  }
  _mm512_store_ps(acc, _mm512_add_ps(a0, a1));
  _mm512_store_ps(acc + 16, _mm512_add_ps(b0, b1));
}

using PanelFn512 = void (*)(const uint8_t*, int64_t, __m512, __m512, const float*, int64_t, float*);
constexpr int kBlock512 = 8;  // 16 accumulators + tables + weights fit in 32 zmm registers

// ---------------------------------------------------------------- AVX-512 BF16

#define QMOE_RANS_MV_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")))

// acc[16j .. 16j+16) += pair dot products of token j < KB over pairs [0, n) (n a multiple of 16):
// one permute turns 16 symbols into 16 (even, odd) bf16 weight pairs.
template <int KB>
QMOE_RANS_MV_BF16 void PanelBf16(const uint8_t* pr, int64_t n, __m512i ptab, const uint32_t* xb, int64_t xs,
                                 float* acc) {
  __m512 a[KB];
  for (int j = 0; j < KB; ++j) a[j] = _mm512_load_ps(acc + 16 * j);
  for (int64_t p = 0; p < n; p += 16) {
    const __m512i sym = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p)));
    const __m512bh wp = (__m512bh)_mm512_permutexvar_epi32(sym, ptab);
    for (int j = 0; j < KB; ++j) a[j] = _mm512_dpbf16_ps(a[j], wp, (__m512bh)_mm512_load_si512(xb + j * xs + p));
  }
  for (int j = 0; j < KB; ++j) _mm512_store_ps(acc + 16 * j, a[j]);
}

// One token: four accumulators (the vdpbf16ps latency chain of one would bound the loop).
QMOE_RANS_MV_BF16 void Panel1Bf16(const uint8_t* pr, int64_t n, __m512i ptab, const uint32_t* xb, int64_t /*xs*/,
                                  float* acc) {
  __m512 a0 = _mm512_load_ps(acc), a1 = _mm512_setzero_ps(), a2 = a1, a3 = a1;
  int64_t p = 0;
  for (; p + 64 <= n; p += 64) {
    const __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p)));
    const __m512i s1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p + 16)));
    const __m512i s2 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p + 32)));
    const __m512i s3 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p + 48)));
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_permutexvar_epi32(s0, ptab), (__m512bh)_mm512_load_si512(xb + p));
    a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_permutexvar_epi32(s1, ptab), (__m512bh)_mm512_load_si512(xb + p + 16));
    a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_permutexvar_epi32(s2, ptab), (__m512bh)_mm512_load_si512(xb + p + 32));
    a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_permutexvar_epi32(s3, ptab), (__m512bh)_mm512_load_si512(xb + p + 48));
  }
  for (; p < n; p += 16) {
    const __m512i s0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pr + p)));
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_permutexvar_epi32(s0, ptab), (__m512bh)_mm512_load_si512(xb + p));
  }
  _mm512_store_ps(acc, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

using PanelFnBf16 = void (*)(const uint8_t*, int64_t, __m512i, const uint32_t*, int64_t, float*);
constexpr int kBlockBf16 = 16;  // 16 accumulators

// ---------------------------------------------------------------- AVX2

// Lanes 0..7 of the tables hold symbols 0..7; symbol 8 (hi, hi) is blended in.
template <int KB>
QMOE_RANS_MV_AVX2 void PanelAvx2(const uint8_t* pr, int64_t n, float lo, float hi, const float* xe, int64_t xs,
                                 float* acc) {
  const __m256 etab = _mm256_setr_ps(0, lo, hi, 0, lo, hi, 0, lo);
  const __m256 otab = _mm256_setr_ps(0, 0, 0, lo, lo, lo, hi, hi);
  const __m256 hi8 = _mm256_set1_ps(hi);
  const __m256i eight = _mm256_set1_epi32(8);
  __m256 a[KB], b[KB];
  for (int j = 0; j < KB; ++j) a[j] = _mm256_load_ps(acc + 16 * j), b[j] = _mm256_load_ps(acc + 16 * j + 8);
  for (int64_t p = 0; p < n; p += 8) {
    int64_t bytes;
    __builtin_memcpy(&bytes, pr + p, 8);
    const __m256i sym = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
    const __m256 is8 = _mm256_castsi256_ps(_mm256_cmpeq_epi32(sym, eight));
    const __m256 ev = _mm256_blendv_ps(_mm256_permutevar8x32_ps(etab, sym), hi8, is8);
    const __m256 od = _mm256_blendv_ps(_mm256_permutevar8x32_ps(otab, sym), hi8, is8);
    for (int j = 0; j < KB; ++j) {
      a[j] = _mm256_fmadd_ps(ev, _mm256_load_ps(xe + 2 * j * xs + p), a[j]);
      b[j] = _mm256_fmadd_ps(od, _mm256_load_ps(xe + (2 * j + 1) * xs + p), b[j]);
    }
  }
  for (int j = 0; j < KB; ++j) _mm256_store_ps(acc + 16 * j, a[j]), _mm256_store_ps(acc + 16 * j + 8, b[j]);
}

using PanelFn256 = void (*)(const uint8_t*, int64_t, float, float, const float*, int64_t, float*);
constexpr int kBlock256 = 4;  // 8 accumulators + 2 tables + 5 temporaries of 16 ymm registers

}  // namespace

QMOE_RANS_MV_AVX512 void RowsAvx512(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax,
                                    const float* xd, int64_t xs, int64_t k, float* y, int64_t ystride) {
  static const PanelFn512 kPanel[kBlock512 + 1] = {nullptr,          Panel1Avx512,     PanelAvx512<2>,
                                                   PanelAvx512<3>,   PanelAvx512<4>,   PanelAvx512<5>,
                                                   PanelAvx512<6>,   PanelAvx512<7>,   PanelAvx512<8>};
  const int64_t np16 = (np + 15) & ~int64_t{15}, panel = PanelPairs(k);
  float* acc = Scratch(nr * k * 32);
  std::fill(acc, acc + nr * k * 32, 0.0f);
  for (int64_t p0 = 0; p0 < np16; p0 += panel) {
    const int64_t n = std::min(np16, p0 + panel) - p0;
    for (int64_t i = 0; i < nr; ++i) {
      const float lo = Bf16BitsToFloat(minmax[2 * i]), hi = Bf16BitsToFloat(minmax[2 * i + 1]);
      const __m512 etab = _mm512_setr_ps(0, lo, hi, 0, lo, hi, 0, lo, hi, 0, 0, 0, 0, 0, 0, 0);
      const __m512 otab = _mm512_setr_ps(0, 0, 0, lo, lo, lo, hi, hi, hi, 0, 0, 0, 0, 0, 0, 0);
      for (int64_t j0 = 0; j0 < k; j0 += kBlock512) {
        const int64_t kb = std::min<int64_t>(kBlock512, k - j0);
        kPanel[kb](pairs + i * np + p0, n, etab, otab, xd + 2 * j0 * xs + p0, xs, acc + (i * k + j0) * 32);
      }
    }
  }
  for (int64_t i = 0; i < nr; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const float* a = acc + (i * k + j) * 32;
      y[j * ystride + i] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_load_ps(a), _mm512_load_ps(a + 16)));
    }
}

bool HaveAvx512Bf16() {
  static const bool have = __builtin_cpu_supports("avx512bf16");
  return have;
}

QMOE_RANS_MV_BF16 void RowsAvx512Bf16(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax,
                                      const float* xd, int64_t xs, int64_t k, float* y, int64_t ystride) {
  static const PanelFnBf16 kPanel[kBlockBf16 + 1] = {
      nullptr,       Panel1Bf16,     PanelBf16<2>,  PanelBf16<3>,  PanelBf16<4>,  PanelBf16<5>,
      PanelBf16<6>,  PanelBf16<7>,   PanelBf16<8>,  PanelBf16<9>,  PanelBf16<10>, PanelBf16<11>,
      PanelBf16<12>, PanelBf16<13>,  PanelBf16<14>, PanelBf16<15>, PanelBf16<16>};
  const uint32_t* xb = reinterpret_cast<const uint32_t*>(xd);
  const int64_t np16 = (np + 15) & ~int64_t{15}, panel = PanelPairs(k);
  float* acc = Scratch(nr * k * 16);
  std::fill(acc, acc + nr * k * 16, 0.0f);
  for (int64_t p0 = 0; p0 < np16; p0 += panel) {
    const int64_t n = std::min(np16, p0 + panel) - p0;
    for (int64_t i = 0; i < nr; ++i) {
      // Lane r: the bf16 pair (even = level r mod 3, odd = level r / 3) of symbol r; levels are bf16.
      const uint32_t lev[3] = {0u, minmax[2 * i], minmax[2 * i + 1]};
      alignas(64) uint32_t tab[16] = {0};
      for (int r = 0; r < 9; ++r) tab[r] = lev[r % 3] | (lev[r / 3] << 16);
      const __m512i ptab = _mm512_load_si512(tab);
      for (int64_t j0 = 0; j0 < k; j0 += kBlockBf16) {
        const int64_t kb = std::min<int64_t>(kBlockBf16, k - j0);
        kPanel[kb](pairs + i * np + p0, n, ptab, xb + j0 * xs + p0, xs, acc + (i * k + j0) * 16);
      }
    }
  }
  for (int64_t i = 0; i < nr; ++i)
    for (int64_t j = 0; j < k; ++j) y[j * ystride + i] = _mm512_reduce_add_ps(_mm512_load_ps(acc + (i * k + j) * 16));
}

QMOE_RANS_MV_AVX2 void RowsAvx2(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax,
                                const float* xd, int64_t xs, int64_t k, float* y, int64_t ystride) {
  static const PanelFn256 kPanel[kBlock256 + 1] = {nullptr, PanelAvx2<1>, PanelAvx2<2>, PanelAvx2<3>,
                                                   PanelAvx2<4>};
  const int64_t np8 = (np + 7) & ~int64_t{7}, panel = PanelPairs(k);
  float* acc = Scratch(nr * k * 16);
  std::fill(acc, acc + nr * k * 16, 0.0f);
  for (int64_t p0 = 0; p0 < np8; p0 += panel) {
    const int64_t n = std::min(np8, p0 + panel) - p0;
    for (int64_t i = 0; i < nr; ++i) {
      const float lo = Bf16BitsToFloat(minmax[2 * i]), hi = Bf16BitsToFloat(minmax[2 * i + 1]);
      for (int64_t j0 = 0; j0 < k; j0 += kBlock256) {
        const int64_t kb = std::min<int64_t>(kBlock256, k - j0);
        kPanel[kb](pairs + i * np + p0, n, lo, hi, xd + 2 * j0 * xs + p0, xs, acc + (i * k + j0) * 16);
      }
    }
  }
  for (int64_t i = 0; i < nr; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const float* a = acc + (i * k + j) * 16;
      const __m256 s = _mm256_add_ps(_mm256_load_ps(a), _mm256_load_ps(a + 8));
      __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
      q = _mm_add_ps(q, _mm_movehl_ps(q, q));
      q = _mm_add_ss(q, _mm_movehdup_ps(q));
      y[j * ystride + i] = _mm_cvtss_f32(q);
    }
}

}  // namespace qmoe::kernels::rans_matvec

#else  // not x86-64: the driver never selects these (CpuSupports is false).
#include "framework/core/error.h"
#include "kernels/rans_matvec/rans_internal.h"
namespace qmoe::kernels::rans_matvec {
void RowsAvx512(const uint8_t*, int64_t, int64_t, const uint16_t*, const float*, int64_t, int64_t, float*, int64_t) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
void RowsAvx2(const uint8_t*, int64_t, int64_t, const uint16_t*, const float*, int64_t, int64_t, float*, int64_t) {
  QMOE_ASSERT(false, "AVX2 kernel on a non-x86 build");
}
void RowsAvx512Bf16(const uint8_t*, int64_t, int64_t, const uint16_t*, const float*, int64_t, int64_t, float*,
                    int64_t) {
  QMOE_ASSERT(false, "AVX-512 BF16 kernel on a non-x86 build");
}
bool HaveAvx512Bf16() { return false; }
}  // namespace qmoe::kernels::rans_matvec
#endif
