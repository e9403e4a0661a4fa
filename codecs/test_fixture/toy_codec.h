// A toy third codec for tests: the ternary symbols packed 2 bits each, 8 per int16, plus the rows'
// min/max. It shows what a new codec needs (this header, its .cpp, and in a real codec a
// CMakeLists.txt and one line in codecs/all_codecs.cpp) and that the codec table's users pick it
// up untouched (codecs_table_test).
#pragma once
#include <cstdint>
#include <vector>

#include "codecs/codec.h"

namespace qmoe::toy {

struct ToyMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t> bits;         // "toy_bits" int16 [ceil(rows·cols / 8)]: symbol i at bits 2(i%8)
  std::vector<uint16_t> minmax_bf16;  // "ter_minmax" bf16 [2 rows]
};

// `broken` gives a codec whose fast decoder differs from its plain twin (a fuzz-loop self-test).
codecs::Codec ToyCodec(bool broken = false);

}  // namespace qmoe::toy
