// rans_matvec: every CPU path this machine has, against the _ref twin within a computed bound, at
// shapes with odd widths, one-row and one-weight chunks, every stream count the decoders
// specialise, batches 1..16 and 1-3 threads; the decoded weights bit for bit (unit-vector x picks
// single columns, whose products are exact); corrupt streams rejected exactly when rans::Decode
// rejects them.
#include "kernels/rans_matvec/rans_matvec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

#include "framework/core/error.h"
#include "kernels/rans_matvec/rans_test_data.h"

namespace qmoe::kernels {
namespace {

std::vector<const RansPath*> Paths() {
  std::vector<const RansPath*> out;
  for (const RansPath& p : RansPaths())
    if (RansPathAvailable(p) && p.isa <= BestCpuIsa()) out.push_back(&p);
  return out;
}

struct Case {
  int64_t rows, cols, chunk_weights;
  int streams;
};

class RansMatvecCases : public ::testing::TestWithParam<Case> {};

// Bound on |fast − ref| per output. Every product w·x of two bf16 values is exact in fp32 (8 + 8
// significant bits), so the fast path's only error is summing n = cols exact terms in fp32 in some
// order: at most γ_{n}·Σ|w||x| with γ_n = n·u/(1 − n·u), u = 2^-24 (any summation order, Higham
// 2002, eq. 4.4; the zero padding terms add nothing). The ref sums in fp64 (error ≤ γ_n(2^-53)·Σ)
// and rounds once to fp32 (≤ 2^-24·|ref|). The avx512_bf16 path also flushes x values below
// 2^-126 (each such term changes by < |w|·2^-126), weights below 2^-126 (< |x|·2^-126) and
// partial sums below 2^-126 (< 2^-126 per addition, n of them): + 2^-126·(Σ|w| + Σ|x| + n), added
// for every path.
double Bound(double sum_abs, double sum_abs_wx, double ref, int64_t n) {
  auto gamma = [&](double u) { return double(n) * u / (1 - double(n) * u); };
  return gamma(std::ldexp(1.0, -24)) * sum_abs + gamma(std::ldexp(1.0, -53)) * sum_abs +
         std::ldexp(std::abs(ref), -24) + std::ldexp(sum_abs_wx + double(n), -126);
}

TEST_P(RansMatvecCases, FastMatchesRefWithinComputedBound) {
  const Case c = GetParam();
  const auto t = dict_test::RandomTernary(c.rows, c.cols, 0.885, uint64_t(c.rows * 7919 + c.cols));
  const rans::RansMatrix m = rans_test::ToRans(t, c.chunk_weights, c.streams);
  std::vector<float> w(size_t(c.rows * c.cols));
  rans::DecodeRef(m, w.data());
  for (int64_t k : {1, 2, 3, 5, 8, 9, 16}) {
    const auto x = dict_test::RandomBf16(k * c.cols, uint64_t(k));
    std::vector<float> ref(size_t(k * c.rows));
    RansMatvecRef(m, x.data(), k, ref.data());
    double max_abs = 0;
    for (float v : ref) max_abs = std::max(max_abs, double(std::abs(v)));
    EXPECT_GT(max_abs, 0.0) << "the test matrix and x give y = 0";
    for (const RansPath* p : Paths())
      for (int threads : {1, 2, 3}) {
        std::vector<float> y(size_t(k * c.rows), NAN);
        RansMatvecBatchWith(*p, m, x.data(), k, y.data(), threads);
        for (int64_t j = 0; j < k; ++j)
          for (int64_t r = 0; r < c.rows; ++r) {
            double sum_abs = 0, sum_abs_w = 0;
            for (int64_t col = 0; col < c.cols; ++col) {
              sum_abs += std::abs(double(w[size_t(r * c.cols + col)]) * double(Bf16ToFloat(x[size_t(j * c.cols + col)])));
              sum_abs_w += std::abs(double(w[size_t(r * c.cols + col)])) + std::abs(double(Bf16ToFloat(x[size_t(j * c.cols + col)])));
            }
            const double f = y[size_t(j * c.rows + r)], e = ref[size_t(j * c.rows + r)];
            ASSERT_LE(std::abs(f - e), Bound(sum_abs, sum_abs_w, e, c.cols))
                << p->name << " threads " << threads << " k " << k << " token " << j << " row " << r << ": " << f
                << " vs " << e;
          }
      }
  }
}

TEST_P(RansMatvecCases, DecodedWeightsBitExactWithDecode) {
  const Case c = GetParam();
  const auto t = dict_test::RandomTernary(c.rows, c.cols, 0.7, uint64_t(c.rows + c.cols));
  const rans::RansMatrix m = rans_test::ToRans(t, c.chunk_weights, c.streams);
  std::vector<float> w(size_t(c.rows * c.cols));
  rans::Decode(m, w.data());
  // Token j = the unit vector of column c0 + j: y[j][r] = W[r][c0 + j] exactly (one non-zero term;
  // the levels are >= 0.25, so the bf16 path's flush of tiny values does not apply).
  for (const RansPath* p : Paths())
    for (int64_t c0 = 0; c0 < c.cols; c0 += kRansMaxBatch) {
      const int64_t k = std::min(kRansMaxBatch, c.cols - c0);
      std::vector<Bf16> x(size_t(k * c.cols), FloatToBf16(0.0f));
      for (int64_t j = 0; j < k; ++j) x[size_t(j * c.cols + c0 + j)] = FloatToBf16(1.0f);
      std::vector<float> y(size_t(k * c.rows), NAN);
      RansMatvecBatchWith(*p, m, x.data(), k, y.data(), 2);
      for (int64_t j = 0; j < k; ++j)
        for (int64_t r = 0; r < c.rows; ++r)
          ASSERT_EQ(y[size_t(j * c.rows + r)], w[size_t(r * c.cols + c0 + j)])
              << p->name << " row " << r << " column " << c0 + j;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RansMatvecCases,
    ::testing::Values(Case{1, 1, rans::kDefaultChunkWeights, 0}, Case{7, 3, 1, 1}, Case{19, 33, 100, 3},
                      Case{16, 27, 1, 4}, Case{64, 128, 1000, 8}, Case{111, 255, 2000, 16},
                      Case{128, 192, rans::kDefaultChunkWeights, 0}, Case{40, 1040, 5000, 24},
                      Case{37, 2081, 20000, 32}, Case{300, 96, 4000, 32}, Case{2, 6144, 1, 32}),
    [](const ::testing::TestParamInfo<Case>& i) {
      return std::to_string(i.param.rows) + "x" + std::to_string(i.param.cols) + "_chunk" +
             std::to_string(i.param.chunk_weights) + "_s" + std::to_string(i.param.streams);
    });

// A changed word: the kernel must reject the matrix exactly when rans::Decode does (a stream that
// still decodes to a valid end state is a different, valid matrix for both).
TEST(RansMatvec, CorruptStreamsAreErrorsLikeDecode) {
  const auto t = dict_test::RandomTernary(60, 250, 0.885, 5);
  const auto x = dict_test::RandomBf16(4 * 250, 1);
  std::mt19937_64 rng(9);
  int rejected = 0;
  // 5 chunks of 12 rows: with 32 streams the AVX-512 path decodes 4 of them in lockstep.
  for (int trial = 0; trial < 120; ++trial) {
    rans::RansMatrix m = rans_test::ToRans(t, 3000, trial % 2 ? 32 : 16);
    const size_t i = size_t(rng() % m.words.size());
    m.words[i] = uint16_t(m.words[i] ^ (1u << (rng() % 16)));
    std::vector<float> w(size_t(m.rows * m.cols));
    bool decode_throws = false;
    try {
      rans::Decode(m, w.data());
    } catch (const Error&) {
      decode_throws = true;
    }
    rejected += decode_throws;
    for (const RansPath* p : Paths())
      for (int threads : {1, 2}) {
        std::vector<float> y(size_t(4 * m.rows));
        bool kernel_throws = false;
        try {
          RansMatvecBatchWith(*p, m, x.data(), 4, y.data(), threads);
        } catch (const Error& e) {
          kernel_throws = true;
          EXPECT_NE(std::string(e.what()).find("rans matrix"), std::string::npos) << e.what();
        }
        EXPECT_EQ(kernel_throws, decode_throws) << p->name << " word " << i;
      }
  }
  EXPECT_GT(rejected, 60);  // the check is exercised
  const rans::RansMatrix good = rans_test::ToRans(t, 3000, 32);
  rans::RansMatrix m = good;
  m.chunk_off.back() -= 1;  // structure: Validate
  std::vector<float> y(size_t(m.rows));
  EXPECT_THROW(RansMatvecBatch(m, x.data(), 1, y.data()), Error);
  EXPECT_THROW(RansMatvecBatch(good, x.data(), 17, y.data()), Error);
  EXPECT_THROW(FindRansPath("avx9"), Error);
}

}  // namespace
}  // namespace qmoe::kernels
