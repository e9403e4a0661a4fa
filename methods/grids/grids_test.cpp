// Tests of the quantization grids (hand rows with exact outputs, torch path == scalar _ref twin), the packed
// format (round trip, exact storage) and the bf16 / rtn / ternary methods.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "framework/core/error.h"
#include "methods/grids/grid.h"
#include "methods/grids/grid_format.h"
#include "methods/grids/rtn_methods.h"

namespace qmoe::grids {
namespace {

GridSpec MinMax(int64_t bits, bool sym = false, int64_t group = 0) {
  return GridSpec{GridKind::kMinMax, bits, sym, group};
}
GridSpec Ternary(int64_t group = 0) { return GridSpec{GridKind::kTernary, 2, false, group}; }

at::Tensor Row(std::vector<float> v) {
  return at::from_blob(v.data(), {1, 1, static_cast<int64_t>(v.size())}, at::kFloat).clone();
}
std::vector<float> Vec(const at::Tensor& t) {
  at::Tensor c = t.contiguous().to(at::kFloat).flatten();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
std::vector<int> Codes(const at::Tensor& t) {
  at::Tensor c = t.contiguous().to(at::kInt).flatten();
  return std::vector<int>(c.data_ptr<int>(), c.data_ptr<int>() + c.numel());
}

// ---- hand-made rows with exact expected outputs ----

TEST(Grid, TwoBitRoundHalfEvenTiesAndZeroPoint) {
  // lo = -0.5, hi = 2.5 -> s = 1, -lo/s = 0.5 -> z = rhe(0.5) = 0 (round-half-away would give 1).
  // x/s = -0.5, 0.5, 1.5, 2.5 are ties: rhe gives -0, 0, 2, 2.
  GridQuantized q = QuantizeRtn(MinMax(2), Row({-0.5f, 0.5f, 1.5f, 2.5f, 1.0f, 0.0f}));
  EXPECT_EQ(q.a.item<float>(), 1.0f);
  EXPECT_EQ(q.b.item<float>(), 0.0f);
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{0, 0, 2, 2, 1, 0}));
  EXPECT_EQ(Codes(q.codes), (std::vector<int>{0, 0, 2, 2, 1, 0}));
}

TEST(Grid, TwoBitLevelsAndNegativeTie) {
  // lo = -1, hi = 2 -> s = 1, z = 1; levels {-1, 0, 1, 2}. -0.5 and 0.5 tie to 0, 1.5 to 2.
  GridQuantized q = QuantizeRtn(MinMax(2), Row({-1.0f, -0.5f, 0.0f, 0.5f, 1.5f, 2.0f}));
  EXPECT_EQ(q.b.item<float>(), 1.0f);
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{-1, 0, 0, 0, 2, 2}));
  EXPECT_EQ(Codes(q.codes), (std::vector<int>{0, 1, 1, 1, 3, 3}));
}

TEST(Grid, FourBitZeroPointTieRoundsToEven) {
  // lo = -1, hi = 5, maxq = 15: s = fl(6/15), -lo/s rounds to exactly 2.5 in fp32 -> z = 2.
  GridQuantized q = QuantizeRtn(MinMax(4), Row({-1.0f, 5.0f, 0.0f}));
  const float s = 6.0f / 15.0f;
  ASSERT_EQ(1.0f / s, 2.5f) << "test premise: -lo/s is an exact tie in fp32";
  EXPECT_EQ(q.a.item<float>(), s);
  EXPECT_EQ(q.b.item<float>(), 2.0f);
  // -1/s = -2.5 and 5/s = 12.5 are ties too: rhe gives -2 (code 0, level -2s) and 12 (code 14).
  ASSERT_EQ(5.0f / s, 12.5f);
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{s * -2.0f, s * 12.0f, 0.0f}));
  EXPECT_EQ(Codes(q.codes), (std::vector<int>{0, 14, 2}));
}

