// SIMD rANS decode. AVX2: 8 states per vector, up to 4 vectors in flight; the symbol of a slot is
// the count of the 8 cumulative bounds at or below it (no gather: its latency bound the loop),
// and renormalization words reach the lanes that need them through a permutation chosen by the
// lane mask. AVX-512: 16 states per vector, the same count, 16-entry permutes for freq/cum, and
// vpexpandd for the renormalization words. Both expand decoded pairs to floats with permutes.
#include "codecs/rans/rans_decode_simd.h"

#include <array>
#include <cstring>

#include "codecs/rans/rans_codec.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define QMOE_RANS_AVX2 __attribute__((target("avx2,popcnt")))
#define QMOE_RANS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,popcnt")))
#endif

namespace qmoe::rans::detail {

#if defined(__x86_64__)
namespace {

// For a mask of lanes that read a word, lane l takes the k-th word of the read, k = the number
// of reading lanes below l (the scalar decoder's order). Lanes that do not read take word 0.
struct Permutations {
  alignas(32) std::array<std::array<int32_t, 8>, 256> lane_word{};
  Permutations() {
    for (int mask = 0; mask < 256; ++mask)
      for (int l = 0, k = 0; l < 8; ++l) lane_word[size_t(mask)][size_t(l)] = (mask >> l) & 1 ? k++ : 0;
  }
};

// The frequency table as vectors: symbol s of 0..8 is the number of cumulative bounds cum[1..8]
// at or below the slot (an empty symbol's two equal bounds skip it); freq and cum of symbols
// 0..7 come from one permute each, symbol 8 from a blend on the last bound's mask.
struct Tables {
  __m256i bound_minus_1[8];  // cum[k] - 1 for k = 1..8 (slot >= cum[k] <=> slot > cum[k] - 1)
  __m256i freq07, cum07, freq8, cum8;
};

QMOE_RANS_AVX2 Tables MakeTables(const uint16_t* freq) {
  Tables t;
  int32_t cum[kSymbols + 1] = {0};
  for (int s = 0; s < kSymbols; ++s) cum[s + 1] = cum[s] + freq[s];
  for (int k = 1; k <= 8; ++k) t.bound_minus_1[k - 1] = _mm256_set1_epi32(cum[k] - 1);
  t.freq07 = _mm256_setr_epi32(freq[0], freq[1], freq[2], freq[3], freq[4], freq[5], freq[6], freq[7]);
  t.cum07 = _mm256_setr_epi32(cum[0], cum[1], cum[2], cum[3], cum[4], cum[5], cum[6], cum[7]);
  t.freq8 = _mm256_set1_epi32(freq[8]);
  t.cum8 = _mm256_set1_epi32(cum[8]);
  return t;
}

// One step of 8 lanes: symbols to dst[0..8), states updated, pos advanced past the words read.
QMOE_RANS_AVX2 inline __m256i Step8(const Tables& t, const uint16_t* w, int64_t& pos, __m256i xs, uint8_t* dst,
                                    const Permutations& perm) {
  const __m256i slot = _mm256_and_si256(xs, _mm256_set1_epi32(int(kScale - 1)));
  __m256i ge[8];
  for (int k = 0; k < 8; ++k) ge[k] = _mm256_cmpgt_epi32(slot, t.bound_minus_1[k]);  // -1 where slot >= cum[k+1]
  const __m256i neg_sym = _mm256_add_epi32(
      _mm256_add_epi32(_mm256_add_epi32(ge[0], ge[1]), _mm256_add_epi32(ge[2], ge[3])),
      _mm256_add_epi32(_mm256_add_epi32(ge[4], ge[5]), _mm256_add_epi32(ge[6], ge[7])));
  const __m256i sym = _mm256_sub_epi32(_mm256_setzero_si256(), neg_sym);
  // Symbols: the low byte of each lane (bytes 0, 4, 8, 12 of each 128-bit half).
  const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i bytes =
      _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(sym, pick), _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
  const int64_t syms = _mm_cvtsi128_si64(_mm256_castsi256_si128(bytes));
  std::memcpy(dst, &syms, 8);
  const __m256i freq = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(t.freq07, sym), t.freq8, ge[7]);
  const __m256i cum = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(t.cum07, sym), t.cum8, ge[7]);
  xs = _mm256_sub_epi32(_mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srli_epi32(xs, kScaleBits)), slot), cum);
  const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(xs, 16), _mm256_setzero_si256());  // x < 2^16
  const unsigned mask = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(need)));
  const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + pos)));
  const __m256i fill = _mm256_permutevar8x32_epi32(
      words, _mm256_load_si256(reinterpret_cast<const __m256i*>(perm.lane_word[mask].data())));
  pos += __builtin_popcount(mask);
  return _mm256_blendv_epi8(xs, _mm256_or_si256(_mm256_slli_epi32(xs, 16), fill), need);
}

