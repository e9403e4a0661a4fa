// Experiment type `matrix`: quantize weight matrices with one method and record the error,
// natural sparsity, exact bits per weight and time. Matrices are generated i.i.d. (shape,
// distribution, seed) or read from a safetensors file, optionally with calibration inputs X or a
// Hessian H per matrix, and the quantized weights can be saved as safetensors.
#pragma once
#include <string>

#include "experiments/experiment.h"

namespace qmoe {

class MatrixExperiment : public Experiment {
 public:
  struct Params {
    std::string source = "random";
    int64_t rows = 768;
    int64_t cols = 3072;
    int64_t count = 4;
    std::string distribution = "normal";
    double scale = 0.02;
    std::string hessian = "none";
    int64_t calibration_tokens = 2048;
    std::string weights = "";
    std::string tensors = "";
    std::string calibration = "";
    std::string save = "";
    int64_t group = 16;
    template <class V>
    void Visit(V&& v) {
      v(source, "source", "where matrices come from: random (i.i.d.) or safetensors (the `weights` file)",
        Choices{{"random", "safetensors"}});
      v(rows, "rows", "random: rows (output features) per matrix", Range{1, 1 << 20});
      v(cols, "cols", "random: columns (input features) per matrix", Range{1, 1 << 20});
      v(count, "count", "random: number of matrices", Range{1, 1 << 16});
      v(distribution, "distribution", "random: element distribution", Choices{{"normal", "uniform", "laplace"}});
      v(scale, "scale", "random: standard deviation of the elements", Range{0, 1e6});
      v(hessian, "hessian",
        "Hessian per matrix: none, identity, correlated (synthetic X with correlated features), or file "
        "(`calibration` holds NAME.inputs [n, cols] or NAME.hessian [cols, cols])",
        Choices{{"none", "identity", "correlated", "file"}});
      v(calibration_tokens, "calibration_tokens", "correlated: rows of the synthetic X", Range{1, 1 << 24});
      v(weights, "weights", "safetensors: file with the weight matrices");
      v(tensors, "tensors", "safetensors: comma-separated tensor names (empty = every 2-D tensor)");
      v(calibration, "calibration", "hessian=file: safetensors with NAME.inputs or NAME.hessian");
      v(save, "save", "if set, write the quantized weights to this safetensors file");
      v(group, "group", "matrices of one shape quantized together in one batched call", Range{1, 4096});
    }
  };
  explicit MatrixExperiment(Params p) : p_(std::move(p)) {}
  void Run(RunContext& ctx) override;

 private:
  Params p_;
};

}  // namespace qmoe
