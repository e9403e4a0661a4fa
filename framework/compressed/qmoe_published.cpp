#include "framework/compressed/qmoe_published.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <regex>

#include "framework/core/error.h"
#include "framework/io/torch_bin.h"
#include "framework/model/switch_names.h"
#include "methods/dict/dict_codec.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

const char* kFields[] = {"w_comp", "row_off", "ter_minmax"};

bool EndsWith(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

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
  const auto p = Packed(m);
  QMOE_CHECK(p.at("w_comp").scalar_type() == at::kShort && p.at("row_off").scalar_type() == at::kInt &&
                 p.at("ter_minmax").scalar_type() == at::kBFloat16,
             where, ": expected w_comp int16, row_off int32, ter_minmax bf16, got ", p.at("w_comp").scalar_type(), ", ",
             p.at("row_off").scalar_type(), ", ", p.at("ter_minmax").scalar_type());
  dict::EncodedMatrix e;
  std::tie(e.rows, e.cols) = Shape(m);
  const at::Tensor codes = p.at("w_comp").contiguous(), off = p.at("row_off").contiguous(),
                   mm = p.at("ter_minmax").contiguous();
  const auto* c = reinterpret_cast<const uint16_t*>(codes.data_ptr<int16_t>());
  e.codes.assign(c, c + codes.numel());
  e.row_off.assign(off.data_ptr<int32_t>(), off.data_ptr<int32_t>() + off.numel());
  const auto* b = reinterpret_cast<const uint16_t*>(mm.data_ptr<at::BFloat16>());
  e.minmax_bf16.assign(b, b + mm.numel());
  dict::Validate(e, where);  // row_off length/monotonicity/coverage, minmax: one Error naming the tensor
  at::Tensor out = at::empty({e.rows, e.cols}, at::TensorOptions().dtype(at::kFloat));
  dict::Decode(e, out.data_ptr<float>());
  return out;
}

std::string PublishedQmoeWeights::Describe() const { return "published QMoE directory " + dir_.string(); }

std::shared_ptr<Sub1Experts> PublishedQmoeWeights::MakeSub1Experts(Sub1ExpertsOptions opts) const {
  auto out = std::make_shared<Sub1Experts>(opts);
  for (Stack s : {Stack::kEncoder, Stack::kDecoder})
    for (int64_t b = 0; b < cfg_.NumBlocks(s); ++b) {
      if (!cfg_.IsSparse(s, b)) continue;
      for (int64_t e = 0; e < cfg_.num_experts; ++e)
        for (const char* mat : {"wi", "wo"}) {
          const std::string name = ExpertWeightName(s, b, e, mat);
          const std::string m = name.substr(0, name.size() - 7);
          const auto [rows, cols] = Shape(m);
          out->Add(ExpertId{s, b, e}, mat, Packed(m), rows, cols, exp_paths_[matrix_file_.at(m)] + ": " + m);
        }
    }
  return out;
}

}  // namespace qmoe
