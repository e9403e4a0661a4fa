// rans codec: round trips (odd widths, heights 1/19/111, degenerate rows, chunk sizes), fast ==
// plain decoder, frequency quantization, rate within 3% of the empirical entropy, corrupt input.
#include "codecs/rans/rans_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "framework/core/error.h"
#include "codecs/ternary/iid_ternary.h"

namespace qmoe::rans {
namespace {

using ternary::SymbolMode;

// The decode paths this CPU can run (the SIMD ones are skipped where absent, and say so once).
std::vector<DecodePath> Paths() {
  std::vector<DecodePath> p;
  for (DecodePath d : {DecodePath::kAuto, DecodePath::kScalar, DecodePath::kAvx2, DecodePath::kAvx512})
    if (DecodePathAvailable(d)) p.push_back(d);
  return p;
}

RansMatrix RoundTrip(const std::vector<float>& w, int64_t rows, int64_t cols, SymbolMode mode, int64_t chunk,
                     int streams = kAutoStreams) {
  const RansMatrix m = rans::Encode(ternary::SymbolsFromTernary(w.data(), rows, cols, mode), chunk, streams);
  EXPECT_NO_THROW(Validate(m));
  std::vector<float> want(w.size()), ref(w.size(), -7.0f);
  for (size_t i = 0; i < w.size(); ++i) want[i] = Bf16BitsToFloat(FloatToBf16Bits(w[i]));
  DecodeRef(m, ref.data());
  EXPECT_EQ(ref, want) << rows << "x" << cols << " chunk " << chunk << " streams " << m.streams;
  for (DecodePath path : Paths()) {
    std::vector<float> fast(w.size(), -7.0f);
    Decode(m, fast.data(), path);
    EXPECT_EQ(fast, want) << rows << "x" << cols << " chunk " << chunk << " streams " << m.streams << " path "
                          << int(path);
  }
  return m;
}

struct Shape {
  int64_t rows, cols;
};
class RansRoundTrip : public ::testing::TestWithParam<Shape> {};

TEST_P(RansRoundTrip, RandomTernaryBothModesSeveralChunkSizes) {
  const auto [rows, cols] = GetParam();
  for (double p0 : {0.885, 0.5, 0.0, 1.0}) {
    const auto w = ternary::RandomTernaryMatrix(rows, cols, p0, uint64_t(rows * 1000 + cols));
    for (int64_t chunk : {int64_t(1), int64_t(100), kDefaultChunkWeights}) {
      RoundTrip(w, rows, cols, SymbolMode::kReference, chunk);
      RoundTrip(w, rows, cols, SymbolMode::kExactZeros, chunk);
    }
    // Every stream count the SIMD paths take in whole vectors, and odd ones for the scalar path.
    for (int streams : {1, 3, 4, 8, 16, 24, 32}) RoundTrip(w, rows, cols, SymbolMode::kReference, 300, streams);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RansRoundTrip,
                         ::testing::Values(Shape{1, 1}, Shape{1, 2}, Shape{1, 3}, Shape{1, 29}, Shape{19, 45},
                                           Shape{19, 768}, Shape{111, 7}, Shape{111, 130}, Shape{3, 1001},
                                           Shape{64, 517}),
                         [](const auto& i) {
                           return std::to_string(i.param.rows) + "x" + std::to_string(i.param.cols);
                         });

// Long chunks keep the SIMD loops busy for thousands of steps (the shapes above mostly exercise
// their edges); p0 = 0.5 makes renormalization frequent.
TEST(RansCodec, LargeMatrixAllPathsAllStreamCounts) {
  const int64_t rows = 300, cols = 1001;
  for (double p0 : {0.885, 0.5}) {
    const auto w = ternary::RandomTernaryMatrix(rows, cols, p0, 5);
    for (int streams : {8, 16, 32}) RoundTrip(w, rows, cols, SymbolMode::kReference, kDefaultChunkWeights, streams);
  }
  EXPECT_EQ(AutoStreams(1024, 1024), 32);
  EXPECT_EQ(AutoStreams(1024, 1023), 8);
}

TEST(RansCodec, DegenerateRows) {
  const int64_t rows = 4, cols = 33;
  std::vector<float> w(rows * cols, 0.0f);
  for (int64_t c = 0; c < cols; ++c) w[1 * cols + c] = -0.25f;
  for (int64_t c = 0; c < cols; ++c) w[2 * cols + c] = 0.75f;
  for (int64_t c = 0; c < cols; ++c) w[3 * cols + c] = c % 2 ? 0.f : -1.f;
  RoundTrip(w, rows, cols, SymbolMode::kReference, 40);
  RoundTrip(w, rows, cols, SymbolMode::kExactZeros, 40);
  // An all-zero matrix has one symbol of frequency 4096: zero payload beyond the states.
  std::vector<float> z(rows * cols, 0.0f);
  const RansMatrix m = RoundTrip(z, rows, cols, SymbolMode::kExactZeros, kDefaultChunkWeights);
  EXPECT_EQ(m.freq[0], kScale);
  EXPECT_EQ(m.words.size(), size_t(2 * m.streams));
}

TEST(RansCodec, QuantizedFrequenciesSumTo4096AndKeepRareSymbols) {
  const std::array<int64_t, kSymbols> counts = {1000000, 1, 0, 5, 0, 0, 70000, 0, 2};
  const auto f = QuantizeFrequencies(counts);
  uint32_t sum = 0;
  for (int s = 0; s < kSymbols; ++s) {
    sum += f[s];
    EXPECT_EQ(f[s] == 0, counts[s] == 0) << "symbol " << s;
  }
  EXPECT_EQ(sum, kScale);
  // The code length with quantized frequencies exceeds the empirical entropy by the KL
  // divergence; with 12-bit frequencies and these counts it is below 0.5%.
  double n = 0, h = 0, len = 0;
  for (int64_t c : counts) n += double(c);
  for (int s = 0; s < kSymbols; ++s) {
    if (!counts[s]) continue;
    h -= double(counts[s]) * std::log2(double(counts[s]) / n);
    len -= double(counts[s]) * std::log2(double(f[s]) / kScale);
  }
  EXPECT_LT(len, 1.005 * h);
  EXPECT_THROW(QuantizeFrequencies({}), Error);
}

// Rate: coded bits (everything but the per-row min/max, which the entropy does not cover) within
// 3% of the empirical pair entropy. Two of the six paper shapes here; all six in codec_bench.
TEST(RansCodec, RateWithinThreePercentOfEmpiricalEntropy) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{768, 3072}, {3072, 768}}) {
    const auto w = ternary::RandomTernaryMatrix(rows, cols, 0.885, 1);
    const auto s = ternary::SymbolsFromTernary(w.data(), rows, cols, SymbolMode::kReference);
    const RansMatrix m = rans::Encode(s);
    const double coded = double(StorageBits(m) - 32 * rows);
    const double entropy = ternary::EmpiricalEntropy(s).pair_bits * double(rows * cols);
    EXPECT_LT(coded, 1.03 * entropy) << rows << "x" << cols;
    EXPECT_GT(coded, entropy) << "below the empirical entropy: the accounting misses something";
  }
}

