// Tests for kernels/dict_matvec: the __host__ __device__ helpers on the CPU, bit-exact decode,
// every CPU path and the CUDA kernel (GTEST_SKIP without a GPU) against the _ref forms at awkward
// shapes and batch sizes, and corrupt inputs rejected by Validate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/hash.h"
#include "kernels/common/cpu_features.h"
#include "kernels/common/cuda_device.h"
#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dict_format.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/dict_paths.h"
#include "kernels/dict_matvec/dict_test_data.h"

#if QMOE_HAVE_CUDA
#include "kernels/common/cuda_buffer.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"
#endif

namespace qmoe::kernels {
namespace {

using dict_test::DecodeTable;
using dict_test::TestMatrix;

constexpr double kP0 = 0.885;  // the i.i.d. model the dictionary is built for

// ---------------------------------------------------------------- helpers (published table check values)

TEST(DictDecode, HelpersOnSpecEntries) {
  // entry 0 = [0]: one zero pair.
  EXPECT_EQ(dict::EntryPairs(0x00000001u), 1u);
  EXPECT_EQ(dict::EntryAdvance(0x00000001u), 2u);
  for (uint32_t t = 0; t < 28; ++t) EXPECT_EQ(dict::SlotSymbol(0x00000001u, t), 0u);
  // entry 12 = [1]: pair r = 1 -> first symbol 1 (min), second 0.
  const uint32_t e12[2] = {0x00000011u, 0x00000001u};
  EXPECT_EQ(dict::SlotSymbol(e12[0], 0), 1u);
  EXPECT_EQ(dict::SlotSymbol(e12[0], 1), 0u);
  // entry 65535 = pairs [0,0,0,2,0,1,0,0,2,0,0,0,0] -> slots: pair 3 (r=2) gives slot 6 = 2,
  // pair 5 (r=1) slot 10 = 1, pair 8 (r=2) slot 16 = 2 (in word 1, bit 4+2*2).
  const uint32_t e[2] = {0x0102000Du, 0x0000020Du};
  EXPECT_EQ(dict::EntryPairs(e[0]), 13u);
  EXPECT_EQ(dict::EntryPairs(e[1]), 13u);
  EXPECT_EQ(dict::EntryAdvance(e[1]), 26u);
  std::vector<uint32_t> expect(28, 0);
  expect[6] = 2, expect[10] = 1, expect[16] = 2;
  for (uint32_t t = 0; t < 28; ++t) {
    EXPECT_EQ(dict::SlotWordIndex(t), t < 14 ? 0u : 1u);
    EXPECT_EQ(dict::CodeSymbol(e, 0, t), expect[t]) << "slot " << t;
  }
  EXPECT_EQ(dict::SymbolMask(e[0], e[1], 1), 1u << 10);
  EXPECT_EQ(dict::SymbolMask(e[0], e[1], 2), (1u << 6) | (1u << 16));
  EXPECT_EQ(dict::Dequant(0, -0.5f, 0.75f), 0.0f);
  EXPECT_EQ(dict::Dequant(1, -0.5f, 0.75f), -0.5f);
  EXPECT_EQ(dict::Dequant(2, -0.5f, 0.75f), 0.75f);
  EXPECT_EQ(dict::Dequant(3, -0.5f, 0.75f), 0.0f);
  EXPECT_EQ(Bf16BitsToFloat(0x3f80), 1.0f);
  EXPECT_EQ(Bf16BitsToFloat(0xbf40), -0.75f);
}

TEST(DictDecode, TableMatchesSpecHash) {
  const auto& dec = DecodeTable();
  ASSERT_EQ(dec.size(), 2u * 65536);
  EXPECT_EQ(dec[0], 0x00000001u);
  EXPECT_EQ(dec[2 * 12], 0x00000011u);
  EXPECT_EQ(dec[2 * 65535], 0x0102000Du);
  EXPECT_EQ(dec[2 * 65535 + 1], 0x0000020Du);
  EXPECT_EQ(Sha256Hex(dec.data(), dec.size() * 4),  // little-endian host
            "c09862c453fe122634070a475357ff81a679aff65829d84a56f806c02a54ed45");
  EXPECT_NO_THROW(dict::ValidateDecodeTable(dec.data()));
}

TEST(DictDecode, Bf16RoundTrip) {
  EXPECT_EQ(FloatToBf16(1.0f).bits, 0x3f80);
  EXPECT_EQ(FloatToBf16(1.00390625f).bits, 0x3f80);  // exact tie 1 + 2^-8 rounds to even
  EXPECT_EQ(FloatToBf16(1.01171875f).bits, 0x3f82);  // tie 1 + 3*2^-8 rounds up to even
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::nanf("")))));
}

