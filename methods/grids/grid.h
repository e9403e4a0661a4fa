// Quantization grids (min-max and ternary), batched over any leading dims (experts, rows).
//
// A grid is fitted per (expert, row[, group]) from a slice of weights, then applied elementwise:
//   minmax:  lo = min(min w, 0), hi = max(max w, 0) (lo == hi == 0 -> -1/+1),
//            s = (hi - lo)/maxq, z = rhe(-lo/s), q(x) = s·(clamp(rhe(x/s) + z, 0, maxq) - z)
//            (sym: hi = max(|lo|, hi), lo = -hi when lo < 0, z = (maxq + 1)/2)
//   ternary: levels {lo, 0, hi}; q(x) = hi if x > hi/2, lo if x < lo/2, else 0 (strict).
// All arithmetic is fp32; rhe = round half to even (at::round, std::nearbyint).
// Codes: minmax code = clamp(rhe(x/s) + z, 0, maxq); ternary code 0 = zero, 1 = lo, 2 = hi
// (the symbol numbering of codecs/ternary).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace qmoe::grids {

enum class GridKind { kMinMax, kTernary };

// "minmax" / "ternary" (these spellings are method parameter values: permanent).
const char* GridKindName(GridKind k);
// Throws qmoe::Error naming `where` and the valid choices.
GridKind ParseGridKind(const std::string& text, const std::string& where);

struct GridSpec {
  GridKind kind = GridKind::kMinMax;
  int64_t bits = 4;        // minmax only, 2..8
  bool sym = false;        // minmax only
  int64_t group_size = 0;  // columns per group; 0 = full row

  int64_t maxq() const { return (int64_t{1} << bits) - 1; }
  // Number of column groups for a row of `cols` weights (1 for full rows; the last may be partial).
  int64_t NumGroups(int64_t cols) const;
};

// Checks the spec (bits range, sym only for minmax, group_size >= 0). `where` names the caller,
// e.g. "method 'rtn'", and appears in the one qmoe::Error thrown.
void ValidateGridSpec(const GridSpec& spec, const std::string& where);

// Fitted per-row parameters; shapes equal the fitted slice with the reduced dim removed.
struct FittedGrid {
  GridKind kind = GridKind::kMinMax;
  int64_t maxq = 0;
  at::Tensor a;  // minmax: scale s       ternary: lo
  at::Tensor b;  // minmax: zero z (fp32) ternary: hi
};

// Fits one grid per slice along `dim` of `w` (fp32). E.g. w [G, r, k] with dim = 2 gives [G, r].
FittedGrid FitGrid(const GridSpec& spec, const at::Tensor& w, int64_t dim);

// Quantizes x elementwise on a fitted grid; x must broadcast against grid.a (e.g. pass
// grid.a.unsqueeze(-1)-compatible blocks by unsqueezing the grid with Unsqueezed()).
struct GridValues {
  at::Tensor deq;    // fp32, x's shape
  at::Tensor codes;  // uint8, x's shape
};
GridValues QuantizeOnGrid(const FittedGrid& grid, const at::Tensor& x);

// The grid with a trailing singleton dim on its params, to quantize [.., r, k] blocks.
FittedGrid Unsqueezed(const FittedGrid& grid);

// Plain scalar twins (the definition, used by tests against the torch path).
struct RowGridRef {
  float a = 0, b = 0;  // as FittedGrid::a/b for one row
};
RowGridRef FitRowRef(const GridSpec& spec, const float* w, int64_t n);
// Returns the dequantized value and writes the code.
float QuantizeRef(const GridSpec& spec, const RowGridRef& g, float x, uint8_t* code);

}  // namespace qmoe::grids
