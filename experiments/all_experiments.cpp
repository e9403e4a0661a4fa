// The one list of experiment types. Keys reach results.db: never rename or reuse a key.
#include "experiments/compress/compress_experiment.h"
#include "experiments/experiment.h"
#include "experiments/matrix/matrix_experiment.h"

namespace qmoe {

void RegisterAllExperiments(ExperimentRegistry& r) {
  RegisterExperiment<MatrixExperiment>(r, "matrix",
                                       "quantize weight matrices (i.i.d. or from safetensors) with one method",
                                       /*uses_method=*/true, /*uses_model=*/false);
  RegisterExperiment<CompressExperiment>(r, "compress",
                                         "the QMoE pipeline: compress a Switch model layer by layer and evaluate it",
                                         /*uses_method=*/true, /*uses_model=*/true);
}

const ExperimentRegistry& Experiments() {
  static const ExperimentRegistry reg = [] {
    ExperimentRegistry r("experiment type");
    RegisterAllExperiments(r);
    return r;
  }();
  return reg;
}

}  // namespace qmoe
