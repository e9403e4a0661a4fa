// Experiment type `kernels`: the CPU fused decode+matvec of every codec that has one (dict,
// kernels/dict_matvec, every path of its kernel ladder; rans, kernels/rans_matvec, against the dict
// kernel on the same weights: kernel_timings rows rans_matvec_<isa>, baseline sub1_matvec_<isa>) against the best dense baselines a user
// could pick instead (OpenBLAS sgemv/sgemm in fp32, our bf16 GEMV) at the paper's six expert shapes
// (Figure 5, left), small batches and 1 or more threads, on i.i.d. ternary matrices at p0 = 0.885,
// cycling over enough copies of each matrix to exceed the last-level cache (weights come from
// DRAM, as for a real MoE). One kernel_timings row per (kernel, shape, batch, threads) with the
// median over repeats, its baseline the fastest dense kernel of the same shape, batch and threads
// in this run; the run's params record the CPU model, ISA, threads, OpenBLAS core and LLC, its
// metrics the STREAM read bandwidth per thread count. Per shape and codec of
// the table (codecs/codec.h) its rate (rate_<codec>), its own metrics and its whole-matrix decode
// speed (decode_<codec>_gweights_per_s, decode_<codec>_vs_dict), labelled matrix = "RxC", plus the
// entropy limit. Also times the expert path's two forms above 16 tokens (chunked batch kernel vs
// decompress + GEMM) to place DictExperts' threshold.
#pragma once
#include <string>

#include "experiments/experiment.h"

namespace qmoe {

class KernelsExperiment : public Experiment {
 public:
  struct Params {
    std::string shapes = "768x3072,3072x768,1024x4096,4096x1024,2080x6144,6144x2080";
    std::string batches = "1,2,4,8";
    int64_t repeats = 7;
    int64_t calls = 16;
    double p0 = 0.885;
    double cache_factor = 1.5;
    std::string gemm_batches = "16,32,64,128";
    std::string threads = "1,2";
    std::string paths;
    template <class V>
    void Visit(V&& v) {
      v(shapes, "shapes", "comma-separated RxC matrix shapes (rows = outputs)");
      v(batches, "batches", "comma-separated token counts per call, each in 1..16 (kDictMaxBatch)");
      v(repeats, "repeats", "timed passes over all copies; the median is reported", Range{1, 1000});
      v(calls, "calls", "calls per timed pass, each on the next copy of the cycled ring", Range{1, 1e6});
      v(p0, "p0", "probability of a zero weight in the i.i.d. ternary matrices", Range{0.01, 0.999});
      v(cache_factor, "cache_factor", "cycled copies of each matrix cover this multiple of the last-level cache",
        Range{0, 100});
      v(gemm_batches, "gemm_batches",
        "token counts (> 16) at which the first shape's chunked batch kernel is timed against decompress + "
        "GEMM ('' = skip)");
      v(threads, "threads", "comma-separated thread counts of every timed kernel (rows split into ranges)");
      v(paths, "paths",
        "comma-separated dict kernel paths (kernels/dict_matvec/dict_paths.h) to time; '' = every path this CPU "
        "supports (capped by QMOE_CPU_ISA)");
    }
  };
  explicit KernelsExperiment(Params p) : p_(std::move(p)) {}
  void Run(RunContext& ctx) override;

 private:
  Params p_;
};

}  // namespace qmoe