// ---------------------------------------------------------------- shared data per shape

const TestMatrix& MatrixFor(int64_t h, int64_t w) {
  static std::map<std::pair<int64_t, int64_t>, TestMatrix> cache;
  auto it = cache.find({h, w});
  if (it == cache.end())
    it = cache.emplace(std::pair{h, w}, dict_test::RandomTernary(h, w, kP0, 1000 * h + w)).first;
  return it->second;
}

std::vector<CpuIsa> SupportedIsas() {
  std::vector<CpuIsa> v;
  for (CpuIsa i : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512})
    if (CpuSupports(i)) v.push_back(i);
  return v;
}

// Fails on an all-zero output: a kernel that silently writes nothing must not pass.
double Norm(const std::vector<float>& y) {
  double s = 0;
  for (float v : y) s += double(v) * v;
  return std::sqrt(s);
}

// Per-output tolerance of a fast fp32-accumulating kernel against the fp64 reference:
//   tol[j][r] = (w + 2) * 2^-24 * c * sum_c |W[r][c]| |x[j][c]|   fp32 accumulation: at most w-1
//               roundings in the sums plus the final products/combination (+2), each <= 2^-24
//               of the running magnitude; c = 2 covers reordering (blocked/lane sums).
//             + 2^-24 |y_ref|                                  the reference rounded to fp32
//             + (bf16_out ? 2^-8 (|y_ref| + first term) : 0)  fast result rounded to bf16
std::vector<double> Tolerance(const TestMatrix& m, const std::vector<float>& xf, int64_t k,
                              const std::vector<float>& yref, bool bf16_out) {
  const double u = std::ldexp(1.0, -24), c = 2.0;
  std::vector<double> tol(size_t(k * m.rows));
  for (int64_t j = 0; j < k; ++j)
    for (int64_t r = 0; r < m.rows; ++r) {
      double abs_sum = 0;
      for (int64_t col = 0; col < m.cols; ++col)
        abs_sum += std::fabs(m.Weight(r, col)) * std::fabs(xf[j * m.cols + col]);
      const double acc = double(m.cols + 2) * u * c * abs_sum;
      const double yr = std::fabs(yref[j * m.rows + r]);
      tol[j * m.rows + r] = acc + u * yr + (bf16_out ? std::ldexp(1.0, -8) * (yr + acc) : 0.0);
    }
  return tol;
}

// Tolerance of ladder path p: Tolerance(), plus for paths that treat subnormals as zero (bf16 dot
// instructions): an x below 2^-126 dropped costs <= |W| 2^-126, a flushed product, pair sum or
// accumulator value < 2^-126 each, at most one of each per column: + 2^-126 (sum_c |W[r][c]| + 3 cols).
std::vector<double> LadderTolerance(const DictPath& p, const TestMatrix& m, int64_t k, std::vector<double> tol) {
  if (!p.flushes_subnormals) return tol;
  for (int64_t r = 0; r < m.rows; ++r) {
    double a = 0;
    for (int64_t c = 0; c < m.cols; ++c) a += std::fabs(m.Weight(r, c)) + 3.0;
    for (int64_t j = 0; j < k; ++j) tol[size_t(j * m.rows + r)] += std::ldexp(a, -126);
  }
  return tol;
}

// Reports the worst element and how many are out of tolerance.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& ref,
                 const std::vector<double>& tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  ASSERT_GT(Norm(got), 0.0) << what << ": all-zero output";
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - ref[i]);
    const double ratio = err / std::max(tol[i], 1e-300);
    if (!(err <= tol[i])) ++bad;
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = int64_t(i);
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size()
                    << " outside tolerance; worst at flat index " << worst << ": got "
                    << got[worst] << ", ref " << ref[worst] << ", tol " << tol[worst];
}

