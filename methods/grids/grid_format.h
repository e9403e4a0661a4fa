// Packed storage of grid-quantized matrices (the MatrixResult::packed fields) and exact storage
// accounting. Field names and layouts reach compressed checkpoints: they are permanent.
//
// Per matrix [r, c] with ng = GridSpec::NumGroups(c) groups per row:
//   "shape"  int32 [2]                  {r, c} (c is not recoverable from the padded codes)
//   "codes"  uint8 [r, ceil(c·bits/8)]  codes bit-packed per row, LSB first, each row padded to a
//                                       whole byte; bits = GridSpec::bits (minmax) or 2 (ternary)
//   minmax:  "scale" float32 [r, ng], "zero" uint8 [r, ng]    deq = scale·(code − zero)
//   ternary: "lo" float32 [r, ng],    "hi" float32 [r, ng]    code 0 -> 0, 1 -> lo, 2 -> hi
//   "g_idx"  int32 [c]  group of each column; present only when groups are not contiguous column
//                       ranges (GPTQ act_order with dynamic groups). Otherwise group = col / group_size.
// Scales and levels are stored in fp32 so that UnpackGrid reproduces the simulated weights
// bit-exactly (bf16 would save 16–32 bits per group but change the evaluated model).
// storage_bits = 8 · Σ bytes of the packed tensors, i.e. per matrix
//   64 + r·ceil(c·bits/8)·8 + r·ng·(32 + 8) (minmax) or r·ng·64 (ternary) + 32·c (g_idx, if present).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "methods/grids/grid.h"
#include "methods/method.h"

namespace qmoe::grids {

// Grid quantization of G matrices [G, r, c].
struct GridQuantized {
  at::Tensor deq;    // [G, r, c] float32
  at::Tensor codes;  // [G, r, c] uint8
  at::Tensor a, b;   // [G, r, ng] float32 (FittedGrid::a/b per group)
  at::Tensor g_idx;  // [G, c] int64 group per column, or undefined when col / group_size
};

// Bits per stored code: GridSpec::bits for minmax, 2 for ternary.
int64_t CodeBits(const GridSpec& spec);

// Bit-packs codes [r, c] (each < 2^bits) per row, LSB first -> uint8 [r, ceil(c·bits/8)].
at::Tensor PackCodes(const at::Tensor& codes, int64_t bits);
at::Tensor UnpackCodes(const at::Tensor& packed, int64_t bits, int64_t cols);

// One MatrixResult per matrix: packed fields, storage_bits and stats["natural_sparsity"]
// (fraction of exact zeros in deq).
std::vector<MatrixResult> PackGridResults(const GridSpec& spec, const GridQuantized& q);

// Rebuilds the dequantized [r, c] float32 matrix from packed fields (Method::Dequantize).
// Errors name the missing field or the shape that does not match.
at::Tensor UnpackGrid(const GridSpec& spec, const std::map<std::string, at::Tensor>& packed);

// Round-to-nearest of W [G, r, c] on the grid (fit per group from W itself).
GridQuantized QuantizeRtn(const GridSpec& spec, const at::Tensor& w);

}  // namespace qmoe::grids
