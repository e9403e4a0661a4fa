#include "experiments/runtime/kernels_experiment.h"
#include "experiments/run_device.h"
#include "experiments/runtime/gpu_kernels.h"

#include "kernels/common/cache_info.h"
#include "kernels/common/cpu_time.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <tuple>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "kernels/common/dense_gemv.h"
#include "codecs/codec.h"
#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"
#include "codecs/ternary/iid_ternary.h"
#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

using kernels::bench::CopiesToExceedCache;
using kernels::bench::LastLevelCacheBytes;
using kernels::bench::ThreadCpuSeconds;

std::vector<int64_t> ParseInts(const std::string& text, const std::string& key, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  for (const std::string& part : Split(text, ',')) {
    const std::string t = Trim(part);
    if (t.empty()) continue;
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    QMOE_CHECK(end && *end == 0 && v >= lo && v <= hi, "experiment.", key, ": '", t, "' is not an integer in [", lo,
               ", ", hi, "]");
    out.push_back(v);
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> ParseShapes(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const std::string& part : Split(text, ',')) {
    const std::string t = Trim(part);
    if (t.empty()) continue;
    const auto rc = Split(t, 'x');
    QMOE_CHECK(rc.size() == 2, "experiment.shapes: '", t, "' is not RxC (e.g. 768x3072)");
    const auto r = ParseInts(rc[0], "shapes", 1, 1 << 20), c = ParseInts(rc[1], "shapes", 1, 1 << 20);
    QMOE_CHECK(r.size() == 1 && c.size() == 1, "experiment.shapes: '", t, "' is not RxC (e.g. 768x3072)");
    out.emplace_back(r[0], c[0]);
  }
  QMOE_CHECK(!out.empty(), "experiment.shapes is empty");
  return out;
}

std::string CpuName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return "cpu:" + Trim(line.substr(p + 1));
    }
  return "cpu";
}

