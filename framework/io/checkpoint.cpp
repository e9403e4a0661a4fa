#include "framework/io/checkpoint.h"

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/atomic_file.h"
#include "framework/io/bounded_read.h"
#include "framework/io/safetensors.h"
#include "framework/io/torch_bin.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

namespace qmoe {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStIndex = "model.safetensors.index.json";
constexpr const char* kStSingle = "model.safetensors";
constexpr const char* kBinIndex = "pytorch_model.bin.index.json";
constexpr const char* kBinSingle = "pytorch_model.bin";

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::unique_ptr<TensorFile> OpenTensorFile(const fs::path& p) {
  if (EndsWith(p.string(), ".safetensors")) return SafetensorsFile::Open(p);
  return TorchBinFile::Open(p);
}

// One or more files; the name map is built at open and never changes.
class FileCheckpoint final : public Checkpoint {
 public:
  FileCheckpoint(fs::path dir, std::vector<std::unique_ptr<TensorFile>> files,
                 std::map<std::string, std::pair<size_t, TensorInfo>> tensors)
      : dir_(std::move(dir)), files_(std::move(files)), tensors_(std::move(tensors)) {}

  bool Has(const std::string& name) const override { return tensors_.count(name) > 0; }
  const TensorInfo& Info(const std::string& name) const override { return Find(name).second; }
  std::vector<std::string> Names() const override {
    std::vector<std::string> names;
    names.reserve(tensors_.size());
    for (const auto& [n, v] : tensors_) names.push_back(n);
    return names;
  }
  at::Tensor Load(const std::string& name) const override {
    const auto& [file, info] = Find(name);
    return files_[file]->Load(name);
  }
  fs::path dir() const override { return dir_; }

 private:
  const std::pair<size_t, TensorInfo>& Find(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end())
      throw Error(StrCat("checkpoint ", dir_.string(), ": no tensor \"", name, "\"",
                         DidYouMean(name, Names())));
    return it->second;
  }
  fs::path dir_;
  std::vector<std::unique_ptr<TensorFile>> files_;
  std::map<std::string, std::pair<size_t, TensorInfo>> tensors_;
};

std::unique_ptr<Checkpoint> OpenSingle(const fs::path& file) {
  std::vector<std::unique_ptr<TensorFile>> files;
  files.push_back(OpenTensorFile(file));
  std::map<std::string, std::pair<size_t, TensorInfo>> tensors;
  for (const TensorInfo& info : files[0]->Infos()) tensors.emplace(info.name, std::make_pair(0, info));
  return std::make_unique<FileCheckpoint>(file.parent_path(), std::move(files), std::move(tensors));
}

std::unique_ptr<Checkpoint> OpenIndex(const fs::path& index_path) {
  const std::string f = index_path.string();
  const std::string text = ReadFileBounded(index_path, kMaxIndexFileBytes, "checkpoint index");
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(StrCat(f, ": invalid JSON in checkpoint index: ", e.what()));
  }
  QMOE_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), f,
             ": expected {\"metadata\": {...}, \"weight_map\": {tensor name: shard file}}");
  const fs::path dir = index_path.parent_path();
  std::vector<std::unique_ptr<TensorFile>> files;
  std::map<std::string, size_t> shard_ids;
  std::map<std::string, std::pair<size_t, TensorInfo>> tensors;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    QMOE_CHECK(shard.is_string(), f, ": weight_map[\"", name, "\"] must be a shard file name");
    const std::string s = shard.get<std::string>();
    QMOE_CHECK(!s.empty() && fs::path(s).is_relative() && s.find("..") == std::string::npos, f,
               ": weight_map[\"", name, "\"] = \"", s, "\" must be a file name inside ", dir.string());
    auto [it, fresh] = shard_ids.emplace(s, files.size());
    if (fresh) {
      QMOE_CHECK(fs::exists(dir / s), f, ": shard \"", s, "\" (holding \"", name, "\") is missing");
      files.push_back(OpenTensorFile(dir / s));
    }
    const TensorFile& file = *files[it->second];
    const TensorInfo* info = nullptr;
    for (const TensorInfo& i : file.Infos())
      if (i.name == name) info = &i;
    QMOE_CHECK(info != nullptr, f, ": weight_map puts tensor \"", name, "\" in shard \"", s,
               "\" but that file has no such tensor");
    tensors.emplace(name, std::make_pair(it->second, *info));
  }
  return std::make_unique<FileCheckpoint>(dir, std::move(files), std::move(tensors));
}

}  // namespace

std::unique_ptr<Checkpoint> Checkpoint::Open(const fs::path& path) {
  QMOE_CHECK(fs::exists(path), "checkpoint ", path.string(), " does not exist");
  if (fs::is_directory(path)) {
    // Safetensors first: mmap-able and header-validated.
    for (const char* name : {kStIndex, kStSingle, kBinIndex, kBinSingle}) {
      const fs::path p = path / name;
      if (!fs::exists(p)) continue;
      return EndsWith(name, ".index.json") ? OpenIndex(p) : OpenSingle(p);
    }
    throw Error(StrCat("checkpoint ", path.string(), ": no ", kStIndex, ", ", kStSingle, ", ", kBinIndex,
                       " or ", kBinSingle, " in this directory"));
  }
  const std::string s = path.string();
  if (EndsWith(s, ".index.json")) return OpenIndex(path);
  QMOE_CHECK(EndsWith(s, ".safetensors") || EndsWith(s, ".bin"), "checkpoint ", s,
             ": expected a directory, a .safetensors or .bin file, or an .index.json");
  return OpenSingle(path);
}

at::Tensor Checkpoint::Load(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  const TensorInfo& info = Info(name);
  QMOE_CHECK(info.shape == expected_shape, info.file, ": tensor \"", name, "\" has shape ",
             ShapeStr(info.shape), ", expected ", ShapeStr(expected_shape));
  return Load(name);
}

at::Tensor Checkpoint::LoadAs(const std::string& name, at::ScalarType dtype) const {
  at::Tensor t = Load(name);
  return t.scalar_type() == dtype ? t : t.to(dtype);
}

void WriteCheckpoint(const fs::path& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     CheckpointLayout layout, uint64_t max_shard_bytes) {
  fs::create_directories(dir);
  const bool st = layout == CheckpointLayout::kSafetensors || layout == CheckpointLayout::kSafetensorsSharded;
  auto write = [&](const fs::path& p, const std::vector<std::pair<std::string, at::Tensor>>& part) {
    if (st) WriteSafetensors(p, part, {{"format", "pt"}});
    else WriteTorchBin(p, part);
  };
  if (layout == CheckpointLayout::kSafetensors || layout == CheckpointLayout::kTorchBin) {
    write(dir / (st ? kStSingle : kBinSingle), tensors);
    return;
  }
  QMOE_CHECK(max_shard_bytes > 0, dir.string(), ": max_shard_bytes must be positive");
  // Greedy packing in the given order, so a layer's tensors stay together.
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const auto& nt : tensors) {
    const uint64_t n = static_cast<uint64_t>(nt.second.nbytes());
    if (!shards.back().empty() && in_shard + n > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(nt);
    in_shard += n;
    total += n;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  const std::string stem = st ? "model" : "pytorch_model", ext = st ? ".safetensors" : ".bin";
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "-%05zu-of-%05zu", i + 1, shards.size());
    const std::string file = stem + name + ext;
    write(dir / file, shards[i]);
    for (const auto& nt : shards[i]) weight_map[nt.first] = file;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string text = index.dump(2) + "\n";
  WriteFileAtomically(dir / (st ? kStIndex : kBinIndex), text);
}

}  // namespace qmoe
