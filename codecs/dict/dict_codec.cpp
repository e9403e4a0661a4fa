#include "codecs/dict/dict_codec.h"

#include <cmath>
#include <cstring>

#include "codecs/codec.h"
#include "codecs/dict/dictionary.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe::dict {

using ternary::PairsPerRow;
using ternary::RowPairs;

EncodedMatrix Encode(const ternary::TernarySymbols& s) {
  QMOE_CHECK(s.rows >= 1 && s.cols >= 1 && s.sym.size() == size_t(s.rows * s.cols) &&
                 s.minmax_bf16.size() == size_t(2 * s.rows),
             "dict encode: inconsistent TernarySymbols (", s.rows, "x", s.cols, ", ", s.sym.size(),
             " symbols, ", s.minmax_bf16.size(), " min/max)");
  const auto& trie = EncodeTrie();
  EncodedMatrix m;
  m.rows = s.rows;
  m.cols = s.cols;
  m.minmax_bf16 = s.minmax_bf16;
  m.row_off.resize(size_t(s.rows + 1));
  m.codes.reserve(size_t(s.rows * s.cols / 16 + s.rows));
  const int64_t np = PairsPerRow(s.cols);
  std::vector<uint8_t> pairs(static_cast<size_t>(np));
  for (int64_t r = 0; r < s.rows; ++r) {
    m.row_off[r] = int32_t(m.codes.size());
    RowPairs(s.sym.data() + r * s.cols, s.cols, pairs.data());
    int32_t node = kRoot;
    for (int64_t k = 0; k < np; ++k) {
      const uint8_t p = pairs[k];
      QMOE_ASSERT(p < kPairSymbols, "symbol out of range at row ", r);
      if (trie[size_t(node) * kPairSymbols + p] < 0) {
        m.codes.push_back(uint16_t(node));
        node = kRoot;
      }
      node = trie[size_t(node) * kPairSymbols + p];
    }
    m.codes.push_back(uint16_t(node));  // a row has >= 1 pair, so node is an entry here
    QMOE_CHECK(m.codes.size() <= size_t(INT32_MAX), "dict encode: more than 2^31 codewords");
  }
  m.row_off[s.rows] = int32_t(m.codes.size());
  return m;
}

DictView ViewOf(const EncodedMatrix& m) {
  return DictView{m.rows, m.cols, m.codes.data(), int64_t(m.codes.size()), m.row_off.data(),
                  reinterpret_cast<const Bf16*>(m.minmax_bf16.data())};
}

EncodedMatrix ToEncoded(const DictView& v) {
  EncodedMatrix e;
  e.rows = v.rows;
  e.cols = v.cols;
  e.codes.assign(v.codes, v.codes + v.num_codes);
  e.row_off.assign(v.row_off, v.row_off + v.rows + 1);
  e.minmax_bf16.resize(size_t(2 * v.rows));
  for (int64_t i = 0; i < 2 * v.rows; ++i) e.minmax_bf16[size_t(i)] = v.minmax[i].bits;
  return e;
}

void ValidateDecodeTable(const uint32_t* dec) {
  QMOE_CHECK(dec != nullptr, "dict decode table: dec is null (expected uint32[2*65536])");
  for (uint32_t c = 0; c < uint32_t(kEntries); ++c) {
    const uint32_t w0 = dec[2 * c], w1 = dec[2 * c + 1];
    const uint32_t n = EntryPairs(w0);
    QMOE_CHECK(n >= 1 && n <= uint32_t(kMaxPairs) && EntryPairs(w1) == n, "dict decode table: entry ", c,
               " has n = ", n, " / ", EntryPairs(w1),
               " in its two words (expected the same n in 1..14; is this the dictionary's table?)");
    for (uint32_t t = 0; t < uint32_t(kWindow); ++t) {
      const uint32_t s = CodeSymbol(dec, c, t);
      QMOE_CHECK(s != 3, "dict decode table: entry ", c, " slot ", t, " has symbol 3 (expected 0..2)");
      QMOE_CHECK(t < 2 * n || s == 0, "dict decode table: entry ", c, " (n = ", n, ") slot ", t,
                 " is unused but holds symbol ", s, " (expected 0)");
    }
  }
}