template <int V>
QMOE_RANS_AVX2 int64_t Steps(const Tables& t, const uint16_t* w, int64_t& pos, int64_t end, uint32_t* x,
                             uint8_t* pairs, int64_t n, const Permutations& perm) {
  __m256i v[V];
  for (int k = 0; k < V; ++k) v[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 8 * k));
  int64_t i = 0;
  for (; i + 8 * V <= n && pos + 8 * V <= end; i += 8 * V)
    for (int k = 0; k < V; ++k) v[k] = Step8(t, w, pos, v[k], pairs + i + 8 * k, perm);
  for (int k = 0; k < V; ++k) _mm256_storeu_si256(reinterpret_cast<__m256i*>(x + 8 * k), v[k]);
  return i;
}

}  // namespace

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}

bool HaveAvx512() {
  static const bool have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl");
  return have;
}

QMOE_RANS_AVX2 int64_t DecodeStepsAvx2(const uint16_t* freq, const uint16_t* w, int64_t& pos, int64_t end,
                                       uint32_t* x, int streams, uint8_t* pairs, int64_t n) {
  static const Permutations perm;
  const Tables t = MakeTables(freq);
  switch (streams) {
    case 8: return Steps<1>(t, w, pos, end, x, pairs, n, perm);
    case 16: return Steps<2>(t, w, pos, end, x, pairs, n, perm);
    case 24: return Steps<3>(t, w, pos, end, x, pairs, n, perm);
    case 32: return Steps<4>(t, w, pos, end, x, pairs, n, perm);
    default: return 0;
  }
}

QMOE_RANS_AVX2 void ExpandPairsAvx2(const uint8_t* pairs, int64_t n, float lo, float hi, float* out) {
  const float lev[3] = {0.0f, lo, hi};
  auto scalar = [&](int64_t k) { out[2 * k] = lev[pairs[k] % 3], out[2 * k + 1] = lev[pairs[k] / 3]; };
  int64_t k = 0;  // align the stores as in ExpandPairsAvx512
  while (k < n && k < 16 && (reinterpret_cast<uintptr_t>(out + 2 * k) & 63) != 0) scalar(k++);
  // Pair symbol r = 3·t_odd + t_even; level index 0 -> 0, 1 -> lo, 2 -> hi. Symbols 0..7 by one
  // permute each for the even and the odd weight, symbol 8 (hi, hi) by a blend.
  const __m256 even_tab = _mm256_setr_ps(0, lo, hi, 0, lo, hi, 0, lo);
  const __m256 odd_tab = _mm256_setr_ps(0, 0, 0, lo, lo, lo, hi, hi);
  const __m256 hi8 = _mm256_set1_ps(hi);
  const __m256i eight = _mm256_set1_epi32(8);
  for (; k + 8 <= n; k += 8) {
    int64_t b;
    std::memcpy(&b, pairs + k, 8);
    const __m256i sym = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(b));
    const __m256 is8 = _mm256_castsi256_ps(_mm256_cmpeq_epi32(sym, eight));
    const __m256 ev = _mm256_blendv_ps(_mm256_permutevar8x32_ps(even_tab, sym), hi8, is8);
    const __m256 od = _mm256_blendv_ps(_mm256_permutevar8x32_ps(odd_tab, sym), hi8, is8);
    const __m256 a = _mm256_unpacklo_ps(ev, od), c = _mm256_unpackhi_ps(ev, od);  // (0 1 | 4 5), (2 3 | 6 7)
    _mm256_storeu_ps(out + 2 * k, _mm256_permute2f128_ps(a, c, 0x20));
    _mm256_storeu_ps(out + 2 * k + 8, _mm256_permute2f128_ps(a, c, 0x31));
  }
  for (; k < n; ++k) scalar(k);
}

