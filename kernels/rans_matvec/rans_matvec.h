// Fused rANS decode + matvec for the "rans" format (codecs/rans/rans_codec.h), CPU side.
//
//   y[j][r] = sum_c W[r][c] * x[j][c]    for tokens j < k (1 <= k <= kRansMaxBatch), rows r, columns c,
//
// with W decoded on the fly, each chunk of rows once per call (not once per token): a chunk's pair
// symbols are decoded a piece at a time (rans::ChunkDecoder, the codec's own SIMD steps) into an
// L1-resident byte buffer, and each finished block of rows is multiplied with the k tokens at once
// before the next piece is decoded. Chunks are independent, so `threads` split them into
// contiguous ranges; up to 4 chunks of equal length are decoded in lockstep
// (rans::ChunkDecoder::NextTogether), since one chunk's states cannot hide a decode step's latency.
// x is bf16, accumulation fp32 (the _ref form decodes with rans::DecodeRef and
// accumulates in fp64). Any shape, odd widths included.
//
// Validation: every call runs rans::Validate (O(rows + chunks)) and the stream integrity checks
// of the codec (reading past a chunk, final states, unread words, a nonzero padding symbol), so a
// corrupt matrix is one qmoe::Error, never an out-of-bounds read; y is unspecified then.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "codecs/rans/rans_codec.h"
#include "kernels/common/bf16.h"
#include "kernels/common/cpu_features.h"

namespace qmoe::kernels {

// Largest batch the fused kernel takes. Above it, decode once (rans::Decode) and use a dense GEMM.
constexpr int64_t kRansMaxBatch = 16;

// Plain twin: rans::DecodeRef, then fp64 dot products. x [k][cols], y [k][rows], row-major.
void RansMatvecRef(const rans::RansMatrix& m, const Bf16* x, int64_t k, float* y);

// The kernel ladder: every CPU path by a permanent name (benchmark keys use it). "avx512_bf16"
// multiplies with AVX-512 BF16 dot products (vdpbf16ps: one instruction per 32 weights and token,
// half the FMAs of "avx512"); it flushes x values, weights and partial sums below 2^-126 to zero,
// an error of at most 2^-126·(Σ|w| + Σ|x| + cols) per output on top of the fp32 summation error.
struct RansPath {
  const char* name;
  CpuIsa isa;              // the ISA level it needs (CpuSupports)
  bool bf16_dot = false;   // also needs AVX512_BF16
};
bool RansPathAvailable(const RansPath& p);  // CpuSupports(p.isa) and, for bf16_dot, AVX512_BF16
const std::vector<RansPath>& RansPaths();
const RansPath& FindRansPath(std::string_view name);  // unknown: a qmoe::Error listing the names
// avx512_bf16 where the CPU has it and isa allows AVX-512, else the path of isa.
const RansPath& DefaultRansPath(CpuIsa isa);

// Fast forms. y fp32 [k][rows]; threads >= 1 (1: on the calling thread).
void RansMatvecBatchWith(const RansPath& p, const rans::RansMatrix& m, const Bf16* x, int64_t k, float* y,
                         int threads = 1);
void RansMatvecBatch(const rans::RansMatrix& m, const Bf16* x, int64_t k, float* y, int threads = 1,
                     CpuIsa isa = BestCpuIsa());

}  // namespace qmoe::kernels
