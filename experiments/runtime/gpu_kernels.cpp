#include "experiments/runtime/gpu_kernels.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <vector>

#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"
#include "codecs/ternary/iid_ternary.h"
#include "codecs/ternary/ternary_symbols.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "kernels/common/cuda_device.h"

#if QMOE_HAVE_CUDA
#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#include "kernels/dict_matvec/dict_matvec_cuda.h"
#endif

namespace qmoe {

#if !QMOE_HAVE_CUDA
void RunKernelsOnGpu(RunContext&, const KernelsExperiment::Params&, const DeviceSpec& device) {
  throw Error(StrCat("experiment kernels: device=", device.ToString(), " but this qmoe was built without the CUDA ",
                     "toolkit (docs/gpu.md)"));
}
#else
namespace {

namespace kk = qmoe::kernels;

std::vector<int64_t> Ints(const std::string& text, const char* key, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  for (const std::string& t : Split(text, ',')) {
    if (Trim(t).empty()) continue;
    char* end = nullptr;
    const long long v = std::strtoll(Trim(t).c_str(), &end, 10);
    QMOE_CHECK(end && *end == '\0' && v >= lo && v <= hi, "experiment.", key, ": '", t, "' is not a whole number in [",
               lo, ", ", hi, "]");
    out.push_back(v);
  }
  return out;
}

// Median seconds per call over `repeats` passes of `calls` calls, each on the next copy (wall
// time with a device synchronisation per pass: the GPU is not shared the way the CPU is).
double MedianPerCall(int64_t copies, int64_t repeats, int64_t calls, const std::function<void(int64_t)>& fn) {
  int64_t cursor = 0;
  auto pass = [&] {
    for (int64_t c = 0; c < calls; ++c, cursor = (cursor + 1) % copies) fn(cursor);
    kk::CudaSynchronize();
  };
  pass();  // warm-up: plans, cuBLAS heuristics, first-touch
  std::vector<double> t;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto a = std::chrono::steady_clock::now();
    pass();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count() / double(calls));
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

struct Shape {
  int64_t rows, cols;
};

}  // namespace

void RunKernelsOnGpu(RunContext& ctx, const KernelsExperiment::Params& p, const DeviceSpec& device) {
  const int ordinal = device.ordinals.at(0);
  CUDA_CHECK(cudaSetDevice(ordinal));
  const c10::Device dev = device.Primary();
  const std::string name = kk::CudaDeviceName(ordinal);
  const kk::CudaDeviceLimits lim = kk::CudaLimits(ordinal);
  const int64_t ring_bytes = int64_t(std::max(1.0, p.cache_factor) * double(lim.l2_bytes));
  std::vector<Shape> shapes;
  for (const std::string& t : Split(p.shapes, ',')) {
    const auto rc = Split(Trim(t), 'x');
    QMOE_CHECK(rc.size() == 2, "experiment.shapes: '", t, "' is not RxC (e.g. 768x3072)");
    shapes.push_back({Ints(rc[0], "shapes", 1, 1 << 20)[0], Ints(rc[1], "shapes", 1, 1 << 20)[0]});
  }
  const auto batches = Ints(p.batches, "batches", 1, kk::kDictMaxBatch);
  const auto gemm_batches = Ints(p.gemm_batches, "gemm_batches", 1, 1 << 16);
  QMOE_CHECK(!shapes.empty() && !batches.empty(), "experiment kernels: no shapes or batches");
  const uint32_t* dec_host = dict::DecodeTable().data();
  dict::ValidateDecodeTable(dec_host);
  at::Tensor dec = at::from_blob(const_cast<uint32_t*>(dec_host), {2 * dict::kEntries}, at::kInt).to(dev);
  const auto* decp = reinterpret_cast<const uint32_t*>(dec.data_ptr<int32_t>());
  kk::CublasBf16Gemv blas;
  ctx.Metric("cuda_l2_bytes", double(lim.l2_bytes), "bytes");
  std::cout << "kernels on " << name << " (" << lim.sms << " SMs, L2 " << (lim.l2_bytes >> 20) << " MiB)\n";
  int64_t last_fused = 0;  // the largest token count up to which the fused chunks won every time
  bool gemm_won = false;
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape s = shapes[si];
    const std::string shape = StrCat(s.rows, "x", s.cols);
    const int64_t base = 1000 + int64_t(si);  // the CPU kernels experiment's matrices
    const std::vector<float> w = ternary::RandomTernaryMatrix(
        s.rows, s.cols, p.p0, ctx.seed == 0 ? base : data::ReplicateSeed(base, ctx.seed));
    const dict::EncodedMatrix enc =
        dict::Encode(ternary::SymbolsFromTernary(w.data(), s.rows, s.cols, ternary::SymbolMode::kReference, shape));
    const int64_t nc = int64_t(enc.codes.size()), dict_bytes = dict::ExactBytes(enc);
    const int64_t n_dict = std::max<int64_t>(2, ring_bytes / dict_bytes + 1);
    const int64_t n_dense = std::max<int64_t>(2, ring_bytes / (2 * s.rows * s.cols) + 1);
    auto upload = [&](const void* data, int64_t n, at::ScalarType t, int64_t copies) {
      return at::from_blob(const_cast<void*>(data), {n}, t).repeat({copies}).to(dev);
    };
    at::Tensor codes = upload(enc.codes.data(), nc, at::kShort, n_dict);
    at::Tensor row_off = upload(enc.row_off.data(), s.rows + 1, at::kInt, n_dict);
    at::Tensor minmax = upload(enc.minmax_bf16.data(), 2 * s.rows, at::kShort, n_dict);
    std::vector<float> wd = dict::Decode(enc);
    at::Tensor dense = at::from_blob(wd.data(), {s.rows * s.cols}, at::kFloat).to(at::kBFloat16).repeat({n_dense}).to(dev);
    auto view = [&](int64_t i) {
      return kk::DictView{s.rows, s.cols, reinterpret_cast<const uint16_t*>(codes.data_ptr<int16_t>()) + i * nc, nc,
                          row_off.data_ptr<int32_t>() + i * (s.rows + 1),
                          reinterpret_cast<const kk::Bf16*>(minmax.data_ptr<int16_t>()) + i * 2 * s.rows};
    };
    const int64_t kmax = std::max(kk::kDictMaxBatch, gemm_batches.empty() ? int64_t{0}
                                                     : *std::max_element(gemm_batches.begin(), gemm_batches.end()));
    const auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(dev);
    at::Tensor x = at::randn({kmax, s.cols}, at::TensorOptions().dtype(at::kFloat)).to(dev, at::kBFloat16);
    at::Tensor y = at::empty({kmax, s.rows}, bf16), scratch = at::empty({s.rows * s.cols}, bf16);
    auto xp = reinterpret_cast<const kk::Bf16*>(x.data_ptr<at::BFloat16>());
    auto yp = reinterpret_cast<kk::Bf16*>(y.data_ptr<at::BFloat16>());
    auto dp = [&](int64_t i) { return reinterpret_cast<const kk::Bf16*>(dense.data_ptr<at::BFloat16>()) + i * s.rows * s.cols; };
    auto record = [&](const std::string& kernel, int64_t batch, double sec, double bytes, const std::string& bl,
                      double bl_sec) {
      KernelTiming t;
      t.kernel = kernel, t.device = name, t.rows = s.rows, t.cols = s.cols, t.batch = batch, t.seconds = sec;
      t.gbytes_per_s = bytes / sec / 1e9;
      t.weights_per_s = double(s.rows * s.cols) / sec;
      t.baseline = bl;
      t.ratio = bl.empty() ? 1.0 : bl_sec / sec;
      ctx.Timing(t);
    };
    for (int64_t k : batches) {
      const double t_blas = MedianPerCall(n_dense, p.repeats, p.calls,
                                          [&](int64_t i) { blas.Run(dp(i), s.rows, s.cols, xp, k, yp); });
      const double t_dict = MedianPerCall(n_dict, p.repeats, p.calls,
                                          [&](int64_t i) { kk::DictMatvecCudaOn(ordinal, view(i), decp, xp, k, yp); });
      record("dense_bf16_cublas", k, t_blas, 2.0 * double(s.rows * s.cols), "", 0);
      record("sub1_matvec_cuda", k, t_dict, double(dict_bytes), "dense_bf16_cublas", t_blas);
      std::cout << "kernels " << shape << " k=" << k << ": cuBLAS bf16 " << t_blas * 1e6 << " us, dict CUDA "
                << t_dict * 1e6 << " us (" << t_blas / t_dict << "x)\n";
    }
    if (si != 0) continue;
    for (int64_t n : gemm_batches) {
      auto sp = reinterpret_cast<kk::Bf16*>(scratch.data_ptr<at::BFloat16>());
      const double t_chunk = MedianPerCall(n_dict, p.repeats, p.calls, [&](int64_t i) {
        kk::DictMatmulCuda(ordinal, view(i), decp, xp, n, yp, sp, blas, /*gemm_threshold=*/n);  // fused
      });
      const double t_gemm = MedianPerCall(n_dict, p.repeats, p.calls, [&](int64_t i) {
        kk::DictMatmulCuda(ordinal, view(i), decp, xp, n, yp, sp, blas, /*gemm_threshold=*/0);  // GEMM route
      });
      record("sub1_decompress_gemm_cuda", n, t_gemm, double(dict_bytes), "sub1_matvec_cuda_chunked16", t_chunk);
      record("sub1_matvec_cuda_chunked16", n, t_chunk, double(dict_bytes), "", 0);
      std::cout << "kernels " << shape << " n=" << n << ": fused chunks " << t_chunk * 1e6 << " us, decompress+GEMM "
                << t_gemm * 1e6 << " us\n";
      if (t_gemm < t_chunk) gemm_won = true;
      else if (!gemm_won) last_fused = n;
    }
    if (!gemm_batches.empty())
      ctx.Metric("cuda_gemm_threshold_tokens", double(last_fused), "tokens");
  }
}
#endif

}  // namespace qmoe