std::vector<float> ToFloats(const std::vector<Bf16>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = Bf16ToFloat(v[i]);
  return f;
}

// ---------------------------------------------------------------- bit-exact decode per shape

class DictDecodeShapes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(DictDecodeShapes, DecodeIsBitExact) {
  const auto [h, w] = GetParam();
  const TestMatrix& m = MatrixFor(h, w);
  const auto& dec = DecodeTable();
  ASSERT_NO_THROW(dict::Validate(m.View(), dec.data()));
  // Dense decode from the symbols, independent of any decoder.
  std::vector<float> dense(size_t(h * w));
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) dense[r * w + c] = m.Weight(r, c);
  ASSERT_GT(Norm(dense), 0.0);
  std::vector<float> ref(size_t(h * w), -7.0f);  // poison: every element must be written
  DictDecompressRef(m.View(), dec.data(), ref.data());
  EXPECT_TRUE(ref == dense) << "DictDecompressRef differs from the symbols";
  for (CpuIsa isa : SupportedIsas()) {
    std::vector<float> got(size_t(h * w), -7.0f);
    DictDecompress(m.View(), dec.data(), got.data(), isa);
    EXPECT_TRUE(got == dense) << "DictDecompress fp32, " << CpuIsaName(isa);
    std::vector<Bf16> gotb(size_t(h * w), Bf16{0x7fff});
    DictDecompress(m.View(), dec.data(), gotb.data(), isa);
    EXPECT_TRUE(ToFloats(gotb) == dense) << "DictDecompress bf16, " << CpuIsaName(isa);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DictDecodeShapes,
                         ::testing::Combine(::testing::Values(1, 19, 111, 768),
                                            ::testing::Values(1, 19, 111, 2081, 3072)));

// ---------------------------------------------------------------- products per shape and batch

class DictMatvecShapes
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {
 protected:
  void SetUp() override {
    std::tie(h_, w_, k_) = GetParam();
    xb_ = dict_test::RandomBf16(k_ * w_, 77 + k_);
    xf_ = ToFloats(xb_);
    yref_.assign(size_t(k_ * h_), 0.0f);
    DictMatvecRef(m().View(), DecodeTable().data(), xb_.data(), k_, yref_.data());
    ASSERT_GT(Norm(yref_), 0.0) << "reference output is all zero: the test data is vacuous";
  }
  const TestMatrix& m() const { return MatrixFor(h_, w_); }
  int64_t h_ = 0, w_ = 0, k_ = 0;
  std::vector<Bf16> xb_;
  std::vector<float> xf_, yref_;
};

TEST_P(DictMatvecShapes, CpuPathsMatchRef) {
  const auto& dec = DecodeTable();
  const auto tol32 = Tolerance(m(), xf_, k_, yref_, false);
  const auto tol16 = Tolerance(m(), xf_, k_, yref_, true);
  for (CpuIsa isa : SupportedIsas()) {
    const std::string tag = std::string(CpuIsaName(isa)) + " k=" + std::to_string(k_);
    std::vector<float> y(size_t(k_ * h_));
    DictMatvecBatch(m().View(), dec.data(), xb_.data(), k_, y.data(), isa);
    ExpectClose(y, yref_, tol32, "batch bf16->fp32 " + tag);
    std::vector<Bf16> yb(size_t(k_ * h_));
    DictMatvecBatch(m().View(), dec.data(), xb_.data(), k_, yb.data(), isa);
    ExpectClose(ToFloats(yb), yref_, tol16, "batch bf16->bf16 " + tag);
    DictMatvecBatch(m().View(), dec.data(), xf_.data(), k_, y.data(), isa);
    ExpectClose(y, yref_, tol32, "batch fp32->fp32 " + tag);
    if (k_ == 1) {
      DictMatvec(m().View(), dec.data(), xb_.data(), y.data(), isa);
      ExpectClose(y, yref_, tol32, "matvec bf16->fp32 " + tag);
      DictMatvec(m().View(), dec.data(), xb_.data(), yb.data(), isa);
      ExpectClose(ToFloats(yb), yref_, tol16, "matvec bf16->bf16 " + tag);
      DictMatvec(m().View(), dec.data(), xf_.data(), y.data(), isa);
      ExpectClose(y, yref_, tol32, "matvec fp32->fp32 " + tag);
    }
  }
}

