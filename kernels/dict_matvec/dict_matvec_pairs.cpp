// The "pairs" CPU paths (avx2_pairs, avx512_pairs in dict_paths.h): each row is first decoded into
// a byte per ternary pair, then multiplied densely with level selection by a permute.
//
// Why: the window forms (dict_matvec_simd.cpp) spend a 32-lane window on every codeword although a
// codeword covers ~23 columns on average, and they extract symbol masks per codeword. Here:
// 1. Decode (per codeword, ~6 scalar/vector uops, no shifts or masks): a kernel-side table `pt`
//    (built once from `dec`, 16 bytes per codeword) holds byte p = first symbol | second symbol << 2
//    for pair p < n, zeros for p in [n, 15), and n in byte 15. The row decoder stores the 16 bytes
//    at the row's pair cursor and advances it by n (the next store overwrites the tail), so the
//    row's pairs land contiguously in an L1 buffer of cols/2 bytes.
// 2. Dense pass (per 8V columns, V = lanes): one load of 4V pair bytes as V 32-bit lanes; eight
//    shifts of it (Shift(q) below) put each column's symbol in the low bits of a lane, and vpermps
//    with the level vector L = [0, min, max, 0, 0, min, max, 0, ...] (it reads only the low 3 or 4
//    index bits, and L repeats every 4) turns them into weights; an FMA with x, stored once per call
//    in the matching "sliced" order, accumulates. Every column is visited once.
// k = 1: row r's dense pass runs while row r + 1 is decoded, a few codewords per block.
// Batch k >= 2: two rows per pass share each x load, tokens in blocks of KB registers.
// Numerics: products w*x are exact in fp32 (bf16 level times bf16-valued x), sums are fp32 in a
// blocked order (the tolerance of the fp32-accumulating paths covers any order).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "codecs/dict/dict_format.h"
#include "codecs/dict/dictionary.h"
#include "kernels/dict_matvec/dict_internal.h"

#define QMOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi,bmi2")))
#define QMOE_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))

namespace qmoe::kernels::dict_matvec {
namespace {

// 16 bytes per codeword: pair bytes, zeros, n in byte 15 (n <= 14 keeps it clear of the pairs).
struct PairTable {
  std::unique_ptr<uint8_t[], void (*)(void*)> bytes{nullptr, std::free};
  void Build(const uint32_t* dec) {
    bytes.reset(static_cast<uint8_t*>(std::aligned_alloc(64, size_t(dict::kEntries) * 16)));
    for (uint32_t c = 0; c < uint32_t(dict::kEntries); ++c) {
      uint8_t* e = bytes.get() + size_t(c) * 16;
      std::memset(e, 0, 16);
      const uint32_t n = EntryPairs(dec[2 * c]);
      for (uint32_t p = 0; p < n && p < 15; ++p)
        e[p] = uint8_t(CodeSymbol(dec, c, 2 * p) | CodeSymbol(dec, c, 2 * p + 1) << 2);
      e[15] = uint8_t(n);
    }
  }
};

// The table for `dec`: the dictionary's own table is converted once per process; any other table
// (tests) is converted per thread and re-converted when its contents change.
const uint8_t* PairTableFor(const uint32_t* dec) {
  static const PairTable canonical = [] {
    PairTable t;
    t.Build(dict::DecodeTable().data());
    return t;
  }();
  if (dec == dict::DecodeTable().data()) return canonical.bytes.get();
  thread_local std::vector<uint32_t> seen;
  thread_local PairTable other;
  const size_t words = size_t(2 * dict::kEntries);
  if (seen.size() != words || std::memcmp(seen.data(), dec, words * 4) != 0) {
    seen.assign(dec, dec + words);
    other.Build(dec);
  }
  return other.bytes.get();
}

inline float MinOf(const DictView& m, int64_t r) { return Bf16BitsToFloat(m.minmax[2 * r].bits); }
inline float MaxOf(const DictView& m, int64_t r) {
  return Bf16BitsToFloat(m.minmax[2 * r + 1].bits);
}

// Pair buffers of `n` rows, 64-byte aligned, per thread: cols/2 pair bytes, the 15 bytes a last
// 16-byte store writes past them and a zero tail of up to 64 bytes.
uint8_t* RowBuffers(int64_t cols, int n, int64_t* stride) {
  *stride = (cols / 2 + 160 + 63) & ~int64_t{63};
  thread_local std::vector<uint8_t> buf;
  buf.resize(size_t(*stride * n + 64));
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
}

// A row being decoded a few codewords at a time while the previous row's dense pass runs, so that
// the decode's loads and stores can overlap the pass's shuffles and FMAs (at k = 1 on a Zen 4 core,
// with the sliced layout below, 8-12 % faster than a whole-row decode before each pass; the decode
// still takes ~60 % of the time).
struct RowDecoder {
  const uint16_t* code = nullptr;
  int64_t left = 0;  // codewords not yet decoded
  uint8_t* p = nullptr;
};

inline RowDecoder StartRow(const DictView& m, int64_t r, uint8_t* buf) {
  return {m.codes + m.row_off[r], m.row_off[r + 1] - m.row_off[r], buf};
}

QMOE_AVX2 inline void Decode1(RowDecoder& d, const uint8_t* pt) {
  const uint8_t* e = pt + 16 * size_t(*d.code++);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d.p), _mm_load_si128(reinterpret_cast<const __m128i*>(e)));
  d.p += e[15];
  --d.left;
}

