// Experiment type `compress`: the QMoE pipeline on a Switch model with any registered method.
// Records per-domain validation loss and perplexity of the compressed model, exact bits per
// parameter, compression time, peak RSS, and per-expert / per-layer statistics. The top-level
// `seed` draws the calibration documents and their span-corruption noise (seed 0: the reference
// samples); the validation sets stay fixed by data.seed.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "framework/core/repo_path.h"  // ResolveRepoPath, used by the runtime experiment

#include "experiments/experiment.h"

namespace qmoe {

class CompressExperiment : public Experiment {
 public:
  struct Params {
    int64_t calibration_samples = 0;
    double calibration_mul = 1.0;
    double samples_per_expert = 78.125;
    int64_t group_experts = 16;
    double token_cap_mul = 4.0;
    bool true_sequential = false;
    std::string save = "";
    bool allow_capped = false;  // permits, never changes a result: not part of the run key
    template <class V>
    void Visit(V&& v) {
      v(calibration_samples, "calibration_samples",
        "calibration samples; 0 = round(calibration_mul · samples_per_expert · experts). Methods without "
        "a Hessian (bf16, rtn, ternary) use none",
        Range{0, 1e9});
      v(calibration_mul, "calibration_mul", "the paper's 0.5x / 1x / 2x data axis", Range{0, 1000});
      v(samples_per_expert, "samples_per_expert", "paper: 10K samples for 128 experts = 78.125 per expert",
        Range{0, 1e6});
      v(group_experts, "group_experts", "experts quantized together in one batched call (paper: 16)", Range{1, 1 << 16});
      v(token_cap_mul, "token_cap_mul", "calibration tokens per expert capped at floor(mul · T_cal / E)", Range{0.01, 1e6});
      v(true_sequential, "true_sequential", "take the wo Hessian through the quantized wi");
      v(save, "save", "write the compressed model directory here ('' = don't)");
      v(allow_capped, "allow_capped",
        "run with every calibration sample the split has when fewer than requested exist (else an error); "
        "qmoe report marks such cells");
    }
  };
  // Before anything runs: a point whose calibration request the split cannot meet is an Error
  // unless allow_capped.
  static void Preflight(const Params& p, const std::map<std::string, ParamMap>& sections);
  // Only points that calibrate draw anything at random; the others (bf16, rtn, ternary) run as seed 0.
  static bool UsesSeed(const Params& p, const std::map<std::string, ParamMap>& sections);
  static std::vector<std::string> NotInRunKey() { return {"allow_capped"}; }
  explicit CompressExperiment(Params p) : p_(std::move(p)) {}
  void Run(RunContext& ctx) override;

 private:
  Params p_;
};


}  // namespace qmoe
