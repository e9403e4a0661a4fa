// The ternary symbol layer every codec shares: a ternary matrix as symbols 0 (zero), 1 (row min),
// 2 (row max) plus each row's (min, max) in bf16, the pairs codecs code (pair k = 3·t[2k+1] +
// t[2k]), and the empirical and model entropies the rates are measured against. No torch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "codecs/ternary/bf16.h"

namespace qmoe::ternary {

// How a row's weights become symbols. Values are the keys of the "symbols" method parameter:
// permanent.
enum class SymbolMode {
  kReference,   // the published rule: 1 where w == min, then 2 where w == max, else 0. A row
                // without negatives has min == 0, so its zeros become 1 (same value, worse rate).
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

// w: row-major [rows, cols] fp32, cast to bf16 first. Every bf16 value of a row must be 0, min_r
// or max_r, otherwise qmoe::Error naming `what`, the row, column and value (the matrix is not
// ternary and could not be decoded back). Non-finite values are errors too.
TernarySymbols SymbolsFromTernary(const float* w, int64_t rows, int64_t cols, SymbolMode mode,
                                  const std::string& what = "matrix");

// Pairs per row: ceil(cols / 2). Pair k = 3·t[2k+1] + t[2k]; an odd width's last pair is t[last].
constexpr int kPairSymbols = 9;
inline int64_t PairsPerRow(int64_t cols) { return (cols + 1) / 2; }
void RowPairs(const uint8_t* sym, int64_t cols, uint8_t* pairs);

// Empirical entropy of a symbol matrix, in bits per weight.
struct Entropy {
  double iid_bits = 0;   // −Σ f_t log2 f_t over the three symbol frequencies
  double pair_bits = 0;  // (−Σ g_r log2 g_r over the pair frequencies) · pairs / weights
};
Entropy EmpiricalEntropy(const TernarySymbols& s);
// The i.i.d. model entropy H(p0) = −p0 log2 p0 − (1−p0) log2((1−p0)/2) in bits per weight.
double ModelEntropyBits(double p0);

}  // namespace qmoe::ternary
