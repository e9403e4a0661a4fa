#include "framework/model/relative_position.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace qmoe {

at::Tensor RelativePositionBuckets(int64_t q_len, int64_t k_len, bool bidirectional, int64_t num_buckets,
                                   int64_t max_distance, int64_t q_offset) {
  const auto i64 = at::TensorOptions().dtype(at::kLong);
  at::Tensor query = at::arange(q_offset, q_offset + q_len, i64).unsqueeze(1);
  at::Tensor key = at::arange(k_len, i64).unsqueeze(0);
  at::Tensor rel = key - query;
  at::Tensor buckets = at::zeros({q_len, k_len}, i64);
  if (bidirectional) {
    num_buckets /= 2;
    buckets = buckets + (rel > 0).to(at::kLong) * num_buckets;
    rel = rel.abs();
  } else {
    rel = -at::minimum(rel, at::zeros_like(rel));
  }
  const int64_t max_exact = num_buckets / 2;
  at::Tensor is_small = rel < max_exact;
  // fp32 tensor / scalar, as torch computes `log(rel.float() / max_exact) / math.log(...) * (...)`.
  at::Tensor large = at::log(rel.to(at::kFloat) / max_exact) /
                     std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                     (num_buckets - max_exact);
  // n = 0 gives log(0) = -inf; it is masked by is_small, but the cast of -inf must not be used.
  large = max_exact + at::where(is_small, at::zeros_like(large), large).to(at::kLong);
  large = at::minimum(large, at::full_like(large, num_buckets - 1));
  return buckets + at::where(is_small, rel, large);
}

int64_t RelativePositionBucketRef(int64_t rel, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
  int64_t off = 0, n;
  if (bidirectional) {
    num_buckets /= 2;
    off = rel > 0 ? num_buckets : 0;
    n = std::llabs(rel);
  } else {
    n = std::max<int64_t>(-rel, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return off + n;
  const float ratio = static_cast<float>(n) / static_cast<float>(max_exact);
  const float denom = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled = std::log(ratio) / denom * static_cast<float>(num_buckets - max_exact);
  return off + std::min<int64_t>(max_exact + static_cast<int64_t>(scaled), num_buckets - 1);
}

}  // namespace qmoe
