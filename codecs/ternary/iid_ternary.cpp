#include "codecs/ternary/iid_ternary.h"

#include <random>

#include "framework/core/error.h"
#include "codecs/ternary/ternary_symbols.h"

namespace qmoe::ternary {

std::vector<float> RandomTernaryMatrix(int64_t rows, int64_t cols, double p0, uint64_t seed) {
  QMOE_CHECK(rows >= 1 && cols >= 1, "random ternary matrix: shape must be at least 1x1, got ", rows, "x", cols);
  QMOE_CHECK(p0 >= 0.0 && p0 <= 1.0, "random ternary matrix: p0 must be in [0, 1], got ", p0);
  std::mt19937_64 rng(seed);
  // Uniform doubles from the raw 53 high bits (std::uniform_real_distribution is not portable).
  auto uniform = [&rng] { return double(rng() >> 11) * 0x1.0p-53; };
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float lo = Bf16BitsToFloat(FloatToBf16Bits(float(-0.01 - 0.02 * uniform())));
    const float hi = Bf16BitsToFloat(FloatToBf16Bits(float(0.01 + 0.02 * uniform())));
    for (int64_t c = 0; c < cols; ++c) {
      const double u = uniform();
      w[size_t(r * cols + c)] = u < p0 ? 0.0f : u < p0 + (1.0 - p0) / 2.0 ? lo : hi;
    }
  }
  return w;
}

}  // namespace qmoe::ternary
