// Dictionary codec: round trips (odd widths, heights 1/19/111, degenerate rows, both symbol
// modes), fast decode == plain decode, the greedy encoder against a brute-force longest match,
// the published check rates and the entropy limit, and rejection of corrupt input.
#include "codecs/dict/dict_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "framework/core/error.h"
#include "codecs/dict/dictionary.h"
#include "codecs/ternary/iid_ternary.h"

namespace qmoe::dict {
namespace {

using namespace qmoe::ternary;  // the symbol layer the codec codes

std::vector<float> Bf16Rounded(const std::vector<float>& w) {
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = Bf16BitsToFloat(FloatToBf16Bits(w[i]));
  return out;
}

// Encodes, validates, decodes with both decoders and checks bit-exact equality with bf16(w).
EncodedMatrix RoundTrip(const std::vector<float>& w, int64_t rows, int64_t cols, SymbolMode mode) {
  EncodedMatrix m = Encode(SymbolsFromTernary(w.data(), rows, cols, mode));
  EXPECT_NO_THROW(Validate(m));
  const std::vector<float> want = Bf16Rounded(w);
  std::vector<float> fast = Decode(m), ref(w.size(), -7.0f);
  DecodeRef(m, ref.data());
  EXPECT_EQ(fast, want) << rows << "x" << cols << " " << SymbolModeName(mode);
  EXPECT_EQ(ref, want) << rows << "x" << cols << " " << SymbolModeName(mode);
  return m;
}

struct Shape {
  int64_t rows, cols;
};

class DictRoundTrip : public ::testing::TestWithParam<Shape> {};

TEST_P(DictRoundTrip, RandomTernaryBothModes) {
  const auto [rows, cols] = GetParam();
  for (double p0 : {0.885, 0.5, 0.0, 1.0}) {
    const auto w = RandomTernaryMatrix(rows, cols, p0, uint64_t(rows * 1000 + cols));
    RoundTrip(w, rows, cols, SymbolMode::kReference);
    RoundTrip(w, rows, cols, SymbolMode::kExactZeros);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DictRoundTrip,
                         ::testing::Values(Shape{1, 1}, Shape{1, 2}, Shape{1, 3}, Shape{1, 27}, Shape{1, 28},
                                           Shape{1, 29}, Shape{19, 45}, Shape{19, 768}, Shape{111, 7},
                                           Shape{111, 130}, Shape{3, 1001}),
                         [](const auto& i) {
                           return std::to_string(i.param.rows) + "x" + std::to_string(i.param.cols);
                         });

TEST(DictCodec, RowWithoutNegativesDecodesInBothModesButCostsMoreInReferenceMode) {
  const int64_t cols = 301;
  std::vector<float> w(cols, 0.0f);
  for (int64_t c = 0; c < cols; c += 9) w[c] = 0.5f;  // zeros and the max only: min == 0
  const EncodedMatrix ref = RoundTrip(w, 1, cols, SymbolMode::kReference);
  const EncodedMatrix exact = RoundTrip(w, 1, cols, SymbolMode::kExactZeros);
  const TernarySymbols s = SymbolsFromTernary(w.data(), 1, cols, SymbolMode::kReference);
  EXPECT_EQ(s.sym[1], 1) << "reference mode: a zero equals the row min, so it is symbol 1";
  EXPECT_GT(ref.codes.size(), exact.codes.size());
}

TEST(DictCodec, MinEqualsMaxAndAllZeroRows) {
  const int64_t rows = 4, cols = 33;
  std::vector<float> w(rows * cols, 0.0f);                                  // row 0: all zero
  for (int64_t c = 0; c < cols; ++c) w[1 * cols + c] = -0.25f;              // row 1: min == max < 0
  for (int64_t c = 0; c < cols; ++c) w[2 * cols + c] = 0.75f;               // row 2: min == max > 0
  for (int64_t c = 0; c < cols; ++c) w[3 * cols + c] = c % 2 ? 0.f : -1.f;  // row 3: no positives
  for (SymbolMode mode : {SymbolMode::kReference, SymbolMode::kExactZeros}) {
    RoundTrip(w, rows, cols, mode);
    const TernarySymbols s = SymbolsFromTernary(w.data(), rows, cols, mode);
    EXPECT_EQ(s.sym[0], mode == SymbolMode::kReference ? 2 : 0) << "all-zero row: max wins in reference mode";
    EXPECT_EQ(s.sym[cols], 2) << "min == max: symbol 2 wins";
  }
}

TEST(DictCodec, EncoderIsGreedyLongestMatch) {
  // Brute force: longest dictionary entry that is a prefix of the remaining pairs of the row.
  std::map<std::string, int> index;  // pair sequence as bytes -> codeword
  for (int i = 0; i < kEntries; ++i) index[std::string(Entries()[i].begin(), Entries()[i].end())] = i;
  const int64_t rows = 7, cols = 97;
  const auto w = RandomTernaryMatrix(rows, cols, 0.8, 3);
  const TernarySymbols s = SymbolsFromTernary(w.data(), rows, cols, SymbolMode::kExactZeros);
  const EncodedMatrix m = Encode(s);
  std::vector<uint16_t> want;
  std::vector<uint8_t> pairs(PairsPerRow(cols));
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_EQ(m.row_off[r], int32_t(want.size()));
    RowPairs(s.sym.data() + r * cols, cols, pairs.data());
    for (size_t k = 0; k < pairs.size();) {
      int best = -1;
      size_t len = 0;
      for (size_t n = 1; n <= size_t(kMaxPairs) && k + n <= pairs.size(); ++n) {
        auto it = index.find(std::string(pairs.begin() + k, pairs.begin() + k + n));
        if (it != index.end()) best = it->second, len = n;
      }
      ASSERT_GE(best, 0);
      want.push_back(uint16_t(best));
      k += len;
    }
  }
  EXPECT_EQ(m.codes, want);
}

TEST(DictCodec, LongZeroRunsSplitAtFourteenPairs) {
  std::vector<float> w(60, 0.0f);  // 30 zero pairs -> 14 + 14 + 2
  const EncodedMatrix m = Encode(SymbolsFromTernary(w.data(), 1, 60, SymbolMode::kExactZeros));
  ASSERT_EQ(m.codes.size(), 3u);
  EXPECT_EQ(Entries()[m.codes[0]], std::vector<uint8_t>(14, 0));
  EXPECT_EQ(Entries()[m.codes[1]], std::vector<uint8_t>(14, 0));
  EXPECT_EQ(m.codes[2], 1) << "a run of two zero pairs is entry 1";
}

TEST(DictCodec, RejectsNonTernaryAndNonFiniteInput) {
  std::vector<float> w = {0.f, 1.f, -1.f, 0.5f};
  EXPECT_THROW(SymbolsFromTernary(w.data(), 1, 4, SymbolMode::kReference), Error);
  w[3] = NAN;
  EXPECT_THROW(SymbolsFromTernary(w.data(), 1, 4, SymbolMode::kExactZeros), Error);
  EXPECT_THROW(SymbolsFromTernary(w.data(), 0, 4, SymbolMode::kExactZeros), Error);
}

// The published check rates hold within ±0.3 ("random" matrices); two shapes here, all six in codec_bench.
TEST(DictCodec, ReferenceIdealRateMatchesSpecCheckValues) {
  const struct {
    int64_t rows, cols;
    double rate;
  } cases[] = {{768, 3072, 21.07}, {3072, 768, 19.34}};
  for (const auto& c : cases) {
    const auto w = RandomTernaryMatrix(c.rows, c.cols, 0.885, 1);
    const EncodedMatrix m = Encode(SymbolsFromTernary(w.data(), c.rows, c.cols, SymbolMode::kReference));
    const double rate = ReferenceIdealRate(c.rows, c.cols, int64_t(m.codes.size()));
    EXPECT_NEAR(rate, c.rate, 0.3) << c.rows << "x" << c.cols;
    EXPECT_EQ(ExactBytes(m), 2 * int64_t(m.codes.size()) + 4 * (c.rows + 1) + 4 * c.rows);
    // Codewords average about 21.7 weights on i.i.d. data; ±1 covers both shapes.
    EXPECT_NEAR(double(c.rows * c.cols) / double(m.codes.size()), 21.7, 1.0);
  }
}

TEST(DictCodec, EntropyLimitAndEmpiricalEntropy) {
  const double h = ModelEntropyBits(0.885);
  EXPECT_NEAR(h, 0.6298, 0.00005);         // docs/formats.md: H(0.885) = 0.6298, 4 decimals
  EXPECT_NEAR(16.0 / h, 25.40, 0.005);     // the 25.40x of IST-DASLab/qmoe #6, 2 decimals
  const int64_t rows = 768, cols = 3072;
  const auto w = RandomTernaryMatrix(rows, cols, 0.885, 2);
  const Entropy e = EmpiricalEntropy(SymbolsFromTernary(w.data(), rows, cols, SymbolMode::kExactZeros));
  // Plug-in estimate over N = 2.36M i.i.d. weights: std of −log2 p(X) is 1.258 bits, so the
  // standard error is 1.258/sqrt(N) = 0.0008; allow 5 sigma.
  const double tol = 5 * 1.258 / std::sqrt(double(rows * cols));
  EXPECT_NEAR(e.iid_bits, h, tol);
  // Pairs of i.i.d. symbols carry the same entropy per weight (2 symbols per pair, same bound).
  EXPECT_NEAR(e.pair_bits, h, tol);
}

// ---- corrupt input: every case is one qmoe::Error, never an out-of-bounds access ----

EncodedMatrix Small() {
  const auto w = RandomTernaryMatrix(5, 41, 0.885, 9);
  return Encode(SymbolsFromTernary(w.data(), 5, 41, SymbolMode::kReference));
}

void ExpectRejected(const EncodedMatrix& m, const std::string& why) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(m.rows * m.cols, 1)));
  EXPECT_THROW(Validate(m), Error) << why;
  if (m.rows >= 1 && m.cols >= 1 && m.rows * m.cols == int64_t(out.size())) {
    EXPECT_THROW(Decode(m, out.data()), Error) << why;
    EXPECT_THROW(DecodeRef(m, out.data()), Error) << why;
  }
}

