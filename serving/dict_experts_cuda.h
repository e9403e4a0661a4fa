// DictExpertsCuda: the experts of a `dict`-compressed model served on the GPU by the fused CUDA
// kernel (kernels/dict_matvec/dict_matvec.cu), as a SwitchModel ExpertOverride. The CPU twin is
// DictExperts (dict_experts.h); this class computes the same function:
//   z -> bf16 x -> hidden = bf16(relu(acc_fp32(Wi x))) -> out = acc_fp32(Wo hidden) -> z's dtype,
// except that the output is rounded to bf16 before the cast (the CUDA kernels write bf16).
//
// Weights are uploaded ONCE: every expert matrix of one GPU goes into one arena (dict_arena.h),
// built in pinned host memory and copied with one transfer. Token batches of n <= gemm_threshold
// use the fused kernel (launches of <= 16 tokens), larger ones decompress + cuBLAS GEMM.
// Several GPUs: `gpu_of` says which listed GPU holds each expert (serving/placement.h);
// z moves to that GPU and the result back to z's device.
//
// Built without the CUDA toolkit (QMOE_HAVE_CUDA = 0) FromCompressed throws one Error; the class
// and its tests still compile. Forward has never run on the machine this was written on (no
// GPU there); scripts/gpu_check.sh runs it.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "framework/device/device.h"
#include "framework/model/switch_model.h"
#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe {

class CompressedWeights;

struct DictExpertsCudaOptions {
  // Tokens per expert call above which the GEMM route is taken (dict_matvec_cuda_bench measures
  // where it pays off; the fused kernel's own limit is 16 tokens per launch).
  int64_t gemm_threshold = 16;
};

class DictExpertsCuda : public ExpertOverride {
 public:
  // Which listed GPU (index into devices.ordinals) holds an expert; empty = the first.
  using GpuOf = std::function<int(const ExpertId&)>;

  // Every expert matrix of a `dict` compressed directory, validated on the host (dict::Unpack)
  // and uploaded to its GPU. `devices` must be a CUDA spec that RequireDevice accepted.
  static std::shared_ptr<DictExpertsCuda> FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                         const DeviceSpec& devices, const GpuOf& gpu_of = {},
                                                         DictExpertsCudaOptions opts = {});
  ~DictExpertsCuda() override;

  bool Covers(const ExpertId& id) const override;
  at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const override;

  int64_t packed_bytes() const { return packed_bytes_; }  // the experts' stored bytes
  int64_t device_bytes() const;                           // arena bytes on all GPUs (with padding)

 private:
  DictExpertsCuda() = default;
  struct Expert {
    int gpu = 0;  // index into devices_.ordinals
    kernels::DictView wi, wo;  // device pointers into the GPU's arena
  };
  struct Gpu {
    at::Tensor arena;  // uint8 on the GPU
    at::Tensor dec;    // the decode table on the GPU (int32 [2 * 65536])
    mutable std::shared_ptr<void> blas;  // CublasBf16Gemv, created on first use on that GPU
  };
  using Key = std::tuple<int, int64_t, int64_t>;
  static Key KeyOf(const ExpertId& id) { return {int(id.stack), id.block, id.expert}; }

  DeviceSpec devices_;
  DictExpertsCudaOptions opts_;
  std::map<Key, Expert> experts_;
  std::vector<Gpu> gpus_;
  int64_t packed_bytes_ = 0;
  mutable std::mutex mu_;  // Forward is const and may be called from several threads
};

}  // namespace qmoe
