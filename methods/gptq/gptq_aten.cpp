#include "methods/gptq/gptq_aten.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace qmoe::gptq {

using grids::FittedGrid;
using grids::GridQuantized;

GridQuantized GptqLoopAten(const at::Tensor& W, const at::Tensor& U, const GptqOptions& o, const at::Tensor& perm,
                           at::Tensor* loss) {
  const grids::GridSpec& spec = o.grid;
  const int64_t G = W.size(0), r = W.size(1), c = W.size(2);
  const int64_t ng = spec.NumGroups(c);
  const bool grouped = ng > 1;
  const int64_t gs = grouped ? spec.group_size : c;
  const bool ternary = spec.kind == grids::GridKind::kTernary;
  const double maxq = spec.kind == grids::GridKind::kMinMax ? double(spec.maxq()) : 0.0;
  const auto f32 = W.options().dtype(at::kFloat);

  at::Tensor Wt = W.transpose(1, 2).to(at::kFloat).clone(at::MemoryFormat::Contiguous);  // [G, c, r]
  at::Tensor deq = at::empty({G, c, r}, f32);
  at::Tensor codes = at::empty({G, c, r}, f32.dtype(at::kByte));
  at::Tensor A = at::empty({G, ng, r}, f32), B = at::empty({G, ng, r}, f32);
  at::Tensor losses = at::zeros({G, r}, f32);
  if (!grouped) {
    const FittedGrid g = grids::FitGrid(spec, W, 2);
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
  int64_t block = o.block_size;  // groups and blocks must nest (see GptqLoop)
  if (grouped && !o.static_groups && gs % block != 0 && block % gs != 0) block = gs;
  const at::Tensor Uc = U.to(W.device(), at::kFloat).contiguous();
  const at::Tensor group_of = (grouped && o.static_groups && perm.defined())
                                  ? perm.to(W.device()).div(gs, "floor")  // [G, c]: original column's group
                                  : at::Tensor();
  const at::Tensor zero = at::zeros({}, f32);

  for (int64_t i1 = 0; i1 < c; i1 += block) {
    const int64_t i2 = std::min(c, i1 + block), n = i2 - i1;
    at::Tensor err = at::empty({G, n, r}, f32);
    for (int64_t j = i1; j < i2; ++j) {
      if (grouped && !o.static_groups && j % gs == 0) {
        const FittedGrid g = grids::FitGrid(spec, Wt.narrow(1, j, std::min(gs, c - j)), 1);
        A.select(1, j / gs).copy_(g.a);
        B.select(1, j / gs).copy_(g.b);
      }
      at::Tensor a, b;  // [G, r]: the grid of column j
      if (group_of.defined()) {
        const at::Tensor idx = group_of.select(1, j).reshape({G, 1, 1}).expand({G, 1, r});
        a = A.gather(1, idx).squeeze(1);
        b = B.gather(1, idx).squeeze(1);
      } else {
        a = A.select(1, grouped ? j / gs : 0);
        b = B.select(1, grouped ? j / gs : 0);
      }
      const at::Tensor w = Wt.select(1, j);                           // [G, r]
      const at::Tensor d = Uc.select(1, j).select(1, j).unsqueeze(1);  // [G, 1] = U[j, j]
      at::Tensor q, code;
      if (ternary) {
        const at::Tensor up = w > b / 2.0f, down = w < a / 2.0f;
        q = at::where(up, b, at::where(down, a, zero));
        code = up.to(at::kByte) * 2 + down.to(at::kByte);
      } else {
        const at::Tensor t = at::clamp(at::round(w / a) + b, 0.0, maxq);
        q = a * (t - b);
        code = t.to(at::kByte);
      }
      deq.select(1, j).copy_(q);
      codes.select(1, j).copy_(code);
      const at::Tensor diff = w - q;
      const at::Tensor e = diff / d;
      losses.add_(diff * diff / (d * d) / 2.0f);
      err.select(1, j - i1).copy_(e);
      if (j + 1 < i2) {  // the rest of the block: rest[t] -= u[t] · err
        const at::Tensor u = Uc.select(1, j).narrow(1, j + 1, i2 - j - 1);  // [G, k]
        Wt.narrow(1, j + 1, i2 - j - 1).sub_(u.unsqueeze(2) * e.unsqueeze(1));
      }
    }
    if (i2 < c) {  // W[i2:] -= U[block, i2:]ᵀ · E_block
      const at::Tensor Ub = Uc.narrow(1, i1, n).narrow(2, i2, c - i2);  // [G, n, c - i2]
      Wt.narrow(1, i2, c - i2).sub_(at::bmm(Ub.transpose(1, 2), err));
    }
  }
  GridQuantized out;
  out.deq = deq.transpose(1, 2).contiguous();
  out.codes = codes.transpose(1, 2).contiguous();
  out.a = A.transpose(1, 2).contiguous();
  out.b = B.transpose(1, 2).contiguous();
  if (loss) *loss = losses.sum(1);
  return out;
}

}  // namespace qmoe::gptq