// Four codewords (d.left >= 4), their codes read in one load.
QMOE_AVX2 inline void Decode4(RowDecoder& d, const uint8_t* pt) {
  uint64_t c4;
  std::memcpy(&c4, d.code, 8);
  const uint8_t* e0 = pt + 16 * (c4 & 0xffff);
  const uint8_t* e1 = pt + 16 * ((c4 >> 16) & 0xffff);
  const uint8_t* e2 = pt + 16 * ((c4 >> 32) & 0xffff);
  const uint8_t* e3 = pt + 16 * (c4 >> 48);
  uint8_t* p = d.p;
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_load_si128(reinterpret_cast<const __m128i*>(e0)));
  p += e0[15];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_load_si128(reinterpret_cast<const __m128i*>(e1)));
  p += e1[15];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_load_si128(reinterpret_cast<const __m128i*>(e2)));
  p += e2[15];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_load_si128(reinterpret_cast<const __m128i*>(e3)));
  d.p = p + e3[15];
  d.code += 4;
  d.left -= 4;
}

// The rest of the row, then a zero tail of 64 bytes (a dense block reads up to 63 bytes past the
// row's last pair and must see symbol 0 there).
QMOE_AVX2 inline void FinishRow(RowDecoder& d, const uint8_t* pt) {
  while (d.left >= 4) Decode4(d, pt);
  while (d.left > 0) Decode1(d, pt);
  const __m256i z = _mm256_setzero_si256();
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d.p), z);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d.p + 32), z);
}

// Row r's pairs into buf whole, then the zero tail (the batch and bf16dot passes decode a row
// before its pass).
QMOE_AVX2 inline void DecodeRowPairs(const DictView& m, const uint8_t* pt, int64_t r, uint8_t* buf) {
  RowDecoder d = StartRow(m, r, buf);
  FinishRow(d, pt);
}

// The dense passes read a row's pair bytes as 32-bit lanes: lane i of a block of 4V pair bytes
// (V lanes) holds pairs 4i..4i+3, and lane >> Shift(q), q = 0..7, has in its low two bits the
// symbol of column 8i + q of the block's 8V columns (q = 2j + t: pair 4i + j, symbol t). The
// permutes read only the low 3 (AVX2) or 4 (AVX-512) index bits, and the level vector repeats
// every 4 lanes, so the bits above the symbol do not matter. x is stored to match ("sliced"):
// within each block of 8V columns, vector q holds columns 8i + q, i = 0..V-1.
constexpr int Shift(int q) { return 8 * (q / 2) + 2 * (q % 2); }

