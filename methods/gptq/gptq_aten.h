// The GPTQ column loop (gptq.h, GptqLoop) in batched ATen ops, so it runs on the device its
// tensors live on (device=cuda: RunGptq takes this path for non-CPU weights). All G experts
// advance one column per step as [G, r] slices; lazy blocks update the rest with one bmm.
// Same arithmetic per element as GptqLoop (fp32, round half to even, the same operation order),
// so it meets the same bound against the plain twin GptqLoopRef (gptq_aten_test, on the CPU).
#pragma once
#include <ATen/core/Tensor.h>

#include "methods/gptq/gptq.h"

namespace qmoe::gptq {

// Contract of GptqLoop: W fp32 [G, r, c] in processing order, U [G, c, c] upper; perm [G, c] for
// static groups (may be undefined). Returns the result in processing order on W's device.
grids::GridQuantized GptqLoopAten(const at::Tensor& W, const at::Tensor& U, const GptqOptions& o,
                                  const at::Tensor& perm, at::Tensor* loss);

}  // namespace qmoe::gptq
