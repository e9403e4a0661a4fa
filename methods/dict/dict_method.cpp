#include "methods/dict/dict_method.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/dict/packed_fields.h"

namespace qmoe::dict {

DictMethod::DictMethod(const Params& p)
    : inner_(MakeTernaryQuantizer(p, "dict")), mode_(ParseSymbolMode(p.symbols, "method 'dict': symbols")) {}

std::map<std::string, at::Tensor> PackEncoded(const EncodedMatrix& m) {
  return {{"w_comp", I16Tensor(m.codes)},
          {"row_off", I32Tensor(m.row_off)},
          {"ter_minmax", Bf16Tensor(m.minmax_bf16)},
          {"shape", I32Tensor({int32_t(m.rows), int32_t(m.cols)})}};
}

EncodedMatrix UnpackEncoded(const std::map<std::string, at::Tensor>& packed, const std::string& what) {
  const std::vector<int32_t> shape = ReadI32(packed, "shape", what, 2);
  QMOE_CHECK(shape[0] >= 1 && shape[1] >= 1, what, ": packed shape is ", shape[0], "x", shape[1],
             ", expected at least 1x1");
  EncodedMatrix m;
  m.rows = shape[0];
  m.cols = shape[1];
  m.codes = ReadI16(packed, "w_comp", what);
  m.row_off = ReadI32(packed, "row_off", what, m.rows + 1);
  m.minmax_bf16 = ReadBf16(packed, "ter_minmax", what, 2 * m.rows);
  Validate(m, what);
  return m;
}

QuantOutput DictMethod::Quantize(const QuantTarget& target) const {
  QuantOutput inner = inner_->Quantize(PrivateCopy(target));
  const int64_t g = inner.weight.size(0), rows = inner.weight.size(1), cols = inner.weight.size(2);
  QuantOutput out;
  out.weight = at::empty_like(inner.weight);
  out.matrices.resize(size_t(g));
  for (int64_t e = 0; e < g; ++e) {
    const std::string name = e < int64_t(target.names.size()) ? target.names[e] : StrCat("matrix ", e);
    const TernarySymbols s = MatrixSymbols(inner.weight[e], mode_, StrCat("method 'dict': ", name));
    const EncodedMatrix m = Encode(s);
    at::Tensor dec = out.weight[e];  // contiguous slice of a fresh tensor
    Decode(m, dec.data_ptr<float>());
    // Invariant: decode(encode(W)) == bf16(W) for the inner ternary W.
    QMOE_ASSERT(at::equal(dec, inner.weight[e].to(at::kBFloat16).to(at::kFloat)), "dict round trip of ", name);
    MatrixResult& r = out.matrices[size_t(e)];
    r = std::move(inner.matrices[size_t(e)]);  // keep the inner stats and note
    r.packed = PackEncoded(m);
    r.storage_bits = 8.0 * double(ExactBytes(m));
    AddSymbolStats(dec, s, r);
    r.stats["ideal_rate"] = ReferenceIdealRate(rows, cols, int64_t(m.codes.size()));
    r.stats["codewords"] = double(m.codes.size());
  }
  return out;
}

at::Tensor DictMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  const EncodedMatrix m = UnpackEncoded(packed, "method 'dict' packed matrix");
  at::Tensor out = at::empty({m.rows, m.cols}, at::kFloat);
  Decode(m, out.data_ptr<float>());
  return out;
}

}  // namespace qmoe::dict
