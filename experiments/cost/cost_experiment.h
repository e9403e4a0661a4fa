// Experiment type `cost`: measures the primitives of the sequential compression pipeline on this
// machine at the expert shapes of the listed configs/model entries (one measurement per distinct
// d_model x d_ff and compute dtype), so that `qmoe report cost` can project the time, RAM and disk
// of compressing any Switch model (docs/cost-model.md). Per shape, labelled matrix = "DxF:dtype":
// one expert's GPTQ with the run's method (wi and wo, from the Hessians of `tokens` rows), the
// Hessian accumulation per calibration token, and one encoder and one decoder block's forward per
// token (attention + router + one expert, SwitchModel's own code on synthetic weights); with their
// FLOP counts. Run-level: checkpoint read and write throughput (a safetensors file written for
// the purpose, fsynced, then read back cold), the process's base RSS, and the mean encoder and
// decoder tokens per sample of the data section.
#pragma once
#include <string>

#include "experiments/experiment.h"

namespace qmoe {

class CostExperiment : public Experiment {
 public:
  struct Params {
    std::string models = "switch-tiny-8,switch-tiny-32,switch-tiny-128,switch-base-8,switch-large-128,switch-c-2048";
    int64_t tokens = 1024;
    int64_t repeats = 5;
    int64_t group_experts = 1;
    int64_t io_mib = 256;
    int64_t samples = 64;
    template <class V>
    void Visit(V&& v) {
      v(models, "models", "configs/model entries whose expert shapes are measured (deduplicated by shape and dtype)");
      v(tokens, "tokens", "calibration rows of the measured Hessians (per-token rates are t / tokens)", Range{16, 1e6});
      v(repeats, "repeats", "timed repeats of each forward and Hessian measurement; the median is kept",
        Range{1, 100});
      v(group_experts, "group_experts", "experts quantized together in the timed GPTQ call (per-expert time = t / G)",
        Range{1, 64});
      v(io_mib, "io_mib", "size of the safetensors file written and read back for the I/O rates", Range{1, 1 << 20});
      v(samples, "samples", "calibration samples drawn to measure tokens per sample", Range{1, 1e6});
    }
  };
  explicit CostExperiment(Params p) : p_(std::move(p)) {}
  void Run(RunContext& ctx) override;

 private:
  Params p_;
};

}  // namespace qmoe
