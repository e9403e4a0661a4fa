// Weights of a synthetic Switch checkpoint at a model's true shapes (`qmoe synth`).
//
// Dense tensors follow Hugging Face's SwitchTransformers initialisation (factor 1): embeddings and
// an untied lm_head N(0, 1), q N(0, (d_model*d_kv)^-1/2), k/v N(0, d_model^-1/2), o
// N(0, (heads*d_kv)^-1/2), relative-attention tables N(0, d_model^-1/2), router N(0, 1), norms 1.
//
// Expert matrices set the compression rate, so they are drawn to match the paper's statistics: an
// exponential-power (generalised normal) law p(x) ~ exp(-|x/a|^beta) with beta = kExpertShape and
// the HF standard deviation (wi d_model^-1/2, wo d_ff^-1/2). Round-to-nearest ternary zeroes a
// weight when it lies within half of its row's extreme, so the natural sparsity is set by how far
// the extremes stand out. An i.i.d. Gaussian (beta 2) already gives 88 % for 768-wide rows and 92 %
// for 3072-wide ones (90 % on average at base shapes), and every heavier tail raises it; the
// paper's ternary models have 85.7-88.6 %. beta = 2.4 gives 87.2 % at switch-base shapes and 87.9 %
// at switch-large shapes (checked by synth_test), i.e. expert rows with fewer extremes than a
// Gaussian of the same variance.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "framework/model/switch_config.h"
#include "framework/model/switch_names.h"

namespace qmoe::synth {

inline constexpr double kExpertShape = 2.4;  // beta of the experts' exponential-power law

// The HF initialisation standard deviation of a tensor (1 for norms: they are constant 1).
double HfInitStd(const SwitchConfig& cfg, const std::string& name);

// One tensor of the synthetic checkpoint, fp32, deterministic in (seed, name) and independent of
// the order in which tensors are drawn.
at::Tensor SynthTensor(const SwitchConfig& cfg, const TensorShape& ts, uint64_t seed);

// `rows` x `cols` draws of the experts' law with standard deviation `std` (fp32).
at::Tensor ExponentialPower(int64_t rows, int64_t cols, double beta, double std, uint64_t seed);

}  // namespace qmoe::synth
