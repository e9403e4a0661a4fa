// Compressed model directories ("qmoe-compressed-v1"), written by the compression pipeline and read
// by evaluation and compressed inference:
//
//   config.json                         the source model's Hugging Face config, unchanged
//   spiece.model                        the source's tokenizer, copied when it has one, so that
//                                       the folder evaluates as model.path on its own
//   dense.safetensors                   every non-expert tensor, in its source dtype
//   experts-<stack>-<block>.safetensors one per MoE block: the packed tensors of every expert matrix,
//                                       named "<HF weight name>.<field>" (fields: the method's format)
//   qmoe.json                           format, method key/version/params, and per expert matrix
//                                       its file, shape and exact storage bits
//
// The writer builds the folder in "<dir>.tmp.<pid>" and swaps it in whole at Finish: a crash or kill
// at any point leaves the previous model at <dir> (if any) intact. A directory without qmoe.json is
// refused by the reader.
// Field and key names reach disk: add, never rename.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/params.h"
#include "framework/model/weight_source.h"
#include "methods/method.h"

namespace qmoe {

class SafetensorsFile;

constexpr const char* kCompressedFormat = "qmoe-compressed-v1";

// Cap on the elements of one expert matrix a qmoe.json may declare (c-2048's are 2080 x 6144).
constexpr int64_t kMaxCompressedMatrixElements = int64_t{1} << 34;

struct CompressedMatrixInfo {
  std::string file;      // experts-*.safetensors holding its packed tensors
  int64_t rows = 0, cols = 0;
  double storage_bits = 0;
};

class CompressedModelWriter {
 public:
  // Nothing appears at `dir` before Finish; an existing model there stays readable until then. `dir`
  // must be new, empty or a compressed model (Finish replaces the whole folder); otherwise an Error.
  CompressedModelWriter(std::filesystem::path dir, std::string method_key, ParamMap method_params,
                        int method_version, std::string hf_config_json);
  ~CompressedModelWriter();  // without Finish: removes the staging folder, leaves `dir` as it was
  // Writes one MoE block's expert matrices at once (so a crash loses at most the block in flight).
  // `block_key` names the file, e.g. "encoder-1".
  void WriteExpertBlock(const std::string& block_key,
                        const std::vector<std::pair<std::string, const MatrixResult*>>& matrices,
                        const std::vector<std::pair<int64_t, int64_t>>& shapes);
  // Copies `src` into the folder as `name` (the tokenizer: configs read ${model.path}/spiece.model).
  // Errors name the file.
  void CopySourceFile(const std::filesystem::path& src, const std::string& name);
  // Writes dense.safetensors and then qmoe.json. `dense` = every non-expert tensor.
  void Finish(const std::vector<std::pair<std::string, at::Tensor>>& dense);

  double expert_bits() const;

 private:
  std::filesystem::path dir_, stage_;
  bool finished_ = false;
  std::string method_key_, hf_config_json_;
  ParamMap method_params_;
  int method_version_;
  std::map<std::string, CompressedMatrixInfo> matrices_;
};

// Reads a compressed directory as a WeightSource: dense tensors as stored, expert weights rebuilt
// by the method's Dequantize() (float32). Errors name the directory, the file and the tensor.
class CompressedWeights : public WeightSource {
 public:
  static std::shared_ptr<CompressedWeights> Open(const std::filesystem::path& dir);
  bool Has(const std::string& name) const override;
  at::Tensor Get(const std::string& name) const override;
  std::string Describe() const override;

  const std::string& method_key() const { return method_key_; }
  const std::map<std::string, CompressedMatrixInfo>& matrices() const { return matrices_; }
  // Packed tensors of one expert matrix ("<name>" without field), as the method wrote them.
  std::map<std::string, at::Tensor> Packed(const std::string& name) const;
  std::string hf_config_json() const;
  // Exact storage of the expert matrices and of the dense tensors, in bits.
  double expert_bits() const;
  double dense_bits() const;
  int64_t expert_params() const;
  int64_t dense_params() const;

 private:
  CompressedWeights() = default;
  std::filesystem::path dir_;
  std::string method_key_;
  std::unique_ptr<Method> method_;
  std::map<std::string, CompressedMatrixInfo> matrices_;
  std::shared_ptr<SafetensorsFile> dense_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> files_;  // expert files, opened at Open()
};

}  // namespace qmoe
