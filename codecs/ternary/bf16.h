// bf16 <-> fp32 on raw bits: the one conversion every floor uses, host and CUDA device code alike.
// fp32 -> bf16 rounds to nearest, ties to even; NaN stays a (quiet) NaN. bf16 -> fp32 is exact.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define QMOE_HD __host__ __device__ __forceinline__
#else
#define QMOE_HD inline
#endif

namespace qmoe {

// The bits of a float and back: the CUDA intrinsics on the device, __builtin_bit_cast (gcc, clang;
// any -std) on the host.
#ifdef __CUDA_ARCH__
QMOE_HD uint32_t FloatAsBits(float f) { return __float_as_uint(f); }
QMOE_HD float BitsAsFloat(uint32_t u) { return __uint_as_float(u); }
#else
QMOE_HD uint32_t FloatAsBits(float f) { return __builtin_bit_cast(uint32_t, f); }
QMOE_HD float BitsAsFloat(uint32_t u) { return __builtin_bit_cast(float, u); }
#endif

QMOE_HD uint16_t FloatToBf16Bits(float f) {
  uint32_t u = FloatAsBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                          // nearest, ties even
  return uint16_t(u >> 16);
}

QMOE_HD float Bf16BitsToFloat(uint16_t b) { return BitsAsFloat(uint32_t(b) << 16); }

// bf16 as a storage type (raw bits), for arrays that must not be mistaken for uint16 codes.
struct Bf16 {
  uint16_t bits = 0;
};
static_assert(sizeof(Bf16) == 2, "Bf16 must be 2 bytes (raw bf16 storage)");

QMOE_HD float Bf16ToFloat(Bf16 v) { return Bf16BitsToFloat(v.bits); }
QMOE_HD Bf16 FloatToBf16(float f) { return Bf16{FloatToBf16Bits(f)}; }

}  // namespace qmoe
