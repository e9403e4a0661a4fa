// The `device` setting: where an experiment computes (cpu | cuda | cuda:N | cuda:0,1,2,3).
//
// Two halves, so everything but the probe is testable on a machine without a GPU:
//  * ParseDevice / CheckDeviceUsable are pure: text -> DeviceSpec, and (spec, probe) -> one clear
//    Error naming what is missing (a CPU-only LibTorch, no driver = CUDA error 35, too few GPUs).
//  * ProbeCuda asks LibTorch and, in builds with the CUDA toolkit (QMOE_HAVE_CUDA), the CUDA
//    runtime. It never throws.
// RequireDevice = CheckDeviceUsable(spec, ProbeCuda()): experiments call it before any work.
#pragma once
#include <c10/core/Device.h>

#include <string>
#include <string_view>
#include <vector>

namespace qmoe {

struct DeviceSpec {
  bool cuda = false;
  std::vector<int> ordinals;  // cuda: the GPUs in the order given (plain "cuda" = {0}); cpu: empty

  // The canonical spelling: "cpu", "cuda:0", "cuda:0,1,2,3".
  std::string ToString() const;
  // The torch device of the i-th listed GPU (cpu: at::kCPU for any i).
  c10::Device Torch(size_t i = 0) const;
  // Where one-GPU work runs: the first listed device.
  c10::Device Primary() const { return Torch(0); }
};

// Parses `text`; `key` names the setting in errors. Accepts cpu, cuda, cuda:N, cuda:N,M,... with
// distinct ordinals in [0, 1023]. Anything else is one Error naming key, text and the forms.
DeviceSpec ParseDevice(std::string_view text, std::string_view key = "device");

// What this process can use, as far as the libraries can tell without throwing.
struct CudaProbe {
  bool torch_cuda_build = false;  // LibTorch was built with CUDA (at::hasCUDART(); Debian's is not)
  int torch_devices = 0;          // torch::cuda::device_count(): GPUs LibTorch can use (0 without driver)
  bool runtime_built = false;  // qmoe was built with the CUDA toolkit (QMOE_HAVE_CUDA)
  int runtime_error = 0;       // cudaGetDeviceCount's error (0 = success; 35 = no/old driver)
  std::string runtime_error_text;  // cudaGetErrorString of it
  int runtime_devices = 0;     // cudaGetDeviceCount's count on success
};
CudaProbe ProbeCuda();

// Throws one Error when `spec` cannot run with what `probe` found; returns for cpu always.
void CheckDeviceUsable(const DeviceSpec& spec, const CudaProbe& probe, std::string_view key = "device");

// CheckDeviceUsable(spec, ProbeCuda()) for a cuda spec; nothing (no probe) for cpu.
void RequireDevice(const DeviceSpec& spec, std::string_view key = "device");

}  // namespace qmoe
