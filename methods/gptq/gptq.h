// MoE-batched GPTQ (one Hessian per expert, experts in one batch) on any grid of methods/grids.
//
// All G matrices of a QuantTarget ([G, r, c] weights, [G, c, c] Hessians H = XᵀX) run through
// every step together: damping λ_e = max(damp·mean(diag H_e), 1e-6) per expert, U = upper
// Cholesky factor of (H_e + λ_e I)⁻¹ (chol -> cholesky_inverse -> upper chol), then the column
// loop in lazy blocks. Experts with no usable Hessian (undefined, all zero, non-finite) or whose
// factorization fails (linalg_cholesky_ex info, per expert) get H = I, which is exactly RTN.
// Internally the loop works on Wᵀ [G, c, r] so a column is one contiguous [G, r] slice.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "methods/grids/grid.h"
#include "methods/grids/grid_format.h"

namespace qmoe::gptq {

struct GptqOptions {
  grids::GridSpec grid;
  double damp = 0.1;         // relative damping δ
  int64_t block_size = 128;  // lazy-update block B
  bool act_order = false;    // process columns by descending diag(H), un-permute at the end
  bool static_groups = false;  // fit all groups from the original W before the loop
};

struct PreparedHessian {
  at::Tensor U;                      // [G, c, c] fp32, upper, H⁻¹ = UᵀU (in processing order)
  at::Tensor perm;                   // [G, c] int64 processing order, or undefined (identity)
  std::vector<double> lambda;        // λ_e actually added
  std::vector<int> fallback;         // 1 when H_e was replaced by I
  std::vector<std::string> reason;   // why, "" when no fallback
};

// `hessian` may be undefined (all experts fall back to I).
PreparedHessian PrepareHessian(const at::Tensor& hessian, int64_t G, int64_t cols, double damp, bool act_order);

struct GptqResult {
  grids::GridQuantized q;          // in original column order; g_idx set for act_order + dynamic groups
  std::vector<double> proxy_loss;  // Σ (w − q)² / (2 U_jj²) per matrix
  PreparedHessian hessian;
};

// Validates `o.grid` and the block size; W fp32 [G, r, c], hessian fp32 [G, c, c] or undefined.
GptqResult RunGptq(const at::Tensor& W, const at::Tensor& hessian, const GptqOptions& o);

// The lazy-batched column loop alone, on W already in processing order with its U. `perm`
// (processing position -> original column, [G, c]) is only needed for static groups; it may be
// undefined. Returns the result in processing order (g_idx undefined) and writes the per-matrix
// proxy losses to `loss` [G] (fp32).
grids::GridQuantized GptqLoop(const at::Tensor& W, const at::Tensor& U, const GptqOptions& o,
                              const at::Tensor& perm, at::Tensor* loss);

}  // namespace qmoe::gptq