// x rows (stride xstride, cols valid) into sliced order, zero past cols; ostride = cols rounded
// up to 8V.
float* SlicedX(const float* x, int64_t xstride, int64_t k, int64_t cols, int v, int64_t* ostride) {
  const int64_t blk = 8 * v;
  const int64_t s = (cols + blk - 1) / blk * blk;
  thread_local std::vector<float> buf;
  buf.resize(size_t(s * k + 16));
  float* out = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
  for (int64_t j = 0; j < k; ++j)
    for (int64_t b = 0; b < s; b += blk)
      for (int q = 0; q < 8; ++q)
        for (int i = 0; i < v; ++i) {
          const int64_t c = b + 8 * i + q;
          out[j * s + b + q * v + i] = c < cols ? x[j * xstride + c] : 0.0f;
        }
  *ostride = s;
  return out;
}

// Expands F(0); ...; F(7) (the shift counts must be immediates, and a lambda would not carry the
// kernels' target attributes).
#define QMOE_EACH_SLICE(F) F(0); F(1); F(2); F(3); F(4); F(5); F(6); F(7)

// A block kernel for R rows and b tokens (x: the block's first token, rows of stride xstr).
template <class X>
using TokenBlockFn = void (*)(const DictView& m, int64_t r0, uint8_t* const* bufs, const X* x, int64_t xstr,
                              int64_t nb, float* y);

// k tokens through fns[b] (b tokens each; fns[0] unused): blocks of `most` tokens, then the rest.
template <class X>
void TokenBlocks(const TokenBlockFn<X>* fns, int most, const DictView& m, int64_t r0, uint8_t* const* bufs,
                 const X* x, int64_t xstr, int64_t k, int64_t nb, float* y) {
  int64_t j0 = 0;
  for (; j0 + most <= k; j0 += most) fns[most](m, r0, bufs, x + j0 * xstr, xstr, nb, y + j0 * m.rows);
  if (k > j0) fns[k - j0](m, r0, bufs, x + j0 * xstr, xstr, nb, y + j0 * m.rows);
}

// ---------------------------------------------------------------- AVX-512 (V = 16, blocks of 128)

QMOE_AVX512 inline __m512 Levels512(const DictView& m, int64_t r) {
  const float a = MinOf(m, r), b = MaxOf(m, r);
  return _mm512_setr_ps(0.0f, a, b, 0, 0, a, b, 0, 0, a, b, 0, 0, a, b, 0);
}

template <int Q>
QMOE_AVX512 inline __m512i Slice512(__m512i p) {
  if constexpr (Q == 0) return p;
  else return _mm512_srli_epi32(p, Shift(Q));
}

// k = 1: the dense pass of row r runs while row r + 1 is decoded, 8 codewords per block (a block
// of 128 columns holds ~7.5 codewords at the dictionary's usual rate).
QMOE_AVX512 void Pairs1Avx512(const DictView& m, const uint8_t* pt, const float* xs, float* y) {
  int64_t bs;
  uint8_t* buf = RowBuffers(m.cols, 2, &bs);
  const int64_t nb = (m.cols + 127) / 128;
  RowDecoder d;
  DecodeRowPairs(m, pt, 0, buf);
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint8_t* cur = buf + bs * (r & 1);
    d = r + 1 < m.rows ? StartRow(m, r + 1, buf + bs * ((r + 1) & 1)) : RowDecoder{};
    const __m512 lv = Levels512(m, r);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t b = 0; b < nb; ++b) {
      const __m512i p = _mm512_load_si512(cur + 64 * b);
      const float* x = xs + 128 * b;
#define QMOE_SLICE(q) \
  acc[q % 4] = _mm512_fmadd_ps(_mm512_permutexvar_ps(Slice512<q>(p), lv), _mm512_load_ps(x + 16 * q), acc[q % 4])
      QMOE_EACH_SLICE(QMOE_SLICE);
#undef QMOE_SLICE
      if (d.left >= 8) {
        Decode4(d, pt);
        Decode4(d, pt);
      }
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    if (r + 1 < m.rows) FinishRow(d, pt);
  }
}

