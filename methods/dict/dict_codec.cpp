#include "methods/dict/dict_codec.h"

#include <cmath>
#include <cstring>

#include "framework/core/error.h"
#include "methods/dict/dictionary.h"

namespace qmoe::dict {

uint16_t FloatToBf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                          // nearest, ties even
  return uint16_t(u >> 16);
}

float Bf16BitsToFloat(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

const char* SymbolModeName(SymbolMode m) {
  return m == SymbolMode::kReference ? "reference" : "exact_zeros";
}

SymbolMode ParseSymbolMode(const std::string& text, const std::string& where) {
  if (text == "reference") return SymbolMode::kReference;
  if (text == "exact_zeros") return SymbolMode::kExactZeros;
  throw Error(StrCat(where, ": unknown symbol mode '", text, "'; expected reference or exact_zeros"));
}

TernarySymbols SymbolsFromTernary(const float* w, int64_t rows, int64_t cols, SymbolMode mode,
                                  const std::string& what) {
  QMOE_CHECK(rows >= 1 && cols >= 1, what, ": shape must be at least 1x1, got ", rows, "x", cols);
  TernarySymbols s;
  s.rows = rows;
  s.cols = cols;
  s.sym.resize(size_t(rows * cols));
  s.minmax_bf16.resize(size_t(2 * rows));
  std::vector<float> v(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < cols; ++c) {
      QMOE_CHECK(std::isfinite(row[c]), what, ": row ", r, " col ", c, " is not finite (", row[c], ")");
      v[c] = Bf16BitsToFloat(FloatToBf16Bits(row[c]));
      lo = std::min(lo, v[c]);
      hi = std::max(hi, v[c]);
    }
    s.minmax_bf16[2 * r] = FloatToBf16Bits(lo);
    s.minmax_bf16[2 * r + 1] = FloatToBf16Bits(hi);
    uint8_t* out = s.sym.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t t;
      if (mode == SymbolMode::kExactZeros && v[c] == 0.0f) t = 0;
      else if (v[c] == hi) t = 2;  // max wins when min == max
      else if (v[c] == lo) t = 1;
      else if (v[c] == 0.0f) t = 0;
      else
        throw Error(StrCat(what, ": not ternary: row ", r, " col ", c, " has bf16 value ", v[c],
                           ", expected 0, the row min ", lo, " or the row max ", hi));
      out[c] = t;
    }
  }
  return s;
}

void RowPairs(const uint8_t* sym, int64_t cols, uint8_t* pairs) {
  const int64_t full = cols / 2;
  for (int64_t k = 0; k < full; ++k) pairs[k] = uint8_t(3 * sym[2 * k + 1] + sym[2 * k]);
  if (cols % 2) pairs[full] = sym[cols - 1];
}

EncodedMatrix Encode(const TernarySymbols& s) {
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

void Validate(const EncodedMatrix& m, const std::string& what) {
  QMOE_CHECK(m.rows >= 1 && m.cols >= 1, what, ": shape must be at least 1x1, got ", m.rows, "x", m.cols);
  QMOE_CHECK(m.rows < (int64_t(1) << 31) && m.cols < (int64_t(1) << 31) && m.rows * m.cols < (int64_t(1) << 48),
             what, ": shape ", m.rows, "x", m.cols, " is too large");
  QMOE_CHECK(m.row_off.size() == size_t(m.rows + 1), what, ": row_off has ", m.row_off.size(),
             " entries, expected rows + 1 = ", m.rows + 1);
  QMOE_CHECK(m.minmax_bf16.size() == size_t(2 * m.rows), what, ": ter_minmax has ", m.minmax_bf16.size(),
             " entries, expected 2 * rows = ", 2 * m.rows);
  QMOE_CHECK(m.row_off[0] == 0, what, ": row_off[0] is ", m.row_off[0], ", expected 0");
  QMOE_CHECK(int64_t(m.row_off[m.rows]) == int64_t(m.codes.size()), what, ": row_off[", m.rows, "] is ",
             m.row_off[m.rows], ", expected the codeword count ", m.codes.size());
  for (int64_t r = 0; r < m.rows; ++r) {
    QMOE_CHECK(m.row_off[r] <= m.row_off[r + 1], what, ": row_off decreases at row ", r, " (",
               m.row_off[r], " > ", m.row_off[r + 1], ")");
    const float lo = Bf16BitsToFloat(m.minmax_bf16[2 * r]), hi = Bf16BitsToFloat(m.minmax_bf16[2 * r + 1]);
    QMOE_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, what, ": row ", r,
               " has min/max (", lo, ", ", hi, "), expected finite min <= max");
  }
  const auto& dec = DecodeTable();
  const int64_t np = PairsPerRow(m.cols);
  for (int64_t r = 0; r < m.rows; ++r) {
    const int32_t b = m.row_off[r], e = m.row_off[r + 1];
    int64_t pairs = 0;
    for (int32_t i = b; i < e; ++i) {
      pairs += dec[2 * size_t(m.codes[i])] & 15u;
      QMOE_CHECK(pairs <= np, what, ": row ", r, " codeword ", i - b, " (code ", m.codes[i],
                 ") overruns the row: ", pairs, " pairs decoded, the row has ", np);
    }
    QMOE_CHECK(pairs == np, what, ": row ", r, " decodes ", pairs, " pairs, expected ", np,
               " (cols = ", m.cols, ")");
    if (m.cols % 2) {  // the last pair is a lone column: its second symbol must be 0
      const uint16_t code = m.codes[e - 1];
      const uint32_t j = (dec[2 * size_t(code)] & 15u) - 1;
      const uint32_t word = dec[2 * size_t(code) + j / 7];
      QMOE_CHECK(((word >> (4 + 4 * (j % 7) + 2)) & 3u) == 0, what, ": row ", r,
                 " has a nonzero padding symbol after the last column (odd width ", m.cols, ")");
    }
  }
}

