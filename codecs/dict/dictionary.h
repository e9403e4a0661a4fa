// The static QMoE sub-1-bit dictionary (layout: docs/formats.md): 65,536 codewords, each a sequence of
// 1..14 ternary pairs, generated best-first from the fixed i.i.d. model p0 = 0.885. Built once on
// first use (thread-safe static); bit-exact with the reference (the check values are pinned by tests).
#pragma once
#include <cstdint>
#include <vector>

#include "codecs/dict/dict_format.h"
#include "codecs/ternary/ternary_symbols.h"

namespace qmoe::dict {

constexpr int kRoot = 65536;     // the trie's root row in EncodeTrie()
using ternary::kPairSymbols;    // r = 3*t[2k+1] + t[2k], r in 0..8

// dec[2*i + h], h in {0,1}: bits 0-3 = pair count n; pair j of half h (pairs 7h..7h+6) at bits
// 4+4j (first symbol, r mod 3) and 4+4j+2 (second symbol, r div 3). Size 2*kEntries.
const std::vector<uint32_t>& DecodeTable();
// trie[node*9 + r] = index of seq(node) ++ [r], or -1. Rows 0..65535 are entries, row kRoot the root.
// Size (kEntries+1)*9.
const std::vector<int32_t>& EncodeTrie();
// The pair sequence of every entry, in codeword order.
const std::vector<std::vector<uint8_t>>& Entries();
// Model probability of each entry (product of pair probabilities, double, as generated).
const std::vector<double>& EntryProbabilities();

}  // namespace qmoe::dict