// Every path of the kernel ladder this CPU runs (capped by QMOE_CPU_ISA, so an AVX2 run skips
// the AVX-512 paths), through the row-parallel driver: against the reference within the fp32
// tolerance, and with 3 threads bit-identical to 1 thread (rows are independent; the split only
// changes which thread computes a row, never the order of its sums).
TEST_P(DictMatvecShapes, LadderPathsMatchRef) {
  const auto& dec = DecodeTable();
  const auto tol32 = Tolerance(m(), xf_, k_, yref_, false);
  int tested = 0;
  for (const DictPath& p : DictPaths()) {
    if (p.isa > BestCpuIsa() || k_ > p.max_k) continue;
    ++tested;
    const std::string tag = std::string(p.name) + " k=" + std::to_string(k_);
    std::vector<float> y1(size_t(k_ * h_), -7.0f), y3(size_t(k_ * h_), -9.0f);
    DictMatvecBatchWith(p, m().View(), dec.data(), xb_.data(), k_, y1.data(), 1);
    const std::vector<double> tol = LadderTolerance(p, m(), k_, tol32);
    ExpectClose(y1, yref_, tol, "ladder " + tag);
    DictMatvecBatchWith(p, m().View(), dec.data(), xb_.data(), k_, y3.data(), 3);
    EXPECT_TRUE(y3 == y1) << tag << ": 3 threads differ from 1 thread";
  }
  EXPECT_GE(tested, 1);
}

TEST_P(DictMatvecShapes, CudaMatchesRef) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or no driver)";
#if QMOE_HAVE_CUDA
  const auto& dec = DecodeTable();
  const TestMatrix& mm = m();
  DeviceBuffer<uint16_t> codes(mm.codes);
  DeviceBuffer<int32_t> row_off(mm.row_off);
  DeviceBuffer<Bf16> minmax(mm.minmax), x(xb_);
  DeviceBuffer<uint32_t> ddec(dec);
  DictView dm{mm.rows, mm.cols, codes.data(), int64_t(mm.codes.size()), row_off.data(),
                minmax.data()};
  DeviceBuffer<float> y(size_t(k_ * h_));
  DeviceBuffer<Bf16> yb(size_t(k_ * h_));
  DictMatvecCuda(dm, ddec.data(), x.data(), k_, y.data());
  DictMatvecCuda(dm, ddec.data(), x.data(), k_, yb.data());
  CudaSynchronize();
  ExpectClose(y.Download(), yref_, Tolerance(mm, xf_, k_, yref_, false), "cuda fp32 out");
  ExpectClose(ToFloats(yb.Download()), yref_, Tolerance(mm, xf_, k_, yref_, true), "cuda bf16 out");
#else
  FAIL() << "CudaDeviceCount() > 0 in a build without CUDA";
#endif
}

INSTANTIATE_TEST_SUITE_P(Shapes, DictMatvecShapes,
                         ::testing::Combine(::testing::Values(1, 19, 111, 768),
                                            ::testing::Values(1, 19, 111, 2081, 3072),
                                            ::testing::Values(1, 2, 5, 8, 16)));

// ---------------------------------------------------------------- corrupt inputs

// Expects a qmoe::Error whose message contains `needle`.
template <class F>
void ExpectError(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected qmoe::Error containing '" << needle << "'";
  } catch (const qmoe::Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(needle));
  }
}

class DictCorrupt : public ::testing::Test {
 protected:
  void SetUp() override { m_ = dict_test::RandomTernary(19, 111, kP0, 5); }
  TestMatrix m_;
  const std::vector<uint32_t>& dec_ = DecodeTable();
  std::vector<Bf16> x_ = dict_test::RandomBf16(111, 3);
  std::vector<float> y_ = std::vector<float>(19);
};

