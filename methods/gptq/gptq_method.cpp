#include "methods/gptq/gptq_method.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/grids/target_check.h"

namespace qmoe::gptq {

GptqMethod::GptqMethod(const Params& p) {
  opt_.grid.kind = grids::ParseGridKind(p.grid, "method 'gptq'");
  opt_.grid.bits = p.bits;
  opt_.grid.sym = p.sym;
  opt_.grid.group_size = p.group_size;
  opt_.damp = p.damp;
  opt_.block_size = p.block_size;
  opt_.act_order = p.act_order;
  opt_.static_groups = p.static_groups;
  grids::ValidateGridSpec(opt_.grid, "method 'gptq'");
  QMOE_CHECK(opt_.block_size >= 1, "method 'gptq': block_size must be >= 1, got ", opt_.block_size);
  QMOE_CHECK(opt_.damp >= 0, "method 'gptq': damp must be >= 0, got ", opt_.damp);
}

QuantOutput GptqMethod::Quantize(const QuantTarget& target) const {
  grids::CheckTarget(target, "gptq");
  GptqResult res = RunGptq(target.weight, target.hessian, opt_);
  if (!res.q.deq.is_cpu()) {  // device=cuda: the packed formats are written on the host
    for (at::Tensor* t : {&res.q.deq, &res.q.codes, &res.q.a, &res.q.b, &res.q.g_idx})
      if (t->defined()) *t = t->to(at::kCPU);
  }
  QuantOutput out;
  out.weight = res.q.deq;
  out.matrices = grids::PackGridResults(opt_.grid, res.q);
  for (size_t e = 0; e < out.matrices.size(); ++e) {
    MatrixResult& m = out.matrices[e];
    m.stats["gptq_proxy_loss"] = res.proxy_loss[e];
    m.stats["damp_lambda"] = res.hessian.lambda[e];
    m.stats["fallback"] = res.hessian.fallback[e];
    m.note = res.hessian.reason[e].empty() ? "" : grids::MatrixName(target, e) + ": " + res.hessian.reason[e];
  }
  return out;
}

at::Tensor GptqMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  return grids::UnpackGrid(opt_.grid, packed);
}

}  // namespace qmoe::gptq
