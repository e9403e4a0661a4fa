// Fused decode + matvec for the dictionary format ("dict", codecs/dict/dict_format.h), CPU side.
//
//   y[j][r] = sum_c W[r][c] * x[j][c]    for tokens j < k, rows r < h, columns c < w,
//
// with W decoded on the fly from (codes, row_off, minmax) through the decode table `dec`
// (uint32[2*65536], codecs/dict/dictionary.h). x and y are bf16 (or fp32), accumulation is fp32 (the _ref forms
// accumulate in fp64). Any h >= 0 and w >= 0, odd w included; nothing is specialised by shape.
// Storage cost per row: 16 bits per codeword + 64 bits (32-bit row offset + bf16 min + bf16 max).
//
// Forms:
//   *Ref       plain loops, obviously correct, validate everything first (slow; for tests).
//   DictMatvec / DictMatvecBatch / DictDecompress: the fast paths (the scalar decompress is the
//              codec's own fast decoder, dict::DecodeRows). The products take the measured-best
//              path of the kernel ladder for the ISA chosen at run time (DefaultDictPath,
//              dict_paths.h; kernels/common/cpu_features.h), scalar fallback elsewhere.
//              Single-threaded; DictMatvecBatchWith (dict_paths.h) splits rows across threads.
//
// Validation contract: the fast paths check shapes, pointers and row_off[0]/row_off[h] (O(1)),
// but ASSUME the codes were checked once with dict::Validate() and the table with
// dict::ValidateDecodeTable() (codecs/dict/dict_codec.h; e.g. at load time). Unvalidated corrupt input may read out of bounds.
// x buffers need no padding: the kernels copy x into zero-padded scratch.
#pragma once
#include <cstdint>
#include <string_view>

#include "codecs/dict/dict_format.h"
#include "kernels/common/bf16.h"
#include "kernels/common/cpu_features.h"

namespace qmoe::kernels {

// The view of one stored matrix [rows=h, cols=w] (codecs/dict/dict_format.h).
using dict::DictView;

// Largest batch the fused batch kernel takes. Above it, decompress and use a dense GEMM.
constexpr int64_t kDictMaxBatch = 16;

// ---- Reference forms (validate m and dec first). x: [k][w], y: [k][h], row-major. ----
void DictDecompressRef(const DictView& m, const uint32_t* dec, float* out /*[h][w]*/);
void DictMatvecRef(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y);
void DictMatvecRef(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y);
void DictMatvecRef(const DictView& m, const uint32_t* dec, const float* x, int64_t k, float* y);

// ---- Fast forms. `isa` defaults to the best available; asking for an unsupported one throws. ----
// Dense decode (bit-exact with DictDecompressRef; bf16 output is exact since levels are bf16).
void DictDecompress(const DictView& m, const uint32_t* dec, float* out,
                    CpuIsa isa = BestCpuIsa());
void DictDecompress(const DictView& m, const uint32_t* dec, Bf16* out,
                    CpuIsa isa = BestCpuIsa());

// One token: y[h] = W x[w].
void DictMatvec(const DictView& m, const uint32_t* dec, const Bf16* x, Bf16* y,
                CpuIsa isa = BestCpuIsa());
void DictMatvec(const DictView& m, const uint32_t* dec, const Bf16* x, float* y,
                CpuIsa isa = BestCpuIsa());
void DictMatvec(const DictView& m, const uint32_t* dec, const float* x, float* y,
                CpuIsa isa = BestCpuIsa());

// k tokens (1 <= k <= kDictMaxBatch), each codeword decoded once: y[k][h] = x[k][w] W^T.
void DictMatvecBatch(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, Bf16* y,
                     CpuIsa isa = BestCpuIsa());
void DictMatvecBatch(const DictView& m, const uint32_t* dec, const Bf16* x, int64_t k, float* y,
                     CpuIsa isa = BestCpuIsa());
void DictMatvecBatch(const DictView& m, const uint32_t* dec, const float* x, int64_t k,
                     float* y, CpuIsa isa = BestCpuIsa());

}  // namespace qmoe::kernels
