// Sub1Validate / Sub1ValidateDecodeTable and the O(1) shape checks shared by every entry point.
#include "framework/core/error.h"
#include "kernels/sub1_matvec/sub1_decode.h"
#include "kernels/sub1_matvec/sub1_internal.h"
#include "kernels/sub1_matvec/sub1_matvec.h"

namespace qmoe::kernels {

using sub1::CodeSymbol;
using sub1::EntryAdvance;
using sub1::EntryPairs;

void Sub1ValidateDecodeTable(const uint32_t* dec) {
  QMOE_CHECK(dec != nullptr, "sub1 decode table: dec is null (expected uint32[2*65536])");
  for (uint32_t c = 0; c < uint32_t(sub1::kEntries); ++c) {
    const uint32_t w0 = dec[2 * c], w1 = dec[2 * c + 1];
    const uint32_t n = EntryPairs(w0);
    QMOE_CHECK(n >= 1 && n <= uint32_t(sub1::kMaxPairs) && EntryPairs(w1) == n,
               "sub1 decode table: entry ", c, " has n = ", n, " / ", EntryPairs(w1),
               " in its two words (expected the same n in 1..14; is this the §8.4 table?)");
    for (uint32_t t = 0; t < uint32_t(sub1::kWindow); ++t) {
      const uint32_t s = CodeSymbol(dec, c, t);
      QMOE_CHECK(s != 3, "sub1 decode table: entry ", c, " slot ", t, " has symbol 3 (expected 0..2)");
      QMOE_CHECK(t < 2 * n || s == 0, "sub1 decode table: entry ", c, " (n = ", n, ") slot ", t,
                 " is unused but holds symbol ", s, " (expected 0)");
    }
  }
}

namespace sub1 {

void CheckShape(const Sub1Matrix& m, std::string_view where) {
  QMOE_CHECK(m.rows >= 0 && m.cols >= 0, where, ": bad shape ", m.rows, "x", m.cols);
  QMOE_CHECK(m.rows <= INT32_MAX && m.cols <= INT32_MAX, where, ": shape ", m.rows, "x", m.cols,
             " too large (rows and cols must fit in int32)");
  QMOE_CHECK(m.num_codes >= 0 && m.num_codes <= INT32_MAX, where, ": num_codes = ", m.num_codes,
             " (expected 0..2^31-1: row_off is int32)");
  QMOE_CHECK(m.row_off != nullptr, where, ": row_off is null (expected int32[", m.rows + 1, "])");
  QMOE_CHECK(m.rows == 0 || m.minmax != nullptr, where, ": minmax is null (expected bf16[",
             2 * m.rows, "])");
  QMOE_CHECK(m.num_codes == 0 || m.codes != nullptr, where, ": codes is null but num_codes = ",
             m.num_codes);
  QMOE_CHECK(m.row_off[0] == 0, where, ": row_off[0] = ", m.row_off[0], " (expected 0)");
  QMOE_CHECK(m.row_off[m.rows] == m.num_codes, where, ": row_off[", m.rows, "] = ",
             m.row_off[m.rows], " but there are ", m.num_codes,
             " codes (row_off must have rows+1 entries; was this matrix packed with ", m.rows,
             " rows?)");
}

void CheckCall(const Sub1Matrix& m, const uint32_t* dec, const void* x, int64_t k, const void* y,
               std::string_view where) {
  CheckShape(m, where);
  QMOE_CHECK(dec != nullptr, where, ": dec is null (expected the uint32[2*65536] decode table)");
  QMOE_CHECK(k >= 1 && k <= kSub1MaxBatch, where, ": batch k = ", k, " (expected 1..",
             kSub1MaxBatch, "; decompress with Sub1Decompress and use a GEMM for larger batches)");
  QMOE_CHECK(x != nullptr || m.cols == 0, where, ": x is null (expected [", k, "][", m.cols, "])");
  QMOE_CHECK(y != nullptr || m.rows == 0, where, ": y is null (expected [", k, "][", m.rows, "])");
}

}  // namespace sub1

void Sub1Validate(const Sub1Matrix& m, const uint32_t* dec, std::string_view name) {
  sub1::CheckShape(m, name);
  QMOE_CHECK(dec != nullptr, name, ": dec is null (expected the uint32[2*65536] decode table)");
  const int64_t padded = m.cols + (m.cols & 1);  // codewords cover whole pairs
  for (int64_t r = 0; r < m.rows; ++r) {  // offsets first, so their errors name them
    const int64_t b = m.row_off[r], e = m.row_off[r + 1];
    QMOE_CHECK(b <= e && e <= m.num_codes, name, ": row_off[", r, "] = ", b, ", row_off[", r + 1,
               "] = ", e, " (expected non-decreasing offsets within 0..", m.num_codes, ")");
  }
  for (int64_t r = 0; r < m.rows; ++r) {
    const int64_t b = m.row_off[r], e = m.row_off[r + 1];
    int64_t col = 0;
    for (int64_t i = b; i < e; ++i) {
      const uint32_t code = m.codes[i];
      const int64_t adv = EntryAdvance(dec[2 * code]);
      QMOE_CHECK(col + adv <= padded, name, ": row ", r, " codeword ", i - b, " (code ", code,
                 ", ", adv, " columns) starts at column ", col, " and overruns the row width ",
                 m.cols);
      if (col + adv > m.cols) {  // odd width: the slot past the row end must be empty
        const uint32_t s = CodeSymbol(dec, code, uint32_t(m.cols - col));
        QMOE_CHECK(s == 0, name, ": row ", r, " last codeword (code ", code,
                   ") sets a weight past the odd row end ", m.cols, " (symbol ", s, ")");
      }
      col += adv;
    }
    QMOE_CHECK(col == padded, name, ": row ", r, " codewords cover ", col, " columns, expected ",
               m.cols, (m.cols & 1) ? " (+1 pad slot)" : "");
  }
}

}  // namespace qmoe::kernels
