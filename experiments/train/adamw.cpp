#include "experiments/train/adamw.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"

namespace qmoe {

AdamW::AdamW(std::map<std::string, at::Tensor> params, AdamWOptions opts, std::map<std::string, bool> decays)
    : params_(std::move(params)), decays_(std::move(decays)), o_(opts) {
  for (const auto& [n, p] : params_) {
    m_[n] = at::zeros_like(p);
    v_[n] = at::zeros_like(p);
  }
}

void AdamW::Step(double lr) {
  at::NoGradGuard no_grad;
  ++step_;
  const double bc1 = 1 - std::pow(o_.beta1, double(step_)), bc2 = 1 - std::pow(o_.beta2, double(step_));
  for (auto& [n, p] : params_) {
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    at::Tensor& m = m_[n];
    at::Tensor& v = v_[n];
    m.mul_(o_.beta1).add_(g, 1 - o_.beta1);
    v.mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
    if (decays_[n] && o_.weight_decay > 0) p.mul_(1 - lr * o_.weight_decay);
    at::Tensor denom = (v / bc2).sqrt_().add_(o_.eps);
    p.addcdiv_(m, denom, -lr / bc1);
  }
}

std::map<std::string, at::Tensor> AdamW::StateTensors() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [n, t] : m_) out["exp_avg/" + n] = t;
  for (const auto& [n, t] : v_) out["exp_avg_sq/" + n] = t;
  return out;
}

void AdamW::LoadState(const std::map<std::string, at::Tensor>& state, int64_t step) {
  at::NoGradGuard no_grad;
  for (auto& [n, p] : params_) {
    for (auto* pair : {&m_, &v_}) {
      const std::string key = (pair == &m_ ? "exp_avg/" : "exp_avg_sq/") + n;
      auto it = state.find(key);
      QMOE_CHECK(it != state.end(), "optimizer state: missing tensor '", key, "'");
      QMOE_CHECK(it->second.sizes() == p.sizes(), "optimizer state: tensor '", key, "' has shape ",
                 it->second.sizes(), ", expected ", p.sizes());
      (*pair)[n].copy_(it->second);
    }
  }
  step_ = step;
}

double ClipGradNorm(const std::map<std::string, at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& [n, p] : params)
    if (p.grad().defined()) sq += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double s = max_norm / (norm + 1e-12);
    for (const auto& [n, p] : params)
      if (p.grad().defined()) p.grad().mul_(s);
  }
  return norm;
}

}  // namespace qmoe
