// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {str: str}}, then raw
// row-major little-endian data. The header is validated through a read-only private mmap (kept
// for Load_ref); Load reads with pread. Written atomically (temp file + rename).
#pragma once
#include "framework/io/tensor_file.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qmoe {

class SafetensorsFile final : public TensorFile {
 public:
  // Maps the file and validates the whole header (dtypes, shapes vs byte ranges, offsets within
  // the file, no overlaps). Errors name the file and the first tensor affected.
  static std::unique_ptr<SafetensorsFile> Open(const std::filesystem::path& path);
  ~SafetensorsFile() override;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::vector<TensorInfo>& Infos() const override { return infos_; }
  // Reads the tensor's bytes with pread() straight into a fresh tensor.
  at::Tensor Load(const std::string& name) const override;
  // Reference twin of Load: memcpy out of the mmap, then drop those pages from our RSS.
  at::Tensor Load_ref(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Range { uint64_t begin, end; };  // absolute file offsets
  SafetensorsFile() = default;
  const TensorInfo& Find(const std::string& name, Range* range) const;

  std::filesystem::path path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  std::vector<TensorInfo> infos_;
  std::map<std::string, size_t> index_;  // name -> position in infos_/ranges_
  std::vector<Range> ranges_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any CPU or device tensor of a supported dtype; copied contiguous) in the given
// order to `path` through a temp file in the same folder plus rename, so a crash never leaves a
// half-written file under `path`. Names must be unique and not "__metadata__".
void WriteSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// One tensor announced to WriteSafetensorsStreaming before its data exists.
struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
};

// The same file format and atomicity, but `make(i)` produces entries[i] only when its bytes are
// written, in order, so at most one tensor is in memory (qmoe synth writes 2 GB shards this way).
// A produced tensor whose dtype or shape differs from its entry is an error.
void WriteSafetensorsStreaming(const std::filesystem::path& path, const std::vector<SafetensorsEntry>& entries,
                               const std::function<at::Tensor(size_t)>& make,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace qmoe