// Slice Q of one block for R rows and KB tokens (x: the block in the first token's row).
template <int Q, int R, int KB>
QMOE_AVX512 inline void SliceFmaAvx512(const __m512i* p, const __m512* lv, const float* x, int64_t xstr,
                                       __m512 (*acc)[KB]) {
  __m512 w[R];
  for (int i = 0; i < R; ++i) w[i] = _mm512_permutexvar_ps(Slice512<Q>(p[i]), lv[i]);
  for (int j = 0; j < KB; ++j) {
    const __m512 xv = _mm512_load_ps(x + j * xstr + 16 * Q);
    for (int i = 0; i < R; ++i) acc[i][j] = _mm512_fmadd_ps(w[i], xv, acc[i][j]);
  }
}

// R rows (pair buffers bufs[i]) times KB tokens (xs rows of stride xstr): y[j*rows + r0 + i].
template <int R, int KB>
QMOE_AVX512 void PairsBlockAvx512(const DictView& m, int64_t r0, uint8_t* const* bufs, const float* xs,
                                  int64_t xstr, int64_t nb, float* y) {
  __m512 lv[R], acc[R][KB];
  for (int i = 0; i < R; ++i) {
    lv[i] = Levels512(m, r0 + i);
    for (int j = 0; j < KB; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512i p[R];
    for (int i = 0; i < R; ++i) p[i] = _mm512_load_si512(bufs[i] + 64 * b);
    const float* x = xs + 128 * b;
#define QMOE_SLICE(q) SliceFmaAvx512<q, R, KB>(p, lv, x, xstr, acc)
    QMOE_EACH_SLICE(QMOE_SLICE);
#undef QMOE_SLICE
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < KB; ++j) y[j * m.rows + r0 + i] = _mm512_reduce_add_ps(acc[i][j]);
}


// R*8 accumulators + R weights, pair vectors and levels <= 32 registers: up to 8 tokens per block.
template <int R>
constexpr TokenBlockFn<float> kPairsBlocks512[] = {nullptr, PairsBlockAvx512<R, 1>, PairsBlockAvx512<R, 2>,
                                                   PairsBlockAvx512<R, 3>, PairsBlockAvx512<R, 4>, PairsBlockAvx512<R, 5>,
                                                   PairsBlockAvx512<R, 6>, PairsBlockAvx512<R, 7>, PairsBlockAvx512<R, 8>};

QMOE_AVX512 void PairsBatchAvx512(const DictView& m, const uint8_t* pt, const float* xs, int64_t xstr, int64_t k,
                                  float* y) {
  int64_t bs;
  uint8_t* buf = RowBuffers(m.cols, 2, &bs);
  uint8_t* bufs[2] = {buf, buf + bs};
  const int64_t nb = (m.cols + 127) / 128;
  int64_t r = 0;
  for (; r < m.rows; r += 2) {
    const int n = r + 2 <= m.rows ? 2 : 1;
    for (int i = 0; i < n; ++i) DecodeRowPairs(m, pt, r + i, bufs[i]);
    TokenBlocks(n == 2 ? kPairsBlocks512<2> : kPairsBlocks512<1>, 8, m, r, bufs, xs, xstr, k, nb, y);
  }
}

// ---------------------------------------------------------------- AVX2 (V = 8, blocks of 64)

QMOE_AVX2 inline __m256 Levels256(const DictView& m, int64_t r) {
  const float a = MinOf(m, r), b = MaxOf(m, r);
  return _mm256_setr_ps(0.0f, a, b, 0, 0, a, b, 0);
}

QMOE_AVX2 inline float HSum256(__m256 s) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

template <int Q>
QMOE_AVX2 inline __m256i Slice256(__m256i p) {
  if constexpr (Q == 0) return p;
  else return _mm256_srli_epi32(p, Shift(Q));
}

// k = 1, as Pairs1Avx512: 4 codewords of the next row per block of 64 columns.
QMOE_AVX2 void Pairs1Avx2(const DictView& m, const uint8_t* pt, const float* xs, float* y) {
  int64_t bs;
  uint8_t* buf = RowBuffers(m.cols, 2, &bs);
  const int64_t nb = (m.cols + 63) / 64;
  RowDecoder d;
  DecodeRowPairs(m, pt, 0, buf);
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint8_t* cur = buf + bs * (r & 1);
    d = r + 1 < m.rows ? StartRow(m, r + 1, buf + bs * ((r + 1) & 1)) : RowDecoder{};
    const __m256 lv = Levels256(m, r);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i p = _mm256_load_si256(reinterpret_cast<const __m256i*>(cur + 32 * b));
      const float* x = xs + 64 * b;
#define QMOE_SLICE(q) \
  acc[q % 4] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(lv, Slice256<q>(p)), _mm256_load_ps(x + 8 * q), acc[q % 4])
      QMOE_EACH_SLICE(QMOE_SLICE);
#undef QMOE_SLICE
      if (d.left >= 4) Decode4(d, pt);
    }
    y[r] = HSum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    if (r + 1 < m.rows) FinishRow(d, pt);
  }
}

