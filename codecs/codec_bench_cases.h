// The decode cases codec_bench times, built from the codec table: for every shape, every codec
// and every decoder this CPU runs, "<codec>_decode/<RxC>" (the default decoder) or
// "<codec>_decode_<decoder>/<RxC>", on an i.i.d. ternary matrix encoded with default options.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "codecs/codec.h"

namespace qmoe::codecs {

struct BenchShape {
  int64_t rows, cols;
};

struct BenchCase {
  std::string name;
  std::string codec;
  int64_t rows = 0, cols = 0;
  double storage_bits = 0;       // of the encoded matrix
  std::map<std::string, double> metrics;  // the codec's own (Codec::metrics)
  std::function<void()> run;     // one decode (Validate included) into the case's own buffer
};

std::vector<BenchCase> DecodeBenchCases(const CodecRegistry& codecs, const std::vector<BenchShape>& shapes,
                                        double p0 = 0.885, uint64_t seed = 1);

}  // namespace qmoe::codecs
