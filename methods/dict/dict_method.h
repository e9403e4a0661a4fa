// The "dict" method: ternary quantization by an inner method from the registry (gptq with
// grid=ternary, or the rtn 'ternary' method), then the §8 dictionary code. Registered in
// methods/all_methods.cpp; the key, parameter names and packed field names are permanent.
//
// Packed per matrix [h, w] (the published layout of §10, plus the shape):
//   "w_comp" int16 [Σcw]  codewords (uint16 bits)     "row_off" int32 [h+1]
//   "ter_minmax" bf16 [2h] interleaved (min, max)     "shape" int32 [2] {h, w}
// storage_bits = 8 · (2Σcw + 4(h+1) + 4h), the §8.9 exact bytes; "shape" is not counted (the
// model config fixes it; the published format stores no shape either).
// Stats: natural_sparsity, entropy_bits (i.i.d. per symbol, bits/weight), entropy_pair_bits,
// ideal_rate (the reference's formula, §8.9), codewords, plus the inner method's stats.
#pragma once
#include <memory>

#include "methods/dict/dict_codec.h"
#include "methods/dict/ternary_inner.h"
#include "methods/method.h"

namespace qmoe::dict {

class DictMethod : public Method {
 public:
  using Params = InnerParams;
  explicit DictMethod(const Params& p);
  bool UsesHessian() const override { return inner_->UsesHessian(); }
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;

 private:
  std::unique_ptr<Method> inner_;
  SymbolMode mode_;
};

// The packed fields of one encoded matrix, and back (validated; errors name the field).
std::map<std::string, at::Tensor> PackEncoded(const EncodedMatrix& m);
EncodedMatrix UnpackEncoded(const std::map<std::string, at::Tensor>& packed, const std::string& what);

}  // namespace qmoe::dict
