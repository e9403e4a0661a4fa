// Slow plain-loop reference of the Switch forward (docs/switch-semantics.md), test-only. Scalar loops accumulate in
// double and round to the model's dtypes at exactly the points where the model rounds (fp32 for
// norm statistics, softmax and the router; the activation dtype for every stored activation).
// Every value also carries a bound e on how far the model's value may lie from it (a running
// error analysis):
//  * before a rounding point, e = propagated input errors + the model's fp32 arithmetic error:
//      linear   sum|W| e_x + K*u32*sum|W||x|            (K-term fp32 accumulation, any order)
//      norm     |g| r (e_i + |x_i| sum_j |x_j| e_j / (n s)) + (n/2+4) u32 |y|,  s = mean x^2 + eps
//      softmax  p (e_s + sum p e_s) + (S+4) u32 p
//  * at a rounding point the model's value lies in [round(v-e), round(v+e)] (rounding is
//    monotonic), so the new bound is the distance of those ends from round(v). When e is far below
//    half an ulp (the usual case for bf16, whose ulp dwarfs fp32 accumulation error), it becomes 0.
// u32 = 2^-24. Worst-case bounds grow by about sum|W| per linear layer, so tests compare one
// sublayer at a time, starting from the model's own input to it (exact, bound 0).
// A routing decision is "ambiguous" when another expert's rounded probability interval reaches the
// top one's; the bound then covers every candidate expert's output (the model may pick any).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "framework/model/switch_config.h"
#include "framework/model/weight_source.h"

namespace qmoe {

struct RefTensor {  // [T, D] row-major values and error bounds
  int64_t T = 0, D = 0;
  std::vector<double> v, e;
};
// A model tensor [T, D] as exact reference input (bounds 0).
RefTensor RefFromTensor(const at::Tensor& t);

struct RefStats {
  int64_t routes = 0, ambiguous_routes = 0, dropped = 0;
};

// One unpadded sample at a time. Weights are read from `w` and rounded to cfg.dtype first,
// exactly as the model sees them.
class SwitchReference {
 public:
  SwitchReference(const SwitchConfig& cfg, const WeightSource& w);
  ~SwitchReference();
  RefTensor Embed(const std::vector<int64_t>& ids);
  // One sublayer with its residual: h + Sub(LN(h)). sublayer is the HF layer index (encoder 0 =
  // attention, 1 = FF; decoder 0 = self-attention, 1 = cross-attention over enc_out, 2 = FF).
  RefTensor Sublayer(Stack s, int64_t block, int sublayer, const RefTensor& h, const RefTensor* enc_out);
  RefTensor FinalNorm(Stack s, const RefTensor& h);
  RefTensor LmHead(const RefTensor& h);
  const RefStats& stats() const;

 private:
  class Impl;
  Impl* impl_;
};

}  // namespace qmoe
