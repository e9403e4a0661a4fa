// Test/benchmark-only: the random ternary matrices of dict_test (kernels/dict_matvec/dict_test_data.h)
// encoded with the rans codec, so both kernels can be run on the same weights.
#pragma once
#include <cstdint>

#include "codecs/rans/rans_codec.h"
#include "kernels/dict_matvec/dict_test_data.h"

namespace qmoe::kernels::rans_test {

inline rans::RansMatrix ToRans(const dict_test::TestMatrix& t, int64_t chunk_weights = rans::kDefaultChunkWeights,
                               int streams = rans::kAutoStreams) {
  ternary::TernarySymbols s;
  s.rows = t.rows, s.cols = t.cols, s.sym = t.symbols;
  s.minmax_bf16.resize(t.minmax.size());
  for (size_t i = 0; i < t.minmax.size(); ++i) s.minmax_bf16[i] = t.minmax[i].bits;
  return rans::Encode(s, chunk_weights, streams);
}

}  // namespace qmoe::kernels::rans_test
