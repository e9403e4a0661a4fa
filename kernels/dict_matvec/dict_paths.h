// The kernel ladder: every CPU path of the dict matvec by a permanent name, so a benchmark or the
// kernels experiment can time each one and a dispatch choice can be re-measured (DictMatvec*
// in dict_matvec.h pick one of these per ISA and batch size).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/dict_matvec/dict_matvec.h"

namespace qmoe::kernels {

struct DictPath {
  // xpad: k rows of stride xstride >= cols + 32, zero past cols, 64-byte aligned; y fp32 [k][rows].
  using Fn = void (*)(const DictView& m, const uint32_t* dec, const float* xpad, int64_t xstride,
                      int64_t k, float* y);
  const char* name;  // permanent: benchmark keys and kernel_timings rows use it
  CpuIsa isa;        // the ISA it needs (CpuSupports)
  int64_t max_k;     // largest batch it takes (1 <= k <= max_k <= kDictMaxBatch)
  Fn fn;
  // A CPU feature the path needs beyond `isa` (nullptr: none). Where it is missing the path still
  // runs (CpuSupports(isa) suffices) but computes through its fallback, named in the path's comment.
  bool (*has_feature)() = nullptr;
  // True when products or inputs below 2^-126 may be flushed to zero (bf16 dot instructions).
  bool flushes_subnormals = false;
};

// Every compiled path, the ones this CPU lacks included (check CpuSupports(p.isa)).
const std::vector<DictPath>& DictPaths();
// True when the path runs its own kernel here (CpuSupports(p.isa) and p.has_feature()).
bool DictPathNative(const DictPath& p);
// The path called `name`; an unknown name is a qmoe::Error listing the known ones.
const DictPath& FindDictPath(std::string_view name);
// The path DictMatvecBatch takes for this ISA and batch size.
const DictPath& DefaultDictPath(CpuIsa isa, int64_t k);

// y[k][rows] = x[k][cols] W^T through path p, rows split into `threads` contiguous ranges run
// concurrently (threads = 1: on the calling thread). Same checks as DictMatvecBatch; a path the CPU
// lacks or k > p.max_k is an error.
void DictMatvecBatchWith(const DictPath& p, const DictView& m, const uint32_t* dec, const Bf16* x,
                         int64_t k, float* y, int threads = 1);

}  // namespace qmoe::kernels
