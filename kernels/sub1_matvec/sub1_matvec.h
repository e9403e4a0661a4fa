// Fused decode + matvec for the sub-1-bit dictionary format (qmoe-method.md §8.8, §9), CPU side.
//
//   y[j][r] = sum_c W[r][c] * x[j][c]    for tokens j < k, rows r < h, columns c < w,
//
// with W decoded on the fly from (codes, row_off, minmax) through the decode table `dec`
// (uint32[2*65536], §8.4). x and y are bf16 (or fp32), accumulation is fp32 (the _ref forms
// accumulate in fp64). Any h >= 0 and w >= 0, odd w included; nothing is specialised by shape.
// Storage cost per row: 16 bits per codeword + 64 bits (32-bit row offset + bf16 min + bf16 max).
//
// Forms:
//   *Ref       plain loops, obviously correct, validate everything first (slow; for tests).
//   Sub1Matvec / Sub1MatvecBatch / Sub1Decompress: the fast paths. AVX-512 or AVX2 chosen at run
//              time (kernels/common/cpu_features.h), scalar fallback elsewhere. Single-threaded:
//              callers parallelise over matrices or row ranges.
//
// Validation contract: the fast paths check shapes, pointers and row_off[0]/row_off[h] (O(1)),
// but ASSUME the codes were checked once with Sub1Validate() and the table with
// Sub1ValidateDecodeTable() (e.g. at load time). Unvalidated corrupt input may read out of bounds.
// x buffers need no padding: the kernels copy x into zero-padded scratch.
#pragma once
#include <cstdint>
#include <string_view>

#include "kernels/common/bf16.h"
#include "kernels/common/cpu_features.h"

namespace qmoe::kernels {

// Non-owning view of one compressed matrix [rows=h, cols=w] (§8.8).
struct Sub1Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  const uint16_t* codes = nullptr;  // [num_codes], rows concatenated (the published int16 data)
  int64_t num_codes = 0;
  const int32_t* row_off = nullptr;  // [rows + 1], row_off[0] = 0, row_off[rows] = num_codes
  const Bf16* minmax = nullptr;      // [2 * rows], interleaved (min_r, max_r)
};

// Largest batch the fused batch kernel takes. Above it, decompress and use a dense GEMM.
constexpr int64_t kSub1MaxBatch = 16;

// Checks the table: n in 1..14 and equal in both words, no symbol 3, unused slots 0.
// Throws qmoe::Error naming the first bad entry.
void Sub1ValidateDecodeTable(const uint32_t* dec);

// Checks the matrix against the table so the fast paths cannot read out of bounds: sizes and
// pointers, row_off monotone from 0 to num_codes, each row's codewords cover exactly its width
// (a codeword that overruns the row is an error; on odd widths the final slot past the end must
// be 0). `name` (tensor name) prefixes every message. Does not check the table itself.
void Sub1Validate(const Sub1Matrix& m, const uint32_t* dec, std::string_view name = "sub1 matrix");

// ---- Reference forms (validate m and dec first). x: [k][w], y: [k][h], row-major. ----
void Sub1DecompressRef(const Sub1Matrix& m, const uint32_t* dec, float* out /*[h][w]*/);
void Sub1MatvecRef(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y);
void Sub1MatvecRef(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y);
void Sub1MatvecRef(const Sub1Matrix& m, const uint32_t* dec, const float* x, int64_t k, float* y);

// ---- Fast forms. `isa` defaults to the best available; asking for an unsupported one throws. ----
// Dense decode (bit-exact with Sub1DecompressRef; bf16 output is exact since levels are bf16).
void Sub1Decompress(const Sub1Matrix& m, const uint32_t* dec, float* out,
                    CpuIsa isa = BestCpuIsa());
void Sub1Decompress(const Sub1Matrix& m, const uint32_t* dec, Bf16* out,
                    CpuIsa isa = BestCpuIsa());

// One token: y[h] = W x[w].
void Sub1Matvec(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, Bf16* y,
                CpuIsa isa = BestCpuIsa());
void Sub1Matvec(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, float* y,
                CpuIsa isa = BestCpuIsa());
void Sub1Matvec(const Sub1Matrix& m, const uint32_t* dec, const float* x, float* y,
                CpuIsa isa = BestCpuIsa());

// k tokens (1 <= k <= kSub1MaxBatch), each codeword decoded once: y[k][h] = x[k][w] W^T.
void Sub1MatvecBatch(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                     CpuIsa isa = BestCpuIsa());
void Sub1MatvecBatch(const Sub1Matrix& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y,
                     CpuIsa isa = BestCpuIsa());
void Sub1MatvecBatch(const Sub1Matrix& m, const uint32_t* dec, const float* x, int64_t k,
                     float* y, CpuIsa isa = BestCpuIsa());

}  // namespace qmoe::kernels