// Median over `repeats` passes of the per-call thread-CPU seconds. A pass makes `calls` calls on
// consecutive copies of a ring of `copies`, continuing where the previous pass stopped, so a copy
// is touched again only after the whole ring (> the last-level cache) has been: every call reads
// its weights from DRAM, while short passes keep the run time independent of the ring size.
// Thread CPU time, as the kernel benchmarks use: on a shared machine wall time also counts other
// processes.
double MedianPerCall(int64_t copies, int64_t repeats, int64_t calls, const std::function<void(int64_t)>& fn) {
  int64_t cursor = 0;
  auto pass = [&] {
    for (int64_t c = 0; c < calls; ++c, cursor = (cursor + 1) % copies) fn(cursor);
  };
  pass();  // warm-up
  std::vector<double> t;
  for (int64_t r = 0; r < repeats; ++r) {
    const double a = ThreadCpuSeconds();
    pass();
    t.push_back((ThreadCpuSeconds() - a) / double(calls));
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// One encoded matrix copied `n` times into one buffer each for codes/row_off/minmax.
struct DictCopies {
  std::vector<uint16_t> codes;
  std::vector<int32_t> row_off;
  std::vector<kk::Bf16> minmax;
  int64_t rows = 0, cols = 0, ncodes = 0, n = 0;
  DictCopies(const dict::EncodedMatrix& enc, int64_t copies)
      : rows(enc.rows), cols(enc.cols), ncodes(int64_t(enc.codes.size())), n(copies) {
    for (int64_t i = 0; i < n; ++i) {
      codes.insert(codes.end(), enc.codes.begin(), enc.codes.end());
      row_off.insert(row_off.end(), enc.row_off.begin(), enc.row_off.end());
      for (uint16_t b : enc.minmax_bf16) minmax.push_back(kk::Bf16{b});
    }
  }
  kk::DictView View(int64_t i) const {
    return kk::DictView{rows, cols, codes.data() + i * ncodes, ncodes, row_off.data() + i * (rows + 1),
                        minmax.data() + i * 2 * rows};
  }
};

// One shape's matrix, its symbols and the timing settings every step shares.
struct ShapeRun {
  int64_t rows = 0, cols = 0;
  std::string shape, device;
  MetricLabels lab;
  std::vector<float> w;  // i.i.d. ternary, bf16 levels
  ternary::TernarySymbols sym;
  double weights = 0;
};

// Rates against bf16 of every codec of the table, the entropy limit 16/H(p0), and each codec's
// whole-matrix decode speed (Validate included; the encoded input is small, the 4 bytes/weight of
// output dominate the memory traffic). dict is the baseline of the decode_<codec>_vs_dict ratios.
void CodecMetrics(RunContext& ctx, const ShapeRun& s, const KernelsExperiment::Params& p) {
  ctx.Metric("rate_entropy_limit", 16.0 / ternary::ModelEntropyBits(p.p0), "x", s.lab);
  ctx.Metric("rate_entropy_empirical", 16.0 / ternary::EmpiricalEntropy(s.sym).pair_bits, "x", s.lab);
  std::vector<float> out(static_cast<size_t>(s.weights));
  const int64_t decode_calls = std::max<int64_t>(1, p.calls / 8);
  std::map<std::string, double> seconds;
  for (const std::string& key : codecs::Codecs().Keys()) {
    const codecs::Codec& c = codecs::Codecs().Get(key);
    const codecs::Coded coded = c.encode(s.sym, {});
    const double rate = 16.0 * s.weights / c.storage_bits(coded);
    ctx.Metric("rate_" + key, rate, "x", s.lab);
    for (const auto& [name, value] : c.metrics(coded)) ctx.Metric(name, value, name.rfind("rate_", 0) == 0 ? "x" : "", s.lab);
    const auto& decode = c.decoders.at(0).run;
    seconds[key] = MedianPerCall(1, p.repeats, decode_calls, [&](int64_t) { decode(coded, out.data()); });
    ctx.Metric("decode_" + key + "_gweights_per_s", s.weights / seconds[key] / 1e9, "Gweights/s", s.lab);
    std::cout << "codecs " << s.shape << ": " << key << " " << rate << "x at " << s.weights / seconds[key] / 1e9
              << " Gweights/s decode\n";
  }
  for (const auto& [key, sec] : seconds)
    if (key != "dict" && seconds.count("dict")) ctx.Metric("decode_" + key + "_vs_dict", seconds.at("dict") / sec, "x", s.lab);
}

void RecordTiming(RunContext& ctx, const ShapeRun& s, const std::string& kernel, int64_t batch, double sec,
                  double bytes, const std::string& base, double base_sec) {
  KernelTiming t;
  t.kernel = kernel, t.device = s.device, t.rows = s.rows, t.cols = s.cols, t.batch = batch, t.seconds = sec;
  t.gbytes_per_s = bytes / sec / 1e9;
  t.weights_per_s = s.weights / sec;
  t.baseline = base;
  t.ratio = base.empty() ? 1.0 : base_sec / sec;
  ctx.Timing(t);
}

// The same weights as dense fp32 and bf16 copies for the GEMV baselines, each ring past the cache.
struct DenseCopies {
  int64_t n_f32 = 0, n_bf16 = 0;
  std::vector<float> f32;
  std::vector<kk::Bf16> b16;
  DenseCopies(const std::vector<float>& wf, double cache_factor) {
    const int64_t weights = int64_t(wf.size());
    n_f32 = CopiesToExceedCache(weights * 4, cache_factor);
    n_bf16 = CopiesToExceedCache(weights * 2, cache_factor);
    for (int64_t i = 0; i < n_f32; ++i) f32.insert(f32.end(), wf.begin(), wf.end());
    for (int64_t i = 0; i < n_bf16; ++i)
      for (float v : wf) b16.push_back(kk::FloatToBf16(v));
  }
};

// Inputs for up to kmax tokens: x in bf16 and its exact fp32 value, and outputs of both types.
struct Operands {
  std::vector<kk::Bf16> xb;
  std::vector<float> xf, yf;
  std::vector<kk::Bf16> yb;
  Operands(int64_t kmax, int64_t rows, int64_t cols)
      : xb(size_t(kmax * cols)), xf(size_t(kmax * cols)), yf(size_t(kmax * rows)), yb(size_t(kmax * rows)) {
    for (int64_t i = 0; i < kmax * cols; ++i) {
      xb[size_t(i)] = kk::FloatToBf16(float(std::sin(0.37 * double(i))));
      xf[size_t(i)] = kk::Bf16ToFloat(xb[size_t(i)]);
    }
  }
};

// The dict kernel's two forms above 16 tokens (chunked batch kernel vs decompress + GEMM, the
// path DictExperts takes above its threshold), to place that threshold.
void TimeGemmThreshold(RunContext& ctx, const ShapeRun& s, const KernelsExperiment::Params& p, const DictCopies& dc,
                       Operands& io, const std::string& kernel, double dict_bytes) {
  const uint32_t* dec = dict::DecodeTable().data();
  const kk::CpuIsa isa = kk::BestCpuIsa();
  for (int64_t n : ParseInts(p.gemm_batches, "gemm_batches", 1, 1 << 16)) {
    const double t_chunk = MedianPerCall(dc.n, p.repeats, p.calls, [&](int64_t i) {
      for (int64_t t0 = 0; t0 < n; t0 += kk::kDictMaxBatch)
        kk::DictMatvecBatch(dc.View(i), dec, io.xb.data() + t0 * s.cols, std::min(kk::kDictMaxBatch, n - t0),
                            io.yb.data() + t0 * s.rows, isa);
    });
    at::Tensor x = at::from_blob(io.xf.data(), {n, s.cols}, at::kFloat);
    at::Tensor wd = at::empty({s.rows, s.cols}, at::kFloat);
    const double t_gemm = MedianPerCall(dc.n, p.repeats, p.calls, [&](int64_t i) {
      kk::DictDecompress(dc.View(i), dec, wd.data_ptr<float>(), isa);
      at::Tensor y = at::matmul(x, wd.t());
    });
    RecordTiming(ctx, s, "sub1_decompress_gemm", n, t_gemm, dict_bytes, kernel + "_chunked16", t_chunk);
    RecordTiming(ctx, s, kernel + "_chunked16", n, t_chunk, dict_bytes, "", 0);
    std::cout << "kernels " << s.shape << " n=" << n << ": chunked batch kernel " << t_chunk * 1e3
              << " ms, decompress+GEMM " << t_gemm * 1e3 << " ms\n";
  }
}

// The dict fused kernel against dense bf16 and fp32 GEMV at each batch, every operand cycled over
// enough copies to exceed the last-level cache; on the first shape also TimeGemmThreshold.
void TimeDictMatvec(RunContext& ctx, const ShapeRun& s, const KernelsExperiment::Params& p, bool first_shape) {
  const auto batches = ParseInts(p.batches, "batches", 1, kk::kDenseGemvMaxBatch);
  const auto gemm_batches = ParseInts(p.gemm_batches, "gemm_batches", 1, 1 << 16);
  const uint32_t* dec = dict::DecodeTable().data();
  const kk::CpuIsa isa = kk::BestCpuIsa();
  const std::string kernel = StrCat("sub1_matvec_", kk::CpuIsaName(isa));  // the stored kernel name
  const dict::EncodedMatrix enc = dict::Encode(s.sym);
  const double dict_bytes = double(dict::ExactBytes(enc));
  const DictCopies dc(enc, CopiesToExceedCache(int64_t(dict_bytes), p.cache_factor));
  const DenseCopies dense(dict::Decode(enc), p.cache_factor);  // the dense baselines multiply the same weights
  const int64_t weights = int64_t(s.weights);
  int64_t kmax = *std::max_element(batches.begin(), batches.end());
  if (first_shape && !gemm_batches.empty()) kmax = std::max(kmax, *std::max_element(gemm_batches.begin(), gemm_batches.end()));
  Operands io(kmax, s.rows, s.cols);
  for (int64_t k : batches) {
    const double t_bf16 = MedianPerCall(dense.n_bf16, p.repeats, p.calls, [&](int64_t i) {
      kk::DenseGemvBf16(dense.b16.data() + i * weights, s.rows, s.cols, io.xf.data(), k, io.yf.data());
    });
    const double t_f32 = MedianPerCall(dense.n_f32, p.repeats, p.calls, [&](int64_t i) {
      kk::DenseGemvF32(dense.f32.data() + i * weights, s.rows, s.cols, io.xf.data(), k, io.yf.data());
    });
    const double t_dict = MedianPerCall(dc.n, p.repeats, p.calls, [&](int64_t i) {
      kk::DictMatvecBatch(dc.View(i), dec, io.xb.data(), k, io.yb.data(), isa);
    });
    RecordTiming(ctx, s, "dense_bf16_gemv", k, t_bf16, s.weights * 2, "", 0);
    RecordTiming(ctx, s, "dense_f32_gemv", k, t_f32, s.weights * 4, "dense_bf16_gemv", t_bf16);
    RecordTiming(ctx, s, kernel, k, t_dict, dict_bytes, "dense_bf16_gemv", t_bf16);
    std::cout << "kernels " << s.shape << " k=" << k << ": dense bf16 " << t_bf16 * 1e3 << " ms, fp32 " << t_f32 * 1e3
              << " ms, " << kernel << " " << t_dict * 1e3 << " ms (" << t_bf16 / t_dict << "x vs bf16, "
              << t_f32 / t_dict << "x vs fp32)\n";
  }
  if (first_shape) TimeGemmThreshold(ctx, s, p, dc, io, kernel, dict_bytes);
}

// The timing step of each fused kernel (Codec::fused_kernel), by kernel folder.
using FusedKernelStep = void (*)(RunContext&, const ShapeRun&, const KernelsExperiment::Params&, bool);
const std::map<std::string, FusedKernelStep>& FusedKernelSteps() {
  static const std::map<std::string, FusedKernelStep> steps = {{"dict_matvec", TimeDictMatvec}};
  return steps;
}

}  // namespace

void KernelsExperiment::Run(RunContext& ctx) {
  if (const DeviceSpec d = RunDevice(ctx); d.cuda) return RunKernelsOnGpu(ctx, p_, d);  // device=cuda: gpu_kernels.h
  const auto shapes = ParseShapes(p_.shapes);
  QMOE_CHECK(!ParseInts(p_.batches, "batches", 1, kk::kDenseGemvMaxBatch).empty(), "experiment.batches is empty");
  dict::ValidateDecodeTable(dict::DecodeTable().data());
  ctx.Metric("last_level_cache_bytes", double(LastLevelCacheBytes()), "bytes");
  for (size_t si = 0; si < shapes.size(); ++si) {
    ShapeRun s;
    std::tie(s.rows, s.cols) = shapes[si];
    s.shape = StrCat(s.rows, "x", s.cols);
    s.device = CpuName();
    s.lab.matrix = s.shape;
    // Seed 0 keeps the matrices every earlier run measured; other seeds draw other matrices.
    const int64_t base = 1000 + static_cast<int64_t>(si);
    s.w = ternary::RandomTernaryMatrix(s.rows, s.cols, p_.p0, ctx.seed == 0 ? base : data::ReplicateSeed(base, ctx.seed));
    s.sym = ternary::SymbolsFromTernary(s.w.data(), s.rows, s.cols, ternary::SymbolMode::kReference, s.shape);
    s.weights = double(s.rows) * double(s.cols);
    CodecMetrics(ctx, s, p_);
    for (const std::string& key : codecs::Codecs().Keys()) {
      const std::string& kernel = codecs::Codecs().Get(key).fused_kernel;
      if (kernel.empty()) continue;
      QMOE_CHECK(FusedKernelSteps().count(kernel), "experiment kernels: codec '", key, "' names fused kernel '", kernel,
                 "', which has no timing step here");
      FusedKernelSteps().at(kernel)(ctx, s, p_, si == 0);
    }
  }
}

}  // namespace qmoe
