// Internal to kernels/sub1_matvec: shared checks and the per-ISA kernels behind the public API.
#pragma once
#include <cstdint>
#include <string_view>

#include "kernels/sub1_matvec/sub1_matvec.h"

namespace qmoe::kernels::sub1 {

// O(1) checks: shape, pointers, row_off[0] == 0, row_off[rows] == num_codes.
void CheckShape(const Sub1Matrix& m, std::string_view where);
// CheckShape plus dec/x/y non-null and 1 <= k <= kSub1MaxBatch.
void CheckCall(const Sub1Matrix& m, const uint32_t* dec, const void* x, int64_t k, const void* y,
               std::string_view where);

// Per-ISA kernels on fp32 x. `xpad` holds k rows of stride `xstride` >= cols + 32, zero past
// cols. y is fp32 [k][h]. Inputs are assumed validated.
void MatvecScalar(const Sub1Matrix& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                  int64_t k, float* y);
void MatvecAvx2(const Sub1Matrix& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                int64_t k, float* y);
void MatvecAvx512(const Sub1Matrix& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                  int64_t k, float* y);
// Dense decode of row r into row[cols] (fp32). bf16 output is produced from it by truncation,
// which is exact because every decoded value is 0 or a bf16 level.
void DecompressRowScalar(const Sub1Matrix& m, const uint32_t* dec, int64_t r, float* row);
void DecompressRowAvx512(const Sub1Matrix& m, const uint32_t* dec, int64_t r, float* row);
// out[i] = top 16 bits of in[i]: exact for values that are bf16 already (decoded weights).
void TruncateToBf16Avx512(const float* in, int64_t n, Bf16* out);

}  // namespace qmoe::kernels::sub1
