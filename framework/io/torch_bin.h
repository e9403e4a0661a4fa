// PyTorch .bin checkpoints (torch.save zip archives: <prefix>/data.pkl holds a pickled
// name -> tensor dict whose tensors point at raw storages <prefix>/data/<key>).
// Reading is lazy: the pickle is parsed once at open into name -> (storage, dtype, shape, stride,
// offset), and each Load reads only its storage record.
#pragma once
#include "framework/io/pickle_parser.h"
#include "framework/io/tensor_file.h"

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qmoe {

class TorchBinFile final : public TensorFile {
 public:
  // Opens the archive, parses data.pkl and checks every storage record exists and is large
  // enough. Errors name the file (and the tensor).
  static std::unique_ptr<TorchBinFile> Open(const std::filesystem::path& path);
  const std::vector<TensorInfo>& Infos() const override { return infos_; }
  at::Tensor Load(const std::string& name) const override;

 private:
  TorchBinFile() = default;
  std::filesystem::path path_;
  std::vector<TensorInfo> infos_;
  std::map<std::string, PickledTensor> tensors_;
};

// Writes a torch.save-compatible archive with torch::pickle_save of a Dict[str, Tensor]
// (temp file + rename). Tensors are copied to contiguous CPU tensors first.
void WriteTorchBin(const std::filesystem::path& path,
                   const std::vector<std::pair<std::string, at::Tensor>>& tensors);

// Reference reader: the whole file through torch::pickle_load (eager; no lazy access). Used by
// tests to cross-check TorchBinFile. Note: LibTorch 1.13 fails on a dict with exactly one key.
std::vector<std::pair<std::string, at::Tensor>> LoadTorchBin_ref(const std::filesystem::path& path);

}  // namespace qmoe
