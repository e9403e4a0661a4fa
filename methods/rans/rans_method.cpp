#include "methods/rans/rans_method.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/dict/packed_fields.h"

namespace qmoe::rans {

RansMethod::RansMethod(const Params& p)
    : inner_(dict::MakeTernaryQuantizer(p.inner, "rans")),
      mode_(dict::ParseSymbolMode(p.inner.symbols, "method 'rans': symbols")),
      chunk_weights_(p.chunk_weights),
      streams_(int(p.streams)) {
  QMOE_CHECK(chunk_weights_ >= 1, "method 'rans': chunk_weights must be >= 1, got ", chunk_weights_);
  QMOE_CHECK(p.streams >= 0 && p.streams <= kMaxStreams, "method 'rans': streams must be in [1, ", kMaxStreams,
             "] or 0 (auto), got ", p.streams);
}

std::map<std::string, at::Tensor> PackRans(const RansMatrix& m) {
  return {{"rans_words", dict::I16Tensor(m.words)},
          {"chunk_off", dict::I32Tensor(m.chunk_off)},
          {"freq", dict::I16Tensor(std::vector<uint16_t>(m.freq.begin(), m.freq.end()))},
          {"rans_meta", dict::I32Tensor({m.chunk_rows, m.streams})},
          {"ter_minmax", dict::Bf16Tensor(m.minmax_bf16)},
          {"shape", dict::I32Tensor({int32_t(m.rows), int32_t(m.cols)})}};
}

RansMatrix UnpackRans(const std::map<std::string, at::Tensor>& packed, const std::string& what) {
  const std::vector<int32_t> shape = dict::ReadI32(packed, "shape", what, 2);
  QMOE_CHECK(shape[0] >= 1 && shape[1] >= 1, what, ": packed shape is ", shape[0], "x", shape[1],
             ", expected at least 1x1");
  const std::vector<int32_t> meta = dict::ReadI32(packed, "rans_meta", what, 2);
  RansMatrix m;
  m.rows = shape[0];
  m.cols = shape[1];
  m.chunk_rows = meta[0];
  m.streams = meta[1];  // Validate checks the range
  const std::vector<uint16_t> freq = dict::ReadI16(packed, "freq", what, kSymbols);
  std::copy(freq.begin(), freq.end(), m.freq.begin());
  m.words = dict::ReadI16(packed, "rans_words", what);
  m.chunk_off = dict::ReadI32(packed, "chunk_off", what);
  m.minmax_bf16 = dict::ReadBf16(packed, "ter_minmax", what, 2 * m.rows);
  Validate(m, what);
  return m;
}

QuantOutput RansMethod::Quantize(const QuantTarget& target) const {
  return dict::QuantizeAndCode(
      *inner_, mode_, "rans", target,
      [this](const dict::TernarySymbols& s, const dict::Entropy& h, float* decoded, MatrixResult& r) {
        const RansMatrix m = Encode(s, chunk_weights_, streams_);
        Decode(m, decoded);
        r.packed = PackRans(m);
        r.storage_bits = double(StorageBits(m));
        r.stats["rans_words"] = double(m.words.size());
        r.stats["chunks"] = double(m.chunk_off.size() - 1);
        // Coded bits without the per-row min/max, over the empirical pair entropy.
        const double coded = r.storage_bits - 32.0 * double(m.rows), ideal = h.pair_bits * double(m.rows * m.cols);
        r.stats["coding_overhead"] = ideal > 0 ? coded / ideal - 1.0 : 0.0;
      });
}

at::Tensor RansMethod::Dequantize(const std::map<std::string, at::Tensor>& packed) const {
  const RansMatrix m = UnpackRans(packed, "method 'rans' packed matrix");
  at::Tensor out = at::empty({m.rows, m.cols}, at::kFloat);
  Decode(m, out.data_ptr<float>());
  return out;
}

}  // namespace qmoe::rans
