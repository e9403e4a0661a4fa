// The dictionary format ("dict"), defined once: the stored layout, the view every reader uses,
// and the decode helpers shared by the codec, the CPU kernels and the CUDA kernel (plain C++ when
// not compiled by nvcc). Byte-level description: docs/formats.md.
//
// A matrix [rows, cols] is stored as three arrays (the names on disk are permanent):
//   "w_comp"     int16 [Σ codewords]  the codes (uint16 bits), rows concatenated
//   "row_off"    int32 [rows + 1]     row r's codes are [row_off[r], row_off[r+1]); row_off[0] = 0
//   "ter_minmax" bf16  [2 * rows]     interleaved (min_r, max_r), the row's two nonzero levels
// Codes index the static 65,536-entry dictionary (codecs/dict/dictionary.h); each entry is 1..14
// ternary pairs. Pair k of a row covers columns 2k and 2k+1; an odd width's last pair covers only
// the last column and its second symbol must be 0.
//
// Decode table `dec`: uint32[2*65536]. Entry (codeword) c owns dec[2c] and dec[2c+1]; bits 0-3 of
// BOTH words hold n, the number of pairs (1..14). The entry covers a window of 28 weight slots;
// slot t (0..27) is the 2-bit symbol at bit 4+2*(t%14) of word t/14. Only the first 2n slots are
// used (the rest are 0), and the column cursor advances by 2n. Symbols: 0 -> 0, 1 -> the row's
// min, 2 -> the row's max (3 never occurs in a valid table; it decodes to 0).
#pragma once
#include <cstdint>

#include "codecs/ternary/bf16.h"

namespace qmoe::dict {

// Non-owning view of one stored matrix [rows, cols]: what Unpack returns and every decoder and
// kernel reads. Check it once with Validate (dict_codec.h) before trusting it.
struct DictView {
  int64_t rows = 0;
  int64_t cols = 0;
  const uint16_t* codes = nullptr;  // [num_codes] ("w_comp")
  int64_t num_codes = 0;
  const int32_t* row_off = nullptr;  // [rows + 1] ("row_off")
  const Bf16* minmax = nullptr;      // [2 * rows] ("ter_minmax")
};

constexpr int kEntries = 65536;   // codewords in the dictionary
constexpr int kMaxPairs = 14;     // pairs per codeword (1..14)
constexpr int kWindow = 28;       // weight slots per codeword window
constexpr int kSlotsPerWord = 14; // slots held by each of the two words

// n = number of pairs of the entry whose word (either one) is `word`.
QMOE_HD uint32_t EntryPairs(uint32_t word) { return word & 15u; }

// Columns the row cursor advances past this codeword (2n; may pass an odd row end by one).
QMOE_HD uint32_t EntryAdvance(uint32_t word) { return 2u * (word & 15u); }

// Which of the entry's two words holds slot t (0..27).
QMOE_HD uint32_t SlotWordIndex(uint32_t t) { return t / kSlotsPerWord; }

// The 2-bit symbol of slot t, given the word that holds it (dec[2c + SlotWordIndex(t)]).
QMOE_HD uint32_t SlotSymbol(uint32_t word, uint32_t t) {
  return (word >> (4u + 2u * (t % kSlotsPerWord))) & 3u;
}

// The symbol of slot t of codeword `code`.
QMOE_HD uint32_t CodeSymbol(const uint32_t* dec, uint32_t code, uint32_t t) {
  return SlotSymbol(dec[2u * code + SlotWordIndex(t)], t);
}

// Weight value of a symbol in a row with levels (mn, mx).
QMOE_HD float Dequant(uint32_t symbol, float mn, float mx) {
  return symbol == 1u ? mn : (symbol == 2u ? mx : 0.0f);
}

// Bit t (0..27) set where slot t of the entry (words w0, w1) has symbol `sym`; a plain loop,
// the obvious twin of the BMI2 pext masks the CPU kernels compute (dict_matvec_simd.cpp).
QMOE_HD uint32_t SymbolMask(uint32_t w0, uint32_t w1, uint32_t sym) {
  uint32_t m = 0;
  for (uint32_t t = 0; t < uint32_t(kWindow); ++t)
    if (SlotSymbol(SlotWordIndex(t) == 0 ? w0 : w1, t) == sym) m |= 1u << t;
  return m;
}

}  // namespace qmoe::dict