template <int Q, int R, int KB>
QMOE_AVX2 inline void SliceFmaAvx2(const __m256i* p, const __m256* lv, const float* x, int64_t xstr,
                                   __m256 (*acc)[KB]) {
  __m256 w[R];
  for (int i = 0; i < R; ++i) w[i] = _mm256_permutevar8x32_ps(lv[i], Slice256<Q>(p[i]));
  for (int j = 0; j < KB; ++j) {
    const __m256 xv = _mm256_load_ps(x + j * xstr + 8 * Q);
    for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(w[i], xv, acc[i][j]);
  }
}

template <int R, int KB>
QMOE_AVX2 void PairsBlockAvx2(const DictView& m, int64_t r0, uint8_t* const* bufs, const float* xs, int64_t xstr,
                              int64_t nb, float* y) {
  __m256 acc[R][KB], lv[R];
  for (int i = 0; i < R; ++i) {
    lv[i] = Levels256(m, r0 + i);
    for (int j = 0; j < KB; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m256i p[R];
    for (int i = 0; i < R; ++i) p[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(bufs[i] + 32 * b));
    const float* x = xs + 64 * b;
#define QMOE_SLICE(q) SliceFmaAvx2<q, R, KB>(p, lv, x, xstr, acc)
    QMOE_EACH_SLICE(QMOE_SLICE);
#undef QMOE_SLICE
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < KB; ++j) y[j * m.rows + r0 + i] = HSum256(acc[i][j]);
}


// 2 rows: 8 accumulators + 2 each of pairs, weights, levels + x of 16 registers: up to 4 tokens.
template <int R>
constexpr TokenBlockFn<float> kPairsBlocks256[] = {nullptr, PairsBlockAvx2<R, 1>, PairsBlockAvx2<R, 2>,
                                                   PairsBlockAvx2<R, 3>, PairsBlockAvx2<R, 4>};

QMOE_AVX2 void PairsBatchAvx2(const DictView& m, const uint8_t* pt, const float* xs, int64_t xstr, int64_t k,
                              float* y) {
  int64_t bs;
  uint8_t* buf = RowBuffers(m.cols, 2, &bs);
  uint8_t* bufs[2] = {buf, buf + bs};
  const int64_t nb = (m.cols + 63) / 64;
  for (int64_t r = 0; r < m.rows; r += 2) {
    const int n = r + 2 <= m.rows ? 2 : 1;
    for (int i = 0; i < n; ++i) DecodeRowPairs(m, pt, r + i, bufs[i]);
    TokenBlocks(n == 2 ? kPairsBlocks256<2> : kPairsBlocks256<1>, 4, m, r, bufs, xs, xstr, k, nb, y);
  }
}

// ---------------------------------------------------------------- AVX512_BF16 (blocks of 32)
// The same pair bytes index a 16-entry table of bf16 weight PAIRS (T[s0 | s1 << 2] = level(s0) in the
// low half, level(s1) in the high half): one vpermd yields the weights of 32 columns, and vdpbf16ps
// multiplies them with 32 bf16 x values in natural order (products exact in fp32; the instruction
// treats subnormal inputs and results as zero, whatever MXCSR says).

#define QMOE_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,bmi,bmi2")))

QMOE_AVX512BF16 inline __m512i PairLevelsBf16(const DictView& m, int64_t r) {
  const uint32_t lv[4] = {0u, m.minmax[2 * r].bits, m.minmax[2 * r + 1].bits, 0u};
  alignas(64) uint32_t t[16];
  for (uint32_t i = 0; i < 16; ++i) t[i] = lv[i & 3] | lv[i >> 2] << 16;
  return _mm512_load_si512(t);
}

QMOE_AVX512BF16 inline __m512 Dot32(__m512 acc, __m512i w, const uint16_t* x) {
  return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_load_si512(x));
}

