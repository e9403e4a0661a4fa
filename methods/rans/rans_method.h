// The "rans" method: the same inner ternary quantizer as "dict" (gptq with grid=ternary, or the
// rtn 'ternary' method), then the rANS pair codec of rans_codec.h. Registered in
// methods/all_methods.cpp; the key, parameter names and packed field names are permanent.
//
// Packed per matrix [h, w]:
//   "rans_words" int16 [words]   chunk streams (uint16 bits)   "chunk_off" int32 [chunks+1]
//   "freq" int16 [9]             pair frequencies, Σ 4096      "rans_meta" int32 [2] {chunk_rows, streams}
//   "ter_minmax" bf16 [2h]       interleaved (min, max)        "shape" int32 [2] {h, w}
// (streams was always 4 in method version 1; version 2 writes the chosen count, 1-32.)
// storage_bits = StorageBits() = 8 · bytes of every field but "shape" (fixed by the model config,
// as for "dict"). Stats: natural_sparsity, entropy_bits, entropy_pair_bits, rans_words, chunks,
// coding_overhead (coded bits without min/max over the empirical pair entropy, minus 1), plus the
// inner method's stats.
#pragma once
#include <memory>

#include "methods/dict/ternary_inner.h"
#include "methods/method.h"
#include "methods/rans/rans_codec.h"

namespace qmoe::rans {

class RansMethod : public Method {
 public:
  struct Params {
    dict::InnerParams inner;
    int64_t chunk_weights = kDefaultChunkWeights;
    int64_t streams = kAutoStreams;
    template <class V>
    void Visit(V&& v) {
      inner.Visit(v);
      v(chunk_weights, "chunk_weights", "weights per independently decodable chunk (whole rows, >= 1 row)",
        Range{1, 1 << 30});
      v(streams, "streams",
        "interleaved rANS states per chunk, 1-32; 0 = auto: 32 for matrices of >= 2^20 weights, else 8 "
        "(version 1 always wrote 4)",
        Range{0, kMaxStreams});
    }
  };
  explicit RansMethod(const Params& p);
  bool UsesHessian() const override { return inner_->UsesHessian(); }
  QuantOutput Quantize(const QuantTarget& target) const override;
  at::Tensor Dequantize(const std::map<std::string, at::Tensor>& packed) const override;

 private:
  std::unique_ptr<Method> inner_;
  dict::SymbolMode mode_;
  int64_t chunk_weights_;
  int streams_;
};

std::map<std::string, at::Tensor> PackRans(const RansMatrix& m);
RansMatrix UnpackRans(const std::map<std::string, at::Tensor>& packed, const std::string& what);

}  // namespace qmoe::rans
