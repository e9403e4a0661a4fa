// Shared by the "dict" and "rans" methods: the parameters that choose the inner ternary
// quantizer (taken from the method registry at run time) and the symbol mode, and running it.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "framework/core/params.h"
#include "methods/dict/dict_codec.h"
#include "methods/method.h"

namespace qmoe::dict {

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
    v(symbols, "symbols", "reference: §8.7 symbol rule; exact_zeros: zeros always symbol 0 (same weights)",
      Choices{{"reference", "exact_zeros"}});
  }
};

// The inner quantizer of method `outer` ("dict"/"rans"): Methods().Get("gptq") with grid=ternary,
// damp, block_size, or Methods().Get("ternary"). Throws qmoe::Error naming `outer` when the key is
// not registered in this build.
std::unique_ptr<Method> MakeTernaryQuantizer(const InnerParams& p, const std::string& outer);

// The target with its own weight storage: an inner method may update weights in place (gptq
// does for single-row matrices, where W.transpose(1, 2).contiguous() aliases W), and the
// caller's weights must stay untouched.
QuantTarget PrivateCopy(const QuantTarget& t);

// One matrix of the inner output as symbols: weight [r, c] fp32 -> SymbolsFromTernary.
TernarySymbols MatrixSymbols(const at::Tensor& weight, SymbolMode mode, const std::string& what);

// What a codec does with one matrix: encode its symbols, decode into `decoded` ([r, c] fp32),
// and fill the result's packed fields, storage_bits and its own stats (h: the symbols' entropy).
using MatrixCoder =
    std::function<void(const TernarySymbols& s, const Entropy& h, float* decoded, MatrixResult& r)>;

// The body both codec methods share: `inner` on a private copy of the target, then per matrix its
// symbols, `code`, the check decode(encode(W)) == bf16(W), the inner method's stats, and
// natural_sparsity (share of exact zeros), entropy_bits and entropy_pair_bits.
QuantOutput QuantizeAndCode(const Method& inner, SymbolMode mode, const std::string& method,
                            const QuantTarget& target, const MatrixCoder& code);

}  // namespace qmoe::dict