namespace {

// One step of 16 lanes; the tables hold freq and cum of symbols 0..8 in lanes 0..8.
QMOE_RANS_AVX512 inline __m512i Step16(const __m512i* bound_minus_1, __m512i freq_tab, __m512i cum_tab,
                                       const uint16_t* w, int64_t& pos, __m512i xs, uint8_t* dst) {
  const __m512i slot = _mm512_and_si512(xs, _mm512_set1_epi32(int(kScale - 1)));
  __m512i sym = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi32(1);
  for (int k = 0; k < 8; ++k) sym = _mm512_mask_add_epi32(sym, _mm512_cmpgt_epi32_mask(slot, bound_minus_1[k]), sym, one);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtepi32_epi8(sym));
  const __m512i freq = _mm512_permutexvar_epi32(sym, freq_tab), cum = _mm512_permutexvar_epi32(sym, cum_tab);
  xs = _mm512_sub_epi32(_mm512_add_epi32(_mm512_mullo_epi32(freq, _mm512_srli_epi32(xs, kScaleBits)), slot), cum);
  const __mmask16 need = _mm512_cmplt_epu32_mask(xs, _mm512_set1_epi32(int(kLow)));
  const __m512i words = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + pos)));
  pos += __builtin_popcount(unsigned(need));
  return _mm512_mask_or_epi32(xs, need, _mm512_slli_epi32(xs, 16), _mm512_maskz_expand_epi32(need, words));
}

template <int V>
QMOE_RANS_AVX512 int64_t Steps16(const uint16_t* f, const uint16_t* w, int64_t& pos, int64_t end, uint32_t* x,
                                 uint8_t* pairs, int64_t n) {
  int32_t cum[16] = {0}, freq[16] = {0};
  for (int s = 0; s < kSymbols; ++s) freq[s] = f[s], cum[s + 1] = cum[s] + f[s];
  __m512i bound_minus_1[8];
  for (int k = 0; k < 8; ++k) bound_minus_1[k] = _mm512_set1_epi32(cum[k + 1] - 1);
  const __m512i freq_tab = _mm512_loadu_si512(freq), cum_tab = _mm512_loadu_si512(cum);
  __m512i v[V];
  for (int k = 0; k < V; ++k) v[k] = _mm512_loadu_si512(x + 16 * k);
  int64_t i = 0;
  for (; i + 16 * V <= n && pos + 16 * V <= end; i += 16 * V)
    for (int k = 0; k < V; ++k) v[k] = Step16(bound_minus_1, freq_tab, cum_tab, w, pos, v[k], pairs + i + 16 * k);
  for (int k = 0; k < V; ++k) _mm512_storeu_si512(x + 16 * k, v[k]);
  return i;
}

