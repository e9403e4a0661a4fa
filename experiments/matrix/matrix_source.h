// Where the matrix experiment's matrices come from: i.i.d. generation or safetensors files.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "experiments/matrix/matrix_experiment.h"

namespace qmoe {

struct NamedMatrix {
  std::string name;
  at::Tensor weight;   // [rows, cols]
  at::Tensor hessian;  // [cols, cols] float32, or undefined
};

std::vector<NamedMatrix> LoadMatrices(const MatrixExperiment::Params& p, int64_t seed);
// safetensors source: `weights` (+ `calibration` when hessian=file).
std::vector<NamedMatrix> LoadMatricesFromFile(const MatrixExperiment::Params& p);
void SaveMatrices(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& mats);

// i.i.d. matrix with the given distribution and standard deviation.
at::Tensor RandomMatrix(int64_t rows, int64_t cols, const std::string& distribution, double std,
                        at::Generator& gen);
// Synthetic calibration inputs [n, cols]: AR(1)-correlated features (rho 0.9) with log-normal
// per-feature scales, so the Hessian XᵀX is far from diagonal as real activations are.
at::Tensor CorrelatedInputs(int64_t n, int64_t cols, at::Generator& gen);

}  // namespace qmoe