void ValidateShape(const DictView& m, std::string_view what) {
  QMOE_CHECK(m.rows >= 0 && m.cols >= 0, what, ": bad shape ", m.rows, "x", m.cols);
  QMOE_CHECK(m.rows <= INT32_MAX && m.cols <= INT32_MAX && m.rows * m.cols < (int64_t(1) << 48), what, ": shape ",
             m.rows, "x", m.cols, " is too large (rows and cols must fit in int32)");
  QMOE_CHECK(m.num_codes >= 0 && m.num_codes <= INT32_MAX, what, ": num_codes = ", m.num_codes,
             " (expected 0..2^31-1: row_off is int32)");
  QMOE_CHECK(m.row_off != nullptr, what, ": row_off is null (expected int32[", m.rows + 1, "])");
  QMOE_CHECK(m.rows == 0 || m.minmax != nullptr, what, ": minmax is null (expected bf16[", 2 * m.rows, "])");
  QMOE_CHECK(m.num_codes == 0 || m.codes != nullptr, what, ": codes is null but num_codes = ", m.num_codes);
  QMOE_CHECK(m.row_off[0] == 0, what, ": row_off[0] = ", m.row_off[0], " (expected 0)");
  QMOE_CHECK(m.row_off[m.rows] == m.num_codes, what, ": row_off[", m.rows, "] = ", m.row_off[m.rows],
             " but there are ", m.num_codes, " codes (row_off must have rows+1 entries; was this matrix packed with ",
             m.rows, " rows?)");
}

namespace {

// Row r's codewords must cover exactly its width; on an odd width the slot past the end is 0.
void ValidateRow(const DictView& m, const uint32_t* dec, int64_t r, std::string_view what) {
  const int64_t padded = m.cols + (m.cols & 1), b = m.row_off[r], e = m.row_off[r + 1];
  int64_t col = 0;
  for (int64_t i = b; i < e; ++i) {
    const uint32_t code = m.codes[i];
    const int64_t adv = EntryAdvance(dec[2 * code]);
    QMOE_CHECK(col + adv <= padded, what, ": row ", r, " codeword ", i - b, " (code ", code, ", ", adv,
               " columns) starts at column ", col, " and overruns the row width ", m.cols);
    if (col + adv > m.cols) {
      const uint32_t s = CodeSymbol(dec, code, uint32_t(m.cols - col));
      QMOE_CHECK(s == 0, what, ": row ", r, " last codeword (code ", code,
                 ") sets a weight past the odd row end ", m.cols, " (symbol ", s, ")");
    }
    col += adv;
  }
  QMOE_CHECK(col == padded, what, ": row ", r, " decodes ", col / 2, " pairs, expected ", padded / 2,
             " (its codewords cover ", col, " columns, the row has ", m.cols, ")");
}

}  // namespace

void Validate(const DictView& m, const uint32_t* dec, std::string_view what) {
  ValidateShape(m, what);
  QMOE_CHECK(dec != nullptr, what, ": dec is null (expected the uint32[2*65536] decode table)");
  for (int64_t r = 0; r < m.rows; ++r) {  // offsets first, so their errors name them
    const int64_t b = m.row_off[r], e = m.row_off[r + 1];
    QMOE_CHECK(b <= e && e <= m.num_codes, what, ": row_off[", r, "] = ", b, ", row_off[", r + 1, "] = ", e,
               " (expected non-decreasing offsets within 0..", m.num_codes, ")");
  }
  for (int64_t r = 0; r < m.rows; ++r) {
    const float lo = Bf16ToFloat(m.minmax[2 * r]), hi = Bf16ToFloat(m.minmax[2 * r + 1]);
    QMOE_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, what, ": row ", r, " has min/max (", lo, ", ",
               hi, "), expected finite min <= max");
  }
  for (int64_t r = 0; r < m.rows; ++r) ValidateRow(m, dec, r, what);
}

