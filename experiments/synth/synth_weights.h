// Weights of a synthetic Switch checkpoint at a model's true shapes (`qmoe synth`).
//
// Dense tensors follow Hugging Face's SwitchTransformers initialisation (factor 1): embeddings and
// an untied lm_head N(0, 1), q N(0, (d_model*d_kv)^-1/2), k/v N(0, d_model^-1/2), o
// N(0, (heads*d_kv)^-1/2), relative-attention tables N(0, d_model^-1/2), router N(0, 1), norms 1.
//
// Expert matrices set the compression rate, so they are drawn to match the paper's statistics: an
// exponential-power (generalised normal) law p(x) ~ exp(-|x/a|^beta) with beta = kExpertShape and
// the HF standard deviation (wi d_model^-1/2, wo d_ff^-1/2). What sets the rate is the natural
// sparsity of the ternary model, which the paper reports after GPTQ (Table 3: 85.7 % for
// switch-base-128). Ternary rounding zeroes a weight within half of its row's extreme, so sparsity
// is set by how far the extremes stand out: an i.i.d. Gaussian (beta 2) gives 90.1 % under
// round-to-nearest at base shapes, every heavier tail raises it, and GPTQ lowers it by about 4
// points. beta = 2.1 (slightly lighter tails than a Gaussian of the same variance) gives, at
// switch-base-8 shapes with 2+2 blocks and 64 calibration samples, 85.5 % after ternary GPTQ and
// 0.943 bits per expert parameter with the dictionary code (paper, base-128: 85.7 %, 0.938), and
// 89.3 % under round-to-nearest ternary (synth_test checks the latter; tests/synth_scale_test.sh
// the former).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "framework/model/switch_config.h"
#include "framework/model/switch_names.h"

namespace qmoe::synth {

inline constexpr double kExpertShape = 2.1;  // beta of the experts' exponential-power law

// The HF initialisation standard deviation of a tensor (1 for norms: they are constant 1).
double HfInitStd(const SwitchConfig& cfg, const std::string& name);

// One tensor of the synthetic checkpoint, fp32, deterministic in (seed, name) and independent of
// the order in which tensors are drawn.
at::Tensor SynthTensor(const SwitchConfig& cfg, const TensorShape& ts, uint64_t seed,
                       double expert_shape = kExpertShape);

// `rows` x `cols` draws of the experts' law with standard deviation `std` (fp32).
at::Tensor ExponentialPower(int64_t rows, int64_t cols, double beta, double std, uint64_t seed);

}  // namespace qmoe::synth
