#include "serving/qmoe_published.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <regex>

#include "framework/core/strings.h"
#include "framework/core/error.h"
#include "framework/io/torch_bin.h"
#include "framework/model/switch_names.h"
#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"
#include "methods/codec/packed_tensors.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

const char* kFields[] = {"w_comp", "row_off", "ter_minmax"};

}  // namespace

std::shared_ptr<PublishedQmoeWeights> PublishedQmoeWeights::Open(const fs::path& dir) {
  QMOE_CHECK(fs::is_directory(dir), "published QMoE directory '", dir.string(), "' does not exist");
  std::shared_ptr<PublishedQmoeWeights> w(new PublishedQmoeWeights());
  w->dir_ = dir;
  w->cfg_ = ReadHfConfig(dir / "config.json");
  QMOE_CHECK(fs::exists(dir / "noexp.pt"), dir.string(), ": noexp.pt is missing (not a published QMoE directory)");
  w->noexp_ = TorchBinFile::Open(dir / "noexp.pt");
  std::map<std::string, bool> stored;
  for (const auto& info : w->noexp_->Infos()) stored[info.name] = true;
  for (const auto& t : SwitchTensorShapes(w->cfg_)) {
    if (t.is_expert) continue;
    for (const auto& cand : SwitchNameCandidates(t.name))
      if (stored.count(cand)) {
        w->dense_names_[t.name] = cand;
        break;
      }
  }
  std::vector<fs::path> exps;
  const std::regex pat("exp[0-9][0-9]\\.pt");
  for (const auto& e : fs::directory_iterator(dir))
    if (std::regex_match(e.path().filename().string(), pat)) exps.push_back(e.path());
  std::sort(exps.begin(), exps.end());
  QMOE_CHECK(!exps.empty(), dir.string(), ": no expNN.pt files");
  for (const auto& p : exps) {
    const size_t idx = w->exp_files_.size();
    w->exp_files_.push_back(TorchBinFile::Open(p));
    w->exp_paths_.push_back(p.string());
    std::map<std::string, bool> names;
    for (const auto& info : w->exp_files_.back()->Infos()) names[info.name] = true;
    for (const auto& [n, _] : names) {
      if (!EndsWith(n, ".w_comp")) continue;
      const std::string m = n.substr(0, n.size() - 7);
      for (const char* f : kFields)
        QMOE_CHECK(names.count(m + "." + f), p.string(), ": '", m, ".", f, "' is missing");
      QMOE_CHECK(!w->matrix_file_.count(m), p.string(), ": expert matrix '", m, "' also in ",
                 w->exp_paths_[w->matrix_file_[m]]);
      w->matrix_file_[m] = idx;
    }
  }
  for (const auto& t : SwitchTensorShapes(w->cfg_)) {
    if (!t.is_expert) continue;
    const std::string m = t.name.substr(0, t.name.size() - 7);  // drop ".weight"
    QMOE_CHECK(w->matrix_file_.count(m), dir.string(), ": expert matrix '", m, "' is in no expNN.pt file");
  }
  if (fs::exists(dir / "sizes.pt")) {
    auto sizes = TorchBinFile::Open(dir / "sizes.pt");
    for (const auto& info : sizes->Infos()) {
      auto it = w->matrix_file_.find(info.name);
      QMOE_CHECK(it != w->matrix_file_.end(), dir.string(), "/sizes.pt: '", info.name, "' is no expert matrix");
      at::Tensor n = sizes->Load(info.name);
      QMOE_CHECK(n.numel() == 1, dir.string(), "/sizes.pt: '", info.name, "' must hold one number, got ", n.sizes());
      const int64_t want = n.to(at::kLong).item<int64_t>();
      const int64_t have = w->exp_files_[it->second]->Load(info.name + ".w_comp").numel();
      QMOE_CHECK(want == have, dir.string(), "/sizes.pt: '", info.name, "' says ", want, " codewords but ",
                 w->exp_paths_[it->second], " holds ", have);
    }
  }
  return w;
}

std::pair<int64_t, int64_t> PublishedQmoeWeights::Shape(const std::string& matrix) const {
  return EndsWith(matrix, ".wi") ? std::pair{cfg_.d_ff, cfg_.d_model} : std::pair{cfg_.d_model, cfg_.d_ff};
}

std::vector<std::string> PublishedQmoeWeights::expert_matrices() const {
  std::vector<std::string> out;
  for (const auto& [m, _] : matrix_file_) out.push_back(m);
  return out;
}

std::map<std::string, at::Tensor> PublishedQmoeWeights::Packed(const std::string& matrix) const {
  auto it = matrix_file_.find(matrix);
  QMOE_CHECK(it != matrix_file_.end(), Describe(), ": no expert matrix '", matrix, "'");
  std::map<std::string, at::Tensor> p;
  for (const char* f : kFields) p[f] = exp_files_[it->second]->Load(matrix + "." + f);
  return p;
}

bool PublishedQmoeWeights::Has(const std::string& name) const {
  if (dense_names_.count(name)) return true;
  return EndsWith(name, ".weight") && matrix_file_.count(name.substr(0, name.size() - 7));
}

at::Tensor PublishedQmoeWeights::Get(const std::string& name) const {
  auto d = dense_names_.find(name);
  if (d != dense_names_.end()) return noexp_->Load(d->second);
  QMOE_CHECK(EndsWith(name, ".weight"), Describe(), ": no tensor '", name, "'");
  const std::string m = name.substr(0, name.size() - 7);
  auto it = matrix_file_.find(m);
  QMOE_CHECK(it != matrix_file_.end(), Describe(), ": no tensor '", name, "'");
  const std::string where = exp_paths_[it->second] + ": " + m;
  const auto [rows, cols] = Shape(m);
  const codecs::TensorViews fields = codecs::ViewTensors(Packed(m));
  const dict::DictView v = dict::Unpack(fields.views, where, rows, cols);  // one Error naming the tensor
  at::Tensor out = at::empty({rows, cols}, at::TensorOptions().dtype(at::kFloat));
  dict::DecodeRows(v, dict::DecodeTable().data(), 0, rows, out.data_ptr<float>());
  return out;
}

std::string PublishedQmoeWeights::Describe() const { return "published QMoE directory " + dir_.string(); }

std::shared_ptr<DictExperts> PublishedQmoeWeights::MakeDictExperts(DictExpertsOptions opts) const {
  auto out = std::make_shared<DictExperts>(opts);
  DictExperts::ForEachExpertMatrix(cfg_, [&](const ExpertId& id, const char* mat, const std::string& name) {
    const std::string m = name.substr(0, name.size() - 7);  // drop ".weight"
    const auto [rows, cols] = Shape(m);
    out->Add(id, mat, Packed(m), rows, cols, exp_paths_[matrix_file_.at(m)] + ": " + m);
  });
  return out;
}

}  // namespace qmoe
