#include "methods/grids/grid.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"

namespace qmoe::grids {

const char* GridKindName(GridKind k) {
  return k == GridKind::kTernary ? "ternary" : "minmax";
}

GridKind ParseGridKind(const std::string& text, const std::string& where) {
  if (text == "minmax") return GridKind::kMinMax;
  if (text == "ternary") return GridKind::kTernary;
  throw Error(StrCat(where, ": grid '", text, "' is not one of {minmax, ternary}"));
}

int64_t GridSpec::NumGroups(int64_t cols) const {
  if (group_size <= 0 || group_size >= cols) return 1;
  return (cols + group_size - 1) / group_size;
}

void ValidateGridSpec(const GridSpec& spec, const std::string& where) {
  QMOE_CHECK(spec.group_size >= 0, where, ": group_size must be >= 0 (0 = full row), got ",
             spec.group_size);
  if (spec.kind == GridKind::kMinMax) {
    QMOE_CHECK(spec.bits >= 2 && spec.bits <= 8, where, ": bits must be in [2, 8] for grid=minmax, got ",
               spec.bits);
  } else {
    QMOE_CHECK(!spec.sym, where, ": sym=true applies only to grid=minmax (ternary levels are the row's own lo/hi)");
  }
}

FittedGrid FitGrid(const GridSpec& spec, const at::Tensor& w, int64_t dim) {
  QMOE_ASSERT(w.scalar_type() == at::kFloat, "FitGrid wants fp32");
  at::Tensor lo = at::clamp_max(std::get<0>(w.min(dim)), 0.0f);
  at::Tensor hi = at::clamp_min(std::get<0>(w.max(dim)), 0.0f);
  FittedGrid g;
  g.kind = spec.kind;
  if (spec.kind == GridKind::kMinMax) {
    g.maxq = spec.maxq();
    if (spec.sym) {
      hi = at::maximum(lo.abs(), hi);
      lo = at::where(lo < 0, -hi, lo);
    }
  }
  at::Tensor both_zero = (lo == 0) & (hi == 0);
  lo = at::where(both_zero, at::full({}, -1.0f, lo.options()), lo);
  hi = at::where(both_zero, at::full({}, 1.0f, hi.options()), hi);
  if (spec.kind == GridKind::kTernary) {
    g.a = lo;
    g.b = hi;
    return g;
  }
  const float maxq = static_cast<float>(g.maxq);
  g.a = (hi - lo) / maxq;
  g.b = spec.sym ? at::full_like(g.a, (maxq + 1.0f) / 2.0f) : at::round(-lo / g.a);
  return g;
}

FittedGrid Unsqueezed(const FittedGrid& grid) {
  FittedGrid g = grid;
  g.a = grid.a.unsqueeze(-1);
  g.b = grid.b.unsqueeze(-1);
  return g;
}

GridValues QuantizeOnGrid(const FittedGrid& g, const at::Tensor& x) {
  GridValues out;
  if (g.kind == GridKind::kTernary) {
    at::Tensor up = x > g.b / 2.0f;
    at::Tensor down = x < g.a / 2.0f;
    at::Tensor zero = at::zeros({}, x.options());
    out.deq = at::where(up, g.b, at::where(down, g.a, zero));
    out.codes = up.to(at::kByte) * 2 + down.to(at::kByte);
    return out;
  }
  at::Tensor t = at::clamp(at::round(x / g.a) + g.b, 0.0, static_cast<double>(g.maxq));
  out.deq = g.a * (t - g.b);
  out.codes = t.to(at::kByte);
  return out;
}

RowGridRef FitRowRef(const GridSpec& spec, const float* w, int64_t n) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    lo = std::min(lo, w[j]);
    hi = std::max(hi, w[j]);
  }
  if (spec.kind == GridKind::kMinMax && spec.sym) {
    hi = std::max(std::fabs(lo), hi);
    if (lo < 0) lo = -hi;
  }
  if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
  if (spec.kind == GridKind::kTernary) return {lo, hi};
  const float maxq = static_cast<float>(spec.maxq());
  const float s = (hi - lo) / maxq;
  const float z = spec.sym ? (maxq + 1.0f) / 2.0f : std::nearbyint(-lo / s);
  return {s, z};
}

float QuantizeRef(const GridSpec& spec, const RowGridRef& g, float x, uint8_t* code) {
  if (spec.kind == GridKind::kTernary) {
    *code = x > g.b / 2.0f ? 2 : (x < g.a / 2.0f ? 1 : 0);
    return *code == 2 ? g.b : (*code == 1 ? g.a : 0.0f);
  }
  const float maxq = static_cast<float>(spec.maxq());
  const float t = std::clamp(std::nearbyint(x / g.a) + g.b, 0.0f, maxq);
  *code = static_cast<uint8_t>(t);
  return g.a * (t - g.b);
}

}  // namespace qmoe::grids
