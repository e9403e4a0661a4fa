// The "gptq" method: MoE-batched GPTQ (gptq.h) on the minmax or ternary grid. Registered in
// methods/all_methods.cpp; the key and parameter names are permanent.
// Packed format: the grid format of methods/grids/grid_format.h (plus "g_idx" for act_order with
// dynamic groups). Stats per matrix: gptq_proxy_loss, damp_lambda, fallback, natural_sparsity.
#pragma once
#include <cstdint>
#include <string>

#include "framework/core/params.h"
#include "methods/gptq/gptq.h"
#include "methods/method.h"

namespace qmoe::gptq {

class GptqMethod : public Method {
 public:
  struct Params {
    std::string grid = "minmax";
    int64_t bits = 4;
    int64_t group_size = 0;
    bool sym = false;
    double damp = 0.1;
    int64_t block_size = 128;
    bool act_order = false;
    bool static_groups = false;
    template <class V>
    void Visit(V&& v) {
      v(grid, "grid", "quantization grid", Choices{{"minmax", "ternary"}});
      v(bits, "bits", "bits per weight of the minmax grid (ignored by ternary)", Range{2, 8});
      v(group_size, "group_size", "columns per grid group, re-fitted from updated weights; 0 = full row",
        Range{0, 1 << 30});
      v(sym, "sym", "symmetric minmax grid");
      v(damp, "damp", "relative damping δ: λ = max(δ·mean(diag H), 1e-6)", Range{0, 1e6});
      v(block_size, "block_size", "lazy-update block of columns", Range{1, 1 << 20});
      v(act_order, "act_order", "process columns by descending diag(H)");
      v(static_groups, "static_groups", "fit all groups from the original weights before the loop");
    }
  };
  explicit GptqMethod(const Params& p);
  bool UsesHessian() const override { return true; }
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;

 private:
  GptqOptions opt_;
};

}  // namespace qmoe::gptq
