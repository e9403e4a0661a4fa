// The batched ATen GPTQ loop (gptq_aten.h; the device=cuda path), run here on CPU tensors: against
// the plain fp64 twin with its computed bound (bitwise equal where no value lies within the bound
// of a rounding boundary), and against the CPU loop where both must reduce to RTN exactly.
#include "methods/gptq/gptq_aten.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "methods/gptq/gptq.h"
#include "methods/gptq/gptq_ref.h"

namespace qmoe::gptq {
namespace {

using grids::GridKind;
using grids::GridSpec;

GridSpec MinMax(int64_t bits, int64_t group = 0, bool sym = false) { return GridSpec{GridKind::kMinMax, bits, sym, group}; }
GridSpec Ternary(int64_t group = 0) { return GridSpec{GridKind::kTernary, 2, false, group}; }

GptqOptions Opt(GridSpec g, int64_t block = 128, bool act_order = false, bool static_groups = false) {
  GptqOptions o;
  o.grid = g;
  o.block_size = block;
  o.act_order = act_order;
  o.static_groups = static_groups;
  return o;
}

// H_e = X_eᵀX_e of strongly correlated inputs X_e = Z·M_e (as in gptq_test).
at::Tensor CorrelatedHessian(int64_t G, int64_t c, double mix) {
  at::Tensor Z = at::randn({G, 256, c});
  at::Tensor M = at::eye(c).expand({G, c, c}) + mix * at::randn({G, c, c}) / std::sqrt(double(c));
  at::Tensor X = at::bmm(Z, M) * (at::rand({G, 1, c}) + 0.5);
  return at::bmm(X.transpose(1, 2), X);
}

// The same bound the CPU loop meets (gptq_test LazyBlocksMatchPlainRef): the ref's tol bounds any
// fp32 lazy-block evaluation of the same updates, whatever the order of the fp32 operations.
TEST(GptqAten, LazyBlocksMatchPlainRef) {
  at::manual_seed(14);
  const int64_t G = 2, r = 16, c = 48;
  at::Tensor W = at::randn({G, r, c});
  PreparedHessian ph = PrepareHessian(CorrelatedHessian(G, c, 0.3), G, c, 0.1, false);
  for (const GridSpec& spec : {Ternary(), MinMax(2), MinMax(4), MinMax(3, 0, true)})
    for (int64_t block : {1, 7, 16, 128}) {
      SCOPED_TRACE(testing::Message() << grids::GridKindName(spec.kind) << " bits " << spec.bits << " block " << block);
      at::Tensor loss;
      grids::GridQuantized q = GptqLoopAten(W, ph.U, Opt(spec, block), at::Tensor(), &loss);
      for (int64_t e = 0; e < G; ++e) {
        GptqRefResult ref = GptqLoopRef(W[e], ph.U[e], spec);
        ASSERT_GT(ref.min_slack, 0) << "test data within the bound (" << ref.max_tol << "); change the seed";
        EXPECT_TRUE(at::equal(q.deq[e], ref.deq)) << "expert " << e << " max diff "
                                                  << (q.deq[e] - ref.deq).abs().max().item<float>();
      }
    }
}

// With H = I, U is diagonal: no update reaches another column, so both loops reduce to the same
// elementwise fp32 operations on the original W (RTN) and must agree bit for bit on every path,
// groups (dynamic and static) and act_order included.
TEST(GptqAten, IdentityHessianEqualsTheCpuLoopOnEveryPath) {
  at::manual_seed(15);
  const int64_t G = 3, r = 8, c = 48;
  at::Tensor W = at::randn({G, r, c});
  const std::vector<GptqOptions> paths = {Opt(Ternary()),       Opt(MinMax(2)),        Opt(MinMax(4)),
                                          Opt(MinMax(3, 0, true)), Opt(MinMax(2, 16)), Opt(Ternary(16), 32),
                                          Opt(MinMax(4, 16), 128, false, true), Opt(Ternary(24), 16)};
  PreparedHessian ph = PrepareHessian(at::eye(c).expand({G, c, c}).clone(), G, c, 0.1, false);
  for (const GptqOptions& o : paths) {
    SCOPED_TRACE(testing::Message() << grids::GridKindName(o.grid.kind) << " bits " << o.grid.bits << " group "
                                    << o.grid.group_size << " block " << o.block_size);
    at::Tensor la, lc;
    grids::GridQuantized a = GptqLoopAten(W, ph.U, o, at::Tensor(), &la);
    grids::GridQuantized b = GptqLoop(W, ph.U, o, at::Tensor(), &lc);
    EXPECT_TRUE(at::equal(a.deq, b.deq));
    EXPECT_TRUE(at::equal(a.codes, b.codes));
    EXPECT_TRUE(at::equal(a.a, b.a));
    EXPECT_TRUE(at::equal(a.b, b.b));
  }
}

// Static groups under act_order read each column's group by its original position: with a
// permutation, the ATen loop must pick the same grids as the CPU loop (identity H, so exact).
TEST(GptqAten, StaticGroupsFollowThePermutation) {
  at::manual_seed(16);
  const int64_t G = 2, r = 8, c = 32;
  at::Tensor W = at::randn({G, r, c});
  at::Tensor perm = at::stack({at::randperm(c), at::randperm(c)});
  PreparedHessian ph = PrepareHessian(at::eye(c).expand({G, c, c}).clone(), G, c, 0.1, false);
  const GptqOptions o = Opt(MinMax(3, 8), 8, true, true);
  at::Tensor la, lc;
  grids::GridQuantized a = GptqLoopAten(W, ph.U, o, perm, &la);
  grids::GridQuantized b = GptqLoop(W, ph.U, o, perm, &lc);
  EXPECT_TRUE(at::equal(a.deq, b.deq));
  EXPECT_TRUE(at::equal(a.codes, b.codes));
}

}  // namespace
}  // namespace qmoe::gptq
