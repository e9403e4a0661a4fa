// The one file that uses LibTorch's pickler (torch::jit::pickle_save / pickle_load).
#include "framework/core/error.h"
#include "framework/io/atomic_file.h"
#include "framework/io/torch_bin.h"

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <fstream>
#include <iterator>
#include <set>

namespace qmoe {

void WriteTorchBin(const std::filesystem::path& path,
                   const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : tensors) {
    QMOE_CHECK(tensor.defined(), path.string(), ": tensor \"", name, "\" is undefined");
    QMOE_CHECK(!dict.contains(name), path.string(), ": duplicate tensor name \"", name, "\"");
    dict.insert(name, tensor.to(at::kCPU).contiguous());
  }
  const std::vector<char> bytes = torch::jit::pickle_save(dict);
  AtomicFile out(path);
  out.Write(bytes.data(), bytes.size());
  out.Commit();
}

std::vector<std::pair<std::string, at::Tensor>> LoadTorchBin_ref(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  QMOE_CHECK(in, path.string(), ": cannot open");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue v;
  try {
    v = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw Error(StrCat(path.string(), ": torch::pickle_load failed: ", e.what_without_backtrace()));
  }
  QMOE_CHECK(v.isGenericDict(), path.string(), ": expected a dict of tensors");
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& e : v.toGenericDict()) {
    QMOE_CHECK(e.key().isString() && e.value().isTensor(), path.string(), ": expected str -> Tensor entries");
    out.emplace_back(e.key().toStringRef(), e.value().toTensor());
  }
  return out;
}

}  // namespace qmoe
