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
#include "kernels/common/bf16_gemv.h"
#include "kernels/common/openblas.h"
#include "kernels/common/stream_probe.h"
#include "codecs/codec.h"
#include "codecs/dict/dict_codec.h"
#include "codecs/dict/dictionary.h"
#include "codecs/rans/rans_codec.h"
#include "codecs/ternary/iid_ternary.h"
#include "kernels/dict_matvec/dict_matvec.h"
#include "kernels/dict_matvec/dict_paths.h"
#include "kernels/rans_matvec/rans_matvec.h"

namespace qmoe {
namespace {

namespace kk = qmoe::kernels;

using kernels::bench::CopiesToExceedCache;
using kernels::bench::LastLevelCacheBytes;
using kernels::bench::ClockSeconds;

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

std::string CpuName() { return "cpu:" + kk::CpuModelName(); }

// Median over `repeats` passes of the per-call thread-CPU seconds. A pass makes `calls` calls on
// consecutive copies of a ring of `copies`, continuing where the previous pass stopped, so a copy
// is touched again only after the whole ring (> the last-level cache) has been: every call reads
// its weights from DRAM, while short passes keep the run time independent of the ring size.
// The clock of the kernel benchmarks (cpu_time.h): thread CPU time for 1 thread (on a shared machine
// wall time also counts other processes), wall clock for more.
double MedianPerCall(int64_t copies, int64_t repeats, int64_t calls, const std::function<void(int64_t)>& fn,
                     int threads = 1) {
  int64_t cursor = 0;
  auto pass = [&] {
    for (int64_t c = 0; c < calls; ++c, cursor = (cursor + 1) % copies) fn(cursor);
  };
  pass();  // warm-up
  std::vector<double> t;
  for (int64_t r = 0; r < repeats; ++r) {
    const double a = ClockSeconds(threads);
    pass();
    t.push_back((ClockSeconds(threads) - a) / double(calls));
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
                  double bytes, const std::string& base, double base_sec, int threads = 1) {
  KernelTiming t;
  t.threads = threads;
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

// The dict paths to time: `paths` by name, or every path this CPU supports (capped by QMOE_CPU_ISA).
std::vector<const kk::DictPath*> DictPathsToTime(const std::string& names) {
  std::vector<const kk::DictPath*> out;
  for (const std::string& part : Split(names, ',')) {
    const std::string n = Trim(part);
    if (n.empty()) continue;
    const kk::DictPath& p = kk::FindDictPath(n);
    QMOE_CHECK(kk::CpuSupports(p.isa) && p.isa <= kk::BestCpuIsa(), "experiment.paths: dict kernel path '", n,
               "' needs ", kk::CpuIsaName(p.isa), "; this CPU (capped by QMOE_CPU_ISA) runs up to ",
               kk::CpuIsaName(kk::BestCpuIsa()));
    out.push_back(&p);
  }
  if (!Trim(names).empty()) return out;
  for (const kk::DictPath& p : kk::DictPaths())
    if (kk::CpuSupports(p.isa) && p.isa <= kk::BestCpuIsa()) out.push_back(&p);
  return out;
}

// At each batch and thread count: the dense baselines (OpenBLAS fp32 sgemv/sgemm, our bf16 GEMV)
// and every dict path, each operand cycled over enough copies to exceed the last-level cache. Each
// row's baseline is the fastest dense kernel of the same batch and threads in this run (ratio =
// its seconds / the row's). The default path at each ISA also keeps its stored name
// sub1_matvec_<isa>. On the first shape also TimeGemmThreshold.
void TimeDictMatvec(RunContext& ctx, const ShapeRun& s, const KernelsExperiment::Params& p, bool first_shape) {
  const auto batches = ParseInts(p.batches, "batches", 1, kk::kDictMaxBatch);
  const auto thread_counts = ParseInts(p.threads, "threads", 1, 256);
  const auto gemm_batches = ParseInts(p.gemm_batches, "gemm_batches", 1, 1 << 16);
  const auto paths = DictPathsToTime(p.paths);
  const uint32_t* dec = dict::DecodeTable().data();
  const kk::CpuIsa isa = kk::BestCpuIsa();
  const std::string kernel = StrCat("sub1_matvec_", kk::CpuIsaName(isa));  // the stored kernel name
  const std::string bf16_name = StrCat("bf16_gemv_", kk::CpuIsaName(isa));
  const kk::OpenBlas* blas = kk::OpenBlas::Get();
  const dict::EncodedMatrix enc = dict::Encode(s.sym);
  const double dict_bytes = double(dict::ExactBytes(enc));
  const DictCopies dc(enc, CopiesToExceedCache(int64_t(dict_bytes), p.cache_factor));
  const DenseCopies dense(dict::Decode(enc), p.cache_factor);  // the dense baselines multiply the same weights
  const int64_t weights = int64_t(s.weights);
  int64_t kmax = *std::max_element(batches.begin(), batches.end());
  if (first_shape && !gemm_batches.empty()) kmax = std::max(kmax, *std::max_element(gemm_batches.begin(), gemm_batches.end()));
  Operands io(kmax, s.rows, s.cols);
  const int blas_threads_before = blas ? blas->Threads() : 1;
  for (int64_t th : thread_counts)
    for (int64_t k : batches) {
      const int t = int(th);
      const double t_bf16 = MedianPerCall(dense.n_bf16, p.repeats, p.calls, [&](int64_t i) {
        kk::Bf16Gemv(dense.b16.data() + i * weights, s.rows, s.cols, io.xf.data(), k, io.yf.data(), t, isa);
      }, t);
      std::string best = bf16_name;
      double t_best = t_bf16, t_blas = 0;
      if (blas) {
        blas->SetThreads(t);
        t_blas = MedianPerCall(dense.n_f32, p.repeats, p.calls, [&](int64_t i) {
          blas->Gemm(dense.f32.data() + i * weights, s.rows, s.cols, io.xf.data(), k, io.yf.data());
        }, t);
        if (t_blas < t_best) t_best = t_blas, best = kk::OpenBlas::KernelName(k);
      }
      RecordTiming(ctx, s, bf16_name, k, t_bf16, s.weights * 2, best, t_best, t);
      if (blas) RecordTiming(ctx, s, kk::OpenBlas::KernelName(k), k, t_blas, s.weights * 4, best, t_best, t);
      std::cout << "kernels " << s.shape << " k=" << k << " threads=" << t << ": " << bf16_name << " " << t_bf16 * 1e3
                << " ms";
      if (blas) std::cout << ", " << kk::OpenBlas::KernelName(k) << " " << t_blas * 1e3 << " ms";
      std::cout << "\n";
      const kk::DictPath& def = kk::DefaultDictPath(isa, k);
      for (const kk::DictPath* path : paths) {
        if (k > path->max_k) continue;
        const double t_dict = MedianPerCall(dc.n, p.repeats, p.calls, [&](int64_t i) {
          kk::DictMatvecBatchWith(*path, dc.View(i), dec, io.xb.data(), k, io.yf.data(), t);
        }, t);
        RecordTiming(ctx, s, StrCat("dict_", path->name), k, t_dict, dict_bytes, best, t_best, t);
        if (path == &def) RecordTiming(ctx, s, kernel, k, t_dict, dict_bytes, best, t_best, t);
        std::cout << "  dict_" << path->name << " " << t_dict * 1e3 << " ms (" << t_best / t_dict << "x vs " << best
                  << ")\n";
      }
    }
  if (blas) blas->SetThreads(blas_threads_before);  // the rest of the process runs as configured
  if (first_shape) TimeGemmThreshold(ctx, s, p, dc, io, kernel, dict_bytes);
}

// The rans fused kernel (kernels/rans_matvec) on the same weights, against the dict kernel (the
// format a user would serve instead) at each batch, one thread; copies cycled past the cache.
void TimeRansMatvec(RunContext& ctx, const ShapeRun& s, const KernelsExperiment::Params& p, bool /*first_shape*/) {
  const auto batches = ParseInts(p.batches, "batches", 1, kk::kRansMaxBatch);
  const kk::CpuIsa isa = kk::BestCpuIsa();
  const std::string kernel = StrCat("rans_matvec_", kk::CpuIsaName(isa));  // the stored kernel name
  const std::string dict_kernel = StrCat("sub1_matvec_", kk::CpuIsaName(isa));
  const rans::RansMatrix enc = rans::Encode(s.sym);
  const double rans_bytes = double(rans::StorageBits(enc)) / 8;
  const std::vector<rans::RansMatrix> rc(size_t(CopiesToExceedCache(int64_t(rans_bytes), p.cache_factor)), enc);
  const dict::EncodedMatrix denc = dict::Encode(s.sym);
  const DictCopies dc(denc, CopiesToExceedCache(int64_t(dict::ExactBytes(denc)), p.cache_factor));
  const uint32_t* dec = dict::DecodeTable().data();
  Operands io(*std::max_element(batches.begin(), batches.end()), s.rows, s.cols);
  for (int64_t k : batches) {
    const double t_dict = MedianPerCall(dc.n, p.repeats, p.calls, [&](int64_t i) {
      kk::DictMatvecBatch(dc.View(i), dec, io.xb.data(), k, io.yf.data(), isa);
    });
    const double t_rans = MedianPerCall(int64_t(rc.size()), p.repeats, p.calls, [&](int64_t i) {
      kk::RansMatvecBatch(rc[size_t(i)], io.xb.data(), k, io.yf.data(), 1, isa);
    });
    RecordTiming(ctx, s, kernel, k, t_rans, rans_bytes, dict_kernel, t_dict);
    std::cout << "kernels " << s.shape << " k=" << k << ": " << kernel << " " << t_rans * 1e3 << " ms, " << dict_kernel
              << " " << t_dict * 1e3 << " ms (" << t_dict / t_rans << "x vs dict)\n";
  }
}

// The timing step of each fused kernel (Codec::fused_kernel), by kernel folder.
using FusedKernelStep = void (*)(RunContext&, const ShapeRun&, const KernelsExperiment::Params&, bool);
const std::map<std::string, FusedKernelStep>& FusedKernelSteps() {
  static const std::map<std::string, FusedKernelStep> steps = {{"dict_matvec", TimeDictMatvec}, {"rans_matvec", TimeRansMatvec}};
  return steps;
}

}  // namespace

void KernelsExperiment::Run(RunContext& ctx) {
  if (const DeviceSpec d = RunDevice(ctx); d.cuda) return RunKernelsOnGpu(ctx, p_, d);  // device=cuda: gpu_kernels.h
  const auto shapes = ParseShapes(p_.shapes);
  QMOE_CHECK(!ParseInts(p_.batches, "batches", 1, kk::kDictMaxBatch).empty(), "experiment.batches is empty");
  const auto thread_counts = ParseInts(p_.threads, "threads", 1, 256);
  QMOE_CHECK(!thread_counts.empty(), "experiment.threads is empty");
  DictPathsToTime(p_.paths);  // bad names fail before any work
  dict::ValidateDecodeTable(dict::DecodeTable().data());
  // The machine, in the run's record.
  const kernels::bench::LlcInfo llc = kernels::bench::LastLevelCache();
  const kk::OpenBlas* blas = kk::OpenBlas::Get();
  ctx.db.SetRunParam(ctx.run_id, "measured.cpu_model", kk::CpuModelName());
  ctx.db.SetRunParam(ctx.run_id, "measured.cpu_isa", kk::CpuIsaName(kk::BestCpuIsa()));
  ctx.db.SetRunParam(ctx.run_id, "measured.cpu_isa_cap", kk::CpuIsaCap());
  ctx.db.SetRunParam(ctx.run_id, "measured.threads", p_.threads);
  ctx.db.SetRunParam(ctx.run_id, "measured.openblas_core", blas ? blas->CoreName() : "none");
  ctx.db.SetRunParam(ctx.run_id, "measured.llc", StrCat(llc.bytes, " bytes, ", llc.source));
  ctx.Metric("last_level_cache_bytes", double(LastLevelCacheBytes()), "bytes");
  for (int64_t t : thread_counts) {
    // cache_factor 0 (tests: no cycling past the cache) probes a small buffer too.
    const double gbs = kk::ReadBandwidthGBs(int(t), p_.cache_factor > 0 ? kk::ReadBandwidthBytes() : int64_t{16} << 20);
    ctx.Metric(StrCat("stream_read_gbytes_per_s_t", t), gbs, "GB/s");
    std::cout << "kernels: STREAM read " << gbs << " GB/s on " << t << " thread(s); OpenBLAS core "
              << (blas ? blas->CoreName() : "none") << "; LLC " << (llc.bytes >> 20) << " MiB (" << llc.source << ")\n";
  }
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
