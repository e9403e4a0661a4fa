#include "serving/compressed_model.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iterator>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/atomic_file.h"
#include "framework/io/bounded_read.h"
#include "framework/io/dtype.h"
#include "framework/io/safetensors.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace qmoe {
namespace {

json ParamsToJson(const ParamMap& m) {
  json j = json::object();
  for (const auto& [k, v] : m) {
    if (auto* i = std::get_if<int64_t>(&v)) j[k] = *i;
    else if (auto* d = std::get_if<double>(&v)) j[k] = *d;
    else if (auto* b = std::get_if<bool>(&v)) j[k] = *b;
    else j[k] = std::get<std::string>(v);
  }
  return j;
}

ParamMap ParamsFromJson(const json& j, const std::vector<ParamSpec>& specs, const std::string& where) {
  ParamMap m;
  for (const auto& s : specs) {
    if (!j.contains(s.name)) continue;
    const json& v = j[s.name];
    m[s.name] = ParseParamValue(s, v.is_string() ? v.get<std::string>() : v.dump(), where);
  }
  return m;
}

// Reads one key of qmoe.json as T; a missing key or a wrong type is one Error naming the file and key.
template <class T>
T Field(const json& j, const char* key, const std::string& where) {
  QMOE_CHECK(j.is_object() && j.contains(key), where, ": missing key \"", key, "\"");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw Error(StrCat(where, ": key \"", key, "\" has the wrong type (", e.what(), ")"));
  }
}

}  // namespace

CompressedModelWriter::CompressedModelWriter(fs::path dir, std::string method_key, ParamMap method_params,
                                             int method_version, std::string hf_config_json)
    : dir_(std::move(dir)),
      method_key_(std::move(method_key)),
      hf_config_json_(std::move(hf_config_json)),
      method_params_(std::move(method_params)),
      method_version_(method_version) {
  // Finish replaces the whole folder: never one that holds something other than a compressed model.
  std::error_code ec;
  QMOE_CHECK(!fs::exists(dir_, ec) || (fs::is_directory(dir_, ec) && (fs::is_empty(dir_, ec) || fs::exists(dir_ / "qmoe.json", ec))),
             "'", dir_.string(), "' exists and is not a compressed model (no qmoe.json): saving would replace it; ",
             "choose a new or empty folder");
  if (dir_.has_parent_path()) fs::create_directories(dir_.parent_path());
  stage_ = FreshStagingDirectory(dir_);
  try {
    WriteFileAtomically(stage_ / "config.json", hf_config_json_);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(stage_, ec);
    throw;
  }
}

CompressedModelWriter::~CompressedModelWriter() {
  std::error_code ec;
  if (!finished_) fs::remove_all(stage_, ec);  // an unfinished model never replaces the previous one
}

void CompressedModelWriter::WriteExpertBlock(
    const std::string& block_key, const std::vector<std::pair<std::string, const MatrixResult*>>& matrices,
    const std::vector<std::pair<int64_t, int64_t>>& shapes) {
  QMOE_ASSERT(matrices.size() == shapes.size());
  const std::string file = "experts-" + block_key + ".safetensors";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (size_t i = 0; i < matrices.size(); ++i) {
    const auto& [name, result] = matrices[i];
    QMOE_CHECK(!result->packed.empty(), "method '", method_key_, "' produced no packed tensors for '", name,
               "': it cannot be saved in a compressed model");
    for (const auto& [field, t] : result->packed) tensors.emplace_back(name + "." + field, t.contiguous());
    matrices_[name] = CompressedMatrixInfo{file, shapes[i].first, shapes[i].second, result->storage_bits};
  }
  WriteSafetensors(stage_ / file, tensors, {{"format", kCompressedFormat}, {"method", method_key_}});
}

void CompressedModelWriter::CopySourceFile(const fs::path& src, const std::string& name) {
  std::ifstream in(src, std::ios::binary);
  QMOE_CHECK(in, "cannot read '", src.string(), "' to copy it into the compressed model");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  QMOE_CHECK(!in.bad(), "reading '", src.string(), "' failed");
  WriteFileAtomically(stage_ / name, bytes);
}

double CompressedModelWriter::expert_bits() const {
  double b = 0;
  for (const auto& [n, m] : matrices_) b += m.storage_bits;
  return b;
}

void CompressedModelWriter::Finish(const std::vector<std::pair<std::string, at::Tensor>>& dense) {
  WriteSafetensors(stage_ / "dense.safetensors", dense, {{"format", kCompressedFormat}});
  json j;
  j["format"] = kCompressedFormat;
  j["method"] = method_key_;
  j["method_version"] = method_version_;
  j["method_params"] = ParamsToJson(method_params_);
  json mats = json::object();
  for (const auto& [name, m] : matrices_)
    mats[name] = {{"file", m.file}, {"rows", m.rows}, {"cols", m.cols}, {"storage_bits", m.storage_bits}};
  j["expert_matrices"] = mats;
  WriteFileAtomically(stage_ / "qmoe.json", j.dump(1));
  CommitDirectory(stage_, dir_);  // the previous model at dir_, if any, stays whole until this swap
  finished_ = true;
}