TEST_F(DictCorrupt, RowOffOutOfRange) {
  m_.row_off[3] = int32_t(m_.codes.size()) + 5;
  ExpectError([&] { dict::Validate(m_.View(), dec_.data(), "expert_7.wi"); }, "expert_7.wi: row_off[2] = ");
  ExpectError([&] { DictMatvecRef(m_.View(), dec_.data(), x_.data(), 1, y_.data()); }, "row_off[3] = ");
}

TEST_F(DictCorrupt, RowOffDecreasing) {
  std::swap(m_.row_off[4], m_.row_off[5]);
  ExpectError([&] { dict::Validate(m_.View(), dec_.data()); }, "non-decreasing");
}

TEST_F(DictCorrupt, RowOffEndMismatchCaughtByFastPath) {
  m_.row_off.back() -= 1;  // O(1) check every fast entry point does
  ExpectError([&] { DictMatvec(m_.View(), dec_.data(), x_.data(), y_.data()); }, "row_off[19]");
}

TEST_F(DictCorrupt, CodewordOverrunsRow) {
  // The last codeword of row 0 replaced by the longest entry (14 pairs = 28 columns).
  uint16_t longest = 0;
  for (uint32_t c = 0; c < 65536; ++c)
    if (dict::EntryPairs(dec_[2 * c]) == 14) longest = uint16_t(c);
  m_.codes[m_.row_off[1] - 1] = longest;
  ExpectError([&] { dict::Validate(m_.View(), dec_.data()); }, "overruns the row width 111");
  ExpectError([&] { DictDecompressRef(m_.View(), dec_.data(), y_.data()); }, "overruns");
}

TEST_F(DictCorrupt, RowTooShort) {
  m_.codes[m_.row_off[1] - 1] = 0;  // entry 0 = one zero pair: the row may now end early
  m_.codes[m_.row_off[1] - 2] = 0;
  bool threw = false;
  try {
    dict::Validate(m_.View(), dec_.data());
  } catch (const qmoe::Error& e) {
    threw = true;
    EXPECT_THAT(e.what(), ::testing::AnyOf(::testing::HasSubstr("cover"),
                                           ::testing::HasSubstr("overruns")));
  }
  // Replacing two codewords by single pairs leaves the row covering fewer columns, unless both
  // already were single pairs; the seed makes that not the case.
  EXPECT_TRUE(threw);
}

TEST_F(DictCorrupt, OddWidthOverhangMustBeZero) {
  // Row 0 of a width-1 matrix is one codeword covering 2 columns; the second must be 0.
  TestMatrix m = dict_test::RandomTernary(1, 1, kP0, 9);
  ASSERT_EQ(m.codes.size(), 1u);
  uint16_t bad = 0;  // single pair r = 3*1 + 0: slot 1 (past the end) = min
  for (uint32_t c = 0; c < 65536; ++c)
    if (dec_[2 * c] == (1u | (1u << 6))) bad = uint16_t(c);
  ASSERT_NE(bad, 0);
  m.codes[0] = bad;
  ExpectError([&] { dict::Validate(m.View(), dec_.data()); }, "past the odd row end");
}

TEST_F(DictCorrupt, BadBatchAndNulls) {
  std::vector<float> y(19 * 17);
  std::vector<Bf16> x(111 * 17);
  ExpectError([&] { DictMatvecBatch(m_.View(), dec_.data(), x.data(), 17, y.data()); }, "batch k = 17");
  ExpectError([&] { DictMatvecBatch(m_.View(), dec_.data(), x.data(), 0, y.data()); }, "batch k = 0");
  ExpectError([&] { DictMatvec(m_.View(), nullptr, x.data(), y.data()); }, "dec is null");
  DictView v = m_.View();
  v.minmax = nullptr;
  ExpectError([&] { DictMatvec(v, dec_.data(), x.data(), y.data()); }, "minmax is null");
}