QMOE_AVX512BF16 inline __m512i PairLanes512(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
}

QMOE_AVX512BF16 void Bf16Dot1(const DictView& m, const uint8_t* pt, const uint16_t* xb, float* y) {
  int64_t bs;
  uint8_t* buf = RowBuffers(m.cols, 1, &bs);
  const int64_t nb = (m.cols + 31) / 32;
  for (int64_t r = 0; r < m.rows; ++r) {
    DecodeRowPairs(m, pt, r, buf);
    const __m512i t = PairLevelsBf16(m, r);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
      a0 = Dot32(a0, _mm512_permutexvar_epi32(PairLanes512(buf + 16 * b), t), xb + 32 * b);
      a1 = Dot32(a1, _mm512_permutexvar_epi32(PairLanes512(buf + 16 * b + 16), t), xb + 32 * b + 32);
      a2 = Dot32(a2, _mm512_permutexvar_epi32(PairLanes512(buf + 16 * b + 32), t), xb + 32 * b + 64);
      a3 = Dot32(a3, _mm512_permutexvar_epi32(PairLanes512(buf + 16 * b + 48), t), xb + 32 * b + 96);
    }
    for (; b < nb; ++b) a0 = Dot32(a0, _mm512_permutexvar_epi32(PairLanes512(buf + 16 * b), t), xb + 32 * b);
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}

template <int R, int KB>
QMOE_AVX512BF16 void Bf16DotBlock(const DictView& m, int64_t r0, uint8_t* const* bufs, const uint16_t* xb,
                                  int64_t xs, int64_t nb, float* y) {
  __m512i t[R];
  __m512 acc[R][KB];
  for (int i = 0; i < R; ++i) {
    t[i] = PairLevelsBf16(m, r0 + i);
    for (int j = 0; j < KB; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[R];
    for (int i = 0; i < R; ++i) w[i] = _mm512_permutexvar_epi32(PairLanes512(bufs[i] + 16 * b), t[i]);
    for (int j = 0; j < KB; ++j) {
      const __m512bh xv = (__m512bh)_mm512_load_si512(xb + j * xs + 32 * b);
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)w[i], xv);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < KB; ++j) y[j * m.rows + r0 + i] = _mm512_reduce_add_ps(acc[i][j]);
}


// Up to 8 tokens per block, as the fp32 AVX-512 form.
template <int R>
constexpr TokenBlockFn<uint16_t> kBf16DotBlocks[] = {nullptr, Bf16DotBlock<R, 1>, Bf16DotBlock<R, 2>,
                                                     Bf16DotBlock<R, 3>, Bf16DotBlock<R, 4>, Bf16DotBlock<R, 5>,
                                                     Bf16DotBlock<R, 6>, Bf16DotBlock<R, 7>, Bf16DotBlock<R, 8>};