// ---- corrupt input ----

RansMatrix Small() {
  const auto w = ternary::RandomTernaryMatrix(6, 41, 0.885, 9);
  return rans::Encode(ternary::SymbolsFromTernary(w.data(), 6, 41, SymbolMode::kReference), 100);
}

void ExpectRejected(const RansMatrix& m, const std::string& why) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(m.rows * m.cols, 1)));
  if (m.rows >= 1 && m.cols >= 1 && m.rows * m.cols == int64_t(out.size())) {
    EXPECT_THROW(Decode(m, out.data()), Error) << why;
    EXPECT_THROW(DecodeRef(m, out.data()), Error) << why;
  } else {
    EXPECT_THROW(Validate(m), Error) << why;
  }
}

TEST(RansCodecCorrupt, StructuralErrors) {
  ASSERT_GT(Small().chunk_off.size(), 3u);
  { auto m = Small(); m.chunk_off.pop_back(); ExpectRejected(m, "chunk_off too short"); }
  { auto m = Small(); m.chunk_off[0] = 1; ExpectRejected(m, "chunk_off[0] != 0"); }
  { auto m = Small(); std::swap(m.chunk_off[1], m.chunk_off[2]); ExpectRejected(m, "chunk_off decreasing"); }
  { auto m = Small(); m.chunk_off.back() += 1; ExpectRejected(m, "chunk_off past words"); }
  { auto m = Small(); m.freq[0] += 1; ExpectRejected(m, "freq sum"); }
  { auto m = Small(); m.chunk_rows = 0; ExpectRejected(m, "chunk_rows 0"); }
  { auto m = Small(); m.chunk_rows += 1; ExpectRejected(m, "chunk_rows changed"); }
  { auto m = Small(); m.minmax_bf16[2] = 0x7f80; ExpectRejected(m, "inf max"); }
  { auto m = Small(); m.cols = 40; ExpectRejected(m, "width mismatch"); }
  { auto m = Small(); m.words[0] = 0, m.words[1] = 0; ExpectRejected(m, "state below 2^16"); }
}

TEST(RansCodecCorrupt, StreamCount) {
  { auto m = Small(); m.streams = 0; ExpectRejected(m, "streams 0"); }
  { auto m = Small(); m.streams = 33; ExpectRejected(m, "streams 33"); }
  { auto m = Small(); m.streams = 4; ExpectRejected(m, "8-stream data read as 4 streams"); }
}

// Every path, on every stream count with a SIMD loop: a flipped word is an error (or, rarely, a
// different valid decode) and the paths agree on which, and on the floats when they decode.
TEST(RansCodecCorrupt, AlmostEveryWordFlipIsDetectedAndNoneCrashes) {
  for (int streams : {4, 8, 16, 32}) {
    const auto w = ternary::RandomTernaryMatrix(40, 300, 0.885, 9);
    const RansMatrix base = rans::Encode(ternary::SymbolsFromTernary(w.data(), 40, 300, SymbolMode::kReference), 3000,
                                         streams);
    std::mt19937 rng(3);
    int rejected = 0, trials = 0;
    for (size_t i = 0; i < base.words.size(); i += 3) {
      RansMatrix m = base;
      m.words[i] ^= uint16_t(1 + rng() % 0xffff);
      std::vector<float> ref(static_cast<size_t>(m.rows * m.cols));
      bool ref_ok = true;
      try {
        DecodeRef(m, ref.data());
      } catch (const Error&) {
        ref_ok = false;
      }
      ++trials;
      rejected += !ref_ok;
      for (DecodePath path : Paths()) {
        std::vector<float> out(ref.size());
        bool ok = true;
        try {
          Decode(m, out.data(), path);
        } catch (const Error&) {
          ok = false;
        }
        ASSERT_EQ(ok, ref_ok) << "word " << i << " streams " << streams << " path " << int(path);
        if (ok) ASSERT_EQ(out, ref) << "word " << i << " streams " << streams << " path " << int(path);
      }
    }
    // A changed word perturbs every later state of its chain; ending exactly at 2^16 with all
    // words consumed by chance is rare. Require 90%.
    EXPECT_GT(rejected, trials * 9 / 10) << rejected << " of " << trials << ", " << streams << " streams";
  }
}

}  // namespace
}  // namespace qmoe::rans
