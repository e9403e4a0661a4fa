// Random Switch weights for tests, benchmarks and training from scratch. Scales follow T5's
// initialisation so activations stay O(1): embeddings N(0,1), q N(0,(d*d_kv)^-1/2), k/v/router/wi
// N(0,d^-1/2), o N(0,(H*d_kv)^-1/2), wo N(0,d_ff^-1/2), norms 1 + N(0,0.1) (not exactly 1, so a
// misplaced norm weight shows in tests), relative-bias tables N(0,1) (large, so the bias matters).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

#include "framework/model/switch_config.h"

namespace qmoe {

// Tensors of SwitchTensorShapes(cfg), deterministic in `seed`, stored in `dtype` (use
// cfg.ScalarType() for the compute dtype). `router_scale` multiplies the router weights (larger =
// more decisive routing).
std::map<std::string, at::Tensor> RandomSwitchWeights(const SwitchConfig& cfg, uint64_t seed, at::ScalarType dtype,
                                                      double router_scale = 1.0);

}  // namespace qmoe
