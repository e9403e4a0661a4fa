// libFuzzer target: the compressed-model directory reader (CompressedWeights) and the published
// QMoE layout (PublishedQmoeWeights), both in framework/compressed.
// First byte % 4: 0 = the rest replaces qmoe.json of a valid compressed model (method rtn);
// 1 = the rest replaces its expert file; 2 = the rest patches bytes of the expert file's data
// (u32 offset, then bytes), so the packed tensors reach the method's Dequantize; 3 = the rest gives
// the packed fields (w_comp, row_off, ter_minmax) of a published QMoE expert file.
// Invariants: only qmoe::Error escapes. Whatever opens returns, for every expert matrix, a weight of
// exactly the shape it declares.
#include <ATen/ATen.h>

#include <cstring>

#include "serving/compressed_model.h"
#include "serving/qmoe_published.h"
#include "framework/core/error.h"
#include "framework/io/torch_bin.h"
#include "framework/model/switch_names.h"
#include "fuzz/fuzz_files.h"
#include "fuzz/fuzz_input.h"
#include "methods/method.h"

namespace fs = std::filesystem;
using namespace qmoe;

namespace {

const char* kExpertFile = "experts-encoder-1.safetensors";

// A valid compressed model, written once; its files are kept in memory to restore each run.
struct Model {
  fs::path dir;
  std::string qmoe_json, experts;
};

std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

const Model& Seed() {
  static const Model m = [] {
    Model m;
    m.dir = fuzz::ScratchDir() / "compressed";
    const MethodInfo& info = Methods().Get("rtn");
    auto method = info.make({});
    QuantTarget t;
    t.weight = at::randn({2, 8, 16}, at::TensorOptions().dtype(at::kFloat));
    t.names = {"encoder.block.1.layer.1.mlp.experts.expert_0.wi.weight", "encoder.block.1.layer.1.mlp.experts.expert_1.wi.weight"};
    QuantOutput q = method->Quantize(t);
    CompressedModelWriter w(m.dir, "rtn", {}, info.version, "{}");
    w.WriteExpertBlock("encoder-1", {{t.names[0], &q.matrices[0]}, {t.names[1], &q.matrices[1]}}, {{8, 16}, {8, 16}});
    w.Finish({{"shared.weight", at::randn({8, 4})}});
    m.qmoe_json = ReadAll(m.dir / "qmoe.json");
    m.experts = ReadAll(m.dir / kExpertFile);
    return m;
  }();
  return m;
}

void OpenCompressed(const fs::path& dir) {
  std::shared_ptr<CompressedWeights> w;
  try {
    w = CompressedWeights::Open(dir);
  } catch (const Error&) {
    return;
  }
  for (const auto& [name, info] : w->matrices()) {
    try {
      at::Tensor x = w->Get(name);
      FUZZ_INVARIANT(x.dim() == 2 && x.size(0) == info.rows && x.size(1) == info.cols);
    } catch (const Error&) {
    }
  }
}

SwitchConfig TinyConfig() {
  SwitchConfig c;
  c.d_model = 4, c.d_ff = 8, c.num_heads = 1, c.d_kv = 4, c.num_layers = 2, c.num_decoder_layers = 0;
  c.num_experts = 1, c.vocab_size = 8;
  return c;
}

void FuzzPublished(std::string_view bytes) {
  const fs::path dir = fuzz::ScratchDir() / "published";
  static const bool made = [&] {
    WriteHfConfig(TinyConfig(), dir);
    WriteTorchBin(dir / "noexp.pt", {{"shared.weight", at::randn({8, 4})}});
    return true;
  }();
  (void)made;
  fuzz::Input in(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  std::vector<std::pair<std::string, at::Tensor>> exp;
  for (const char* m : {"wi", "wo"}) {
    const std::string name = ExpertWeightName(Stack::kEncoder, 1, 0, m);
    const std::string base = name.substr(0, name.size() - 7);
    const int n_off = in.U8() % 20, n_mm = in.U8() % 20, n_codes = in.U8() % 64;
    at::Tensor off = at::empty({n_off}, at::kInt), mm = at::empty({n_mm}, at::kBFloat16),
               codes = at::empty({n_codes}, at::kShort);
    for (int i = 0; i < n_off; ++i) off.data_ptr<int32_t>()[i] = int32_t(in.U32());
    for (int i = 0; i < n_mm; ++i) reinterpret_cast<uint16_t*>(mm.data_ptr())[i] = in.U16();
    for (int i = 0; i < n_codes; ++i) reinterpret_cast<uint16_t*>(codes.data_ptr())[i] = in.U16();
    exp.emplace_back(base + ".w_comp", codes);
    exp.emplace_back(base + ".row_off", off);
    exp.emplace_back(base + ".ter_minmax", mm);
  }
  WriteTorchBin(dir / "exp00.pt", exp);
  std::shared_ptr<PublishedQmoeWeights> w;
  try {
    w = PublishedQmoeWeights::Open(dir);
  } catch (const Error&) {
    return;
  }
  const SwitchConfig c = TinyConfig();
  for (const char* m : {"wi", "wo"}) {
    try {
      at::Tensor x = w->Get(ExpertWeightName(Stack::kEncoder, 1, 0, m));
      const bool wi = std::string(m) == "wi";
      FUZZ_INVARIANT(x.dim() == 2 && x.size(0) == (wi ? c.d_ff : c.d_model) && x.size(1) == (wi ? c.d_model : c.d_ff));
    } catch (const Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Model& m = Seed();
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzz::WriteBytes(m.dir / kExpertFile, m.experts);
      fuzz::WriteBytes(m.dir / "qmoe.json", rest);
      return OpenCompressed(m.dir), 0;
    case 1:
      fuzz::WriteBytes(m.dir / "qmoe.json", m.qmoe_json);
      fuzz::WriteBytes(m.dir / kExpertFile, rest);
      return OpenCompressed(m.dir), 0;
    case 2: {
      fuzz::Input in(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
      std::string patched = m.experts;
      const size_t at = in.U32() % patched.size();
      for (size_t i = at; i < patched.size() && in.left() > 0; ++i) patched[i] = char(in.U8());
      fuzz::WriteBytes(m.dir / "qmoe.json", m.qmoe_json);
      fuzz::WriteBytes(m.dir / kExpertFile, patched);
      return OpenCompressed(m.dir), 0;
    }
    default:
      FuzzPublished(rest);
      return 0;
  }
}
