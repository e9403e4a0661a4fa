#include "methods/gptq/gptq.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"

namespace qmoe::gptq {

using grids::FittedGrid;
using grids::GridQuantized;

namespace {

at::Tensor BatchedEye(int64_t G, int64_t c) { return at::eye(c, at::kFloat).expand({G, c, c}).clone(); }

// Replaces H[e] by I for the experts flagged in `bad` (bool [G]) and records why.
void FallBack(at::Tensor& H, const at::Tensor& bad, const std::string& why, PreparedHessian& ph) {
  const int64_t c = H.size(1);
  for (int64_t e = 0; e < H.size(0); ++e) {
    if (!bad[e].item<bool>()) continue;
    H[e].copy_(at::eye(c, at::kFloat));
    ph.fallback[e] = 1;
    ph.reason[e] = why + ": identity Hessian (RTN)";
  }
}

}  // namespace

PreparedHessian PrepareHessian(const at::Tensor& hessian, int64_t G, int64_t c, double damp, bool act_order) {
  PreparedHessian ph;
  ph.fallback.assign(G, 0);
  ph.reason.assign(G, "");
  at::Tensor H;
  if (!hessian.defined()) {
    H = BatchedEye(G, c);
    ph.fallback.assign(G, 1);
    ph.reason.assign(G, "no Hessian given: identity Hessian (RTN)");
  } else {
    H = hessian.clone();
    FallBack(H, H.isfinite().logical_not().flatten(1).any(1), "non-finite Hessian", ph);
    FallBack(H, (H == 0).flatten(1).all(1), "no calibration tokens (H = 0)", ph);
  }
  // Each pass either succeeds for every expert or replaces the failing ones by I; a second
  // failure is impossible since I + λI factors exactly, so at most two passes run.
  for (int pass = 0;; ++pass) {
    QMOE_ASSERT(pass < 3, "identity fallback did not converge");
    at::Tensor diag = H.diagonal(0, 1, 2);
    at::Tensor lambda = at::clamp_min(diag.mean(1) * damp, 1e-6);
    at::Tensor Hp = H;
    if (act_order) {
      // Stable descending sort: equal diagonals (e.g. H = I) keep their order, so RTN stays RTN.
      ph.perm = std::get<1>(diag.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
      at::Tensor rows = ph.perm.unsqueeze(2).expand({G, c, c});
      at::Tensor cols = ph.perm.unsqueeze(1).expand({G, c, c});
      Hp = H.gather(1, rows).gather(2, cols);
    } else {
      Hp = H.clone();
    }
    Hp.diagonal(0, 1, 2).add_(lambda.unsqueeze(1));
    auto [L, info] = at::linalg_cholesky_ex(Hp);
    at::Tensor bad = info != 0;
    if (bad.any().item<bool>()) {
      FallBack(H, bad, "Cholesky of H + λI failed", ph);
      continue;
    }
    auto [U, info2] = at::linalg_cholesky_ex(at::cholesky_inverse(L), /*upper=*/true);
    bad = (info2 != 0) | U.isfinite().logical_not().flatten(1).any(1);
    if (bad.any().item<bool>()) {
      FallBack(H, bad, "Cholesky of (H + λI)⁻¹ failed", ph);
      continue;
    }
    ph.U = U;
    ph.lambda.resize(G);
    for (int64_t e = 0; e < G; ++e) ph.lambda[e] = lambda[e].item<double>();
    return ph;
  }
}

GridQuantized GptqLoop(const at::Tensor& W, const at::Tensor& U, const GptqOptions& o, const at::Tensor& perm,
                       at::Tensor* loss) {
  const grids::GridSpec& spec = o.grid;
  const int64_t G = W.size(0), r = W.size(1), c = W.size(2);
  const int64_t ng = spec.NumGroups(c);
  const bool grouped = ng > 1;
  const int64_t gs = grouped ? spec.group_size : c;

  // [G, c, r], updated in place: always a private copy (for r == 1 the transpose is already
  // contiguous and .contiguous() would alias the caller's weights).
  at::Tensor Wt = W.transpose(1, 2).clone(at::MemoryFormat::Contiguous);
  at::Tensor deq = at::empty({G, c, r}, at::kFloat);
  at::Tensor codes = at::empty({G, c, r}, at::kByte);
  at::Tensor A = at::empty({G, ng, r}, at::kFloat), B = at::empty({G, ng, r}, at::kFloat);
  at::Tensor losses = at::zeros({G, r}, at::kFloat);

  FittedGrid cur;
  if (!grouped) {
    cur = grids::FitGrid(spec, W, 2);  // frozen before the loop, from the original W
    A.select(1, 0).copy_(cur.a);
    B.select(1, 0).copy_(cur.b);
  } else if (o.static_groups) {
    at::Tensor orig = W;
    if (perm.defined()) orig = at::empty_like(W).scatter_(2, perm.unsqueeze(1).expand({G, r, c}), W);
    for (int64_t k = 0; k < ng; ++k) {
      FittedGrid g = grids::FitGrid(spec, orig.narrow(2, k * gs, std::min(gs, c - k * gs)), 2);
      A.select(1, k).copy_(g.a);
      B.select(1, k).copy_(g.b);
    }
    cur.kind = spec.kind;
    cur.maxq = spec.kind == grids::GridKind::kMinMax ? spec.maxq() : 0;
  }
  // Dynamic groups are fitted from the current W at each group start. That slice is fully
  // up to date only if it does not reach past the current block (pending lazy updates), so
  // groups and blocks must nest; otherwise use one block per group.
  int64_t block = o.block_size;
  if (grouped && !o.static_groups && gs % block != 0 && block % gs != 0) block = gs;

  for (int64_t i1 = 0; i1 < c; i1 += block) {
    const int64_t i2 = std::min(c, i1 + block), n = i2 - i1;
    at::Tensor err_block = at::empty({G, n, r}, at::kFloat);
    for (int64_t j = i1; j < i2; ++j) {
      if (grouped && o.static_groups) {
        if (perm.defined()) {
          at::Tensor gid = perm.select(1, j).div(gs, "floor").view({G, 1, 1}).expand({G, 1, r});
          cur.a = A.gather(1, gid).squeeze(1);
          cur.b = B.gather(1, gid).squeeze(1);
        } else if (j % gs == 0) {
          cur.a = A.select(1, j / gs);
          cur.b = B.select(1, j / gs);
        }
      } else if (grouped && j % gs == 0) {
        cur = grids::FitGrid(spec, Wt.narrow(1, j, std::min(gs, c - j)), 1);
        A.select(1, j / gs).copy_(cur.a);
        B.select(1, j / gs).copy_(cur.b);
      }
      at::Tensor w = Wt.select(1, j);  // [G, r]
      grids::GridValues v = grids::QuantizeOnGrid(cur, w);
      deq.select(1, j).copy_(v.deq);
      codes.select(1, j).copy_(v.codes);
      at::Tensor d = U.select(1, j).select(1, j).unsqueeze(1);  // U_jj, [G, 1]
      at::Tensor diff = w - v.deq;
      at::Tensor err = diff / d;
      losses.add_(diff * diff / (d * d) / 2.0f);
      if (j + 1 < i2) {
        at::Tensor u = U.select(1, j).narrow(1, j + 1, i2 - j - 1);  // U[j, j+1:i2], [G, k]
        // Rank-1 update in place (a batched BLAS call, no [G, k, r] temporary).
        at::Tensor rest = Wt.narrow(1, j + 1, i2 - j - 1);
        rest.baddbmm_(u.unsqueeze(2), err.unsqueeze(1), /*beta=*/1, /*alpha=*/-1);
      }
      err_block.select(1, j - i1).copy_(err);
    }
    if (i2 < c) {
      // W[:, i2:] -= E_block · U[block, i2:], in the transposed layout.
      at::Tensor Ub = U.narrow(1, i1, n).narrow(2, i2, c - i2);  // [G, n, c - i2]
      Wt.narrow(1, i2, c - i2).sub_(at::bmm(Ub.transpose(1, 2), err_block));
    }
  }
  GridQuantized q;
  q.deq = deq.transpose(1, 2).contiguous();
  q.codes = codes.transpose(1, 2).contiguous();
  q.a = A.transpose(1, 2).contiguous();
  q.b = B.transpose(1, 2).contiguous();
  if (loss) *loss = losses.sum(1);
  return q;
}

GptqResult RunGptq(const at::Tensor& W, const at::Tensor& hessian, const GptqOptions& o) {
  grids::ValidateGridSpec(o.grid, "method 'gptq'");
  QMOE_CHECK(o.block_size >= 1, "method 'gptq': block_size must be >= 1, got ", o.block_size);
  QMOE_CHECK(o.damp >= 0, "method 'gptq': damp must be >= 0, got ", o.damp);
  const int64_t G = W.size(0), r = W.size(1), c = W.size(2);
  GptqResult res;
  res.hessian = PrepareHessian(hessian, G, c, o.damp, o.act_order);
  const at::Tensor& perm = res.hessian.perm;
  at::Tensor idx;
  at::Tensor Wp = W;
  if (perm.defined()) {
    idx = perm.unsqueeze(1).expand({G, r, c});
    Wp = W.gather(2, idx);
  }
  at::Tensor loss;
  res.q = GptqLoop(Wp, res.hessian.U, o, perm, &loss);
  for (int64_t e = 0; e < G; ++e) res.proxy_loss.push_back(loss[e].item<double>());
  if (perm.defined()) {
    // Back to the original column order. Dynamic groups follow the processing order, so
    // each column's group must be stored (g_idx); static groups are contiguous already.
    res.q.deq = at::empty_like(res.q.deq).scatter_(2, idx, res.q.deq);
    res.q.codes = at::empty_like(res.q.codes).scatter_(2, idx, res.q.codes);
    const int64_t ng = o.grid.NumGroups(c);
    if (ng > 1 && !o.static_groups) {
      at::Tensor pos_group = at::arange(c, at::kLong).div(o.grid.group_size, "floor").expand({G, c});
      res.q.g_idx = at::empty({G, c}, at::kLong).scatter_(1, perm, pos_group);
    }
  }
  return res;
}

}  // namespace qmoe::gptq
