// The kernel ladder (dict_paths.h): the named paths and the row-parallel driver.
#include "kernels/dict_matvec/dict_paths.h"

#include <algorithm>
#include <string>

#include "framework/core/error.h"
#include "kernels/common/thread_pool.h"
#include "kernels/dict_matvec/dict_internal.h"

namespace qmoe::kernels {

const std::vector<DictPath>& DictPaths() {
  static const std::vector<DictPath> paths = {
      {"scalar", CpuIsa::kScalar, kDictMaxBatch, dict_matvec::MatvecScalar},
      {"avx2", CpuIsa::kAvx2, kDictMaxBatch, dict_matvec::MatvecAvx2},
      {"avx512", CpuIsa::kAvx512, kDictMaxBatch, dict_matvec::MatvecAvx512},
      {"avx2_pairs", CpuIsa::kAvx2, kDictMaxBatch, dict_matvec::MatvecPairsAvx2},
      {"avx512_pairs", CpuIsa::kAvx512, kDictMaxBatch, dict_matvec::MatvecPairsAvx512},
      // AVX512_BF16; without it (or for x that is not bf16-valued) it runs avx512_pairs.
      {"avx512_bf16dot", CpuIsa::kAvx512, kDictMaxBatch, dict_matvec::MatvecPairsBf16Avx512,
       dict_matvec::CpuHasAvx512Bf16, /*flushes_subnormals=*/true},
  };
  return paths;
}

bool DictPathNative(const DictPath& p) {
  return CpuSupports(p.isa) && (p.has_feature == nullptr || p.has_feature());
}

const DictPath& FindDictPath(std::string_view name) {
  std::string known;
  for (const DictPath& p : DictPaths()) {
    if (p.name == name) return p;
    known += known.empty() ? p.name : std::string(", ") + p.name;
  }
  throw Error("unknown dict kernel path '" + std::string(name) + "' (known: " + known + ")");
}

// Measured with dict_paths_bench (Xeon, Sapphire Rapids class, 2 cores shared with ~12 other
// processes, so thread-CPU time, best of 3; weights streamed from DRAM), G weights/s, 1 thread:
//                     avx2  avx2_pairs  avx512  avx512_pairs  avx512_bf16dot
//   768x3072   k=1    2.6   6.0         5.7     6.7           8.1
//   768x3072   k=8    0.56  2.2         2.1     3.0           2.6
//   2080x6144  k=1    2.9   5.1         5.4     6.9           7.2
//   2080x6144  k=8    0.52  1.9         1.8     2.1           2.4
// The pairs forms win at every point. avx512_bf16dot is within the noise of avx512_pairs (hot-cache
// runs put it 5 % behind at k = 1), flushes subnormals and needs bf16-valued x, so it stays opt-in.
// Later, with the sliced pairs forms, on an AMD EPYC Zen 4 VM (2 vCPUs, host-contended: the same
// binary varies by up to 1.5x between runs; dict_paths_bench wall time, best of 3, G weights/s):
//                     avx2  avx2_pairs  avx512  avx512_pairs  avx512_bf16dot
//   768x3072   k=1    4.7   8.2         5.6     8.8           10.6
//   768x3072   k=8    1.3   2.8         1.9     3.0            5.4
//   2080x6144  k=1    4.6   9.6         6.0     9.1           11.3
//   2080x6144  k=8    1.1   3.4         2.1     3.6            5.8
// Zen 4 runs 512-bit vectors as two 256-bit halves, so avx2_pairs is as fast as avx512_pairs there;
// avx512_bf16dot leads by 1.2x at k = 1 and 1.6-1.9x at k = 8 on this CPU but not on the Xeon
// above, so the defaults stay the exact-product pairs forms (a default that depends on the CPU
// model would make results differ in the last bits between machines of one ISA).
const DictPath& DefaultDictPath(CpuIsa isa, int64_t /*k*/) {
  switch (isa) {
    case CpuIsa::kAvx512: return FindDictPath("avx512_pairs");
    case CpuIsa::kAvx2: return FindDictPath("avx2_pairs");
    case CpuIsa::kScalar: break;
  }
  return FindDictPath("scalar");
}

namespace {
// Rows [r0, r1) of m as a matrix of their own (row_off entries stay absolute offsets into codes).
DictView RowRange(const DictView& m, int64_t r0, int64_t r1) {
  DictView v = m;
  v.rows = r1 - r0;
  v.row_off = m.row_off + r0;
  v.minmax = m.minmax + 2 * r0;
  return v;
}
}  // namespace

void DictMatvecBatchWith(const DictPath& p, const DictView& m, const uint32_t* dec, const Bf16* x,
                         int64_t k, float* y, int threads) {
  dict_matvec::CheckCall(m, dec, x, k, y, p.name);
  QMOE_CHECK(CpuSupports(p.isa), "dict kernel path '", p.name, "' needs ", CpuIsaName(p.isa),
             ", which this CPU lacks");
  QMOE_CHECK(k <= p.max_k, "dict kernel path '", p.name, "' takes k <= ", p.max_k, ", got ", k);
  QMOE_CHECK(threads >= 1, "dict kernel path '", p.name, "': threads = ", threads, " (expected >= 1)");
  const int64_t stride = (m.cols + 32 + 15) / 16 * 16;
  thread_local std::vector<float> xbuf;
  xbuf.assign(size_t(stride * k + 16), 0.0f);
  float* xpad = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(xbuf.data()) + 63) &
                                         ~uintptr_t{63});
  for (int64_t j = 0; j < k; ++j)
    for (int64_t c = 0; c < m.cols; ++c) xpad[j * stride + c] = Bf16ToFloat(x[j * m.cols + c]);
  const int64_t parts = std::clamp<int64_t>(threads, 1, std::max<int64_t>(m.rows, 1));
  if (parts == 1) return p.fn(m, dec, xpad, stride, k, y);
  // Range t writes its own rows of every token: for k = 1 straight into y, else through a per-range
  // buffer ([k][r1 - r0], the path's layout) copied into y[j][r0..r1).
  thread_local std::vector<std::vector<float>> ys_buf;
  std::vector<std::vector<float>>& ys = ys_buf;  // the caller's, also when used on a worker
  if (k > 1 && int64_t(ys.size()) < parts) ys.resize(size_t(parts));
  ThreadPool::Shared().Run(int(parts), [&](int t) {
    const int64_t r0 = m.rows * t / parts, r1 = m.rows * (t + 1) / parts;
    if (k == 1) return p.fn(RowRange(m, r0, r1), dec, xpad, stride, 1, y + r0);
    std::vector<float>& yt = ys[size_t(t)];
    yt.resize(size_t(k * (r1 - r0)));
    p.fn(RowRange(m, r0, r1), dec, xpad, stride, k, yt.data());
    for (int64_t j = 0; j < k; ++j)
      std::copy(yt.begin() + j * (r1 - r0), yt.begin() + (j + 1) * (r1 - r0), y + j * m.rows + r0);
  });
}

}  // namespace qmoe::kernels
