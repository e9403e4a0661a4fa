#include "experiments/matrix/matrix_experiment.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <iostream>

#include "experiments/matrix/matrix_source.h"
#include "framework/core/error.h"
#include "framework/core/progress.h"
#include "methods/method.h"

namespace qmoe {
namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// tr(D H Dᵀ) for D [r, c] and H [c, c]: the layer-output error GPTQ minimises.
double HessianNorm(const at::Tensor& d, const at::Tensor& h) {
  return at::sum(at::mm(d, h) * d).item<double>();
}

}  // namespace

void MatrixExperiment::Run(RunContext& ctx) {
  std::vector<NamedMatrix> mats = LoadMatrices(p_, ctx.seed);
  QMOE_CHECK(!mats.empty(), "experiment matrix: no matrices to quantize (check experiment.tensors)");
  const std::string method_key = std::get<std::string>(ctx.sections.at("method").at("name"));
  const MethodInfo& info = Methods().Get(method_key);
  auto method = info.make(ctx.sections.at("method"));
  QMOE_CHECK(!method->UsesHessian() || p_.hessian != "none", "method '", method_key,
             "' uses a Hessian but experiment.hessian=none; choose identity, correlated or file");

  double sum_err = 0, sum_sparsity = 0, sum_bits = 0, sum_weights = 0, sum_secs = 0, sum_herr = 0;
  int64_t n_h = 0;
  std::vector<std::pair<std::string, at::Tensor>> saved;
  Progress progress("matrix " + method_key, static_cast<int64_t>(mats.size()));
  // Batch consecutive matrices of equal shape, `group` at a time, as the pipeline batches experts.
  for (size_t start = 0; start < mats.size();) {
    size_t end = start + 1;
    while (end < mats.size() && end - start < static_cast<size_t>(p_.group) &&
           mats[end].weight.sizes() == mats[start].weight.sizes())
      ++end;
    QuantTarget target;
    std::vector<at::Tensor> ws, hs;
    for (size_t i = start; i < end; ++i) {
      ws.push_back(mats[i].weight);
      if (mats[i].hessian.defined()) hs.push_back(mats[i].hessian);
      target.names.push_back(mats[i].name);
    }
    target.weight = at::stack(ws).to(at::kFloat).contiguous();
    if (method->UsesHessian() && !hs.empty()) target.hessian = at::stack(hs).to(at::kFloat).contiguous();

    auto t0 = std::chrono::steady_clock::now();
    QuantOutput out = method->Quantize(target);
    double secs = Seconds(t0);
    QMOE_ASSERT(out.weight.sizes() == target.weight.sizes() && out.matrices.size() == ws.size(),
                "method ", method_key, " returned the wrong shape");

    for (size_t g = 0; g < ws.size(); ++g) {
      const auto& m = mats[start + g];
      at::Tensor w = target.weight[g], q = out.weight[g];
      at::Tensor d = w - q;
      double err = d.norm().item<double>() / std::max(w.norm().item<double>(), 1e-30);
      double sparsity = (q == 0).sum().item<double>() / double(q.numel());
      double bits = out.matrices[g].storage_bits;
      MetricLabels lab;
      lab.matrix = m.name;
      ctx.Metric("rel_frobenius_error", err, "", lab);
      ctx.Metric("natural_sparsity", sparsity, "fraction", lab);
      ctx.Metric("bits_per_weight", bits / double(q.numel()), "bits", lab);
      ctx.Metric("quant_seconds", secs / double(ws.size()), "s", lab);
      for (const auto& [k, v] : out.matrices[g].stats) ctx.Metric(k, v, "", lab);
      if (!out.matrices[g].note.empty()) std::cerr << m.name << ": " << out.matrices[g].note << "\n";
      if (m.hessian.defined()) {
        at::Tensor h = m.hessian.to(at::kFloat);
        double herr = HessianNorm(d, h) / std::max(HessianNorm(w, h), 1e-30);
        ctx.Metric("rel_hessian_error", herr, "", lab);
        sum_herr += herr, ++n_h;
      }
      sum_err += err, sum_sparsity += sparsity, sum_bits += bits, sum_weights += double(q.numel());
      if (!p_.save.empty()) saved.emplace_back(m.name, q.to(m.weight.scalar_type()).contiguous());
      progress.Advance();
    }
    sum_secs += secs;
    start = end;
  }
  const double n = double(mats.size());
  ctx.Metric("rel_frobenius_error", sum_err / n);
  ctx.Metric("natural_sparsity", sum_sparsity / n, "fraction");
  ctx.Metric("bits_per_weight", sum_bits / sum_weights, "bits");
  ctx.Metric("quant_seconds", sum_secs, "s");
  ctx.Metric("num_matrices", n);
  if (n_h) ctx.Metric("rel_hessian_error", sum_herr / double(n_h));
  if (!p_.save.empty()) SaveMatrices(p_.save, saved);
}

}  // namespace qmoe