TEST(Grid, RowWithoutNegativesHasLoZero) {
  GridQuantized q = QuantizeRtn(MinMax(2), Row({0.0f, 1.0f, 2.0f, 3.0f}));
  EXPECT_EQ(q.b.item<float>(), 0.0f);
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{0, 1, 2, 3}));
  GridQuantized t = QuantizeRtn(Ternary(), Row({0.0f, 1.0f, 2.0f, 4.0f, 2.5f}));
  EXPECT_EQ(t.a.item<float>(), 0.0f);  // lo
  EXPECT_EQ(t.b.item<float>(), 4.0f);  // hi
  EXPECT_EQ(Vec(t.deq), (std::vector<float>{0, 0, 0, 4, 4}));  // 2 == hi/2 -> 0
  EXPECT_EQ(Codes(t.codes), (std::vector<int>{0, 0, 0, 2, 2}));
}

TEST(Grid, AllZeroRowUsesMinusOnePlusOne) {
  GridQuantized t = QuantizeRtn(Ternary(), Row({0, 0, 0}));
  EXPECT_EQ(t.a.item<float>(), -1.0f);
  EXPECT_EQ(t.b.item<float>(), 1.0f);
  EXPECT_EQ(Vec(t.deq), (std::vector<float>{0, 0, 0}));
  GridQuantized q = QuantizeRtn(MinMax(2), Row({0, 0, 0}));
  EXPECT_EQ(q.a.item<float>(), 2.0f / 3.0f);
  EXPECT_EQ(q.b.item<float>(), 2.0f);  // -lo/s = fl(1/fl(2/3)) = 1.5 exactly -> rhe -> 2
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(Codes(q.codes), (std::vector<int>{2, 2, 2}));
}

TEST(Grid, MinEqualsMaxRows) {
  // All 3: lo = 0, hi = 3 -> both grids reproduce 3.
  EXPECT_EQ(Vec(QuantizeRtn(MinMax(2), Row({3, 3, 3})).deq), (std::vector<float>{3, 3, 3}));
  EXPECT_EQ(Vec(QuantizeRtn(Ternary(), Row({3, 3, 3})).deq), (std::vector<float>{3, 3, 3}));
  // All -2: lo = -2, hi = 0; s = fl(2/3), z = 3, deq = fl(s·-3) = -2 exactly.
  GridQuantized q = QuantizeRtn(MinMax(2), Row({-2, -2}));
  EXPECT_EQ(q.b.item<float>(), 3.0f);
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{-2, -2}));
  EXPECT_EQ(Vec(QuantizeRtn(Ternary(), Row({-2, -2})).deq), (std::vector<float>{-2, -2}));
}

TEST(Grid, TernaryStrictThresholdsAndClipping) {
  // lo = -2, hi = 4: thresholds -1 and 2 are exact ties and give 0.
  GridQuantized t = QuantizeRtn(Ternary(), Row({-2.0f, -1.0f, -1.5f, 2.0f, 2.5f, 4.0f, 0.0f}));
  EXPECT_EQ(Vec(t.deq), (std::vector<float>{-2, 0, -2, 0, 4, 4, 0}));
  EXPECT_EQ(Codes(t.codes), (std::vector<int>{1, 0, 1, 0, 2, 2, 0}));
  // Values beyond [lo, hi] (as GPTQ updates produce) clip to the extreme levels.
  FittedGrid g = FitGrid(Ternary(), Row({-2.0f, 4.0f}), 2);
  GridValues v = QuantizeOnGrid(Unsqueezed(g), Row({-10.0f, 10.0f}));
  EXPECT_EQ(Vec(v.deq), (std::vector<float>{-2, 4}));
  FittedGrid m = FitGrid(MinMax(2), Row({-1.0f, 2.0f}), 2);
  EXPECT_EQ(Vec(QuantizeOnGrid(Unsqueezed(m), Row({-10.0f, 10.0f})).deq), (std::vector<float>{-1, 2}));
}

