// Internal to kernels/rans_matvec: the per-ISA row-block kernels the driver (rans_matvec.cpp) feeds.
#pragma once
#include <cstdint>

namespace qmoe::kernels::rans_matvec {

// y[j*ystride + i] = Σ_p (W_i[2p]·xe_j[p] + W_i[2p+1]·xo_j[p]) for rows i < nr, tokens j < k.
// pairs: nr rows of np pair symbols (row stride np; up to 64 bytes past the last row are read,
// any values). minmax: bf16 bits (lo_i, hi_i) per row. x: token j's even columns at
// xd + 2j·xs, odd columns at xd + (2j+1)·xs; 64-byte aligned, xs a multiple of 16 and
// >= np rounded up to 16, zero from np on (so symbols past a row's end add 0·level = 0).
using RowsFn = void (*)(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax, const float* xd,
                        int64_t xs, int64_t k, float* y, int64_t ystride);
void RowsScalar(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax, const float* xd, int64_t xs,
                int64_t k, float* y, int64_t ystride);
void RowsAvx2(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax, const float* xd, int64_t xs,
              int64_t k, float* y, int64_t ystride);
void RowsAvx512(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax, const float* xd, int64_t xs,
                int64_t k, float* y, int64_t ystride);

// The same with AVX-512 BF16 dot products (vdpbf16ps: a pair of bf16 weights times a pair of bf16
// x, added to fp32; inputs and results below 2^-126 are flushed to zero). x here: token j's
// columns as bf16 at xb + j·xs (xs in uint32 pairs, a multiple of 16, >= np rounded up to 16),
// 64-byte aligned, zero from column cols on. xd is the uint32 view of xb.
void RowsAvx512Bf16(const uint8_t* pairs, int64_t np, int64_t nr, const uint16_t* minmax, const float* xd,
                    int64_t xs, int64_t k, float* y, int64_t ystride);
bool HaveAvx512Bf16();

}  // namespace qmoe::kernels::rans_matvec