TEST(DictCodecCorrupt, StructuralErrors) {
  { auto m = Small(); m.row_off.pop_back(); ExpectRejected(m, "row_off too short"); }
  { auto m = Small(); m.row_off[0] = 1; ExpectRejected(m, "row_off[0] != 0"); }
  { auto m = Small(); std::swap(m.row_off[2], m.row_off[3]); ExpectRejected(m, "row_off decreasing"); }
  { auto m = Small(); m.row_off.back() += 1; ExpectRejected(m, "row_off end past codes"); }
  { auto m = Small(); m.codes.push_back(0); ExpectRejected(m, "trailing codes"); }
  { auto m = Small(); m.minmax_bf16.pop_back(); ExpectRejected(m, "minmax too short"); }
  { auto m = Small(); m.minmax_bf16[0] = 0x7fc0; ExpectRejected(m, "NaN min"); }
  { auto m = Small(); std::swap(m.minmax_bf16[0], m.minmax_bf16[1]); ExpectRejected(m, "min > max"); }
  { auto m = Small(); m.rows = 0; ExpectRejected(m, "zero rows"); }
  { auto m = Small(); m.cols = 43; ExpectRejected(m, "width mismatch"); }
}

TEST(DictCodecCorrupt, CodewordOverrunsAndShortRows) {
  auto m = Small();
  // Replace the last codeword of row 0 by the longest entry: it overruns the row end.
  m.codes[m.row_off[1] - 1] = 65535;
  ExpectRejected(m, "overrun");
  m = Small();
  // Replace the last codeword of row 0 by a one-pair code where it was longer: the row is short.
  const uint16_t last = m.codes[m.row_off[1] - 1];
  if (Entries()[last].size() > 1) {
    m.codes[m.row_off[1] - 1] = 0;
    ExpectRejected(m, "short row");
  }
  // Odd width: the final lone column must decode with a zero padding symbol.
  m = Small();
  m.codes[m.row_off[1] - 1] = 329;  // pair 8 = (2, 2): its padding symbol is 2
  const int64_t before = [&] {
    int64_t p = 0;
    for (int32_t i = m.row_off[0]; i < m.row_off[1]; ++i) p += int64_t(Entries()[m.codes[i]].size());
    return p;
  }();
  if (before == PairsPerRow(41)) ExpectRejected(m, "nonzero padding symbol");
}

TEST(DictCodecCorrupt, RandomMutationsNeverCrash) {
  // Mutated streams either validate (and then decode to finite values) or throw qmoe::Error.
  std::mt19937 rng(5);
  const EncodedMatrix base = Small();
  int rejected = 0;
  for (int it = 0; it < 2000; ++it) {
    EncodedMatrix m = base;
    switch (rng() % 3) {
      case 0: m.codes[rng() % m.codes.size()] = uint16_t(rng()); break;
      case 1: m.row_off[rng() % m.row_off.size()] = int32_t(rng() % 64) - 8; break;
      case 2: m.codes.resize(rng() % (m.codes.size() + 1)); break;
    }
    std::vector<float> out(static_cast<size_t>(m.rows * m.cols));
    try {
      Decode(m, out.data());
      for (float v : out) ASSERT_TRUE(std::isfinite(v));
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000) << "almost every mutation breaks a row width";
}

}  // namespace
}  // namespace qmoe::dict