void Validate(const EncodedMatrix& m, const std::string& what) {
  QMOE_CHECK(m.rows >= 1 && m.cols >= 1, what, ": shape must be at least 1x1, got ", m.rows, "x", m.cols);
  QMOE_CHECK(m.rows <= INT32_MAX && m.cols <= INT32_MAX, what, ": shape ", m.rows, "x", m.cols, " is too large");
  QMOE_CHECK(m.row_off.size() == size_t(m.rows + 1), what, ": row_off has ", m.row_off.size(),
             " entries, expected rows + 1 = ", m.rows + 1);
  QMOE_CHECK(m.minmax_bf16.size() == size_t(2 * m.rows), what, ": ter_minmax has ", m.minmax_bf16.size(),
             " entries, expected 2 * rows = ", 2 * m.rows);
  Validate(ViewOf(m), DecodeTable().data(), what);
}

namespace {

// Unpacks one codeword: all 28 slots from the two words (unused slots hold symbol 0 -> 0.0f).
inline int64_t DecodeCode(const uint32_t* dec, uint16_t code, const float tab[4], float* dst) {
  const uint32_t w0 = dec[2 * size_t(code)], w1 = dec[2 * size_t(code) + 1];
  for (int k = 0; k < 14; ++k) dst[k] = tab[(w0 >> (4 + 2 * k)) & 3u];
  for (int k = 0; k < 14; ++k) dst[14 + k] = tab[(w1 >> (4 + 2 * k)) & 3u];
  return EntryAdvance(w0);
}

}  // namespace

void DecodeRows(const DictView& m, const uint32_t* dec, int64_t r0, int64_t r1, float* out) {
  const int64_t total = (r1 - r0) * m.cols, span = m.cols + 1 + kWindow;
  thread_local std::vector<float> scratch;
  scratch.resize(size_t(span));
  for (int64_t r = r0; r < r1; ++r) {
    const float tab[4] = {0.0f, Bf16ToFloat(m.minmax[2 * r]), Bf16ToFloat(m.minmax[2 * r + 1]), 0.0f};
    // Rows are decoded in order, so spill past a row's end lands in the next row and is
    // overwritten; only rows whose spill could leave the buffer go through scratch.
    float* row = out + (r - r0) * m.cols;
    const bool direct = (r - r0) * m.cols + span <= total;
    float* dst = direct ? row : scratch.data();
    int64_t pos = 0;
    for (int32_t i = m.row_off[r]; i < m.row_off[r + 1]; ++i) pos += DecodeCode(dec, m.codes[i], tab, dst + pos);
    if (!direct) std::memcpy(row, scratch.data(), size_t(m.cols) * sizeof(float));
  }
}

void Decode(const EncodedMatrix& m, float* out) {
  Validate(m);  // everything below relies on it: no bounds checks in the hot loop
  DecodeRows(ViewOf(m), DecodeTable().data(), 0, m.rows, out);
}

void DecodeRef(const EncodedMatrix& m, float* out) {
  Validate(m);
  const auto& entries = Entries();
  for (int64_t r = 0; r < m.rows; ++r) {
    const float lo = Bf16BitsToFloat(m.minmax_bf16[2 * r]), hi = Bf16BitsToFloat(m.minmax_bf16[2 * r + 1]);
    int64_t c = 0;
    for (int32_t i = m.row_off[r]; i < m.row_off[r + 1]; ++i) {
      for (uint8_t p : entries[m.codes[i]]) {
        const int t[2] = {p % 3, p / 3};
        for (int t_i : t) {
          if (c < m.cols) out[r * m.cols + c] = t_i == 0 ? 0.0f : t_i == 1 ? lo : hi;
          ++c;
        }
      }
    }
  }
}

std::vector<float> Decode(const EncodedMatrix& m) {
  QMOE_CHECK(m.rows >= 1 && m.cols >= 1 && m.rows < (int64_t(1) << 31) && m.cols < (int64_t(1) << 31),
             "encoded matrix: bad shape ", m.rows, "x", m.cols);
  std::vector<float> out(static_cast<size_t>(m.rows * m.cols));
  Decode(m, out.data());
  return out;
}

