// RansExperts: serves the experts of a `rans`-compressed model straight from the packed rANS
// streams (codecs/rans/rans_codec.h) with the fused CPU kernel (kernels/rans_matvec), as a
// SwitchModel ExpertOverride; the twin of DictExperts (dict_experts.h) for the 25x format. Experts
// are never dequantized into the model's weight cache.
//
// Dtype path of Forward(z), the same as DictExperts':
//   z (compute dtype) -> bf16 x -> hidden = bf16(relu(acc_fp32(Wi x))) -> out = acc_fp32(Wo hidden)
//   -> compute dtype.  Weights are exact (every decoded value is a bf16 level).
// Token batches: n <= gemm_threshold tokens use the fused kernel (each chunk decoded once per
// group of <= 16 tokens, chunks split over `threads`); above it each matrix is decoded once
// (rans::Decode) and multiplied with a dense GEMM (same bf16 roundings of x and hidden).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "codecs/rans/rans_codec.h"
#include "framework/model/switch_config.h"
#include "framework/model/switch_model.h"

namespace qmoe {

class CompressedWeights;

struct RansExpertsOptions {
  // Tokens per expert call above which decode + GEMM is used (as DictExpertsOptions::gemm_threshold).
  int64_t gemm_threshold = 128;
  // Threads of one kernel call (split over the matrix's chunks; a matrix of one chunk runs on one).
  int threads = 1;
};

class RansExperts : public ExpertOverride {
 public:
  explicit RansExperts(RansExpertsOptions opts = {});
  // Adds one expert matrix ("wi": [d_ff, d_model], "wo": [d_model, d_ff]) from its packed rans
  // fields ("rans_words", "chunk_off", "freq", "rans_meta", "ter_minmax", "shape"). Validated here
  // (rans::Unpack); the packed shape must be rows x cols. Errors name `name` and the field.
  void Add(const ExpertId& id, const std::string& matrix, const std::map<std::string, at::Tensor>& packed,
           int64_t rows, int64_t cols, const std::string& name);
  // Every expert matrix of a `rans` compressed directory (shapes from its qmoe.json). Errors when
  // the method is not `rans` or an expert of `cfg` lacks wi or wo.
  static std::shared_ptr<RansExperts> FromCompressed(const CompressedWeights& w, const SwitchConfig& cfg,
                                                     RansExpertsOptions opts = {});

  bool Covers(const ExpertId& id) const override;
  at::Tensor Forward(const ExpertId& id, const at::Tensor& z) const override;
  // Plain twin for tests: decodes with rans::DecodeRef and multiplies in fp64 with the same bf16
  // roundings of x and hidden.
  at::Tensor ForwardRef(const ExpertId& id, const at::Tensor& z) const;
  // The dequantized matrix (fp32 [rows, cols], rans::Decode).
  at::Tensor Dequantized(const ExpertId& id, const std::string& matrix) const;

  int64_t num_experts() const { return int64_t(experts_.size()); }
  int64_t packed_bytes() const { return packed_bytes_; }  // exact storage (rans::StorageBits / 8)
  const RansExpertsOptions& options() const { return opts_; }

 private:
  struct Expert {
    rans::RansMatrix wi, wo;
    bool has_wi = false, has_wo = false;
  };
  using Key = std::tuple<int, int64_t, int64_t>;
  static Key KeyOf(const ExpertId& id) { return {int(id.stack), id.block, id.expert}; }
  const Expert& Find(const ExpertId& id) const;

  RansExpertsOptions opts_;
  std::map<Key, Expert> experts_;
  int64_t packed_bytes_ = 0;
};

}  // namespace qmoe
