// The one list of experiment types. Keys reach results.db: never rename or reuse a key.
#include "experiments/experiment.h"
#include "experiments/matrix/matrix_experiment.h"

namespace qmoe {

void RegisterAllExperiments(ExperimentRegistry& r) {
  RegisterExperiment<MatrixExperiment>(r, "matrix",
                                       "quantize weight matrices (i.i.d. or from safetensors) with one method",
                                       /*uses_method=*/true, /*uses_model=*/false);
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
