// Best-first generation of the static dictionary and its two derived tables.
#include "codecs/dict/dictionary.h"

#include <array>
#include <queue>

#include "framework/core/error.h"

namespace qmoe::dict {
namespace {

// Pair probabilities P[r] = P(r div 3) · P(r mod 3) in double.
std::array<double, kPairSymbols> PairProbabilities() {
  const double p0 = 0.885;
  const double p1 = (1.0 - p0) / 2.0;
  const double sym[3] = {p0, p1, p1};
  std::array<double, kPairSymbols> p{};
  for (int r = 0; r < kPairSymbols; ++r) p[r] = sym[r / 3] * sym[r % 3];
  return p;
}

struct Candidate {
  double key = 0;  // −probability
  std::array<uint8_t, kMaxPairs> seq{};
  uint8_t len = 0;
  int32_t parent = kRoot;  // codeword index of seq without its last pair (kRoot for length 1)
};

// Strict "a pops after b": larger key, or equal key and lexicographically larger sequence
// (a proper prefix sorts first).
struct PopsLater {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.key != b.key) return a.key > b.key;
    const int n = a.len < b.len ? a.len : b.len;
    for (int i = 0; i < n; ++i) {
      if (a.seq[i] != b.seq[i]) return a.seq[i] > b.seq[i];
    }
    return a.len > b.len;
  }
};

struct Tables {
  std::vector<std::vector<uint8_t>> entries;
  std::vector<double> probs;
  std::vector<int32_t> trie;
  std::vector<uint32_t> dec;
};

Tables Build() {
  const auto P = PairProbabilities();
  Tables t;
  t.entries.reserve(kEntries);
  t.probs.reserve(kEntries);
  t.trie.assign(size_t(kEntries + 1) * kPairSymbols, -1);

  std::priority_queue<Candidate, std::vector<Candidate>, PopsLater> queue;
  Candidate root;
  root.key = -1.0;
  queue.push(root);
  while (int(t.entries.size()) < kEntries) {
    QMOE_ASSERT(!queue.empty(), "dictionary queue ran dry");
    const Candidate c = queue.top();
    queue.pop();
    int32_t self = kRoot;
    if (c.len > 0) {
      self = int32_t(t.entries.size());
      t.entries.emplace_back(c.seq.begin(), c.seq.begin() + c.len);
      t.probs.push_back(-c.key);
      t.trie[size_t(c.parent) * kPairSymbols + c.seq[c.len - 1]] = self;
    }
    if (c.len < kMaxPairs) {
      for (int r = 0; r < kPairSymbols; ++r) {
        Candidate child = c;
        child.key = c.key * P[r];  // exactly one double multiply per step
        child.seq[c.len] = uint8_t(r);
        child.len = uint8_t(c.len + 1);
        child.parent = self;
        queue.push(child);
      }
    }
  }

  t.dec.assign(size_t(2) * kEntries, 0);
  for (int i = 0; i < kEntries; ++i) {
    const auto& s = t.entries[i];
    const uint32_t n = uint32_t(s.size());
    for (int h = 0; h < 2; ++h) {
      uint32_t word = n;  // pair count in both halves: each half decodes on its own
      for (int j = 0; j < 7 && 7 * h + j < int(n); ++j) {
        const uint32_t r = s[7 * h + j];
        word |= (r % 3) << (4 + 4 * j);
        word |= (r / 3) << (4 + 4 * j + 2);
      }
      t.dec[2 * size_t(i) + h] = word;
    }
  }
  return t;
}

const Tables& Get() {
  static const Tables tables = Build();  // C++11 magic static: built once, thread-safe
  return tables;
}

}  // namespace

const std::vector<uint32_t>& DecodeTable() { return Get().dec; }
const std::vector<int32_t>& EncodeTrie() { return Get().trie; }
const std::vector<std::vector<uint8_t>>& Entries() { return Get().entries; }
const std::vector<double>& EntryProbabilities() { return Get().probs; }

}  // namespace qmoe::dict
