// One quantize-and-code method per row of the codec table (codecs/codec.h): an inner ternary
// quantizer from the method registry (gptq with grid=ternary, or the rtn 'ternary' method), the
// matrix as ternary symbols, then the codec. The method key is the codec's name ("dict", "rans");
// keys, parameter names, packed field names and stats names are permanent.
//
// Per matrix: packed = the codec's fields (each codec's header lists them; byte layout in
// docs/formats.md) plus "shape" int32 {rows, cols}; storage_bits = the codec's exact bits
// without "shape" (the model config fixes it). Stats: the inner method's, natural_sparsity (share
// of exact zeros), entropy_bits (i.i.d. per symbol, bits/weight), entropy_pair_bits, and the
// codec's own (dict: ideal_rate, codewords; rans: rans_words, chunks, coding_overhead).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "codecs/codec.h"
#include "framework/core/params.h"
#include "methods/method.h"

namespace qmoe::codecs {

// The parameters every codec method shares: the inner quantizer and the symbol mode.
struct InnerParams {
  std::string quantizer = "gptq";
  double damp = 0.1;
  int64_t block_size = 128;
  std::string symbols = "reference";
  template <class V>
  void Visit(V&& v) {
    v(quantizer, "quantizer", "inner ternary quantizer: gptq (grid=ternary) or rtn (method 'ternary')",
      Choices{{"gptq", "rtn"}});
    v(damp, "damp", "gptq only: relative damping δ", Range{0, 1e6});
    v(block_size, "block_size", "gptq only: lazy-update block of columns", Range{1, 1 << 20});
    v(symbols, "symbols",
      "reference: the published symbol rule (1 = row min first); exact_zeros: zeros always symbol 0 (same weights)",
      Choices{{"reference", "exact_zeros"}});
  }
};

// The inner quantizer of method `outer`: Methods().Get("gptq") with grid=ternary, damp,
// block_size, or Methods().Get("ternary"). Throws qmoe::Error naming `outer` when the key is not
// registered in this build.
std::unique_ptr<Method> MakeTernaryQuantizer(const InnerParams& p, const std::string& outer);

class CodecMethod : public Method {
 public:
  // `params`: InnerParams and the codec's own options (absent keys take their defaults).
  CodecMethod(const Codec& codec, const ParamMap& params);
  bool UsesHessian() const override { return inner_->UsesHessian(); }
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;

 private:
  // One matrix of the inner output: symbols, code, decode into `decoded`, stats.
  MatrixResult CodeMatrix(const at::Tensor& weight, MatrixResult inner, const std::string& name,
                          at::Tensor decoded) const;

  const Codec& codec_;
  ParamMap options_;
  std::unique_ptr<Method> inner_;
  ternary::SymbolMode mode_;
};

// Registers one CodecMethod per row of Codecs(), keyed by the codec's name.
void RegisterCodecMethods(MethodRegistry& r);

}  // namespace qmoe::codecs
