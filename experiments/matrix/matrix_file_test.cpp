// Single-matrix mode: W plus calibration inputs X (or a Hessian H) from safetensors, any method,
// and the quantized weight saved back as safetensors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "experiments/matrix/matrix_source.h"
#include "framework/core/error.h"
#include "framework/io/safetensors.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("qmoe_matrix_file_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

TEST(MatrixFile, ReadsWeightsWithInputsOrHessianAndSavesBack) {
  TempDir tmp;
  at::manual_seed(3);
  at::Tensor w1 = at::randn({8, 12}), w2 = at::randn({5, 7});
  at::Tensor x1 = at::randn({40, 12}), h2 = at::eye(7) * 2.0;
  const std::string file = (tmp.path / "layer.safetensors").string();
  WriteSafetensors(file, {{"a.wi", w1}, {"a.wi.inputs", x1}, {"b.wo", w2}, {"b.wo.hessian", h2}});

  MatrixExperiment::Params p;
  p.source = "safetensors";
  p.weights = file;
  p.hessian = "file";
  auto mats = LoadMatricesFromFile(p);
  ASSERT_EQ(mats.size(), 2u) << "the .inputs/.hessian tensors are not weights";
  EXPECT_EQ(mats[0].name, "a.wi");
  EXPECT_TRUE(at::equal(mats[0].weight, w1));
  EXPECT_TRUE(at::allclose(mats[0].hessian, at::mm(x1.t(), x1))) << "H = XᵀX";
  EXPECT_TRUE(at::equal(mats[1].hessian, h2));

  p.tensors = "b.wo";
  ASSERT_EQ(LoadMatricesFromFile(p).size(), 1u);
  p.tensors = "b.woo";
  try {
    LoadMatricesFromFile(p);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'b.wo'"), std::string::npos) << e.what();
  }

  const std::string out = (tmp.path / "q" / "out.safetensors").string();
  SaveMatrices(out, {{"a.wi", w1 * 2}});
  auto back = SafetensorsFile::Open(out);
  EXPECT_TRUE(at::equal(back->Load("a.wi"), w1 * 2));
}

TEST(MatrixFile, MissingFileAndWrongShapesAreOneClearError) {
  TempDir tmp;
  MatrixExperiment::Params p;
  p.source = "safetensors";
  p.weights = (tmp.path / "nope.safetensors").string();
  EXPECT_THROW(LoadMatricesFromFile(p), Error);
  const std::string file = (tmp.path / "bad.safetensors").string();
  WriteSafetensors(file, {{"w", at::randn({4, 6})}, {"w.inputs", at::randn({10, 5})}});
  p.weights = file;
  p.hessian = "file";
  try {
    LoadMatricesFromFile(p);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("w.inputs"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qmoe
