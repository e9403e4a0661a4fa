// T5-style SentencePiece unigram tokenizer, in house (no libsentencepiece: docs/build-notes.md#sentencepiece).
// Encode() reproduces `spm_encode --output_format=id` for one line of text, including the
// model's normalization (precompiled charsmap such as nmt_nfkc, whitespace collapsing, the ▁
// dummy prefix), unknown pieces (merged runs) and byte fallback.
// T5 convention: the 100 sentinels <extra_id_k> are appended after the model's pieces, with
// <extra_id_k> = vocab_size() - 1 - k; EOS = 1, PAD = 0, UNK = 2 come from the model itself.
//
// Not implemented (Load() rejects such models with an Error naming the file): model types other
// than unigram, user-defined pieces, treat_whitespace_as_suffix, custom normalization_rule_tsv
// without a precompiled charsmap, and sampling / n-best encoding.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "framework/data/spm_model.h"

namespace qmoe::data {

class Tokenizer {
 public:
  static constexpr int kDefaultSentinels = 100;

  // Reads a SentencePiece .model file; `num_sentinels` T5 sentinels are appended.
  static Tokenizer Load(const std::string& path, int num_sentinels = kDefaultSentinels);
  static Tokenizer FromModel(SpmModel model, const std::string& name, int num_sentinels = kDefaultSentinels);

  // Ids of one text, without EOS. Newlines are ordinary whitespace here (spm_encode would
  // treat each line as a separate input).
  std::vector<int32_t> Encode(std::string_view text) const;
  // The normalized string the Viterbi search runs on (spaces shown as ▁).
  std::string Normalize(std::string_view text) const;
  // Ids back to text: ▁ -> space, the dummy-prefix space dropped, byte pieces reassembled,
  // control ids (pad, eos) dropped, unknown -> the model's unk surface, sentinels -> <extra_id_k>.
  std::string Decode(std::span<const int32_t> ids) const;

  int32_t num_pieces() const { return static_cast<int32_t>(pieces_.size()); }
  int32_t num_sentinels() const { return num_sentinels_; }
  int32_t vocab_size() const { return num_pieces() + num_sentinels_; }
  // Smallest multiple of `multiple` >= vocab_size(): rows of the embedding matrix.
  int32_t padded_vocab_size(int32_t multiple = 64) const;
  int32_t SentinelId(int k) const;  // <extra_id_k>
  int32_t first_sentinel_id() const { return vocab_size() - 1; }  // <extra_id_0>, the largest id
  bool IsSentinel(int32_t id) const { return id >= num_pieces() && id < vocab_size(); }
  int32_t pad_id() const { return pad_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t unk_id() const { return unk_id_; }
  std::string IdToPiece(int32_t id) const;
  // Id of a piece or of a sentinel name "<extra_id_k>"; -1 when there is none.
  int32_t PieceToId(std::string_view piece) const;
  const std::string& name() const { return name_; }

 private:
  struct TrieNode {
    int32_t id = -1;  // piece id ending here, -1 if none
    std::unordered_map<uint8_t, int32_t> next;
  };
  void NormalizePrefix(std::string_view in, std::string& out, size_t& consumed) const;
  void BuildTrie();

  std::string name_;
  std::vector<SpmPiece> pieces_;
  std::unordered_map<std::string, int32_t> piece_ids_;
  std::vector<TrieNode> trie_;
  int32_t byte_ids_[256] = {};
  SpmModel spec_;  // normalizer and trainer flags (pieces moved out)
  int32_t num_sentinels_ = kDefaultSentinels;
  int32_t pad_id_ = -1, eos_id_ = -1, unk_id_ = -1;
  float min_score_ = 0.0f;
  // Precompiled charsmap: a double-array trie (uint32 units) over input bytes whose values are
  // offsets of NUL-terminated replacement strings.
  std::vector<uint32_t> charsmap_trie_;
  std::string charsmap_strings_;
};

}  // namespace qmoe::data