TEST(Grid, SymmetricGrid) {
  // 4-bit sym: hi = max(|-1|, 0.5) = 1, lo = -1, s = 2/15, z = 8.
  FittedGrid g = FitGrid(MinMax(4, true), Row({-1.0f, 0.5f}), 2);
  EXPECT_EQ(g.a.item<float>(), 2.0f / 15.0f);
  EXPECT_EQ(g.b.item<float>(), 8.0f);
  // No negatives: lo stays 0 but z is still (maxq+1)/2, as the reference quantizer does.
  FittedGrid p = FitGrid(MinMax(2, true), Row({0.0f, 3.0f}), 2);
  EXPECT_EQ(p.a.item<float>(), 1.0f);
  EXPECT_EQ(p.b.item<float>(), 2.0f);
  EXPECT_EQ(Vec(QuantizeOnGrid(Unsqueezed(p), Row({0.0f, 3.0f})).deq), (std::vector<float>{0, 1}));
}

TEST(Grid, GroupsFitPerGroup) {
  // Two groups of 2 with different ranges; the last group is partial (5 columns, group 2).
  GridQuantized q = QuantizeRtn(Ternary(2), Row({-1, 1, -4, 8, 3}));
  EXPECT_EQ(Vec(q.a), (std::vector<float>{-1, -4, 0}));
  EXPECT_EQ(Vec(q.b), (std::vector<float>{1, 8, 3}));
  EXPECT_EQ(Vec(q.deq), (std::vector<float>{-1, 1, -4, 8, 3}));
}

// ---- torch path == scalar twin ----

TEST(Grid, TorchPathMatchesScalarRefBitwise) {
  at::manual_seed(1);
  const int64_t G = 3, r = 5, c = 37;
  at::Tensor w = at::randn({G, r, c});
  // Ties and specials: exact zeros, a zero row, a constant row, a no-negative row.
  w[0][0].zero_();
  w[0][1].fill_(0.75f);
  w[1][2] = w[1][2].abs();
  w[2][3].narrow(0, 0, 10).zero_();
  std::vector<GridSpec> specs = {MinMax(2), MinMax(3), MinMax(4, true), MinMax(8), MinMax(2, false, 8),
                                 MinMax(5, true, 16), Ternary(), Ternary(10)};
  for (const GridSpec& spec : specs) {
    SCOPED_TRACE(testing::Message() << GridKindName(spec.kind) << " bits " << spec.bits << " sym "
                                    << spec.sym << " group " << spec.group_size);
    GridQuantized q = QuantizeRtn(spec, w);
    const int64_t gs = spec.NumGroups(c) == 1 ? c : spec.group_size;
    int64_t mismatches = 0;
    for (int64_t e = 0; e < G; ++e)
      for (int64_t i = 0; i < r; ++i) {
        std::vector<float> row = Vec(w[e][i]);
        for (int64_t j0 = 0; j0 < c; j0 += gs) {
          const int64_t n = std::min(gs, c - j0);
          RowGridRef g = FitRowRef(spec, row.data() + j0, n);
          for (int64_t j = j0; j < j0 + n; ++j) {
            uint8_t code = 0;
            const float ref = QuantizeRef(spec, g, row[j], &code);
            mismatches += ref != q.deq[e][i][j].item<float>() || code != q.codes[e][i][j].item<uint8_t>();
          }
        }
      }
    EXPECT_EQ(mismatches, 0);
    EXPECT_GT(q.deq.abs().sum().item<float>(), 0.0f);
  }
}

// ---- packed format ----

TEST(GridFormat, PackUnpackRoundTripAllWidths) {
  at::manual_seed(2);
  for (int64_t bits = 1; bits <= 8; ++bits)
    for (int64_t cols : {1, 7, 13, 64}) {
      at::Tensor codes = at::randint(0, int64_t{1} << bits, {3, cols}, at::kByte);
      at::Tensor packed = PackCodes(codes, bits);
      EXPECT_EQ(packed.size(1), (cols * bits + 7) / 8);
      EXPECT_TRUE(at::equal(UnpackCodes(packed, bits, cols), codes)) << bits << " bits, " << cols << " cols";
    }
}

