// bfloat16 storage type for kernels (no torch): the top 16 bits of an IEEE fp32.
// Conversion to fp32 is exact; conversion from fp32 rounds to nearest even, NaN stays NaN.
#pragma once
#include <cstdint>
#include <cstring>

namespace qmoe::kernels {

struct Bf16 {
  uint16_t bits = 0;
};
static_assert(sizeof(Bf16) == 2, "Bf16 must be 2 bytes (raw bf16 storage)");

inline float Bf16ToFloat(Bf16 v) {
  const uint32_t u = uint32_t{v.bits} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline Bf16 FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return Bf16{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return Bf16{uint16_t(u >> 16)};
}

}  // namespace qmoe::kernels
