#include "kernels/dict_matvec/dict_test_data.h"

#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"

namespace qmoe::kernels::dict_test {

const std::vector<uint32_t>& DecodeTable() { return qmoe::dict::DecodeTable(); }

float TestMatrix::Weight(int64_t r, int64_t c) const {
  const uint8_t s = symbols[r * cols + c];
  return s == 0 ? 0.0f : Bf16ToFloat(minmax[2 * r + (s - 1)]);
}

TestMatrix RandomTernary(int64_t rows, int64_t cols, double p0, uint64_t seed,
                         bool adversarial) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  TestMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.symbols.resize(size_t(rows * cols));
  m.minmax.resize(size_t(2 * rows));
  for (int64_t r = 0; r < rows; ++r) {
    const bool zero_row = adversarial && r % 7 == 6;
    const bool equal_levels = adversarial && r % 5 == 4;
    const float hi = Bf16ToFloat(FloatToBf16(float(0.25 + 1.75 * u(rng))));
    const float lo = equal_levels ? hi : Bf16ToFloat(FloatToBf16(float(-0.25 - 1.75 * u(rng))));
    m.minmax[2 * r] = FloatToBf16(lo);
    m.minmax[2 * r + 1] = FloatToBf16(hi);
    bool any = false;
    for (int64_t c = 0; c < cols; ++c) {
      const double v = u(rng);
      const uint8_t s = zero_row ? 0 : v < p0 ? 0 : v < p0 + (1 - p0) / 2 ? 1 : 2;
      m.symbols[r * cols + c] = s;
      any |= s != 0;
    }
    // Non-zero rows get at least one non-zero weight, so tiny shapes still have y != 0.
    if (adversarial && !zero_row && !any && cols > 0) m.symbols[r * cols + r % cols] = uint8_t(1 + r % 2);
  }
  Encode(m);
  return m;
}

void Encode(TestMatrix& m) {
  ternary::TernarySymbols ts;
  ts.rows = m.rows;
  ts.cols = m.cols;
  ts.sym = m.symbols;
  ts.minmax_bf16.resize(m.minmax.size());
  for (size_t i = 0; i < m.minmax.size(); ++i) ts.minmax_bf16[i] = m.minmax[i].bits;
  dict::EncodedMatrix e = dict::Encode(ts);
  m.codes = std::move(e.codes);
  m.row_off = std::move(e.row_off);
}

std::vector<Bf16> RandomBf16(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<Bf16> v(static_cast<size_t>(n));
  for (auto& e : v) e = FloatToBf16(u(rng));
  return v;
}

}  // namespace qmoe::kernels::dict_test
