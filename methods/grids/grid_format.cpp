#include "methods/grids/grid_format.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace qmoe::grids {

int64_t CodeBits(const GridSpec& spec) { return spec.kind == GridKind::kTernary ? 2 : spec.bits; }

at::Tensor PackCodes(const at::Tensor& codes, int64_t bits) {
  QMOE_ASSERT(codes.dim() == 2 && codes.scalar_type() == at::kByte && bits >= 1 && bits <= 8);
  const at::Tensor c = codes.contiguous();
  const int64_t rows = c.size(0), cols = c.size(1);
  const int64_t row_bytes = (cols * bits + 7) / 8;
  at::Tensor out = at::zeros({rows, row_bytes}, at::kByte);
  const uint8_t* src = c.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = dst + r * row_bytes;
    for (int64_t j = 0; j < cols; ++j) {
      const uint32_t v = src[r * cols + j];
      QMOE_ASSERT(v < (1u << bits), "code ", v, " does not fit in ", bits, " bits");
      const int64_t bit = j * bits;
      // A code spans at most two bytes (bits <= 8).
      row[bit / 8] |= static_cast<uint8_t>(v << (bit % 8));
      if (bit % 8 + bits > 8) row[bit / 8 + 1] |= static_cast<uint8_t>(v >> (8 - bit % 8));
    }
  }
  return out;
}

at::Tensor UnpackCodes(const at::Tensor& packed, int64_t bits, int64_t cols) {
  const at::Tensor p = packed.contiguous();
  const int64_t rows = p.size(0), row_bytes = p.size(1);
  QMOE_ASSERT(row_bytes == (cols * bits + 7) / 8);
  at::Tensor out = at::empty({rows, cols}, at::kByte);
  const uint8_t* src = p.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = src + r * row_bytes;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t bit = j * bits;
      uint32_t v = row[bit / 8] >> (bit % 8);
      if (bit % 8 + bits > 8) v |= static_cast<uint32_t>(row[bit / 8 + 1]) << (8 - bit % 8);
      dst[r * cols + j] = static_cast<uint8_t>(v & mask);
    }
  }
  return out;
}

std::vector<MatrixResult> PackGridResults(const GridSpec& spec, const GridQuantized& q) {
  const int64_t G = q.deq.size(0);
  const bool ternary = spec.kind == GridKind::kTernary;
  std::vector<MatrixResult> out(G);
  for (int64_t e = 0; e < G; ++e) {
    MatrixResult& m = out[e];
    m.packed["shape"] = at::tensor({static_cast<int32_t>(q.deq.size(1)), static_cast<int32_t>(q.deq.size(2))}, at::kInt);
    m.packed["codes"] = PackCodes(q.codes[e], CodeBits(spec));
    if (ternary) {
      m.packed["lo"] = q.a[e].contiguous();
      m.packed["hi"] = q.b[e].contiguous();
    } else {
      m.packed["scale"] = q.a[e].contiguous();
      m.packed["zero"] = q.b[e].to(at::kByte);
    }
    if (q.g_idx.defined()) m.packed["g_idx"] = q.g_idx[e].to(at::kInt);
    double bytes = 0;
    for (const auto& [name, t] : m.packed) bytes += static_cast<double>(t.numel() * t.element_size());
    m.storage_bits = 8 * bytes;
    m.stats["natural_sparsity"] = (q.deq[e] == 0).sum().item<double>() / static_cast<double>(q.deq[e].numel());
  }
  return out;
}

namespace {
const at::Tensor& Field(const std::map<std::string, at::Tensor>& packed, const std::string& name,
                        std::vector<int64_t> shape) {
  auto it = packed.find(name);
  QMOE_CHECK(it != packed.end(), "grid format: packed field '", name, "' is missing");
  QMOE_CHECK(it->second.sizes().vec() == shape, "grid format: field '", name, "' has shape ",
             it->second.sizes(), ", expected ", at::IntArrayRef(shape));
  return it->second;
}
}  // namespace

at::Tensor UnpackGrid(const GridSpec& spec, const std::map<std::string, at::Tensor>& packed) {
  const at::Tensor shape = Field(packed, "shape", {2}).to(at::kLong);
  const int64_t rows = shape[0].item<int64_t>(), cols = shape[1].item<int64_t>();
  QMOE_CHECK(rows >= 1 && cols >= 1, "grid format: field 'shape' holds ", rows, "x", cols, ", expected positive dims");
  const int64_t bits = CodeBits(spec), ng = spec.NumGroups(cols);
  at::Tensor codes = UnpackCodes(Field(packed, "codes", {rows, (cols * bits + 7) / 8}), bits, cols);
  at::Tensor g_idx;
  if (packed.count("g_idx")) {
    g_idx = Field(packed, "g_idx", {cols}).to(at::kLong);
  } else {
    const int64_t gs = ng == 1 ? cols : spec.group_size;
    g_idx = at::arange(cols, at::kLong).div(gs, "floor");
  }
  at::Tensor idx = g_idx.unsqueeze(0).expand({rows, cols});
  at::Tensor c = codes.to(at::kFloat);
  if (spec.kind == GridKind::kTernary) {
    at::Tensor lo = Field(packed, "lo", {rows, ng}).gather(1, idx);
    at::Tensor hi = Field(packed, "hi", {rows, ng}).gather(1, idx);
    return at::where(codes == 2, hi, at::where(codes == 1, lo, at::zeros({}, at::kFloat)));
  }
  at::Tensor scale = Field(packed, "scale", {rows, ng}).gather(1, idx);
  at::Tensor zero = Field(packed, "zero", {rows, ng}).to(at::kFloat).gather(1, idx);
  return scale * (c - zero);
}

GridQuantized QuantizeRtn(const GridSpec& spec, const at::Tensor& w) {
  const int64_t G = w.size(0), r = w.size(1), c = w.size(2);
  const int64_t ng = spec.NumGroups(c);
  const int64_t gs = ng == 1 ? c : spec.group_size;
  GridQuantized q;
  q.deq = at::empty_like(w);
  q.codes = at::empty({G, r, c}, at::kByte);
  q.a = at::empty({G, r, ng}, at::kFloat);
  q.b = at::empty({G, r, ng}, at::kFloat);
  for (int64_t k = 0; k < ng; ++k) {
    const int64_t len = std::min(gs, c - k * gs);
    at::Tensor slice = w.narrow(2, k * gs, len);
    FittedGrid grid = FitGrid(spec, slice, 2);
    GridValues v = QuantizeOnGrid(Unsqueezed(grid), slice);
    q.deq.narrow(2, k * gs, len).copy_(v.deq);
    q.codes.narrow(2, k * gs, len).copy_(v.codes);
    q.a.select(2, k).copy_(grid.a);
    q.b.select(2, k).copy_(grid.b);
  }
  return q;
}

}  // namespace qmoe::grids