// S = 32: both vectors' slots packed into one vector of 32 16-bit lanes for the symbol count
// (half the compares and adds of two Step16); packus interleaves the two sources per 128-bit lane
// in groups of 4, which unpacklo/unpackhi undo exactly. freq and cum come from one table of
// cum | freq << 16 (one permute instead of two: the permute port bounds this loop). Same
// arithmetic, word order and symbols.
QMOE_RANS_AVX512 inline void Step32(const __m512i* bound16_minus_1, __m512i fc_tab, const uint16_t* w, int64_t& pos,
                                    __m512i& x0, __m512i& x1, uint8_t* dst) {
  const __m512i mask = _mm512_set1_epi32(int(kScale - 1));
  const __m512i s0 = _mm512_and_si512(x0, mask), s1 = _mm512_and_si512(x1, mask);
  const __m512i s16 = _mm512_packus_epi32(s0, s1);  // slots < 2^12: no saturation
  __m512i sym16 = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi16(1);
  for (int k = 0; k < 8; ++k)
    sym16 = _mm512_mask_add_epi16(sym16, _mm512_cmpgt_epi16_mask(s16, bound16_minus_1[k]), sym16, one);
  const __m512i sym0 = _mm512_unpacklo_epi16(sym16, _mm512_setzero_si512());
  const __m512i sym1 = _mm512_unpackhi_epi16(sym16, _mm512_setzero_si512());
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtepi32_epi8(sym0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm512_cvtepi32_epi8(sym1));
  const __m512i lowbound = _mm512_set1_epi32(int(kLow));
  {
    const __m512i fc = _mm512_permutexvar_epi32(sym0, fc_tab);  // one permute: cum | freq << 16
    const __m512i f = _mm512_srli_epi32(fc, 16), c = _mm512_and_si512(fc, _mm512_set1_epi32(0xffff));
    x0 = _mm512_sub_epi32(_mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srli_epi32(x0, kScaleBits)), s0), c);
    const __mmask16 need = _mm512_cmplt_epu32_mask(x0, lowbound);
    const __m512i words = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + pos)));
    pos += __builtin_popcount(unsigned(need));
    x0 = _mm512_mask_or_epi32(x0, need, _mm512_slli_epi32(x0, 16), _mm512_maskz_expand_epi32(need, words));
  }
  {
    const __m512i fc = _mm512_permutexvar_epi32(sym1, fc_tab);  // one permute: cum | freq << 16
    const __m512i f = _mm512_srli_epi32(fc, 16), c = _mm512_and_si512(fc, _mm512_set1_epi32(0xffff));
    x1 = _mm512_sub_epi32(_mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srli_epi32(x1, kScaleBits)), s1), c);
    const __mmask16 need = _mm512_cmplt_epu32_mask(x1, lowbound);
    const __m512i words = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + pos)));
    pos += __builtin_popcount(unsigned(need));
    x1 = _mm512_mask_or_epi32(x1, need, _mm512_slli_epi32(x1, 16), _mm512_maskz_expand_epi32(need, words));
  }
}

QMOE_RANS_AVX512 int64_t Steps32(const uint16_t* f, const uint16_t* w, int64_t& pos, int64_t end, uint32_t* x,
                                 uint8_t* pairs, int64_t n) {
  int32_t cum[16] = {0}, freq[16] = {0};
  for (int s = 0; s < kSymbols; ++s) freq[s] = f[s], cum[s + 1] = cum[s] + f[s];
  __m512i bound16_minus_1[8];
  for (int k = 0; k < 8; ++k) bound16_minus_1[k] = _mm512_set1_epi16(int16_t(cum[k + 1] - 1));
  int32_t fc[16] = {0};
  for (int s = 0; s < kSymbols; ++s) fc[s] = cum[s] | (freq[s] << 16);
  const __m512i fc_tab = _mm512_loadu_si512(fc);
  __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 16);
  int64_t i = 0;
  for (; i + 32 <= n && pos + 32 <= end; i += 32) Step32(bound16_minus_1, fc_tab, w, pos, x0, x1, pairs + i);
  _mm512_storeu_si512(x, x0);
  _mm512_storeu_si512(x + 16, x1);
  return i;
}

template <int C>
QMOE_RANS_AVX512 int64_t Steps32Together(const uint16_t* f, const uint16_t* w, int64_t* const* pos_out,
                                         const int64_t* end, uint32_t* const* x, uint8_t* const* pairs, int64_t n) {
  int32_t cum[16] = {0}, freq[16] = {0};
  for (int s = 0; s < kSymbols; ++s) freq[s] = f[s], cum[s + 1] = cum[s] + f[s];
  __m512i bound16_minus_1[8];
  for (int k = 0; k < 8; ++k) bound16_minus_1[k] = _mm512_set1_epi16(int16_t(cum[k + 1] - 1));
  int32_t fc[16] = {0};
  for (int s = 0; s < kSymbols; ++s) fc[s] = cum[s] | (freq[s] << 16);
  const __m512i fc_tab = _mm512_loadu_si512(fc);
  __m512i x0[C], x1[C];
  int64_t pos[C];
  for (int c = 0; c < C; ++c) x0[c] = _mm512_loadu_si512(x[c]), x1[c] = _mm512_loadu_si512(x[c] + 16), pos[c] = *pos_out[c];
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    bool room = true;
    for (int c = 0; c < C; ++c) room &= pos[c] + 32 <= end[c];
    if (!room) break;
    for (int c = 0; c < C; ++c) Step32(bound16_minus_1, fc_tab, w, pos[c], x0[c], x1[c], pairs[c] + i);
  }
  for (int c = 0; c < C; ++c) {
    _mm512_storeu_si512(x[c], x0[c]);
    _mm512_storeu_si512(x[c] + 16, x1[c]);
    *pos_out[c] = pos[c];
  }
  return i;
}

}  // namespace

