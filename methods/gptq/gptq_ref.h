// Plain twin of the GPTQ column loop (GptqLoop) for tests: one matrix, full-row grid, no lazy
// blocks (every update applied at once), scalar fp64 arithmetic.
//
// Besides the result it computes, per element, the distance of the pre-quantization value to
// the nearest decision boundary of the grid (margin) and a bound on how far the fp32 lazy-block
// path can be from this value (tol). Where margin > tol everywhere, both paths must make the
// same rounding decisions, hence produce bitwise equal outputs.
#pragma once
#include <ATen/core/Tensor.h>

#include "methods/grids/grid.h"

namespace qmoe::gptq {

struct GptqRefResult {
  at::Tensor deq;        // [r, c] float32
  double loss = 0;       // Σ (w − q)² / (2 U_jj²)
  double min_slack = 0;  // min over elements of (margin − tol); > 0 => decisions are robust
  double max_tol = 0;    // largest tol, for diagnostics
};

// W [r, c] fp32 in processing order, U [c, c] fp32 upper; spec must be full-row.
GptqRefResult GptqLoopRef(const at::Tensor& W, const at::Tensor& U, const grids::GridSpec& spec);

}  // namespace qmoe::gptq
