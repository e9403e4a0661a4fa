#include "experiments/eval/forward_command.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/model/switch_model.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

std::vector<std::vector<int64_t>> Rows(const nlohmann::json& j, const std::string& path, const std::string& key) {
  QMOE_CHECK(j.contains(key), path, ": missing key \"", key, "\" (expected a list of lists of token ids)");
  const auto& v = j.at(key);
  QMOE_CHECK(v.is_array() && !v.empty(), path, ": \"", key, "\" must be a non-empty list of lists of token ids");
  std::vector<std::vector<int64_t>> rows;
  for (size_t r = 0; r < v.size(); ++r) {
    QMOE_CHECK(v[r].is_array() && !v[r].empty(), path, ": \"", key, "\"[", r, "] must be a non-empty list of ids");
    std::vector<int64_t> row;
    for (const auto& x : v[r]) {
      QMOE_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0, path, ": \"", key, "\"[", r,
                 "] holds a non-integer or negative id: ", x.dump());
      row.push_back(x.get<int64_t>());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

ForwardInput ReadForwardInput(const std::string& path) {
  QMOE_CHECK(fs::exists(path), "forward input ", path, " does not exist");
  ForwardInput in;
  if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(std::ifstream(path));
    } catch (const std::exception& e) {
      throw Error(StrCat(path, ": not valid JSON: ", e.what()));
    }
    auto enc = Rows(j, path, "encoder_ids"), dec = Rows(j, path, "decoder_ids");
    QMOE_CHECK(enc.size() == dec.size(), path, ": encoder_ids has ", enc.size(), " rows but decoder_ids has ",
               dec.size());
    PaddedBatch pe = PadBatch(enc, 0), pd = PadBatch(dec, 0);
    in.encoder_ids = pe.ids, in.encoder_mask = pe.mask, in.decoder_ids = pd.ids, in.decoder_mask = pd.mask;
    return in;
  }
  QMOE_CHECK(path.size() > 12 && path.substr(path.size() - 12) == ".safetensors", "forward input ", path,
             ": expected a .json or .safetensors file");
  auto f = SafetensorsFile::Open(path);
  for (const char* key : {"encoder_ids", "decoder_ids"}) {
    at::Tensor t;
    try {
      t = f->Load(key);
    } catch (const Error& e) {
      throw Error(StrCat(path, ": missing tensor \"", key, "\" (int64 [B, T]): ", e.what()));
    }
    QMOE_CHECK(t.scalar_type() == at::kLong && t.dim() == 2 && t.numel() > 0, path, ": tensor \"", key,
               "\" must be int64 [B, T], got ", t.scalar_type(), " ", t.sizes());
    (std::string(key) == "encoder_ids" ? in.encoder_ids : in.decoder_ids) = t;
  }
  QMOE_CHECK(in.encoder_ids.size(0) == in.decoder_ids.size(0), path, ": encoder_ids has ", in.encoder_ids.size(0),
             " rows but decoder_ids has ", in.decoder_ids.size(0));
  return in;
}

int ForwardCommand(const std::vector<std::string>& args) {
  std::string model_dir, input, output, dtype;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&](const std::string& flag) {
      QMOE_CHECK(i + 1 < args.size(), "qmoe forward: ", flag, " needs a value");
      return args[++i];
    };
    if (args[i] == "--model") model_dir = value("--model");
    else if (args[i] == "--input") input = value("--input");
    else if (args[i] == "--output") output = value("--output");
    else if (args[i] == "--dtype") dtype = value("--dtype");
    else
      throw Error(StrCat("qmoe forward: unknown argument '", args[i], "'",
                         DidYouMean(args[i], {"--model", "--input", "--output", "--dtype"}),
                         "; usage: qmoe forward --model DIR --input FILE(.json|.safetensors) --output FILE.safetensors "
                         "[--dtype float32|bfloat16]"));
  }
  QMOE_CHECK(!model_dir.empty() && !input.empty() && !output.empty(),
             "qmoe forward: --model, --input and --output are required");
  SwitchConfig cfg = ReadHfConfig(model_dir);
  if (!dtype.empty()) {
    QMOE_CHECK(dtype == "float32" || dtype == "bfloat16", "qmoe forward: --dtype must be float32 or bfloat16, got '",
               dtype, "'");
    cfg.dtype = dtype;
  }
  SwitchModel model(cfg, CheckpointWeights::Open(model_dir));
  ForwardInput in = ReadForwardInput(input);
  for (const at::Tensor* t : {&in.encoder_ids, &in.decoder_ids}) {
    const int64_t mx = t->max().item<int64_t>();
    QMOE_CHECK(mx < cfg.vocab_size, input, ": token id ", mx, " is outside the model's vocabulary [0, ", cfg.vocab_size,
               ")");
  }
  at::NoGradGuard ng;
  at::Tensor logits = model.Forward(in.encoder_ids, in.decoder_ids, in.encoder_mask, in.decoder_mask).to(at::kFloat);
  WriteSafetensors(output, {{"logits", logits.contiguous()}}, {{"model", model_dir}, {"dtype", cfg.dtype}});
  std::cout << "logits " << logits.sizes() << " -> " << output << "\n";
  return 0;
}

}  // namespace qmoe