ternary::Fields Pack(const EncodedMatrix& m) {
  return {{"w_comp", ternary::I16Field(m.codes)},
          {"row_off", ternary::I32Field(m.row_off)},
          {"ter_minmax", ternary::Bf16Field(m.minmax_bf16)},
          {"shape", ternary::I32Field({int32_t(m.rows), int32_t(m.cols)})}};
}

DictView Unpack(const ternary::FieldViews& fields, const std::string& what, int64_t rows, int64_t cols) {
  if (fields.count("shape") || rows < 0 || cols < 0) {
    const auto shape = ternary::ReadI32(fields, "shape", what, 2);
    QMOE_CHECK((rows < 0 || rows == shape[0]) && (cols < 0 || cols == shape[1]), what, ": packed shape is ",
               shape[0], "x", shape[1], ", expected ", rows, "x", cols);
    rows = shape[0], cols = shape[1];
  }
  QMOE_CHECK(rows >= 1 && cols >= 1, what, ": packed shape is ", rows, "x", cols, ", expected at least 1x1");
  const auto codes = ternary::ReadI16(fields, "w_comp", what);
  const auto row_off = ternary::ReadI32(fields, "row_off", what, rows + 1);
  const auto minmax = ternary::ReadBf16(fields, "ter_minmax", what, 2 * rows);
  const DictView v{rows, cols, codes.data(), int64_t(codes.size()), row_off.data(),
                   reinterpret_cast<const Bf16*>(minmax.data())};
  Validate(v, DecodeTable().data(), what);
  return v;
}

int64_t ExactBytes(const EncodedMatrix& m) {
  return 2 * int64_t(m.codes.size()) + 4 * (m.rows + 1) + 4 * m.rows;
}

double ReferenceIdealRate(int64_t rows, int64_t cols, int64_t codewords) {
  return 16.0 * double(rows) * double(cols) / (16.0 * double(codewords) + 64.0 * double(rows + 1));
}

codecs::Codec DictCodec() {
  using codecs::As;
  using codecs::Coded;
  codecs::Codec c;
  c.name = "dict";
  c.help = "ternary (gptq|rtn) + the static 2^16-entry dictionary code of QMoE (layout: docs/formats.md)";
  c.encode = [](const ternary::TernarySymbols& s, const ParamMap&) -> Coded { return Encode(s); };
  c.validate = [](const Coded& m, const std::string& what) { Validate(As<EncodedMatrix>(m), what); };
  c.decoders = {{"fast", [] { return true; }, [](const Coded& m, float* out) { Decode(As<EncodedMatrix>(m), out); }}};
  c.decode_ref = [](const Coded& m, float* out) { DecodeRef(As<EncodedMatrix>(m), out); };
  c.storage_bits = [](const Coded& m) { return 8.0 * double(ExactBytes(As<EncodedMatrix>(m))); };
  c.pack = [](const Coded& m) { return Pack(As<EncodedMatrix>(m)); };
  c.unpack = [](const ternary::FieldViews& f, const std::string& what) -> Coded { return ToEncoded(Unpack(f, what)); };
  c.stats = [](const Coded& coded, const ternary::Entropy&) {
    const auto& m = As<EncodedMatrix>(coded);
    return std::map<std::string, double>{
        {"ideal_rate", ReferenceIdealRate(m.rows, m.cols, int64_t(m.codes.size()))},
        {"codewords", double(m.codes.size())}};
  };
  c.rate_lines = [](const Coded& coded) {
    const auto& m = As<EncodedMatrix>(coded);
    const double n = double(m.rows * m.cols);
    return std::vector<codecs::RateLine>{
        {"dict, exact bytes", 8.0 * double(ExactBytes(m)), StrCat(m.codes.size(), " codewords")},
        {"dict, reference \"ideal rate\"", 16.0 * n / ReferenceIdealRate(m.rows, m.cols, int64_t(m.codes.size())),
         "16 bits/codeword + 64 bits/row"}};
  };
  c.metrics = [](const Coded& coded) {
    const auto& m = As<EncodedMatrix>(coded);
    return std::map<std::string, double>{{"rate_dict_ideal", ReferenceIdealRate(m.rows, m.cols, int64_t(m.codes.size()))}};
  };
  c.fused_kernel = "dict_matvec";
  return c;
}

}  // namespace qmoe::dict
