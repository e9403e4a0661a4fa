#include "kernels/sub1_matvec/sub1_test_data.h"

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "framework/core/error.h"
#include "kernels/sub1_matvec/sub1_decode.h"

#if QMOE_HAVE_DICT
#include "methods/dict/dictionary.h"
#endif

namespace qmoe::kernels::sub1_test {
namespace {

// Pair sequence (each r in 0..8) -> key; length in the top nibble so prefixes differ.
uint64_t Key(const uint8_t* pairs, int n) {
  uint64_t k = uint64_t(n) << 60;
  for (int i = 0; i < n; ++i) k |= uint64_t(pairs[i]) << (4 * i);
  return k;
}

#if !QMOE_HAVE_DICT
// Best-first generation (§8.3) and packing (§8.4); a stand-in until methods/dict is built.
std::vector<uint32_t> GenerateTable() {
  const double p0 = 0.885, p1 = (1 - p0) / 2;
  const double sym[3] = {p0, p1, p1};
  double pr[9];
  for (int r = 0; r < 9; ++r) pr[r] = sym[r / 3] * sym[r % 3];
  using Item = std::pair<double, std::vector<uint8_t>>;  // (key = -prob, sequence)
  auto greater = [](const Item& a, const Item& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  };
  std::priority_queue<Item, std::vector<Item>, decltype(greater)> q(greater);
  q.push({-1.0, {}});
  std::vector<uint32_t> dec;
  dec.reserve(2 * sub1::kEntries);
  while (dec.size() < 2u * sub1::kEntries) {
    Item it = q.top();
    q.pop();
    if (!it.second.empty()) {
      const uint32_t n = uint32_t(it.second.size());
      uint32_t w[2] = {n, n};
      for (uint32_t j = 0; j < n; ++j) {
        const uint32_t r = it.second[j];
        w[j / 7] |= ((r % 3) | ((r / 3) << 2)) << (4 + 4 * (j % 7));
      }
      dec.push_back(w[0]);
      dec.push_back(w[1]);
    }
    if (it.second.size() < size_t(sub1::kMaxPairs))
      for (uint8_t r = 0; r < 9; ++r) {
        auto s = it.second;
        s.push_back(r);
        q.push({it.first * pr[r], std::move(s)});
      }
  }
  return dec;
}
#endif

}  // namespace

const std::vector<uint32_t>& DecodeTable() {
#if QMOE_HAVE_DICT
  return qmoe::dict::DecodeTable();
#else
  static const std::vector<uint32_t> dec = GenerateTable();
  return dec;
#endif
}

bool UsingDictTable() { return QMOE_HAVE_DICT != 0; }

float TestMatrix::Weight(int64_t r, int64_t c) const {
  const uint8_t s = symbols[r * cols + c];
  return s == 0 ? 0.0f : Bf16ToFloat(minmax[2 * r + (s - 1)]);
}

TestMatrix RandomTernary(int64_t rows, int64_t cols, double p0, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  TestMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.symbols.resize(size_t(rows * cols));
  m.minmax.resize(size_t(2 * rows));
  for (int64_t r = 0; r < rows; ++r) {
    const bool zero_row = r % 7 == 6, equal_levels = r % 5 == 4;
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
    if (!zero_row && !any && cols > 0) m.symbols[r * cols + r % cols] = uint8_t(1 + r % 2);
  }
  Encode(m, DecodeTable());
  return m;
}

void Encode(TestMatrix& m, const std::vector<uint32_t>& dec) {
  static std::unordered_map<uint64_t, uint16_t> index;  // built once per process
  static const std::vector<uint32_t>* built_for = nullptr;
  if (built_for != &dec) {
    index.clear();
    for (uint32_t c = 0; c < uint32_t(sub1::kEntries); ++c) {
      const int n = int(sub1::EntryPairs(dec[2 * c]));
      uint8_t pairs[sub1::kMaxPairs];
      for (int j = 0; j < n; ++j)
        pairs[j] = uint8_t(sub1::CodeSymbol(dec.data(), c, 2 * j) +
                           3 * sub1::CodeSymbol(dec.data(), c, 2 * j + 1));
      index.emplace(Key(pairs, n), uint16_t(c));
    }
    built_for = &dec;
  }
  m.codes.clear();
  m.row_off.assign(1, 0);
  const int64_t npairs = (m.cols + 1) / 2;
  std::vector<uint8_t> pairs(static_cast<size_t>(npairs));
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint8_t* s = &m.symbols[r * m.cols];
    for (int64_t p = 0; p < npairs; ++p)
      pairs[p] = uint8_t(s[2 * p] + (2 * p + 1 < m.cols ? 3 * s[2 * p + 1] : 0));
    for (int64_t p = 0; p < npairs;) {
      int n = int(std::min<int64_t>(sub1::kMaxPairs, npairs - p));
      for (;; --n) {
        QMOE_ASSERT(n >= 1, "single pair missing from the decode table");
        auto it = index.find(Key(&pairs[p], n));
        if (it != index.end()) {
          m.codes.push_back(it->second);
          break;
        }
      }
      p += n;
    }
    m.row_off.push_back(int32_t(m.codes.size()));
  }
}

std::vector<Bf16> RandomBf16(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<Bf16> v(static_cast<size_t>(n));
  for (auto& e : v) e = FloatToBf16(u(rng));
  return v;
}

}  // namespace qmoe::kernels::sub1_test
