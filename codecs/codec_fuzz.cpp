#include "codecs/codec_fuzz.h"

#include <cstring>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe::codecs {
namespace {

// A cursor over the input: little-endian values of 1, 2 or 4 bytes, 0 once the input is exhausted
// (so every input maps to some structure).
struct Input {
  const uint8_t* p;
  size_t n, i = 0;
  uint32_t Take(int bytes) {
    uint32_t v = 0;
    for (int b = 0; b < bytes; ++b) v |= uint32_t(i < n ? p[i++] : 0) << (8 * b);
    return v;
  }
  uint8_t U8() { return uint8_t(Take(1)); }
  uint16_t U16() { return uint16_t(Take(2)); }
  uint32_t U32() { return Take(4); }
};

int64_t ElementBytes(ternary::FieldType t) { return t == ternary::FieldType::kI32 ? 4 : 2; }

ternary::TernarySymbols Symbols(Input& in, int64_t rows, int64_t cols) {
  ternary::TernarySymbols s;
  s.rows = rows;
  s.cols = cols;
  for (int64_t i = 0; i < rows * cols; ++i) s.sym.push_back(uint8_t(in.U8() % 7 == 0 ? 1 + in.U8() % 2 : 0));
  for (int64_t r = 0; r < rows; ++r) s.minmax_bf16.insert(s.minmax_bf16.end(), {0xbf80, 0x3f80});  // -1, +1
  return s;
}

// Integer options drawn from the input near the bottom of their range (small chunks, any stream count).
ParamMap Options(const Codec& c, Input& in) {
  ParamMap m;
  for (const ParamSpec& p : c.params) {
    if (p.type != ParamType::kInt) continue;
    const double span = std::min(p.max - p.min + 1, 1024.0);
    m[p.name] = int64_t(p.min + double(in.U16() % uint32_t(span)));
  }
  return m;
}

// Overwrites, truncates or extends one field (never "shape": it fixes the output size).
void Corrupt(Input& in, ternary::Fields& f) {
  std::vector<std::string> names;
  for (const auto& [name, _] : f)
    if (name != "shape") names.push_back(name);
  if (names.empty()) return;
  ternary::Field& x = f.at(names[in.U8() % names.size()]);
  const int64_t eb = ElementBytes(x.type), n = x.numel();
  const uint8_t op = in.U8() % 3;
  const uint32_t at = in.U32(), val = in.U32();
  if (op == 0 && n > 0) std::memcpy(x.bytes.data() + (at % n) * eb, &val, size_t(eb));
  if (op == 1) x.bytes.resize(size_t((at % (n + 1)) * eb));
  if (op == 2) x.bytes.resize(size_t((n + 1 + at % 4) * eb), uint8_t(val));
}

// Every field of the codec's layout filled with input bytes (shape = rows x cols).
ternary::Fields RawFields(const Codec& c, Input& in, int64_t rows, int64_t cols) {
  Input none{nullptr, 0};
  ternary::Fields f = c.pack(c.encode(Symbols(none, 1, 1), {}));  // the layout: names and types
  for (auto& [name, x] : f) {
    if (name == "shape") continue;
    x.bytes.resize(size_t((in.U16() % 512) * ElementBytes(x.type)));
    for (auto& b : x.bytes) b = in.U8();
  }
  f["shape"] = ternary::I32Field({int32_t(rows), int32_t(cols)});
  return f;
}

}  // namespace

std::string FuzzOne(const CodecRegistry& codecs, const uint8_t* data, size_t size) {
  Input in{data, size};
  const std::vector<std::string> keys = codecs.Keys();
  const Codec& c = codecs.Get(keys[in.U8() % keys.size()]);
  const uint8_t mode = in.U8();
  const int64_t rows = 1 + in.U8() % 8, cols = 1 + in.U16() % 200;
  ternary::Fields fields;
  std::vector<float> want;  // the symbols' values when the encoding is intact
  if (mode & 1) {
    const ternary::TernarySymbols s = Symbols(in, rows, cols);
    fields = c.pack(c.encode(s, Options(c, in)));
    const int corruptions = in.U8() % 4;
    for (int k = 0; k < corruptions; ++k) Corrupt(in, fields);
    if (corruptions == 0)
      for (uint8_t t : s.sym) want.push_back(t == 0 ? 0.0f : t == 1 ? -1.0f : 1.0f);
  } else {
    fields = RawFields(c, in, rows, cols);
  }
  Coded coded;
  try {
    coded = c.unpack(ternary::ViewsOf(fields), "fuzz input");
  } catch (const Error&) {
    return "";
  }
  std::vector<float> ref(size_t(rows * cols));
  bool ref_ok = true;
  try {
    c.decode_ref(coded, ref.data());
  } catch (const Error&) {
    ref_ok = false;
  }
  if (!want.empty() && (!ref_ok || ref != want)) return StrCat(c.name, ": the plain decoder does not reproduce the symbols");
  for (const Decoder& d : c.decoders) {
    if (!d.available()) continue;
    std::vector<float> fast(ref.size());
    bool ok = true;
    try {
      d.run(coded, fast.data());
    } catch (const Error&) {
      ok = false;
    }
    if (ok != ref_ok) return StrCat(c.name, " decoder ", d.name, ": ", ok ? "accepts" : "rejects", " what the plain twin ",
                                    ref_ok ? "accepts" : "rejects");
    if (ok && std::memcmp(fast.data(), ref.data(), fast.size() * sizeof(float)) != 0)
      return StrCat(c.name, " decoder ", d.name, ": floats differ from the plain twin");
  }
  return "";
}

}  // namespace qmoe::codecs
