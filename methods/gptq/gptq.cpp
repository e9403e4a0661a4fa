#include "methods/gptq/gptq.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"
#include "methods/gptq/gptq_aten.h"

namespace qmoe::gptq {

using grids::FittedGrid;
using grids::GridQuantized;

namespace {

at::Tensor BatchedEye(int64_t G, int64_t c, const at::TensorOptions& o) {
  return at::eye(c, o.dtype(at::kFloat)).expand({G, c, c}).clone();
}

// Replaces H[e] by I for the experts flagged in `bad` (bool [G]) and records why.
void FallBack(at::Tensor& H, const at::Tensor& bad, const std::string& why, PreparedHessian& ph) {
  const int64_t c = H.size(1);
  for (int64_t e = 0; e < H.size(0); ++e) {
    if (!bad[e].item<bool>()) continue;
    H[e].copy_(at::eye(c, H.options().dtype(at::kFloat)));
    ph.fallback[e] = 1;
    ph.reason[e] = why + ": identity Hessian (RTN)";
  }
}

// The grid of one column: per-row parameters a, b (scale/zero, or the ternary levels lo/hi).
struct ColumnGrid {
  const grids::GridSpec& spec;
  int64_t maxq;  // top code of a min-max grid (0 for ternary)
  const float* a;
  const float* b;
};

// What one column step reads and writes: column j of W (updated in place by earlier steps), the
// k columns after it in the block (stride r, updated here), and per row the dequantized value, the
// code, the scaled error and the accumulated proxy loss.
struct ColumnIo {
  const float* w;
  float* rest;
  int64_t k;
  float* deq;
  uint8_t* codes;
  float* err;
  float* loss;
};

// One column step of the lazy block for one expert, in plain loops over the r rows (the torch
// version spent most of its time dispatching ~15 small ops per column). Same arithmetic as
// grids::QuantizeOnGrid (round half to even, float ops in the same order), so an identity
// Hessian still gives RTN bit for bit. d = U[j, j], u [k] = U[j, j+1 : j+1+k].
void ColumnStep(const ColumnGrid& g, int64_t r, float d, const float* u, const ColumnIo& io) {
  const bool ternary = g.spec.kind == grids::GridKind::kTernary;
  const float fmaxq = static_cast<float>(g.maxq);
  const float *w = io.w, *a = g.a, *b = g.b;
  for (int64_t i = 0; i < r; ++i) {
    float q;
    if (ternary) {
      const bool up = w[i] > b[i] / 2.0f, down = w[i] < a[i] / 2.0f;
      q = up ? b[i] : (down ? a[i] : 0.0f);
      io.codes[i] = static_cast<uint8_t>(up * 2 + down);
    } else {
      const float t = std::clamp(std::nearbyint(w[i] / a[i]) + b[i], 0.0f, fmaxq);
      q = a[i] * (t - b[i]);
      io.codes[i] = static_cast<uint8_t>(t);
    }
    io.deq[i] = q;
    const float diff = w[i] - q;
    io.err[i] = diff / d;
    io.loss[i] += diff * diff / (d * d) / 2.0f;
  }
  for (int64_t t = 0; t < io.k; ++t) {  // rest[t] -= u[t] · err
    float* col = io.rest + t * r;
    const float ut = u[t];
    for (int64_t i = 0; i < r; ++i) col[i] -= ut * io.err[i];
  }
}

}  // namespace

PreparedHessian PrepareHessian(const at::Tensor& hessian, int64_t G, int64_t c, double damp, bool act_order) {
  PreparedHessian ph;
  ph.fallback.assign(G, 0);
  ph.reason.assign(G, "");
  at::Tensor H;
  if (!hessian.defined()) {
    H = BatchedEye(G, c, at::TensorOptions());
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

  if (!grouped) {
    const FittedGrid g = grids::FitGrid(spec, W, 2);  // frozen before the loop, from the original W
    A.select(1, 0).copy_(g.a);
    B.select(1, 0).copy_(g.b);
  } else if (o.static_groups) {
    at::Tensor orig = W;
    if (perm.defined()) orig = at::empty_like(W).scatter_(2, perm.unsqueeze(1).expand({G, r, c}), W);
    for (int64_t k = 0; k < ng; ++k) {
      const FittedGrid g = grids::FitGrid(spec, orig.narrow(2, k * gs, std::min(gs, c - k * gs)), 2);
      A.select(1, k).copy_(g.a);
      B.select(1, k).copy_(g.b);
    }
  }
  // Dynamic groups are fitted from the current W at each group start. That slice is fully
  // up to date only if it does not reach past the current block (pending lazy updates), so
  // groups and blocks must nest; otherwise use one block per group.
  int64_t block = o.block_size;
  if (grouped && !o.static_groups && gs % block != 0 && block % gs != 0) block = gs;

  const at::Tensor Uc = U.contiguous();
  const at::Tensor perm_c = perm.defined() ? perm.contiguous() : perm;
  float* wt = Wt.data_ptr<float>();
  const float* up = Uc.data_ptr<float>();
  const float* ap = A.data_ptr<float>();
  const float* bp = B.data_ptr<float>();
  float* deqp = deq.data_ptr<float>();
  uint8_t* codep = codes.data_ptr<uint8_t>();
  float* lossp = losses.data_ptr<float>();
  const int64_t* permp = perm_c.defined() ? perm_c.data_ptr<int64_t>() : nullptr;
  const int64_t maxq = spec.kind == grids::GridKind::kMinMax ? spec.maxq() : 0;
  // Expert by expert, each through all its blocks: on the CPU one expert's [c, r] weights stay
  // in cache from block to block, while interleaving the experts per block (the GPU's batching)
  // measured slower than separate calls. The experts are independent, so the results are those
  // of single-expert calls, bit for bit.
  at::Tensor err_block = at::empty({std::min(block, c), r}, at::kFloat);
  float* errp = err_block.data_ptr<float>();
  for (int64_t e = 0; e < G; ++e) {
    at::Tensor We = Wt[e], Ue = Uc[e];
    for (int64_t i1 = 0; i1 < c; i1 += block) {
      const int64_t i2 = std::min(c, i1 + block), n = i2 - i1;
      for (int64_t j = i1; j < i2; ++j) {
        if (grouped && !o.static_groups && j % gs == 0) {
          // Dynamic groups: fitted from the current (updated) columns at the group start.
          const FittedGrid g = grids::FitGrid(spec, We.narrow(0, j, std::min(gs, c - j)), 0);
          A[e].select(0, j / gs).copy_(g.a);
          B[e].select(0, j / gs).copy_(g.b);
        }
        // The grid of column j: one per row without groups, else its group's (by the column's
        // original position when static groups meet act-order).
        const int64_t group = !grouped ? 0 : (o.static_groups && permp) ? permp[e * c + j] / gs : j / gs;
        const float* ue = up + e * c * c + j * c;  // row j of U[e]
        const ColumnGrid grid{spec, maxq, ap + (e * ng + group) * r, bp + (e * ng + group) * r};
        const ColumnIo io{wt + (e * c + j) * r,   wt + (e * c + j + 1) * r, i2 - j - 1, deqp + (e * c + j) * r,
                          codep + (e * c + j) * r, errp + (j - i1) * r,     lossp + e * r};
        ColumnStep(grid, r, ue[j], ue + j + 1, io);
      }
      if (i2 < c) {
        // W[i2:] -= U[block, i2:]ᵀ · E_block, in the transposed layout.
        at::Tensor Ub = Ue.narrow(0, i1, n).narrow(1, i2, c - i2);  // [n, c - i2]
        We.narrow(0, i2, c - i2).sub_(at::mm(Ub.t(), err_block.narrow(0, 0, n)));
      }
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
  // Off the CPU (device=cuda) the batched ATen loop; on the CPU the plain-loop fast path.
  res.q = W.is_cpu() ? GptqLoop(Wp, res.hessian.U, o, perm, &loss) : GptqLoopAten(Wp, res.hessian.U, o, perm, &loss);
  loss = loss.to(at::kCPU);
  for (int64_t e = 0; e < G; ++e) res.proxy_loss.push_back(loss[e].item<double>());
  if (perm.defined()) {
    // Back to the original column order. Dynamic groups follow the processing order, so
    // each column's group must be stored (g_idx); static groups are contiguous already.
    res.q.deq = at::empty_like(res.q.deq).scatter_(2, idx, res.q.deq);
    res.q.codes = at::empty_like(res.q.codes).scatter_(2, idx, res.q.codes);
    const int64_t ng = o.grid.NumGroups(c);
    if (ng > 1 && !o.static_groups) {
      at::Tensor pos_group = at::arange(c, perm.options()).div(o.grid.group_size, "floor").expand({G, c});
      res.q.g_idx = at::empty({G, c}, perm.options()).scatter_(1, perm, pos_group);
    }
  }
  return res;
}

}  // namespace qmoe::gptq
