#include "codecs/test_fixture/toy_codec.h"

#include <string>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe::toy {
namespace {

using codecs::As;
using codecs::Coded;

void Validate(const ToyMatrix& m, const std::string& what) {
  QMOE_CHECK(m.rows >= 1 && m.cols >= 1 && m.rows * m.cols <= (int64_t(1) << 40), what, ": bad shape ", m.rows, "x",
             m.cols);
  QMOE_CHECK(int64_t(m.bits.size()) == (m.rows * m.cols + 7) / 8, what, ": toy_bits has ", m.bits.size(),
             " entries, expected ", (m.rows * m.cols + 7) / 8);
  QMOE_CHECK(int64_t(m.minmax_bf16.size()) == 2 * m.rows, what, ": ter_minmax has ", m.minmax_bf16.size(),
             " entries, expected ", 2 * m.rows);
  for (int64_t i = 0; i < m.rows * m.cols; ++i)
    QMOE_CHECK(((m.bits[size_t(i / 8)] >> (2 * (i % 8))) & 3u) != 3u, what, ": symbol ", i, " is 3");
}

void Decode(const ToyMatrix& m, float* out, bool broken) {
  Validate(m, "toy matrix");
  for (int64_t i = 0; i < m.rows * m.cols; ++i) {
    const uint32_t t = (m.bits[size_t(i / 8)] >> (2 * (i % 8))) & 3u;
    const int64_t r = i / m.cols;
    out[i] = t == 0 ? 0.0f : Bf16BitsToFloat(m.minmax_bf16[size_t(2 * r + (t - 1))]);
    if (broken && i == 0) out[i] += 1.0f;
  }
}

}  // namespace

codecs::Codec ToyCodec(bool broken) {
  codecs::Codec c;
  c.name = broken ? "toy_broken" : "toy";
  c.help = "test fixture: 2 bits per symbol";
  c.encode = [](const ternary::TernarySymbols& s, const ParamMap&) -> Coded {
    ToyMatrix m{s.rows, s.cols, std::vector<uint16_t>(size_t((s.rows * s.cols + 7) / 8)), s.minmax_bf16};
    for (size_t i = 0; i < s.sym.size(); ++i) m.bits[i / 8] |= uint16_t(s.sym[i] << (2 * (i % 8)));
    return m;
  };
  c.validate = [](const Coded& m, const std::string& what) { Validate(As<ToyMatrix>(m), what); };
  c.decoders = {{"fast", [] { return true; },
                 [broken](const Coded& m, float* out) { Decode(As<ToyMatrix>(m), out, broken); }}};
  c.decode_ref = [](const Coded& m, float* out) { Decode(As<ToyMatrix>(m), out, false); };
  c.storage_bits = [](const Coded& m) {
    return 16.0 * double(As<ToyMatrix>(m).bits.size() + As<ToyMatrix>(m).minmax_bf16.size());
  };
  c.pack = [](const Coded& coded) {
    const auto& m = As<ToyMatrix>(coded);
    return ternary::Fields{{"toy_bits", ternary::I16Field(m.bits)},
                           {"ter_minmax", ternary::Bf16Field(m.minmax_bf16)},
                           {"shape", ternary::I32Field({int32_t(m.rows), int32_t(m.cols)})}};
  };
  c.unpack = [](const ternary::FieldViews& f, const std::string& what) -> Coded {
    const auto shape = ternary::ReadI32(f, "shape", what, 2);
    const auto bits = ternary::ReadI16(f, "toy_bits", what);
    const auto minmax = ternary::ReadBf16(f, "ter_minmax", what);
    ToyMatrix m{shape[0], shape[1], {bits.begin(), bits.end()}, {minmax.begin(), minmax.end()}};
    Validate(m, what);
    return m;
  };
  c.stats = [](const Coded&, const ternary::Entropy&) { return std::map<std::string, double>{}; };
  c.rate_lines = [](const Coded& coded) {
    const auto& m = As<ToyMatrix>(coded);
    return std::vector<codecs::RateLine>{
        {"toy, exact bits", 16.0 * double(m.bits.size() + m.minmax_bf16.size()), "2 bits per symbol"}};
  };
  c.metrics = [](const Coded&) { return std::map<std::string, double>{}; };
  return c;
}

}  // namespace qmoe::toy