TEST(GridFormat, PackedTensorsReproduceWeightsAndStorageIsExact) {
  at::manual_seed(3);
  const int64_t G = 2, r = 6, c = 50;
  at::Tensor w = at::randn({G, r, c});
  for (const GridSpec& spec : {MinMax(2), MinMax(3, false, 16), MinMax(8, true), Ternary(), Ternary(20)}) {
    GridQuantized q = QuantizeRtn(spec, w);
    std::vector<MatrixResult> res = PackGridResults(spec, q);
    ASSERT_EQ(res.size(), 2u);
    const int64_t ng = spec.NumGroups(c), bits = CodeBits(spec);
    const double per_group = spec.kind == GridKind::kTernary ? 64 : 40;
    for (int64_t e = 0; e < G; ++e) {
      EXPECT_TRUE(at::equal(UnpackGrid(spec, res[e].packed), q.deq[e]));
      EXPECT_EQ(res[e].storage_bits, 64 + r * ((c * bits + 7) / 8) * 8 + r * ng * per_group);
      const double zeros = (q.deq[e] == 0).sum().item<double>();
      EXPECT_EQ(res[e].stats.at("natural_sparsity"), zeros / (r * c));
    }
  }
}

TEST(GridFormat, UnpackNamesMissingField) {
  std::map<std::string, at::Tensor> packed;
  packed["shape"] = at::tensor({2, 4}, at::kInt);
  packed["codes"] = at::zeros({2, 1}, at::kByte);
  try {
    UnpackGrid(Ternary(), packed);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'lo'"), std::string::npos) << e.what();
  }
}

// ---- methods ----

TEST(GridMethods, RtnAndTernaryAndBf16) {
  at::manual_seed(4);
  QuantTarget t;
  t.weight = at::randn({2, 8, 32});
  t.names = {"e0.wi", "e1.wi"};
  QuantOutput rtn = RtnMethod(RtnMethod::Params{3, 0, false}).Quantize(t);
  EXPECT_TRUE(at::equal(rtn.weight, QuantizeRtn(MinMax(3), t.weight).deq));
  EXPECT_EQ(rtn.matrices.size(), 2u);
  EXPECT_EQ(rtn.matrices[0].storage_bits, 64 + 8 * 12 * 8 + 8 * 40);
  for (int64_t e = 0; e < 2; ++e)
    EXPECT_TRUE(at::equal(RtnMethod(RtnMethod::Params{3, 0, false}).Dequantize(rtn.matrices[e].packed), rtn.weight[e]));
  QuantOutput ter = TernaryMethod(TernaryMethod::Params{}).Quantize(t);
  EXPECT_TRUE(at::equal(TernaryMethod(TernaryMethod::Params{}).Dequantize(ter.matrices[1].packed), ter.weight[1]));
  EXPECT_TRUE(at::equal(ter.weight, QuantizeRtn(Ternary(), t.weight).deq));
  EXPECT_GT(ter.matrices[1].stats.at("natural_sparsity"), 0.3);  // Gaussian rows: most |x| < max/2
  QuantOutput bf = Bf16Method(Bf16Method::Params{}).Quantize(t);
  EXPECT_TRUE(at::equal(bf.weight, t.weight.to(at::kBFloat16).to(at::kFloat)));
  EXPECT_EQ(bf.matrices[0].storage_bits, 16.0 * 8 * 32);
  EXPECT_EQ(bf.matrices[0].packed.at("weight").scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(Bf16Method(Bf16Method::Params{}).Dequantize(bf.matrices[1].packed), bf.weight[1]));
}

TEST(GridMethods, BadInputGivesOneClearError) {
  EXPECT_THROW(RtnMethod(RtnMethod::Params{9, 0, false}), Error);
  QuantTarget t;
  t.weight = at::randn({2, 4, 8});
  t.hessian = at::randn({2, 4, 4});
  t.names = {"enc.e0.wi", "enc.e1.wi"};
  try {
    RtnMethod(RtnMethod::Params{}).Quantize(t);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("enc.e0.wi"), std::string::npos) << msg;
    EXPECT_NE(msg.find("hessian"), std::string::npos) << msg;
  }
  t.hessian = at::Tensor();
  t.weight = t.weight.to(at::kDouble);
  EXPECT_THROW(TernaryMethod(TernaryMethod::Params{}).Quantize(t), Error);
}

}  // namespace
}  // namespace qmoe::grids
