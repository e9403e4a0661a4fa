// T5 relative position buckets (docs/switch-semantics.md), evaluated in fp32 exactly as HF 4.28 does:
//   bidirectional (encoder): half the buckets per direction, off = half if rel > 0, n = |rel|
//   causal (decoder):        n = max(-rel, 0)
//   n < max_exact (= half of the per-direction buckets): bucket = off + n
//   else: off + min(nb-1, max_exact + trunc(log(n / max_exact) / log(max_distance / max_exact) * (nb - max_exact)))
// where rel = key_pos - query_pos. The log runs in fp32: n = 16, 32, 64 land exactly on integer
// boundaries, and a log one ulp low would shift the bucket.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace qmoe {

// [q_len, k_len] int64 buckets for query positions q_offset.. and key positions 0..k_len-1 (at:: ops,
// the same ones HF runs).
at::Tensor RelativePositionBuckets(int64_t q_len, int64_t k_len, bool bidirectional, int64_t num_buckets,
                                   int64_t max_distance, int64_t q_offset = 0);
// One bucket with scalar float math; the _ref twin of RelativePositionBuckets.
int64_t RelativePositionBucketRef(int64_t rel, bool bidirectional, int64_t num_buckets, int64_t max_distance);

}  // namespace qmoe
