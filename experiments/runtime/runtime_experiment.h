// Experiment type `runtime`: end-to-end greedy generation time of a `dict`- or `rans`-compressed model
// whose experts run from the packed codes (DictExperts / RansExperts, CPU kernels) against a baseline (paper
// Figure 5 right; generation timing as the paper measures it): exactly `tokens` new tokens (eos ignored) per
// validation prompt, batch 1, KV cache; the first of `samples` prompts is a warm-up, the mean of
// the others is reported. Baselines: `dense` = the uncompressed model (model.path), `shared` = the
// paper's idealised baseline where all experts of a layer share one zero-initialised dense expert.
// Metrics: generate_seconds_compressed / _baseline, runtime_overhead (ratio - 1),
// tokens_per_second_compressed / _baseline, generate_seconds_*_median and runtime_overhead_median
// (robust to stalls on a shared machine), expert_threads and torch_threads (the kernels' and the
// dense layers' thread counts), and (dense)
// generated_token_agreement (fraction of identical greedy tokens), and simulated_token_agreement
// (the same against the compressed model with dequantized experts, first timed prompt: must be ~1).
#pragma once
#include <string>

#include "experiments/experiment.h"

namespace qmoe {

class RuntimeExperiment : public Experiment {
 public:
  struct Params {
    std::string compressed = "";
    int64_t tokens = 128;
    int64_t samples = 11;
    std::string baseline = "dense";
    int64_t gemm_threshold = 128;
    int64_t threads = 0;
    std::string kernel_path = "";
    template <class V>
    void Visit(V&& v) {
      v(compressed, "compressed",
        "compressed model directory written by experiment=compress experiment.save=DIR method=dict (or rans)");
      v(tokens, "tokens", "new tokens generated per prompt (exactly; eos is ignored)", Range{1, 1e6});
      v(samples, "samples", "validation prompts; the first is a warm-up, the mean of the rest is reported",
        Range{2, 1e6});
      v(baseline, "baseline",
        "dense: the uncompressed model at model.path; shared: all experts of a layer share one zero dense expert",
        Choices{{"dense", "shared"}});
      v(gemm_threshold, "gemm_threshold", "tokens per expert call above which experts decompress + GEMM",
        Range{1, 1e9});
      v(threads, "threads",
        "threads of the compressed experts' kernels; 0 = torch's intra-op threads (what the dense layers use)",
        Range{0, 1024});
      v(kernel_path, "kernel_path",
        "dict models: the CPU kernel by its ladder name (kernels/dict_matvec/dict_paths.h: avx2_pairs, "
        "avx512_pairs, avx512_bf16dot, ...); '' = the default for this CPU's ISA");
    }
  };
  explicit RuntimeExperiment(Params p) : p_(std::move(p)) {}
  void Run(RunContext& ctx) override;

 private:
  Params p_;
};

}  // namespace qmoe