QMOE_AVX512BF16 void Bf16DotBatch(const DictView& m, const uint8_t* pt, const uint16_t* xb, int64_t xs, int64_t k,
                                  float* y) {
  int64_t bs;
  uint8_t* buf = RowBuffers(m.cols, 2, &bs);
  uint8_t* bufs[2] = {buf, buf + bs};
  const int64_t nb = (m.cols + 31) / 32;
  int64_t r = 0;
  for (; r + 2 <= m.rows; r += 2) {
    DecodeRowPairs(m, pt, r, bufs[0]);
    DecodeRowPairs(m, pt, r + 1, bufs[1]);
    TokenBlocks(kBf16DotBlocks<2>, 8, m, r, bufs, xb, xs, k, nb, y);
  }
  if (r < m.rows) {
    DecodeRowPairs(m, pt, r, bufs[0]);
    TokenBlocks(kBf16DotBlocks<1>, 8, m, r, bufs, xb, xs, k, nb, y);
  }
}

// x as bf16 bits, rows of stride (cols rounded up to 32), zeros past cols; false when some value
// is not exactly a bf16 (then the caller takes the fp32 form, which never rounds x).
bool Bf16X(const float* x, int64_t xstride, int64_t k, int64_t cols, const uint16_t** out, int64_t* ostride) {
  const int64_t s = (cols + 31) / 32 * 32;
  thread_local std::vector<uint16_t> buf;
  buf.resize(size_t(s * k + 32));
  uint16_t* o = reinterpret_cast<uint16_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t bits = __builtin_bit_cast(uint32_t, x[j * xstride + c]);
      if (bits & 0xffffu) return false;
      o[j * s + c] = uint16_t(bits >> 16);
    }
    std::fill(o + j * s + cols, o + j * s + s, uint16_t{0});
  }
  *out = o;
  *ostride = s;
  return true;
}
}  // namespace

bool CpuHasAvx512Bf16() {
  __builtin_cpu_init();
  return CpuSupports(CpuIsa::kAvx512) && __builtin_cpu_supports("avx512bf16");
}

void MatvecPairsBf16Avx512(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride, int64_t k,
                           float* y) {
  if (m.rows == 0) return;
  const uint16_t* xb;
  int64_t xs;
  if (!CpuHasAvx512Bf16() || !Bf16X(xpad, xstride, k, m.cols, &xb, &xs))
    return MatvecPairsAvx512(m, dec, xpad, xstride, k, y);
  const uint8_t* pt = PairTableFor(dec);
  if (k == 1) return Bf16Dot1(m, pt, xb, y);
  Bf16DotBatch(m, pt, xb, xs, k, y);
}

void MatvecPairsAvx512(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride, int64_t k,
                       float* y) {
  if (m.rows == 0) return;
  const uint8_t* pt = PairTableFor(dec);
  int64_t xs;
  const float* xsl = SlicedX(xpad, xstride, k, m.cols, 16, &xs);
  if (k == 1) return Pairs1Avx512(m, pt, xsl, y);
  PairsBatchAvx512(m, pt, xsl, xs, k, y);
}

void MatvecPairsAvx2(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride, int64_t k,
                     float* y) {
  if (m.rows == 0) return;
  const uint8_t* pt = PairTableFor(dec);
  int64_t xs;
  const float* xsl = SlicedX(xpad, xstride, k, m.cols, 8, &xs);
  if (k == 1) return Pairs1Avx2(m, pt, xsl, y);
  PairsBatchAvx2(m, pt, xsl, xs, k, y);
}

}  // namespace qmoe::kernels::dict_matvec

#else  // not x86-64: the ladder never selects these (CpuSupports is false).
#include "framework/core/error.h"
#include "kernels/dict_matvec/dict_internal.h"
namespace qmoe::kernels::dict_matvec {
void MatvecPairsAvx512(const DictView&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
void MatvecPairsAvx2(const DictView&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX2 kernel on a non-x86 build");
}
void MatvecPairsBf16Avx512(const DictView&, const uint32_t*, const float*, int64_t, int64_t, float*) {
  QMOE_ASSERT(false, "AVX-512 kernel on a non-x86 build");
}
bool CpuHasAvx512Bf16() { return false; }
}  // namespace qmoe::kernels::dict_matvec
#endif