std::shared_ptr<CompressedWeights> CompressedWeights::Open(const fs::path& dir) {
  const fs::path index = dir / "qmoe.json";
  QMOE_CHECK(fs::exists(index), "'", dir.string(), "' is not a complete compressed model: no qmoe.json (",
             "the writer did not finish, or this is not a qmoe-compressed directory)");
  const std::string where = index.string();
  json j;
  try {
    j = json::parse(ReadFileBounded(index, kMaxIndexFileBytes, "compressed-model index"));
  } catch (const json::exception& e) {
    throw Error(StrCat(where, ": malformed JSON: ", e.what()));
  }
  QMOE_CHECK(j.is_object(), where, ": expected a JSON object");
  const std::string format = j.contains("format") && j["format"].is_string() ? j["format"].get<std::string>() : "";
  QMOE_CHECK(format == kCompressedFormat, where, ": format '", format, "', expected '", kCompressedFormat, "'");
  std::shared_ptr<CompressedWeights> w(new CompressedWeights());
  w->dir_ = dir;
  w->method_key_ = Field<std::string>(j, "method", where);
  const MethodInfo& info = Methods().Get(w->method_key_);
  const json params = Field<json>(j, "method_params", where);
  QMOE_CHECK(params.is_object(), where, ": method_params must be an object");
  w->method_ = info.make(ParamsFromJson(params, info.params, where));
  const json mats = Field<json>(j, "expert_matrices", where);
  QMOE_CHECK(mats.is_object(), where, ": expert_matrices must be an object");
  for (const auto& [name, m] : mats.items()) {
    const std::string mw = StrCat(where, ": expert_matrices[\"", name, "\"]");
    CompressedMatrixInfo ci{Field<std::string>(m, "file", mw), Field<int64_t>(m, "rows", mw),
                            Field<int64_t>(m, "cols", mw), Field<double>(m, "storage_bits", mw)};
    QMOE_CHECK(!ci.file.empty() && ci.file.find('/') == std::string::npos && ci.file != "." && ci.file != "..", mw,
               ": file '", ci.file, "' must be a file name inside ", dir.string());
    int64_t numel = 0;
    QMOE_CHECK(ci.rows > 0 && ci.cols > 0 && !__builtin_mul_overflow(ci.rows, ci.cols, &numel) &&
                   numel <= kMaxCompressedMatrixElements,
               mw, ": shape [", ci.rows, ", ", ci.cols, "] must be positive with at most ", kMaxCompressedMatrixElements,
               " elements");
    QMOE_CHECK(std::isfinite(ci.storage_bits) && ci.storage_bits >= 0, mw, ": storage_bits must be finite and >= 0");
    if (!w->files_.count(ci.file)) {
      QMOE_CHECK(fs::exists(dir / ci.file), where, ": expert file '", ci.file, "' for '", name, "' is missing");
      w->files_[ci.file] = SafetensorsFile::Open(dir / ci.file);
    }
    w->matrices_[name] = ci;
  }
  w->dense_ = SafetensorsFile::Open(dir / "dense.safetensors");
  return w;
}

bool CompressedWeights::Has(const std::string& name) const {
  if (matrices_.count(name)) return true;
  for (const auto& i : dense_->Infos())
    if (i.name == name) return true;
  return false;
}

std::map<std::string, at::Tensor> CompressedWeights::Packed(const std::string& name) const {
  auto it = matrices_.find(name);
  QMOE_CHECK(it != matrices_.end(), dir_.string(), ": no compressed expert matrix '", name, "'");
  const auto& file = *files_.at(it->second.file);
  std::map<std::string, at::Tensor> packed;
  const std::string prefix = name + ".";
  for (const auto& i : file.Infos())
    if (i.name.rfind(prefix, 0) == 0) packed[i.name.substr(prefix.size())] = file.Load(i.name);
  QMOE_CHECK(!packed.empty(), (dir_ / it->second.file).string(), ": no packed tensors for '", name, "'");
  return packed;
}

at::Tensor CompressedWeights::Get(const std::string& name) const {
  auto it = matrices_.find(name);
  if (it != matrices_.end()) {
    at::Tensor w = method_->Dequantize(Packed(name));
    QMOE_CHECK(w.dim() == 2 && w.size(0) == it->second.rows && w.size(1) == it->second.cols,
               (dir_ / it->second.file).string(), ": '", name, "' decodes to shape ", w.sizes(),
               ", expected [", it->second.rows, ", ", it->second.cols, "]");
    return w;
  }
  for (const auto& i : dense_->Infos())
    if (i.name == name) return dense_->Load(name);
  throw Error(StrCat((dir_ / "dense.safetensors").string(), ": no tensor '", name, "' in the compressed model"));
}

std::string CompressedWeights::Describe() const { return "compressed model " + dir_.string(); }

std::string CompressedWeights::hf_config_json() const {
  std::ifstream f(dir_ / "config.json");
  QMOE_CHECK(f, (dir_ / "config.json").string(), ": missing");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

double CompressedWeights::expert_bits() const {
  double b = 0;
  for (const auto& [n, m] : matrices_) b += m.storage_bits;
  return b;
}

int64_t CompressedWeights::expert_params() const {
  int64_t n = 0;
  for (const auto& [k, m] : matrices_) n += m.rows * m.cols;
  return n;
}

double CompressedWeights::dense_bits() const {
  double b = 0;
  for (const auto& i : dense_->Infos()) {
    int64_t n = 1;
    for (auto d : i.shape) n *= d;
    b += 8.0 * double(n) * double(DtypeItemSize(ScalarTypeFromDtype(i.dtype, i.file)));
  }
  return b;
}

int64_t CompressedWeights::dense_params() const {
  int64_t total = 0;
  for (const auto& i : dense_->Infos()) {
    int64_t n = 1;
    for (auto d : i.shape) n *= d;
    total += n;
  }
  return total;
}

}  // namespace qmoe
