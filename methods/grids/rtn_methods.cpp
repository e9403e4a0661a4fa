#include "methods/grids/rtn_methods.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/grids/grid_format.h"
#include "methods/grids/target_check.h"

namespace qmoe::grids {

QuantOutput Bf16Method::Quantize(const QuantTarget& target) const {
  CheckTarget(target, "bf16");
  QuantOutput out;
  at::Tensor b = target.weight.to(at::kBFloat16);
  out.weight = b.to(at::kFloat);
  for (int64_t e = 0; e < b.size(0); ++e) {
    MatrixResult m;
    m.packed["weight"] = b[e].contiguous();
    m.storage_bits = 16.0 * static_cast<double>(b[e].numel());
    m.stats["natural_sparsity"] = (b[e] == 0).sum().item<double>() / static_cast<double>(b[e].numel());
    out.matrices.push_back(std::move(m));
  }
  return out;
}

at::Tensor Bf16Method::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  auto it = packed.find("weight");
  QMOE_CHECK(it != packed.end() && it->second.scalar_type() == at::kBFloat16 && it->second.dim() == 2,
             "method 'bf16': packed field 'weight' must be a bf16 [rows, cols] tensor");
  return it->second.to(at::kFloat);
}

at::Tensor RtnMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  return UnpackGrid(spec_, packed);
}

at::Tensor TernaryMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  return UnpackGrid(spec_, packed);
}

namespace {
QuantOutput RunRtn(const GridSpec& spec, const QuantTarget& target, const char* method) {
  CheckTarget(target, method);
  GridQuantized q = QuantizeRtn(spec, target.weight);
  QuantOutput out;
  out.matrices = PackGridResults(spec, q);
  out.weight = q.deq;
  return out;
}
}  // namespace

RtnMethod::RtnMethod(const Params& p) {
  spec_.kind = GridKind::kMinMax;
  spec_.bits = p.bits;
  spec_.sym = p.sym;
  spec_.group_size = p.group_size;
  ValidateGridSpec(spec_, "method 'rtn'");
}

QuantOutput RtnMethod::Quantize(const QuantTarget& target) const { return RunRtn(spec_, target, "rtn"); }

TernaryMethod::TernaryMethod(const Params& p) {
  spec_.kind = GridKind::kTernary;
  spec_.group_size = p.group_size;
  ValidateGridSpec(spec_, "method 'ternary'");
}

QuantOutput TernaryMethod::Quantize(const QuantTarget& target) const {
  return RunRtn(spec_, target, "ternary");
}

}  // namespace qmoe::grids
