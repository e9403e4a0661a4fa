// The §8 sub-1-bit dictionary format on raw arrays (no torch): ternary matrix -> symbols (§8.7)
// -> pairs (§8.1) -> per-row greedy codewords (§8.6), exact decoding, validation of untrusted
// input, size accounting (§8.9) and empirical entropy.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qmoe::dict {

// bf16 as raw bits: float -> bf16 rounds to nearest even (NaN stays NaN); bf16 -> float is exact.
uint16_t FloatToBf16Bits(float f);
float Bf16BitsToFloat(uint16_t b);

// How a row's weights become symbols 0 (zero), 1 (row min), 2 (row max). Values are the keys of
// the "symbols" method parameter: permanent.
enum class SymbolMode {
  kReference,   // §8.7 exactly: 1 where w == min, then 2 where w == max, else 0. A row without
                // negatives has min == 0, so its zeros become 1 (same decoded value, worse rate).
  kExactZeros,  // 0 where w == 0, else 1 (== min) or 2 (== max).
};
const char* SymbolModeName(SymbolMode m);  // "reference" / "exact_zeros"
SymbolMode ParseSymbolMode(const std::string& text, const std::string& where);

// A ternary matrix as symbols plus each row's (min, max) in bf16.
struct TernarySymbols {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> sym;           // [rows * cols], values 0..2
  std::vector<uint16_t> minmax_bf16;  // [2 * rows], interleaved (min_r, max_r)
};

// w: row-major [rows, cols] fp32, cast to bf16 first (§8.7). Every bf16 value of a row must be
// 0, min_r or max_r, otherwise qmoe::Error naming `what`, the row, column and value (the matrix
// is not ternary and could not be decoded back). Non-finite values are errors too.
TernarySymbols SymbolsFromTernary(const float* w, int64_t rows, int64_t cols, SymbolMode mode,
                                  const std::string& what = "matrix");

// Pairs per row: ceil(cols / 2). Pair k = 3·t[2k+1] + t[2k]; an odd width's last pair is t[last].
inline int64_t PairsPerRow(int64_t cols) { return (cols + 1) / 2; }
void RowPairs(const uint8_t* sym, int64_t cols, uint8_t* pairs);

// One encoded matrix [rows, cols] in the published layout (§8.8).
struct EncodedMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t> codes;        // Σ codewords, rows concatenated ("w_comp", int16 on disk)
  std::vector<int32_t> row_off;       // [rows + 1], row_off[0] = 0
  std::vector<uint16_t> minmax_bf16;  // [2 * rows], interleaved (min_r, max_r) ("ter_minmax")
};

EncodedMatrix Encode(const TernarySymbols& s);

// Checks an untrusted EncodedMatrix: rows, cols >= 1; sizes of row_off (rows + 1) and minmax
// (2 rows); row_off[0] = 0, non-decreasing, row_off[rows] = codes.size(); each row's codewords
// cover exactly ceil(cols/2) pairs (a codeword overrunning the row is an error); an odd width's
// padding symbol is 0; min/max finite with min <= max. Codes < 65536 hold by type. Throws one
// qmoe::Error naming `what` and the first problem; never reads out of bounds.
void Validate(const EncodedMatrix& m, const std::string& what = "encoded matrix");

// Validates, then decodes to row-major [rows, cols] fp32 (bit-exact: symbol 0 -> 0, 1 -> min,
// 2 -> max). Decode uses the packed table (DecodeTable()) with fixed 28-slot unpacking;
// DecodeRef walks Entries() pair by pair (the plain twin).
void Decode(const EncodedMatrix& m, float* out);
void DecodeRef(const EncodedMatrix& m, float* out);
std::vector<float> Decode(const EncodedMatrix& m);

// Exact bytes of the stored fields: 2·Σcw + 4·(rows + 1) + 4·rows (§8.9).
int64_t ExactBytes(const EncodedMatrix& m);
// The reference's "ideal rate" (§8.9), labelled as such: 16·h·w / (16·Σcw + 64·(h + 1)), i.e. a
// compression ratio against bf16 that charges 16 bits per codeword and 64 bits per row.
double ReferenceIdealRate(int64_t rows, int64_t cols, int64_t codewords);

// Empirical entropy of a symbol matrix, in bits per weight.
struct Entropy {
  double iid_bits = 0;   // −Σ f_t log2 f_t over the three symbol frequencies
  double pair_bits = 0;  // (−Σ g_r log2 g_r over the pair frequencies) · pairs / weights
};
Entropy EmpiricalEntropy(const TernarySymbols& s);
// The model entropy H(p0) = −p0 log2 p0 − (1−p0) log2((1−p0)/2) in bits per weight (§8.9).
double ModelEntropyBits(double p0);

}  // namespace qmoe::dict
