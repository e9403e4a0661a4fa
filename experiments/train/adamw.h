// AdamW (decoupled weight decay, bias-corrected moments) over named fp32 parameters, in at:: ops
// so no torch::optim (and no <torch/torch.h>) is needed. State = the two moments per parameter
// plus the step count; StateTensors/LoadState round-trip it exactly for resumable checkpoints.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

namespace qmoe {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-8, weight_decay = 0.01;
};

class AdamW {
 public:
  // `params` must stay alive and keep their storage; decay applies to names for which `decays` is true.
  AdamW(std::map<std::string, at::Tensor> params, AdamWOptions opts, std::map<std::string, bool> decays);
  // One update with learning rate lr from the params' .grad() (missing grads count as zero).
  void Step(double lr);
  int64_t step() const { return step_; }
  // "exp_avg/<name>", "exp_avg_sq/<name>" tensors (the step count is saved by the caller).
  std::map<std::string, at::Tensor> StateTensors() const;
  void LoadState(const std::map<std::string, at::Tensor>& state, int64_t step);

 private:
  std::map<std::string, at::Tensor> params_, m_, v_;
  std::map<std::string, bool> decays_;
  AdamWOptions o_;
  int64_t step_ = 0;
};

// sqrt(sum of squared grads); scales every grad by max_norm / norm when it exceeds max_norm > 0.
double ClipGradNorm(const std::map<std::string, at::Tensor>& params, double max_norm);

}  // namespace qmoe
