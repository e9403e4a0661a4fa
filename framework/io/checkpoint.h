// Lazy, streamed access to Hugging Face checkpoints: safetensors (single or sharded with
// model.safetensors.index.json, read through mmap) and PyTorch .bin (single or sharded with
// pytorch_model.bin.index.json). A tensor is read only when asked for; callers drop it when done,
// so peak memory stays near one layer.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qmoe {

struct TensorInfo {
  std::string name;
  std::string dtype;            // safetensors spelling: "F32", "BF16", "F16", "I64", ...
  std::vector<int64_t> shape;
  std::string file;             // the file holding it
};

class Checkpoint {
 public:
  virtual ~Checkpoint() = default;
  // Opens a model directory (or a single .safetensors / .bin file). Prefers safetensors when
  // both exist. Errors name the directory and what was expected.
  static std::unique_ptr<Checkpoint> Open(const std::filesystem::path& path);

  virtual bool Has(const std::string& name) const = 0;
  virtual const TensorInfo& Info(const std::string& name) const = 0;  // error names tensor + dir
  virtual std::vector<std::string> Names() const = 0;
  // Reads one tensor into a fresh CPU tensor of its stored dtype. Errors name the tensor and
  // file: missing tensor, truncated file, bad header.
  virtual at::Tensor Load(const std::string& name) const = 0;
  // Load() plus a check of the expected shape (error names tensor, file, expected and actual).
  at::Tensor Load(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  virtual std::filesystem::path dir() const = 0;
  // Load() converted to `dtype` (e.g. F16 storage -> F32 for CPU math); no copy when it matches.
  at::Tensor LoadAs(const std::string& name, at::ScalarType dtype) const;
};

// The four on-disk layouts. Single files are model.safetensors / pytorch_model.bin; sharded ones
// are model-0000k-of-0000n.safetensors / pytorch_model-0000k-of-0000n.bin plus
// model.safetensors.index.json / pytorch_model.bin.index.json
// ({"metadata": {"total_size": bytes}, "weight_map": {name: shard file}}).
enum class CheckpointLayout { kSafetensors, kSafetensorsSharded, kTorchBin, kTorchBinSharded };

// Writes `tensors` into `dir` (created if missing) in `layout`. Sharded layouts start a new shard
// before a tensor that would push the current one past max_shard_bytes (a bigger tensor gets a
// shard of its own). Every file is written to a temp file and renamed; the index comes last.
void WriteCheckpoint(const std::filesystem::path& dir,
                     const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     CheckpointLayout layout, uint64_t max_shard_bytes = 5'000'000'000ull);

}  // namespace qmoe
