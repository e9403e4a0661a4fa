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
  return QuantizeAndCode(*inner_, mode_, "dict", target,
                         [](const TernarySymbols& s, const Entropy&, float* decoded, MatrixResult& r) {
                           const EncodedMatrix m = Encode(s);
                           Decode(m, decoded);
                           r.packed = PackEncoded(m);
                           r.storage_bits = 8.0 * double(ExactBytes(m));
                           r.stats["ideal_rate"] = ReferenceIdealRate(m.rows, m.cols, int64_t(m.codes.size()));
                           r.stats["codewords"] = double(m.codes.size());
                         });
}

at::Tensor DictMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  const EncodedMatrix m = UnpackEncoded(packed, "method 'dict' packed matrix");
  at::Tensor out = at::empty({m.rows, m.cols}, at::kFloat);
  Decode(m, out.data_ptr<float>());
  return out;
}

}  // namespace qmoe::dict
