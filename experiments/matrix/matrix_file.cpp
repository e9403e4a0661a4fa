// The safetensors side of the matrix experiment: read W (and X or H) and save quantized weights.
#include <ATen/ATen.h>

#include <filesystem>

#include "experiments/matrix/matrix_source.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/io/safetensors.h"

namespace qmoe {
namespace {

bool HasTensor(const SafetensorsFile& f, const std::string& name) {
  for (const auto& i : f.Infos())
    if (i.name == name) return true;
  return false;
}

// The Hessian of matrix `name` [*, cols] from `calibration`: NAME.hessian [cols, cols], or
// NAME.inputs [n, cols] giving H = XᵀX in fp32 (the compress pipeline's convention).
at::Tensor LoadHessian(const SafetensorsFile& f, const std::string& file, const std::string& name, int64_t cols) {
  if (HasTensor(f, name + ".hessian")) {
    at::Tensor h = f.Load(name + ".hessian").to(at::kFloat);
    QMOE_CHECK(h.dim() == 2 && h.size(0) == cols && h.size(1) == cols, file, ": tensor '", name,
               ".hessian' has shape ", h.sizes(), ", expected [", cols, ", ", cols, "]");
    return h;
  }
  QMOE_CHECK(HasTensor(f, name + ".inputs"), file, ": no tensor '", name, ".hessian' or '", name,
             ".inputs' for weight '", name, "'");
  at::Tensor x = f.Load(name + ".inputs").to(at::kFloat);
  x = x.reshape({-1, x.size(-1)});
  QMOE_CHECK(x.size(1) == cols, file, ": tensor '", name, ".inputs' has ", x.size(1),
             " features, expected ", cols, " (the weight's columns)");
  return at::mm(x.t(), x);
}

}  // namespace

std::vector<NamedMatrix> LoadMatricesFromFile(const MatrixExperiment::Params& p) {
  QMOE_CHECK(!p.weights.empty(), "experiment.source=safetensors needs experiment.weights=FILE");
  QMOE_CHECK(std::filesystem::exists(p.weights), "experiment.weights: file '", p.weights, "' does not exist");
  auto file = SafetensorsFile::Open(p.weights);
  std::vector<std::string> names;
  if (p.tensors.empty()) {
    for (const auto& i : file->Infos())
      if (i.shape.size() == 2 && i.name.find(".hessian") == std::string::npos &&
          i.name.find(".inputs") == std::string::npos)
        names.push_back(i.name);
  } else {
    std::vector<std::string> all;
    for (const auto& i : file->Infos()) all.push_back(i.name);
    for (const auto& n : Split(p.tensors, ',')) {
      std::string name = Trim(n);
      QMOE_CHECK(HasTensor(*file, name), p.weights, ": no tensor '", name, "'", DidYouMean(name, all));
      names.push_back(name);
    }
  }
  std::unique_ptr<SafetensorsFile> calib;
  if (p.hessian == "file") {
    std::string path = p.calibration.empty() ? p.weights : p.calibration;
    QMOE_CHECK(std::filesystem::exists(path), "experiment.calibration: file '", path, "' does not exist");
    calib = SafetensorsFile::Open(path);
  }
  std::vector<NamedMatrix> out;
  for (const auto& name : names) {
    NamedMatrix m;
    m.name = name;
    m.weight = file->Load(name);
    QMOE_CHECK(m.weight.dim() == 2, p.weights, ": tensor '", name, "' has shape ", m.weight.sizes(),
               ", expected a 2-D weight [out, in]");
    const int64_t cols = m.weight.size(1);
    if (p.hessian == "identity") m.hessian = at::eye(cols);
    if (p.hessian == "file") m.hessian = LoadHessian(*calib, p.calibration.empty() ? p.weights : p.calibration, name, cols);
    QMOE_CHECK(p.hessian != "correlated", "experiment.hessian=correlated applies to source=random only");
    out.push_back(std::move(m));
  }
  return out;
}

void SaveMatrices(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& mats) {
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  WriteSafetensors(path, mats, {{"format", "qmoe-matrix-v1"}});
}

}  // namespace qmoe
