#include "codecs/ternary/ternary_symbols.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe::ternary {

const char* SymbolModeName(SymbolMode m) {
  return m == SymbolMode::kReference ? "reference" : "exact_zeros";
}

SymbolMode ParseSymbolMode(const std::string& text, const std::string& where) {
  if (text == "reference") return SymbolMode::kReference;
  if (text == "exact_zeros") return SymbolMode::kExactZeros;
  throw Error(StrCat(where, ": unknown symbol mode '", text, "'; expected reference or exact_zeros"));
}

TernarySymbols SymbolsFromTernary(const float* w, int64_t rows, int64_t cols, SymbolMode mode,
                                  const std::string& what) {
  QMOE_CHECK(rows >= 1 && cols >= 1, what, ": shape must be at least 1x1, got ", rows, "x", cols);
  TernarySymbols s;
  s.rows = rows;
  s.cols = cols;
  s.sym.resize(size_t(rows * cols));
  s.minmax_bf16.resize(size_t(2 * rows));
  std::vector<float> v(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < cols; ++c) {
      QMOE_CHECK(std::isfinite(row[c]), what, ": row ", r, " col ", c, " is not finite (", row[c], ")");
      v[c] = Bf16BitsToFloat(FloatToBf16Bits(row[c]));
      lo = std::min(lo, v[c]);
      hi = std::max(hi, v[c]);
    }
    s.minmax_bf16[2 * r] = FloatToBf16Bits(lo);
    s.minmax_bf16[2 * r + 1] = FloatToBf16Bits(hi);
    uint8_t* out = s.sym.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t t;
      if (mode == SymbolMode::kExactZeros && v[c] == 0.0f) t = 0;
      else if (v[c] == hi) t = 2;  // max wins when min == max
      else if (v[c] == lo) t = 1;
      else if (v[c] == 0.0f) t = 0;
      else
        throw Error(StrCat(what, ": not ternary: row ", r, " col ", c, " has bf16 value ", v[c],
                           ", expected 0, the row min ", lo, " or the row max ", hi));
      out[c] = t;
    }
  }
  return s;
}

void RowPairs(const uint8_t* sym, int64_t cols, uint8_t* pairs) {
  const int64_t full = cols / 2;
  for (int64_t k = 0; k < full; ++k) pairs[k] = uint8_t(3 * sym[2 * k + 1] + sym[2 * k]);
  if (cols % 2) pairs[full] = sym[cols - 1];
}

Entropy EmpiricalEntropy(const TernarySymbols& s) {
  int64_t sym[3] = {0, 0, 0}, pair[kPairSymbols] = {};
  const int64_t np = PairsPerRow(s.cols);
  std::vector<uint8_t> pairs(static_cast<size_t>(np));
  for (int64_t r = 0; r < s.rows; ++r) {
    const uint8_t* row = s.sym.data() + r * s.cols;
    for (int64_t c = 0; c < s.cols; ++c) sym[row[c]]++;
    RowPairs(row, s.cols, pairs.data());
    for (uint8_t p : pairs) pair[p]++;
  }
  auto h = [](const int64_t* n, int k) {
    double total = 0, bits = 0;
    for (int i = 0; i < k; ++i) total += double(n[i]);
    for (int i = 0; i < k; ++i)
      if (n[i] > 0) bits -= double(n[i]) / total * std::log2(double(n[i]) / total);
    return bits;
  };
  const double weights = double(s.rows * s.cols);
  Entropy e;
  e.iid_bits = h(sym, 3);
  e.pair_bits = h(pair, kPairSymbols) * double(s.rows * np) / weights;
  return e;
}

double ModelEntropyBits(double p0) {
  const double p1 = (1.0 - p0) / 2.0;
  return -p0 * std::log2(p0) - (1.0 - p0) * std::log2(p1);
}

}  // namespace qmoe::ternary
