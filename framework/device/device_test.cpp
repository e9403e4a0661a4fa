#include "framework/device/device.h"

#include <gtest/gtest.h>

#include <functional>

#include "framework/core/error.h"

namespace qmoe {
namespace {

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ParseDevice, AcceptsEveryForm) {
  EXPECT_FALSE(ParseDevice("cpu").cuda);
  EXPECT_EQ(ParseDevice("cpu").ToString(), "cpu");
  EXPECT_EQ(ParseDevice("cuda").ordinals, std::vector<int>({0}));
  EXPECT_EQ(ParseDevice("cuda").ToString(), "cuda:0");
  EXPECT_EQ(ParseDevice("cuda:3").ordinals, std::vector<int>({3}));
  EXPECT_EQ(ParseDevice("cuda:0,1,2,3").ordinals, std::vector<int>({0, 1, 2, 3}));
  EXPECT_EQ(ParseDevice("cuda:2,0").ToString(), "cuda:2,0");  // order is the user's
  EXPECT_EQ(ParseDevice("cuda:1").Primary(), c10::Device(c10::kCUDA, 1));
  EXPECT_EQ(ParseDevice("cuda:0,5").Torch(1), c10::Device(c10::kCUDA, 5));
  EXPECT_EQ(ParseDevice("cpu").Primary(), c10::Device(c10::kCPU));
  for (const char* s : {"cpu", "cuda:0", "cuda:7", "cuda:0,1,2,3"}) EXPECT_EQ(ParseDevice(s).ToString(), s);
}

TEST(ParseDevice, RejectsWithOneErrorNamingKeyAndValue) {
  for (const char* bad : {"", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1,", "cuda:,1", "cuda:1,1",
                          "cuda:1024", "cuda:99999999999", "cuda: 1", "cuda:0;1", "cpu:0", "mps"}) {
    const std::string e = ErrorOf([&] { ParseDevice(bad, "device"); });
    EXPECT_NE(e.find(std::string("device = '") + bad + "'"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("expected cpu, cuda, cuda:N"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_NE(ErrorOf([] { ParseDevice("cuda:1,1"); }).find("listed twice"), std::string::npos);
}

// What a Debian machine like this one reports: CPU LibTorch, toolkit present, no driver.
CudaProbe NoDriverCpuTorch() {
  CudaProbe p;
  p.runtime_built = true;
  p.runtime_error = 35;
  p.runtime_error_text = "CUDA driver version is insufficient for CUDA runtime version";
  return p;
}

TEST(CheckDeviceUsable, CpuNeedsNothing) {
  EXPECT_NO_THROW(CheckDeviceUsable(ParseDevice("cpu"), CudaProbe{}));
}

TEST(CheckDeviceUsable, CpuOnlyLibTorchIsNamedWithTheDriverError) {
  const std::string e = ErrorOf([] { CheckDeviceUsable(ParseDevice("cuda"), NoDriverCpuTorch()); });
  EXPECT_NE(e.find("device=cuda:0: no usable GPU"), std::string::npos) << e;
  EXPECT_NE(e.find("CPU-only LibTorch"), std::string::npos) << e;
  EXPECT_NE(e.find("CUDA error 35"), std::string::npos) << e;
  EXPECT_NE(e.find("driver is missing"), std::string::npos) << e;
  EXPECT_NE(e.find("docs/gpu.md"), std::string::npos) << e;
}

TEST(CheckDeviceUsable, CpuOnlyLibTorchWithoutToolkit) {
  const std::string e = ErrorOf([] { CheckDeviceUsable(ParseDevice("cuda"), CudaProbe{}); });
  EXPECT_NE(e.find("CPU-only LibTorch"), std::string::npos) << e;
  EXPECT_EQ(e.find("CUDA error"), std::string::npos) << e;
}

TEST(CheckDeviceUsable, CudaLibTorchWithoutDriverNamesError35) {
  CudaProbe p = NoDriverCpuTorch();
  p.torch_cuda_build = true;
  const std::string e = ErrorOf([&] { CheckDeviceUsable(ParseDevice("cuda"), p); });
  EXPECT_EQ(e.find("CPU-only"), std::string::npos) << e;
  EXPECT_NE(e.find("CUDA error 35"), std::string::npos) << e;
  EXPECT_NE(e.find("NVIDIA driver"), std::string::npos) << e;
}

TEST(CheckDeviceUsable, NoDeviceAndTooFewDevices) {
  CudaProbe p;
  p.torch_cuda_build = true, p.runtime_built = true, p.runtime_error = 100, p.runtime_error_text = "no CUDA-capable device";
  EXPECT_NE(ErrorOf([&] { CheckDeviceUsable(ParseDevice("cuda"), p); }).find("error 100"), std::string::npos);

  CudaProbe two;
  two.torch_cuda_build = true, two.torch_devices = 2, two.runtime_built = true, two.runtime_devices = 2;
  EXPECT_NO_THROW(CheckDeviceUsable(ParseDevice("cuda:1,0"), two));
  const std::string e = ErrorOf([&] { CheckDeviceUsable(ParseDevice("cuda:0,1,2,3"), two); });
  EXPECT_NE(e.find("GPU 2 does not exist: 2 GPUs are visible (cuda:0..1)"), std::string::npos) << e;

  CudaProbe hidden = two;
  hidden.torch_devices = 0;  // e.g. CUDA_VISIBLE_DEVICES="" after the runtime counted
  EXPECT_NE(ErrorOf([&] { CheckDeviceUsable(ParseDevice("cuda"), hidden); }).find("device_count() is 0"),
            std::string::npos);
}

// The real probe on this machine: whatever it finds, RequireDevice agrees with CheckDeviceUsable.
TEST(ProbeCuda, RequireDeviceMatchesTheProbe) {
  const CudaProbe p = ProbeCuda();
  std::string expected = ErrorOf([&] { CheckDeviceUsable(ParseDevice("cuda"), p); });
  std::string got = ErrorOf([] { RequireDevice(ParseDevice("cuda")); });
  EXPECT_EQ(got, expected);
  EXPECT_NO_THROW(RequireDevice(ParseDevice("cpu")));
  if (!p.torch_cuda_build) EXPECT_NE(got.find("CPU-only LibTorch"), std::string::npos) << got;
}

}  // namespace
}  // namespace qmoe
