// The one list of experiment types. Keys reach results.db: never rename or reuse a key.
#include "experiments/compress/compress_experiment.h"
#include "experiments/cost/cost_experiment.h"
#include "experiments/eval/eval_experiment.h"
#include "experiments/experiment.h"
#include "experiments/matrix/matrix_experiment.h"
#include "experiments/runtime/kernels_experiment.h"
#include "experiments/runtime/runtime_experiment.h"

namespace qmoe {

void RegisterAllExperiments(ExperimentRegistry& r) {
  RegisterExperiment<MatrixExperiment>(r, "matrix",
                                       "quantize weight matrices (i.i.d. or from safetensors) with one method",
                                       /*uses_method=*/true, /*uses_model=*/false);
  // seed scheme 1: seed != 0 draws the calibration documents and their span-corruption noise.
  RegisterExperiment<CompressExperiment>(r, "compress",
                                         "the QMoE pipeline: compress a Switch model layer by layer and evaluate it",
                                         /*uses_method=*/true, /*uses_model=*/true, /*version=*/1,
                                         SeedUse{.used = true, .scheme = 1});
  RegisterExperiment<EvalExperiment>(r, "eval", "span-corruption validation loss of a trained model, per domain",
                                     /*uses_method=*/false, /*uses_model=*/true, /*version=*/1,
                                     SeedUse{.used = false});
  RegisterExperiment<RuntimeExperiment>(r, "runtime",
                                        "greedy generation time: dict experts on the sub-1-bit CPU kernels vs a baseline",
                                        /*uses_method=*/false, /*uses_model=*/true, /*version=*/1,
                                        SeedUse{.used = false});
  RegisterExperiment<KernelsExperiment>(r, "kernels",
                                        "CPU sub-1-bit fused matvec (every dict path) vs OpenBLAS sgemv/sgemm and our bf16 "
                                        "GEMV at expert shapes, 1 and 2 threads; codec rates and decode speeds",
                                        /*uses_method=*/false, /*uses_model=*/false,
                                        // 2: decode speeds, rans streams auto; 3: OpenBLAS + bf16 GEMV baselines,
                                        // every dict path, threads
                                        /*version=*/3,
                                        SeedUse{.used = true, .scheme = 1});  // seed != 0: other test matrices
  RegisterExperiment<CostExperiment>(r, "cost",
                                     "the compression pipeline's primitives at real expert shapes (GPTQ, Hessians, "
                                     "block forward, I/O) for `qmoe report cost`",
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
