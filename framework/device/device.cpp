#include "framework/device/device.h"

#include <ATen/Context.h>
#include <torch/cuda.h>

#include <algorithm>
#include <charconv>

#include "framework/core/error.h"
#include "framework/core/strings.h"

#if QMOE_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace qmoe {
namespace {

constexpr int kMaxOrdinal = 1023;

[[noreturn]] void BadDevice(std::string_view key, std::string_view text, std::string_view why) {
  throw Error(StrCat(key, " = '", text, "': ", why,
                     " (expected cpu, cuda, cuda:N or a list of GPUs cuda:0,1,2,3)"));
}

}  // namespace

std::string DeviceSpec::ToString() const {
  if (!cuda) return "cpu";
  std::string s = "cuda:";
  for (size_t i = 0; i < ordinals.size(); ++i) s += (i ? "," : "") + std::to_string(ordinals[i]);
  return s;
}

c10::Device DeviceSpec::Torch(size_t i) const {
  if (!cuda) return c10::Device(c10::kCPU);
  QMOE_ASSERT(i < ordinals.size(), "device index ", i, " of ", ToString());
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(ordinals[i]));
}

DeviceSpec ParseDevice(std::string_view text, std::string_view key) {
  DeviceSpec spec;
  if (text == "cpu") return spec;
  if (text == "cuda") return DeviceSpec{true, {0}};
  if (text.substr(0, 5) != "cuda:") BadDevice(key, text, "unknown device");
  spec.cuda = true;
  std::string_view rest = text.substr(5);
  if (rest.empty()) BadDevice(key, text, "no GPU number after 'cuda:'");
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    int n = -1;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      BadDevice(key, text, StrCat("'", item, "' is not a GPU number"));
    if (n < 0 || n > kMaxOrdinal) BadDevice(key, text, StrCat("GPU number ", n, " is outside 0..", kMaxOrdinal));
    if (std::find(spec.ordinals.begin(), spec.ordinals.end(), n) != spec.ordinals.end())
      BadDevice(key, text, StrCat("GPU ", n, " is listed twice"));
    spec.ordinals.push_back(n);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return spec;
}

CudaProbe ProbeCuda() {
  CudaProbe p;
  p.torch_cuda_build = at::globalContext().hasCUDART();
  try {
    p.torch_devices = p.torch_cuda_build ? static_cast<int>(torch::cuda::device_count()) : 0;
  } catch (...) {
    p.torch_devices = 0;
  }
#if QMOE_HAVE_CUDA
  p.runtime_built = true;
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    p.runtime_error = static_cast<int>(err);
    p.runtime_error_text = cudaGetErrorString(err);
    (void)cudaGetLastError();  // clear the sticky error for later calls
  } else {
    p.runtime_devices = n;
  }
#endif
  return p;
}

void CheckDeviceUsable(const DeviceSpec& spec, const CudaProbe& probe, std::string_view key) {
  if (!spec.cuda) return;
  const std::string what = StrCat(key, "=", spec.ToString(), ": no usable GPU: ");
  // What the CUDA runtime said, in words a user can act on (error 35 = cudaErrorInsufficientDriver,
  // 100 = cudaErrorNoDevice: the numbers are fixed by the CUDA runtime API).
  std::string runtime;
  if (probe.runtime_built && probe.runtime_error != 0) {
    runtime = StrCat("cudaGetDeviceCount failed with CUDA error ", probe.runtime_error, " (",
                     probe.runtime_error_text, ")");
    if (probe.runtime_error == 35) runtime += ": the NVIDIA driver is missing or older than the CUDA runtime";
    if (probe.runtime_error == 100) runtime += ": the driver sees no GPU";
  } else if (probe.runtime_built && probe.runtime_devices == 0) {
    runtime = "the CUDA runtime counts 0 GPUs";
  }
  if (!probe.torch_cuda_build) {
    throw Error(StrCat(what, "this qmoe is linked against a CPU-only LibTorch (at::hasCUDART() is false)",
                       runtime.empty() ? "" : "; and " + runtime,
                       ". Build against a CUDA LibTorch: docs/gpu.md"));
  }
  if (!runtime.empty()) throw Error(StrCat(what, runtime, ". Install or update the NVIDIA driver"));
  const int visible = probe.runtime_built ? std::min(probe.runtime_devices, probe.torch_devices) : probe.torch_devices;
  if (visible == 0)
    throw Error(StrCat(what, "LibTorch has CUDA but torch::cuda::device_count() is 0 (no driver, or ",
                       "CUDA_VISIBLE_DEVICES hides every GPU)"));
  for (int o : spec.ordinals)
    QMOE_CHECK(o < visible, key, "=", spec.ToString(), ": GPU ", o, " does not exist: ", visible,
               visible == 1 ? " GPU is" : " GPUs are", " visible (cuda:0..", visible - 1, ")");
}

void RequireDevice(const DeviceSpec& spec, std::string_view key) {
  if (spec.cuda) CheckDeviceUsable(spec, ProbeCuda(), key);
}

}  // namespace qmoe
