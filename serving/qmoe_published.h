// Reader for the published QMoE checkpoints (ISTA-DASLab/switch-*_qmoe):
//   config.json   HF config          noexp.pt  torch.save dict of every non-expert tensor
//   expNN.pt      one per MoE layer: "<expert>.{wi|wo}.{w_comp,row_off,ter_minmax,weight}"
//   sizes.pt      optional: "<expert>.{wi|wo}" -> codeword count (checked against w_comp)
// All .pt files are zip torch pickles read lazily with framework/io's TorchBinFile (its own
// pickle parser, so single-key dicts load, unlike torch::pickle_load in LibTorch 1.13).
// As a WeightSource: dense tensors as stored; expert "<...>.weight" decoded via the
// dictionary to fp32 (validated first: a corrupt file is one Error naming file and tensor).
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "serving/dict_experts.h"
#include "framework/model/switch_config.h"
#include "framework/model/weight_source.h"

namespace qmoe {

class TorchBinFile;

class PublishedQmoeWeights : public WeightSource {
 public:
  // Opens `dir`: config.json, noexp.pt, every expNN.pt (NN two digits) and sizes.pt if present.
  // Errors when an expert matrix the config implies is missing, a field is missing, or sizes.pt
  // disagrees with a w_comp length.
  static std::shared_ptr<PublishedQmoeWeights> Open(const std::filesystem::path& dir);
  bool Has(const std::string& name) const override;
  at::Tensor Get(const std::string& name) const override;
  std::string Describe() const override;

  const SwitchConfig& config() const { return cfg_; }
  // Expert matrices ("<...>.expert_3.wi"), and the packed fields of one (w_comp, row_off, ter_minmax).
  std::vector<std::string> expert_matrices() const;
  std::map<std::string, at::Tensor> Packed(const std::string& matrix) const;
  // Every expert served from the packed codes by the dict CPU kernels.
  std::shared_ptr<DictExperts> MakeDictExperts(DictExpertsOptions opts = {}) const;

 private:
  PublishedQmoeWeights() = default;
  std::pair<int64_t, int64_t> Shape(const std::string& matrix) const;  // from the config
  std::filesystem::path dir_;
  SwitchConfig cfg_;
  std::shared_ptr<TorchBinFile> noexp_;
  std::map<std::string, std::string> dense_names_;  // name -> stored name (aliases resolved)
  std::vector<std::shared_ptr<TorchBinFile>> exp_files_;
  std::vector<std::string> exp_paths_;
  std::map<std::string, size_t> matrix_file_;  // expert matrix -> index into exp_files_
};

}  // namespace qmoe
