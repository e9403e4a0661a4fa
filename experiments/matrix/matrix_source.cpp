#include "experiments/matrix/matrix_source.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe {

at::Tensor RandomMatrix(int64_t rows, int64_t cols, const std::string& distribution, double std,
                        at::Generator& gen) {
  if (distribution == "normal") return at::normal(0.0, std, {rows, cols}, gen);
  if (distribution == "uniform") {
    double a = std * std::sqrt(3.0);  // U(-a, a) has standard deviation a/√3
    return at::empty({rows, cols}).uniform_(-a, a, gen);
  }
  if (distribution == "laplace") {
    // Inverse CDF: x = -b·sign(u)·ln(1 - 2|u|), u ~ U(-½, ½); std = b·√2.
    double b = std / std::sqrt(2.0);
    at::Tensor u = at::empty({rows, cols}).uniform_(-0.5, 0.5, gen);
    return -b * at::sign(u) * at::log1p(-2.0 * at::abs(u));
  }
  throw Error(StrCat("experiment.distribution: unknown distribution '", distribution, "'"));
}

at::Tensor CorrelatedInputs(int64_t n, int64_t cols, at::Generator& gen) {
  const double rho = 0.9;
  at::Tensor eps = at::normal(0.0, 1.0, {cols, n}, gen);
  at::Tensor x = at::empty({cols, n});
  x[0] = eps[0];
  const double s = std::sqrt(1 - rho * rho);
  for (int64_t j = 1; j < cols; ++j) x[j] = rho * x[j - 1] + s * eps[j];
  at::Tensor scales = at::exp(0.5 * at::normal(0.0, 1.0, {cols, 1}, gen));
  return (x * scales).t().contiguous();
}

std::vector<NamedMatrix> LoadMatrices(const MatrixExperiment::Params& p, int64_t seed) {
  std::vector<NamedMatrix> out;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  if (p.source == "random") {
    QMOE_CHECK(p.hessian != "file", "experiment.hessian=file needs experiment.source=safetensors");
    for (int64_t i = 0; i < p.count; ++i) {
      NamedMatrix m;
      m.name = StrCat("random.", i);
      m.weight = RandomMatrix(p.rows, p.cols, p.distribution, p.scale, gen);
      if (p.hessian == "identity") m.hessian = at::eye(p.cols);
      if (p.hessian == "correlated") {
        at::Tensor x = CorrelatedInputs(p.calibration_tokens, p.cols, gen);
        m.hessian = at::mm(x.t(), x);
      }
      out.push_back(std::move(m));
    }
    return out;
  }
  return LoadMatricesFromFile(p);
}

}  // namespace qmoe
