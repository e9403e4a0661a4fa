// Test support: writes a directory in the published QMoE layout (qmoe_published.h) for a model
// config, from random weights whose experts are ternarized and dictionary-coded here. Returns the
// weights the directory decodes to (experts as decoded, everything else as written).
#pragma once
#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "framework/io/torch_bin.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_config.h"
#include "framework/model/switch_names.h"
#include "codecs/dict/dict_codec.h"
#include "methods/codec/packed_tensors.h"

namespace qmoe {

// `corrupt_row_off` makes row 2 of MoE layer 1's expert 2 "wo" one codeword too long; `bad_sizes`
// makes every sizes.pt count one too large.
inline std::map<std::string, at::Tensor> WritePublishedQmoeDir(const std::filesystem::path& dir, const SwitchConfig& cfg,
                                                               uint64_t seed, bool corrupt_row_off = false,
                                                               bool bad_sizes = false) {
  WriteHfConfig(cfg, dir);
  auto w = RandomSwitchWeights(cfg, seed, at::kFloat, 3.0);
  std::vector<std::pair<std::string, at::Tensor>> noexp, sizes;
  for (const auto& t : SwitchTensorShapes(cfg))
    if (!t.is_expert) noexp.emplace_back(t.name, w.at(t.name));
  WriteTorchBin(dir / "noexp.pt", noexp);
  int layer = 0;
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < cfg.NumBlocks(s); ++b) {
      if (!cfg.IsSparse(s, b)) continue;
      std::vector<std::pair<std::string, at::Tensor>> exp;
      for (int64_t e = 0; e < cfg.num_experts; ++e)
        for (const char* m : {"wi", "wo"}) {
          const std::string name = ExpertWeightName(s, b, e, m), base = name.substr(0, name.size() - 7);
          at::Tensor x = w.at(name);
          at::Tensor lo = at::clamp_max(std::get<0>(x.min(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
          at::Tensor hi = at::clamp_min(std::get<0>(x.max(1, true)), 0).to(at::kBFloat16).to(at::kFloat);
          at::Tensor q = at::where(x > hi / 2, hi, at::where(x < lo / 2, lo, at::zeros_like(x))).contiguous();
          auto enc = dict::Encode(ternary::SymbolsFromTernary(q.data_ptr<float>(), q.size(0), q.size(1),
                                                              ternary::SymbolMode::kReference));
          auto packed = codecs::ToTensors(dict::Pack(enc));
          if (corrupt_row_off && layer == 1 && e == 2 && std::string(m) == "wo")
            packed["row_off"][3] = packed["row_off"][3].item<int32_t>() + 1;
          for (const char* f : {"w_comp", "row_off", "ter_minmax"}) exp.emplace_back(base + "." + f, packed.at(f));
          exp.emplace_back(base + ".weight", at::empty({0}, at::kBFloat16));
          sizes.emplace_back(base, at::tensor(int64_t(enc.codes.size()) + (bad_sizes ? 1 : 0)));
          w[name] = at::from_blob(dict::Decode(enc).data(), {enc.rows, enc.cols}, at::kFloat).clone();
        }
      char fn[16];
      std::snprintf(fn, sizeof fn, "exp%02d.pt", layer++);
      WriteTorchBin(dir / fn, exp);
    }
  WriteTorchBin(dir / "sizes.pt", sizes);
  return w;
}

}  // namespace qmoe