QMOE_RANS_AVX512 int64_t DecodeSteps32TogetherAvx512(const uint16_t* freq, const uint16_t* w, int count,
                                                     int64_t* const* pos, const int64_t* end, uint32_t* const* x,
                                                     uint8_t* const* pairs, int64_t n) {
  switch (count) {
    case 2: return Steps32Together<2>(freq, w, pos, end, x, pairs, n);
    case 3: return Steps32Together<3>(freq, w, pos, end, x, pairs, n);
    case 4: return Steps32Together<4>(freq, w, pos, end, x, pairs, n);
    default: return 0;
  }
}

QMOE_RANS_AVX512 int64_t DecodeStepsAvx512(const uint16_t* freq, const uint16_t* w, int64_t& pos, int64_t end,
                                           uint32_t* x, int streams, uint8_t* pairs, int64_t n) {
  switch (streams) {
    case 16: return Steps16<1>(freq, w, pos, end, x, pairs, n);
    case 32: return Steps32(freq, w, pos, end, x, pairs, n);
    default: return 0;
  }
}

QMOE_RANS_AVX512 void ExpandPairsAvx512(const uint8_t* pairs, int64_t n, float lo, float hi, float* out) {
  const float lev[3] = {0.0f, lo, hi};
  auto scalar = [&](int64_t k) { out[2 * k] = lev[pairs[k] % 3], out[2 * k + 1] = lev[pairs[k] / 3]; };
  // Scalar pairs until the output is 64-byte aligned (at most 16; never if it is not 8-byte
  // aligned): stores that split cache lines halved the bandwidth into DRAM (measured).
  int64_t k = 0;
  while (k < n && k < 16 && (reinterpret_cast<uintptr_t>(out + 2 * k) & 63) != 0) scalar(k++);
  // Lane r of each table: the even (r mod 3) and odd (r / 3) weight of pair symbol r.
  const __m512 even_tab = _mm512_setr_ps(0, lo, hi, 0, lo, hi, 0, lo, hi, 0, 0, 0, 0, 0, 0, 0);
  const __m512 odd_tab = _mm512_setr_ps(0, 0, 0, lo, lo, lo, hi, hi, hi, 0, 0, 0, 0, 0, 0, 0);
  // Interleave even/odd: output lane 2j <- even j, 2j + 1 <- odd j (odd is operand b: index + 16).
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (; k + 16 <= n; k += 16) {
    const __m512i sym = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pairs + k)));
    const __m512 ev = _mm512_permutexvar_ps(sym, even_tab), od = _mm512_permutexvar_ps(sym, odd_tab);
    _mm512_storeu_ps(out + 2 * k, _mm512_permutex2var_ps(ev, lo_idx, od));
    _mm512_storeu_ps(out + 2 * k + 16, _mm512_permutex2var_ps(ev, hi_idx, od));
  }
  for (; k < n; ++k) scalar(k);
}

#else

bool HaveAvx2() { return false; }
int64_t DecodeStepsAvx2(const uint16_t*, const uint16_t*, int64_t&, int64_t, uint32_t*, int, uint8_t*, int64_t) {
  return 0;
}
void ExpandPairsAvx2(const uint8_t*, int64_t, float, float, float*) {}
bool HaveAvx512() { return false; }
int64_t DecodeSteps32TogetherAvx512(const uint16_t*, const uint16_t*, int, int64_t* const*, const int64_t*,
                                    uint32_t* const*, uint8_t* const*, int64_t) {
  return 0;
}
int64_t DecodeStepsAvx512(const uint16_t*, const uint16_t*, int64_t&, int64_t, uint32_t*, int, uint8_t*, int64_t) {
  return 0;
}
void ExpandPairsAvx512(const uint8_t*, int64_t, float, float, float*) {}

#endif

}  // namespace qmoe::rans::detail
