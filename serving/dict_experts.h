// DictExperts: serves the experts of a `dict`-compressed model straight from the packed codes
// (codecs/dict/dict_format.h) with the CPU fused decode+matvec kernels (kernels/dict_matvec), as a
// SwitchModel ExpertOverride. Experts are never dequantized into the model's weight cache.
//
// Dtype path of Forward(z) (the kernel contract: bf16 x, fp32 accumulation, bf16 y):
//   z (compute dtype) -> bf16 x -> hidden = bf16(relu(acc_fp32(Wi x))) -> out = acc_fp32(Wo hidden)
//   -> compute dtype.  Weights are exact (every decoded value is a bf16 level).
// Token batches: n <= gemm_threshold tokens use the small-batch kernel (each codeword decoded once
// per group of <= 16 tokens; the measured-best CPU path, DefaultDictPath, on `threads` threads); above it each matrix is decompressed to fp32 and multiplied with a
// dense GEMM (same bf16 roundings of x and hidden, so both paths compute the same function).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "framework/model/switch_config.h"
#include "framework/model/switch_model.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/dict_paths.h"

namespace qmoe {

class CompressedWeights;

struct DictExpertsOptions {
  // Tokens per expert call above which decompress + GEMM is used. `qmoe run experiment=kernels`
  // times both forms (gemm_batches): on the dev Xeon (AVX-512, 768x3072) they cross between 64
  // and 128 tokens (5.4 vs 5.7 ms at 64, 10.7 vs 10.5 ms at 128); see experiments/runtime/README.md.
  int64_t gemm_threshold = 128;
  // Threads of the small-batch kernel: each matrix's rows are split into this many ranges run
  // concurrently (kernels/dict_matvec/dict_paths.h, a persistent pool). 0 = torch's intra-op thread
  // count (at::get_num_threads(), read when DictExperts is constructed), so the experts use the
  // same cores as the dense layers around them. The result does not depend on it (rows are independent).
  int threads = 0;
  // The small-batch kernel by its kernel-ladder name (kernels/dict_matvec/dict_paths.h, e.g.
  // "avx512_bf16dot"); "" = DefaultDictPath for the CPU's ISA. A name this CPU cannot run is an error.
  std::string kernel_path;
};

class DictExperts : public ExpertOverride {
 public:
  explicit DictExperts(DictExpertsOptions opts = {});
  // Adds one expert matrix ("wi": [d_ff, d_model], "wo": [d_model, d_ff]) from its packed dict
  // fields "w_comp" int16 [Σcw], "row_off" int32 [rows+1], "ter_minmax" bf16 [2 rows]. Validated
  // here against the dictionary (dict::Validate): errors name `name`, the field and the problem.
  void Add(const ExpertId& id, const std::string& matrix, const std::map<std::string, at::Tensor>& packed,
           int64_t rows, int64_t cols, const std::string& name);
  // Every expert matrix of a `dict` compressed directory (shapes from its qmoe.json). Errors when
  // the method is not `dict` or an expert of `cfg` lacks wi or wo.
  static std::shared_ptr<DictExperts> FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                     DictExpertsOptions opts = {});

  // Calls fn(id, "wi" or "wo", the weight's name) for every expert matrix `cfg` implies.
  static void ForEachExpertMatrix(const SwitchConfig& cfg,
                                  const std::function<void(const ExpertId&, const char*, const std::string&)>& fn);

  bool Covers(const ExpertId& id) const override;
  at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const override;
  // Plain twin for tests: decodes with dict::DecodeRef and multiplies in fp64 with the same bf16
  // roundings of x and hidden.
  at::Tensor ForwardRef(const ExpertId& id, const at::Tensor& z) const;
  // The dequantized matrix (fp32 [rows, cols], via the fast decompress).
  at::Tensor Dequantized(const ExpertId& id, const std::string& matrix) const;

  int64_t num_experts() const { return int64_t(experts_.size()); }
  int64_t packed_bytes() const { return packed_bytes_; }
  const DictExpertsOptions& options() const { return opts_; }
  // The thread count the kernels use (options().threads, or torch's when that is 0).
  int threads() const { return threads_; }

 private:
  struct Matrix {
    std::map<std::string, at::Tensor> keep;  // the packed tensors the view points into
    kernels::DictView view;
    // The stored bytes: codes, offsets and min/max (not "shape").
    int64_t Bytes() const { return 2 * view.num_codes + 4 * (view.rows + 1) + 4 * view.rows; }
  };
  struct Expert {
    Matrix wi, wo;
    bool has_wi = false, has_wo = false;
  };
  using Key = std::tuple<int, int64_t, int64_t>;
  static Key KeyOf(const ExpertId& id) { return {int(id.stack), id.block, id.expert}; }
  const Expert& Find(const ExpertId& id) const;

  DictExpertsOptions opts_;
  int threads_ = 1;
  const kernels::DictPath* path_ = nullptr;  // opts_.kernel_path, when one is named
  const uint32_t* dec_;
  std::map<Key, Expert> experts_;
  int64_t packed_bytes_ = 0;
};

}  // namespace qmoe
