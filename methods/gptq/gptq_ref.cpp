#include "methods/gptq/gptq_ref.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <vector>

#include "framework/core/error.h"

namespace qmoe::gptq {

GptqRefResult GptqLoopRef(const at::Tensor& W, const at::Tensor& Ut, const grids::GridSpec& spec) {
  QMOE_ASSERT(spec.NumGroups(W.size(1)) == 1, "GptqLoopRef supports full-row grids only");
  const int64_t r = W.size(0), c = W.size(1);
  const at::Tensor Wc = W.contiguous(), Uc = Ut.contiguous();
  const float* w = Wc.data_ptr<float>();
  const float* U = Uc.data_ptr<float>();
  // fp32 rounding of any summation order of c + 3 terms (products, the division by U_jj and
  // the subtractions): |error| <= γ·Σ|terms| with γ = n·u / (1 − n·u), u = 2⁻²⁴.
  const double u = std::ldexp(1.0, -24);
  const double gamma = (c + 3) * u / (1 - (c + 3) * u);
  GptqRefResult res;
  res.deq = at::empty({r, c}, at::kFloat);
  float* out = res.deq.data_ptr<float>();
  res.min_slack = std::numeric_limits<double>::infinity();
  std::vector<double> x(c), abs_sum(c), prop(c);
  for (int64_t i = 0; i < r; ++i) {
    const grids::RowGridRef g = grids::FitRowRef(spec, w + i * c, c);
    for (int64_t k = 0; k < c; ++k) x[k] = w[i * c + k], abs_sum[k] = std::fabs(x[k]), prop[k] = 0;
    for (int64_t j = 0; j < c; ++j) {
      // Bound on |x_fp32 − x_j|: rounding of this element's own sum, plus the propagated
      // differences of earlier errors e_k (Δe_k = Δx_k / U_kk, applied through U_kj).
      const double tol = gamma * abs_sum[j] + prop[j] + 2 * u * std::fabs(x[j]);
      double margin;
      if (spec.kind == grids::GridKind::kTernary) {
        margin = std::min(std::fabs(x[j] - g.b / 2.0), std::fabs(x[j] - g.a / 2.0));
      } else {
        const double t = x[j] / g.a;  // boundaries at half-integers of x/s
        margin = std::fabs(t - (std::floor(t) + 0.5)) * g.a;
      }
      res.min_slack = std::min(res.min_slack, margin - tol);
      res.max_tol = std::max(res.max_tol, tol);
      uint8_t code;
      const float q = grids::QuantizeRef(spec, g, static_cast<float>(x[j]), &code);
      out[i * c + j] = q;
      const double d = U[j * c + j];
      const double e = (x[j] - q) / d;
      res.loss += (x[j] - q) * (x[j] - q) / (d * d) / 2;
      const double de = tol / std::fabs(d);
      for (int64_t k = j + 1; k < c; ++k) {
        const double ujk = U[j * c + k];
        x[k] -= e * ujk;
        abs_sum[k] += std::fabs(e * ujk);
        prop[k] += de * std::fabs(ujk);
      }
    }
  }
  return res;
}

}  // namespace qmoe::gptq