namespace {

// Unpacks one codeword: all 28 slots from the two words (unused slots hold symbol 0 -> 0.0f).
inline int64_t DecodeCode(const uint32_t* dec, uint16_t code, const float tab[4], float* dst) {
  const uint32_t w0 = dec[2 * size_t(code)], w1 = dec[2 * size_t(code) + 1];
  for (int k = 0; k < 14; ++k) dst[k] = tab[(w0 >> (4 + 2 * k)) & 3u];
  for (int k = 0; k < 14; ++k) dst[14 + k] = tab[(w1 >> (4 + 2 * k)) & 3u];
  return 2 * int64_t(w0 & 15u);
}

}  // namespace

void Decode(const EncodedMatrix& m, float* out) {
  Validate(m);  // everything below relies on it: no bounds checks in the hot loop
  const uint32_t* dec = DecodeTable().data();
  const int64_t total = m.rows * m.cols, span = 2 * PairsPerRow(m.cols) + 28;
  std::vector<float> scratch(static_cast<size_t>(span));
  for (int64_t r = 0; r < m.rows; ++r) {
    const float tab[4] = {0.0f, Bf16BitsToFloat(m.minmax_bf16[2 * r]), Bf16BitsToFloat(m.minmax_bf16[2 * r + 1]),
                          0.0f};
    // Rows are decoded in order, so spill past a row's end lands in the next row and is
    // overwritten; only rows whose spill could leave the buffer go through scratch.
    float* row = out + r * m.cols;
    const bool direct = r * m.cols + span <= total;
    float* dst = direct ? row : scratch.data();
    int64_t pos = 0;
    for (int32_t i = m.row_off[r]; i < m.row_off[r + 1]; ++i) pos += DecodeCode(dec, m.codes[i], tab, dst + pos);
    if (!direct) std::memcpy(row, scratch.data(), size_t(m.cols) * sizeof(float));
  }
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

int64_t ExactBytes(const EncodedMatrix& m) {
  return 2 * int64_t(m.codes.size()) + 4 * (m.rows + 1) + 4 * m.rows;
}

double ReferenceIdealRate(int64_t rows, int64_t cols, int64_t codewords) {
  return 16.0 * double(rows) * double(cols) / (16.0 * double(codewords) + 64.0 * double(rows + 1));
}

Entropy EmpiricalEntropy(const TernarySymbols& s) {
  int64_t sym[3] = {0, 0, 0}, pair[kPairSymbols] = {};
  const int64_t np = PairsPerRow(s.cols);
  std::vector<uint8_t> pairs(static_cast<size_t>(np));
  for (int64_t r = 0; r < s.rows; ++r) {
    const uint8_t* row = s.sym.data() + r * s.cols;
    for (int64_t c = 0; c < s.cols; ++c) sym[row[c]]++;
    RowPairs(row, s.cols, pairs.data());
    for (uint8_t p : pairs) pair[p]++;
  }
  auto h = [](const int64_t* n, int k) {
    double total = 0, bits = 0;
    for (int i = 0; i < k; ++i) total += double(n[i]);
    for (int i = 0; i < k; ++i)
      if (n[i] > 0) bits -= double(n[i]) / total * std::log2(double(n[i]) / total);
    return bits;
  };
  const double weights = double(s.rows * s.cols);
  Entropy e;
  e.iid_bits = h(sym, 3);
  e.pair_bits = h(pair, kPairSymbols) * double(s.rows * np) / weights;
  return e;
}

double ModelEntropyBits(double p0) {
  const double p1 = (1.0 - p0) / 2.0;
  return -p0 * std::log2(p0) - (1.0 - p0) * std::log2(p1);
}

}  // namespace qmoe::dict
