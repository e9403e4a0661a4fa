#include "framework/core/strings.h"
#include "framework/model/random_weights.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "framework/model/switch_names.h"

namespace qmoe {
std::map<std::string, at::Tensor> RandomSwitchWeights(const SwitchConfig& cfg, uint64_t seed, at::ScalarType dtype,
                                                      double router_scale) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double d = static_cast<double>(cfg.d_model);
  std::map<std::string, at::Tensor> out;
  for (const TensorShape& ts : SwitchTensorShapes(cfg)) {
    const std::string& n = ts.name;
    double std = 1.0, mean = 0.0;
    if (n == "shared.weight") std = 1.0;
    else if (n == "lm_head.weight") std = 1.0 / std::sqrt(d);
    else if (EndsWith(n, "layer_norm.weight")) mean = 1.0, std = 0.1;
    else if (EndsWith(n, "relative_attention_bias.weight")) std = 1.0;
    else if (EndsWith(n, ".q.weight")) std = 1.0 / std::sqrt(d * cfg.d_kv);
    else if (EndsWith(n, ".o.weight")) std = 1.0 / std::sqrt(static_cast<double>(cfg.InnerDim()));
    else if (EndsWith(n, "wo.weight")) std = 1.0 / std::sqrt(static_cast<double>(cfg.d_ff));
    else if (EndsWith(n, "router.classifier.weight")) std = router_scale / std::sqrt(d);
    else std = 1.0 / std::sqrt(d);  // k, v, wi
    at::Tensor t = at::normal(mean, std, ts.shape, gen, at::TensorOptions().dtype(at::kFloat));
    out.emplace(n, t.to(dtype));
  }
  return out;
}

}  // namespace qmoe
