// Tests of MoE-batched GPTQ: identity Hessian == RTN bitwise, GPTQ beats RTN on a correlated
// Hessian, identity fallback, batched == per-expert loop, lazy blocks == plain _ref twin,
// group/act_order paths, the method wrapper and its packed round trip.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "framework/core/error.h"
#include "methods/gptq/gptq.h"
#include "methods/gptq/gptq_method.h"
#include "methods/gptq/gptq_ref.h"
#include "methods/grids/grid_format.h"

namespace qmoe::gptq {
namespace {

using grids::GridKind;
using grids::GridSpec;

GridSpec MinMax(int64_t bits, int64_t group = 0, bool sym = false) {
  return GridSpec{GridKind::kMinMax, bits, sym, group};
}
GridSpec Ternary(int64_t group = 0) { return GridSpec{GridKind::kTernary, 2, false, group}; }

GptqOptions Opt(GridSpec g, int64_t block = 128, bool act_order = false, bool static_groups = false) {
  GptqOptions o;
  o.grid = g;
  o.block_size = block;
  o.act_order = act_order;
  o.static_groups = static_groups;
  return o;
}

// H_e = X_eᵀX_e for X_e = Z·M_e with a random mixing M_e: strongly correlated inputs, with
// per-column scales so that diag(H) differs (act_order then permutes).
at::Tensor CorrelatedHessian(int64_t G, int64_t c, double mix = 0.6, int64_t n = 256) {
  at::Tensor Z = at::randn({G, n, c});
  at::Tensor M = at::eye(c).expand({G, c, c}) + mix * at::randn({G, c, c}) / std::sqrt(double(c));
  at::Tensor scale = at::rand({G, 1, c}) + 0.5;
  at::Tensor X = at::bmm(Z, M) * scale;
  return at::bmm(X.transpose(1, 2), X);
}

// tr((W − Q) H (W − Q)ᵀ) per expert, in fp64.
std::vector<double> OutputError(const at::Tensor& W, const at::Tensor& Q, const at::Tensor& H) {
  at::Tensor D = (W - Q).to(at::kDouble);
  at::Tensor e = (at::bmm(D, H.to(at::kDouble)) * D).sum({1, 2});
  return std::vector<double>(e.data_ptr<double>(), e.data_ptr<double>() + e.numel());
}

std::vector<GptqOptions> AllPaths() {
  return {Opt(Ternary()),      Opt(MinMax(2)),         Opt(MinMax(4)),         Opt(MinMax(3, 0, true)),
          Opt(MinMax(2, 16)),  Opt(Ternary(16), 32),   Opt(MinMax(2), 128, true),
          Opt(MinMax(2, 16), 128, true), Opt(MinMax(4, 16), 128, true, true), Opt(Ternary(24), 16)};
}

std::string Describe(const GptqOptions& o) {
  return testing::PrintToString(grids::GridKindName(o.grid.kind)) + " bits " + std::to_string(o.grid.bits) +
         " group " + std::to_string(o.grid.group_size) + " block " + std::to_string(o.block_size) +
         (o.act_order ? " act_order" : "") + (o.static_groups ? " static" : "") + (o.grid.sym ? " sym" : "");
}

TEST(Gptq, IdentityHessianIsExactlyRtn) {
  at::manual_seed(10);
  const int64_t G = 3, r = 12, c = 48;
  at::Tensor W = at::randn({G, r, c});
  // I, a scaled I (damping is relative, so U stays diagonal), zero (no tokens) and undefined.
  for (at::Tensor H : {at::eye(c).expand({G, c, c}).clone(), 3.0 * at::eye(c).expand({G, c, c}),
                       at::zeros({G, c, c}), at::Tensor()}) {
    for (const GptqOptions& o : AllPaths()) {
      SCOPED_TRACE(Describe(o));
      GptqResult g = RunGptq(W, H, o);
      grids::GridQuantized rtn = grids::QuantizeRtn(o.grid, W);
      EXPECT_TRUE(at::equal(g.q.deq, rtn.deq));
      EXPECT_TRUE(at::equal(g.q.codes, rtn.codes));
      EXPECT_TRUE(at::equal(g.q.a, rtn.a));
      EXPECT_TRUE(at::equal(g.q.b, rtn.b));
    }
  }
}

TEST(Gptq, BeatsRtnOnCorrelatedHessian) {
  at::manual_seed(11);
  const int64_t G = 4, r = 32, c = 64;
  at::Tensor W = at::randn({G, r, c});
  at::Tensor H = CorrelatedHessian(G, c);
  for (const GptqOptions& o : AllPaths()) {
    SCOPED_TRACE(Describe(o));
    GptqResult g = RunGptq(W, H, o);
    std::vector<double> eg = OutputError(W, g.q.deq, H);
    std::vector<double> er = OutputError(W, grids::QuantizeRtn(o.grid, W).deq, H);
    double sum_g = 0, sum_r = 0;
    for (int64_t e = 0; e < G; ++e) {
      EXPECT_LE(eg[e], er[e]) << "expert " << e;
      EXPECT_EQ(g.hessian.fallback[e], 0);
      sum_g += eg[e], sum_r += er[e];
    }
    EXPECT_LT(sum_g, 0.9 * sum_r) << "GPTQ should clearly beat RTN on correlated inputs";
  }
}

TEST(Gptq, NeverWritesIntoTheCallersWeights) {
  // One row is the case where W.transpose(1, 2) is already contiguous, so an in-place update
  // would alias the input; shapes with more rows guard the ordinary path.
  at::manual_seed(5);
  for (int64_t r : {1, 3}) {
    at::Tensor W = at::randn({2, r, 40});
    at::Tensor before = W.clone();
    at::Tensor H = CorrelatedHessian(2, 40);
    for (const GptqOptions& o : AllPaths()) {
      SCOPED_TRACE(Describe(o));
      GptqResult a = RunGptq(W, H, o);
      EXPECT_TRUE(at::equal(W, before)) << "rows " << r << ": the input weights changed";
      EXPECT_TRUE(at::equal(RunGptq(W, H, o).q.deq, a.q.deq)) << "rows " << r << ": not repeatable";
    }
  }
}

TEST(Gptq, IndefiniteOrEmptyHessianFallsBackToIdentity) {
  at::manual_seed(12);
  const int64_t G = 4, r = 8, c = 32;
  at::Tensor W = at::randn({G, r, c});
  at::Tensor H = CorrelatedHessian(G, c);
  H[1].diagonal().fill_(-5.0f);  // indefinite: mean(diag) < 0 -> λ = 1e-6, Cholesky fails
  H[2].zero_();                  // no calibration tokens
  H[3][0][0] = NAN;
  QuantTarget t{W, H, {"x.e0.wi", "x.e1.wi", "x.e2.wi", "x.e3.wi"}};
  GptqMethod::Params p;
  p.grid = "ternary";
  QuantOutput out = GptqMethod(p).Quantize(t);
  at::Tensor rtn = grids::QuantizeRtn(Ternary(), W).deq;
  EXPECT_EQ(out.matrices[0].stats.at("fallback"), 0);
  EXPECT_TRUE(out.matrices[0].note.empty()) << out.matrices[0].note;
  EXPECT_FALSE(at::equal(out.weight[0], rtn[0]));
  for (int64_t e = 1; e < G; ++e) {
    EXPECT_EQ(out.matrices[e].stats.at("fallback"), 1) << e;
    EXPECT_EQ(out.matrices[e].stats.at("damp_lambda"), 0.1f) << e;  // λ of I: 0.1·1 in fp32
    EXPECT_TRUE(at::equal(out.weight[e], rtn[e])) << e;
    EXPECT_NE(out.matrices[e].note.find(t.names[e]), std::string::npos) << out.matrices[e].note;
  }
  EXPECT_NE(out.matrices[1].note.find("Cholesky"), std::string::npos) << out.matrices[1].note;
  EXPECT_NE(out.matrices[2].note.find("no calibration tokens"), std::string::npos) << out.matrices[2].note;
  EXPECT_NE(out.matrices[3].note.find("non-finite"), std::string::npos) << out.matrices[3].note;
}

// Per expert, every step (Cholesky, cholesky_inverse, bmm per batch entry, elementwise ops)
// runs the same kernels on the same data as a G = 1 call, so the results are bitwise equal.
TEST(Gptq, BatchedEqualsPerExpertLoop) {
  at::manual_seed(13);
  const int64_t G = 4, r = 16, c = 40;
  at::Tensor W = at::randn({G, r, c});
  at::Tensor H = CorrelatedHessian(G, c);
  for (const GptqOptions& o : AllPaths()) {
    SCOPED_TRACE(Describe(o));
    GptqResult all = RunGptq(W, H, o);
    for (int64_t e = 0; e < G; ++e) {
      GptqResult one = RunGptq(W.narrow(0, e, 1), H.narrow(0, e, 1), o);
      EXPECT_TRUE(at::equal(one.q.deq[0], all.q.deq[e])) << "expert " << e;
      EXPECT_TRUE(at::equal(one.q.codes[0], all.q.codes[e])) << "expert " << e;
      EXPECT_EQ(one.proxy_loss[0], all.proxy_loss[e]);
    }
  }
}

// The lazy-block fp32 loop against the plain fp64 twin with its computed bound (gptq_ref.h):
// when no pre-quantization value lies within the bound of a decision boundary, the outputs
// must be bitwise equal, for any block size. (The bound is worst-case and grows with c and with
// the off-diagonal mass of U, hence the moderate size and correlation here.)
TEST(Gptq, LazyBlocksMatchPlainRef) {
  at::manual_seed(14);
  const int64_t G = 2, r = 16, c = 48;
  at::Tensor W = at::randn({G, r, c});
  PreparedHessian ph = PrepareHessian(CorrelatedHessian(G, c, 0.3), G, c, 0.1, false);
  for (const GridSpec& spec : {Ternary(), MinMax(2), MinMax(4), MinMax(3, 0, true)})
    for (int64_t block : {1, 7, 16, 128}) {
      SCOPED_TRACE(testing::Message() << grids::GridKindName(spec.kind) << " bits " << spec.bits << " block " << block);
      at::Tensor loss;
      grids::GridQuantized q = GptqLoop(W, ph.U, Opt(spec, block), at::Tensor(), &loss);
      for (int64_t e = 0; e < G; ++e) {
        GptqRefResult ref = GptqLoopRef(W[e], ph.U[e], spec);
        ASSERT_GT(ref.min_slack, 0) << "test data lies within the bound (" << ref.max_tol
                                    << ") of a rounding boundary; change the seed";
        EXPECT_FALSE(at::equal(ph.U[e], at::diag(ph.U[e].diagonal())));  // updates do propagate
        EXPECT_TRUE(at::equal(q.deq[e], ref.deq)) << "expert " << e << " max diff "
                                                  << (q.deq[e] - ref.deq).abs().max().item<float>();
      }
    }
}

TEST(Gptq, ActOrderPermutesAndGroupsFollowProcessingOrder) {
  at::manual_seed(15);
  const int64_t G = 2, r = 8, c = 32, gs = 8;
  at::Tensor W = at::randn({G, r, c});
  at::Tensor H = CorrelatedHessian(G, c);
  GptqResult g = RunGptq(W, H, Opt(MinMax(3, gs), 128, true));
  ASSERT_TRUE(g.hessian.perm.defined());
  at::Tensor expect_perm = std::get<1>(H.diagonal(0, 1, 2).sort(true, 1, true));
  EXPECT_TRUE(at::equal(g.hessian.perm, expect_perm));
  EXPECT_FALSE(at::equal(expect_perm[0], at::arange(c)));  // the test is not vacuous
  ASSERT_TRUE(g.q.g_idx.defined());
  for (int64_t e = 0; e < G; ++e)
    for (int64_t j = 0; j < c; ++j) EXPECT_EQ(g.q.g_idx[e][expect_perm[e][j]].item<int64_t>(), j / gs);
  // Static groups keep contiguous column groups: no g_idx.
  EXPECT_FALSE(RunGptq(W, H, Opt(MinMax(3, gs), 128, true, true)).q.g_idx.defined());
}

TEST(GptqMethod, PackedRoundTripStatsAndStorage) {
  at::manual_seed(16);
  const int64_t G = 2, r = 8, c = 48;
  QuantTarget t{at::randn({G, r, c}), CorrelatedHessian(G, c), {"a.wi", "b.wi"}};
  for (bool act_order : {false, true}) {
    GptqMethod::Params p;
    p.bits = 2;
    p.group_size = 16;
    p.act_order = act_order;
    GptqMethod m(p);
    EXPECT_TRUE(m.UsesHessian());
    QuantOutput out = m.Quantize(t);
    ASSERT_EQ(out.matrices.size(), 2u);
    for (int64_t e = 0; e < G; ++e) {
      const MatrixResult& mr = out.matrices[e];
      EXPECT_TRUE(at::equal(m.Dequantize(mr.packed), out.weight[e]));
      EXPECT_EQ(mr.packed.count("g_idx"), act_order ? 1u : 0u);
      // shape + 2-bit codes + fp32 scale & uint8 zero per group of 16 + int32 g_idx per column.
      EXPECT_EQ(mr.storage_bits, 64 + r * (c * 2 / 8) * 8 + r * 3 * 40 + (act_order ? 32 * c : 0));
      EXPECT_GT(mr.stats.at("gptq_proxy_loss"), 0);
      EXPECT_GT(mr.stats.at("damp_lambda"), 0);
      EXPECT_EQ(mr.stats.at("fallback"), 0);
      EXPECT_GT(mr.stats.at("natural_sparsity"), 0);
    }
  }
}

TEST(GptqMethod, BadParamsGiveOneClearError) {
  GptqMethod::Params p;
  p.grid = "ternary";
  p.sym = true;
  EXPECT_THROW(GptqMethod{p}, Error);
  p = GptqMethod::Params{};
  p.grid = "tern";
  try {
    GptqMethod m(p);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ternary"), std::string::npos) << e.what();
  }
  QuantTarget t{at::randn({2, 4, 8}), at::randn({2, 8, 4}), {"m0", "m1"}};
  EXPECT_THROW(GptqMethod(GptqMethod::Params{}).Quantize(t), Error);
}

}  // namespace
}  // namespace qmoe::gptq