TEST_F(DictCorrupt, BadDecodeTable) {
  std::vector<uint32_t> dec = dec_;
  dec[2 * 100] &= ~15u;  // n = 0
  ExpectError([&] { dict::ValidateDecodeTable(dec.data()); }, "entry 100 has n = 0");
  dec = dec_;
  dec[2 * 200 + 1] |= 3u << 30;  // symbol 3 in slot 27
  ExpectError([&] { dict::ValidateDecodeTable(dec.data()); }, "entry 200 slot 27 has symbol 3");
  dec = dec_;
  dec[0] |= 1u << 8;  // entry 0 (n = 1) with slot 2 set
  ExpectError([&] { dict::ValidateDecodeTable(dec.data()); }, "entry 0 (n = 1) slot 2 is unused");
  ExpectError([&] { DictMatvecRef(m_.View(), dec.data(), x_.data(), 1, y_.data()); }, "entry 0");
}

// The paths that convert `dec` into a table of their own must follow the table they are given: a
// copy at another address gives the same result, and a table changed in place (every min swapped
// with max: still valid, a different matrix) is converted again.
TEST(DictLadder, PathsFollowTheGivenDecodeTable) {
  const TestMatrix& m = MatrixFor(19, 111);
  const auto x = dict_test::RandomBf16(111 * 2, 11);
  std::vector<uint32_t> dec = DecodeTable();
  std::vector<float> canon(19 * 2), copy(19 * 2), swapped(19 * 2), ref(19 * 2);
  for (const DictPath& p : DictPaths()) {
    if (p.isa > BestCpuIsa()) continue;
    dec = DecodeTable();
    DictMatvecBatchWith(p, m.View(), DecodeTable().data(), x.data(), 2, canon.data());
    DictMatvecBatchWith(p, m.View(), dec.data(), x.data(), 2, copy.data());
    EXPECT_TRUE(copy == canon) << p.name;
    for (size_t i = 0; i < dec.size(); ++i) {  // symbols 1 <-> 2 in every slot
      const uint32_t lo = dec[i] & 0x55555550u, hi = dec[i] & 0xAAAAAAA0u;
      dec[i] = (dec[i] & 15u) | (lo << 1) | (hi >> 1);
    }
    ASSERT_NO_THROW(dict::ValidateDecodeTable(dec.data()));
    DictMatvecRef(m.View(), dec.data(), x.data(), 2, ref.data());
    DictMatvecBatchWith(p, m.View(), dec.data(), x.data(), 2, swapped.data());
    std::vector<float> xf(x.size());
    for (size_t i = 0; i < x.size(); ++i) xf[i] = Bf16ToFloat(x[i]);
    // The swapped table is the matrix with min and max exchanged: compare against its reference
    // with the tolerance derived for the original weights (same magnitudes, same sums).
    TestMatrix sw = m;
    for (auto& s : sw.symbols) s = s == 1 ? 2 : (s == 2 ? 1 : s);
    ExpectClose(swapped, ref, LadderTolerance(p, sw, 2, Tolerance(sw, xf, 2, ref, false)),
                std::string("swapped table ") + p.name);
    EXPECT_FALSE(swapped == canon) << p.name << ": the changed table was not converted again";
  }
}

TEST(DictEdge, EmptyShapes) {
  const auto& dec = DecodeTable();
  const std::vector<int32_t> off0{0};
  DictView none{0, 5, nullptr, 0, off0.data(), nullptr};  // no rows: nothing to write
  std::vector<Bf16> x(5);
  EXPECT_NO_THROW(DictMatvec(none, dec.data(), x.data(), static_cast<float*>(nullptr)));
  const std::vector<int32_t> off3{0, 0, 0, 0};
  const std::vector<Bf16> mm(6, FloatToBf16(1.0f));
  DictView empty_rows{3, 0, nullptr, 0, off3.data(), mm.data()};  // zero width: y = 0
  EXPECT_NO_THROW(dict::Validate(empty_rows, dec.data()));
  std::vector<float> y(3, 5.0f);
  DictMatvec(empty_rows, dec.data(), static_cast<const Bf16*>(nullptr), y.data());
  EXPECT_EQ(y, std::vector<float>(3, 0.0f));
}

}  // namespace
}  // namespace qmoe::kernels
