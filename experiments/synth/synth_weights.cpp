#include "experiments/synth/synth_weights.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "framework/core/strings.h"
#include "framework/core/hash.h"

namespace qmoe::synth {
namespace {

// A per-tensor seed, so any subset of tensors (one shard) draws the same values.
uint64_t TensorSeed(uint64_t seed, const std::string& name) {
  const std::string h = Sha256Hex(std::to_string(seed) + "/" + name);
  return std::stoull(h.substr(0, 15), nullptr, 16);
}

}  // namespace

double HfInitStd(const SwitchConfig& cfg, const std::string& n) {
  const double d = static_cast<double>(cfg.d_model);
  if (EndsWith(n, "layer_norm.weight")) return 1.0;
  if (n == "shared.weight" || n == "lm_head.weight") return 1.0;
  if (EndsWith(n, "router.classifier.weight")) return 1.0;
  if (EndsWith(n, "relative_attention_bias.weight")) return 1.0 / std::sqrt(d);
  if (EndsWith(n, ".q.weight")) return 1.0 / std::sqrt(d * static_cast<double>(cfg.d_kv));
  if (EndsWith(n, ".o.weight")) return 1.0 / std::sqrt(static_cast<double>(cfg.InnerDim()));
  if (EndsWith(n, "wo.weight")) return 1.0 / std::sqrt(static_cast<double>(cfg.d_ff));
  return 1.0 / std::sqrt(d);  // k, v, wi
}

at::Tensor ExponentialPower(int64_t rows, int64_t cols, double beta, double std, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  // |X/a|^beta ~ Gamma(1/beta, 1); Var X = a^2 Gamma(3/beta) / Gamma(1/beta).
  at::Tensor g = at::_standard_gamma(at::full({rows, cols}, 1.0 / beta, f32), gen);
  const double a = std / std::sqrt(std::tgamma(3.0 / beta) / std::tgamma(1.0 / beta));
  at::Tensor sign = at::bernoulli(at::full({rows, cols}, 0.5, f32), gen).mul_(2).sub_(1);
  return g.pow_(1.0 / beta).mul_(sign).mul_(a);
}

at::Tensor SynthTensor(const SwitchConfig& cfg, const TensorShape& ts, uint64_t seed, double expert_shape) {
  const uint64_t s = TensorSeed(seed, ts.name);
  const double std = HfInitStd(cfg, ts.name);
  if (EndsWith(ts.name, "layer_norm.weight")) return at::ones(ts.shape, at::TensorOptions().dtype(at::kFloat));
  if (ts.is_expert) return ExponentialPower(ts.shape.at(0), ts.shape.at(1), expert_shape, std, s);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(s);
  return at::normal(0.0, std, ts.shape, gen, at::TensorOptions().dtype(at::kFloat));
}

}  // namespace qmoe::synth
