#include "codecs/codec_bench_cases.h"

#include <memory>

#include "codecs/ternary/iid_ternary.h"
#include "framework/core/strings.h"

namespace qmoe::codecs {

std::vector<BenchCase> DecodeBenchCases(const CodecRegistry& codecs, const std::vector<BenchShape>& shapes, double p0,
                                        uint64_t seed) {
  std::vector<BenchCase> cases;
  for (const BenchShape& shape : shapes) {
    const std::vector<float> w = ternary::RandomTernaryMatrix(shape.rows, shape.cols, p0, seed);
    const ternary::TernarySymbols s =
        ternary::SymbolsFromTernary(w.data(), shape.rows, shape.cols, ternary::SymbolMode::kReference);
    for (const std::string& key : codecs.Keys()) {
      const Codec& c = codecs.Get(key);
      auto coded = std::make_shared<const Coded>(c.encode(s, {}));
      for (size_t i = 0; i < c.decoders.size(); ++i) {
        const Decoder& d = c.decoders[i];
        if (!d.available()) continue;
        auto out = std::make_shared<std::vector<float>>(size_t(shape.rows * shape.cols));
        BenchCase bc;
        bc.name = StrCat(key, "_decode", i == 0 ? "" : "_" + d.name, "/", shape.rows, "x", shape.cols);
        bc.codec = key;
        bc.rows = shape.rows, bc.cols = shape.cols;
        bc.storage_bits = c.storage_bits(*coded);
        bc.metrics = c.metrics(*coded);
        bc.run = [run = d.run, coded, out] { run(*coded, out->data()); };
        cases.push_back(std::move(bc));
      }
    }
  }
  return cases;
}

}  // namespace qmoe::codecs
