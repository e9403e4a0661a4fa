// libFuzzer target: safetensors files and sharded checkpoint indexes (framework/io).
// First byte, bit 0: 0 = the rest is one .safetensors file; 1 = the rest is a
// model.safetensors.index.json next to two fixed, valid shards.
// Invariants: only qmoe::Error escapes. An accepted file: Load (pread) and Load_ref (mmap) agree,
// and writing every tensor back with WriteSafetensors gives a file that reopens to the same names,
// dtypes, shapes, bytes and metadata. An accepted index: every listed tensor loads from the shard
// the index names, with the shape its Info reports, and equals the shard's own copy.
#include <ATen/ATen.h>

#include <map>

#include "framework/core/error.h"
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "fuzz/fuzz_files.h"

namespace fs = std::filesystem;
using namespace qmoe;

namespace {

bool SameBytes(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0);
}

void FuzzFile(std::string_view bytes) {
  const fs::path path = fuzz::ScratchDir() / "in.safetensors";
  fuzz::WriteBytes(path, bytes);
  std::unique_ptr<SafetensorsFile> f;
  try {
    f = SafetensorsFile::Open(path);
  } catch (const Error&) {
    return;
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const TensorInfo& info : f->Infos()) {
    at::Tensor a = f->Load(info.name), b = f->Load_ref(info.name);
    FUZZ_INVARIANT(SameBytes(a, b));
    FUZZ_INVARIANT(a.sizes().vec() == info.shape);
    tensors.emplace_back(info.name, a);
  }
  const fs::path again = fuzz::ScratchDir() / "again.safetensors";
  WriteSafetensors(again, tensors, f->metadata());
  auto g = SafetensorsFile::Open(again);  // must not throw: we wrote it
  FUZZ_INVARIANT(g->metadata() == f->metadata());
  FUZZ_INVARIANT(g->Infos().size() == f->Infos().size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& info = g->Infos()[i];
    FUZZ_INVARIANT(info.name == f->Infos()[i].name && info.dtype == f->Infos()[i].dtype &&
                   info.shape == f->Infos()[i].shape);
    FUZZ_INVARIANT(SameBytes(g->Load(info.name), tensors[i].second));
  }
}

// Two valid shards, written once: a.safetensors {x, y}, b.safetensors {z}.
const fs::path& ShardDir() {
  static const fs::path dir = [] {
    fs::path d = fuzz::ScratchDir() / "sharded";
    fs::create_directories(d);
    WriteSafetensors(d / "a.safetensors", {{"x", at::arange(6, at::kFloat).reshape({2, 3})},
                                           {"y", at::ones({4}, at::kBFloat16)}});
    WriteSafetensors(d / "b.safetensors", {{"z", at::arange(5, at::kLong)}});
    return d;
  }();
  return dir;
}

void FuzzIndex(std::string_view bytes) {
  const fs::path dir = ShardDir();
  fuzz::WriteBytes(dir / "model.safetensors.index.json", bytes);
  std::unique_ptr<Checkpoint> ck;
  try {
    ck = Checkpoint::Open(dir);
  } catch (const Error&) {
    return;
  }
  static const std::map<std::string, std::string> kHome = {{"x", "a.safetensors"}, {"y", "a.safetensors"},
                                                           {"z", "b.safetensors"}};
  for (const std::string& name : ck->Names()) {
    auto home = kHome.find(name);
    FUZZ_INVARIANT(home != kHome.end());
    const TensorInfo& info = ck->Info(name);
    FUZZ_INVARIANT(fs::path(info.file).filename() == home->second);
    at::Tensor t = ck->Load(name);
    FUZZ_INVARIANT(t.sizes().vec() == info.shape);
    FUZZ_INVARIANT(SameBytes(t, SafetensorsFile::Open(dir / home->second)->Load(name)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) FuzzIndex(rest);
  else FuzzFile(rest);
  return 0;
}
