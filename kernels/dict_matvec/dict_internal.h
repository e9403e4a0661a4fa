// Internal to kernels/dict_matvec: shared checks and the per-ISA kernels behind the public API.
#pragma once
#include <cstdint>
#include <string_view>

#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe::kernels::dict_matvec {

// The format's helpers (codecs/dict/dict_format.h) by their short names.
using dict::CodeSymbol;
using dict::Dequant;
using dict::EntryAdvance;
using dict::EntryPairs;
using dict::kWindow;
using dict::SlotSymbol;
using dict::SlotWordIndex;

// dict::ValidateShape (the O(1) checks) plus dec/x/y non-null and 1 <= k <= kDictMaxBatch.
void CheckCall(const DictView& m, const uint32_t* dec, const void* x, int64_t k, const void* y,
               std::string_view where);

// Per-ISA kernels on fp32 x. `xpad` holds k rows of stride `xstride` >= cols + 32, zero past
// cols. y is fp32 [k][h]. Inputs are assumed validated.
void MatvecScalar(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                  int64_t k, float* y);
void MatvecAvx2(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                int64_t k, float* y);
void MatvecAvx512(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                  int64_t k, float* y);
// The "pairs" paths (dict_matvec_pairs.cpp): each row decoded into a byte per pair, then a dense
// pass that selects levels with a permute.
void MatvecPairsAvx2(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                     int64_t k, float* y);
void MatvecPairsAvx512(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                       int64_t k, float* y);
// avx512_bf16dot: the pairs decode with bf16 weight pairs and vdpbf16ps (AVX512_BF16). Runs the
// fp32 form (MatvecPairsAvx512) instead when the CPU lacks AVX512_BF16 or some x is not a bf16 value.
void MatvecPairsBf16Avx512(const DictView& m, const uint32_t* dec, const float* xpad,
                           int64_t xstride, int64_t k, float* y);
bool CpuHasAvx512Bf16();
// Dense decode of row r into row[cols] (fp32); the scalar form is dict::DecodeRows. bf16 output
// is produced from it by truncation, which is exact because every decoded value is 0 or a bf16 level.
void DecompressRowAvx512(const DictView& m, const uint32_t* dec, int64_t r, float* row);
// out[i] = top 16 bits of in[i]: exact for values that are bf16 already (decoded weights).
void TruncateToBf16Avx512(const float* in, int64_t n, Bf16* out);

}  // namespace qmoe::kernels::dict_matvec
