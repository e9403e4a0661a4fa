// Pins every published check value of the static dictionary (a wrong tie rule or a fused
// multiply-add in the key products changes the table, and these fail).
#include "codecs/dict/dictionary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "framework/core/hash.h"

namespace qmoe::dict {
namespace {

TEST(Dictionary, HasAllEntriesWithTheDocumentedLengthHistogram) {
  const auto& e = Entries();
  ASSERT_EQ(e.size(), size_t(kEntries));
  std::map<int, int> hist;
  for (const auto& s : e) hist[int(s.size())]++;
  const std::map<int, int> want = {{1, 9},     {2, 65},    {3, 233},   {4, 577},    {5, 1161},
                                   {6, 2049},  {7, 3305},  {8, 4993},  {9, 7177},   {10, 9921},
                                   {11, 13289}, {12, 17345}, {13, 3843}, {14, 1569}};
  EXPECT_EQ(hist, want);
}

TEST(Dictionary, FirstEntriesAreZeroRunsAndSinglePairsMapAsSpecified) {
  const auto& e = Entries();
  for (int i = 0; i < 12; ++i) EXPECT_EQ(e[i], std::vector<uint8_t>(size_t(i + 1), 0)) << "entry " << i;
  const std::map<int, int> single = {{0, 0}, {1, 12}, {2, 13}, {3, 14}, {6, 15},
                                     {4, 326}, {5, 327}, {7, 328}, {8, 329}};
  for (auto [r, idx] : single) EXPECT_EQ(e[idx], std::vector<uint8_t>{uint8_t(r)}) << "pair " << r;
  EXPECT_EQ(e[65535], (std::vector<uint8_t>{0, 0, 0, 2, 0, 1, 0, 0, 2, 0, 0, 0, 0}));
}

TEST(Dictionary, ProbabilitiesOfFirstAndLastEntry) {
  const auto& p = EntryProbabilities();
  EXPECT_DOUBLE_EQ(p[0], 0.885 * 0.885);  // 0.783225
  // The paper's dictionary has 1.1447e-5 as its last entry's probability, to 5 significant digits:
  // |error| < 0.5e-9.
  EXPECT_NEAR(p[65535], 1.1447e-5, 0.5e-9);
  for (int i = 1; i < kEntries; ++i) ASSERT_LE(p[i], p[i - 1]) << "not best-first at " << i;
}

TEST(Dictionary, DecodeTableWordsAndHash) {
  const auto& dec = DecodeTable();
  ASSERT_EQ(dec.size(), size_t(2 * kEntries));
  EXPECT_EQ(dec[0], 0x00000001u);
  EXPECT_EQ(dec[1], 0x00000001u);
  EXPECT_EQ(dec[24], 0x00000011u);
  EXPECT_EQ(dec[25], 0x00000001u);
  EXPECT_EQ(dec[2 * 65535], 0x0102000Du);
  EXPECT_EQ(dec[2 * 65535 + 1], 0x0000020Du);
  // The machine is little-endian (x86/ARM); the hash is over the LE uint32 bytes.
  EXPECT_EQ(Sha256Hex(dec.data(), dec.size() * 4),
            "c09862c453fe122634070a475357ff81a679aff65829d84a56f806c02a54ed45");
}

TEST(Dictionary, EncodeTrieRootAndHash) {
  const auto& trie = EncodeTrie();
  ASSERT_EQ(trie.size(), size_t(kEntries + 1) * kPairSymbols);
  const std::vector<int32_t> root(trie.begin() + size_t(kRoot) * 9, trie.begin() + size_t(kRoot) * 9 + 9);
  EXPECT_EQ(root, (std::vector<int32_t>{0, 12, 13, 14, 326, 327, 15, 328, 329}));
  EXPECT_EQ(Sha256Hex(trie.data(), trie.size() * 4),
            "fc77a88c6c9c32a0a884b2736ac78c25239a162817d133dc8457c8f0770a8b0b");
}

TEST(Dictionary, TrieAgreesWithEntries) {
  const auto& e = Entries();
  const auto& trie = EncodeTrie();
  for (int i = 0; i < kEntries; ++i) {
    int node = kRoot;
    for (uint8_t r : e[i]) {
      node = trie[size_t(node) * 9 + r];
      ASSERT_GE(node, 0) << "entry " << i << " is not prefix-closed";
    }
    ASSERT_EQ(node, i);
  }
}

}  // namespace
}  // namespace qmoe::dict
