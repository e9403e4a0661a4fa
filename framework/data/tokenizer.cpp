#include "framework/data/tokenizer.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "framework/core/error.h"

namespace qmoe::data {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // ▁ U+2581
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
// SentencePiece scores an unknown character as (lowest normal score - 10).
constexpr float kUnkPenalty = 10.0f;

// Length of the UTF-8 character starting with byte c, judged by its first byte only (as the
// unigram search steps through already-normalized, valid UTF-8).
int OneCharLen(uint8_t c) {
  static constexpr int kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[c >> 4];
}

// Length of a valid UTF-8 character at the start of s, or 0 when it is malformed (truncated,
// overlong, a surrogate or above U+10FFFF).
size_t ValidUtf8Len(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    uint32_t cp = ((c & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    return (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    uint32_t cp = ((c & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    return (cp >= 0x10000 && cp <= 0x10FFFF) ? 4 : 0;
  }
  return 0;
}

// Double-array trie units (the darts-clone layout used by SentencePiece's charsmap).
uint32_t UnitOffset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
uint32_t UnitLabel(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
bool UnitHasLeaf(uint32_t u) { return (u >> 8) & 1u; }
uint32_t UnitValue(uint32_t u) { return u & ((1u << 31) - 1); }

std::string ByteName(int b) {
  static const char* kHex = "0123456789ABCDEF";
  return std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
}

}  // namespace

Tokenizer Tokenizer::Load(const std::string& path, int num_sentinels) {
  std::ifstream f(path, std::ios::binary);
  QMOE_CHECK(f.good(), "tokenizer: cannot open SentencePiece model '", path, "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return FromModel(ParseSpmModel(ss.str(), path), path, num_sentinels);
}

Tokenizer Tokenizer::FromModel(SpmModel model, const std::string& name, int num_sentinels) {
  QMOE_CHECK(model.model_type == SpmModelType::kUnigram, name, ": SentencePiece model type ",
             static_cast<int>(model.model_type), " is not supported (only unigram, type 1)");
  QMOE_CHECK(!model.treat_whitespace_as_suffix, name, ": treat_whitespace_as_suffix=true is not supported");
  QMOE_CHECK(model.precompiled_charsmap.size() > 0 || model.normalization_rule_tsv.empty(), name,
             ": custom normalization_rule_tsv without a precompiled charsmap is not supported");
  QMOE_CHECK(num_sentinels >= 0, name, ": number of sentinels must be >= 0, got ", num_sentinels);
  Tokenizer t;
  t.name_ = name;
  t.num_sentinels_ = num_sentinels;
  t.pieces_ = std::move(model.pieces);
  model.pieces.clear();
  t.spec_ = std::move(model);
  std::fill(std::begin(t.byte_ids_), std::end(t.byte_ids_), -1);
  t.min_score_ = std::numeric_limits<float>::max();
  for (int32_t i = 0; i < t.num_pieces(); ++i) {
    const SpmPiece& p = t.pieces_[i];
    QMOE_CHECK(p.type != PieceType::kUserDefined, name, ": piece ", i, " '", p.text,
               "' is USER_DEFINED; user-defined symbols are not supported");
    QMOE_CHECK(!p.text.empty(), name, ": piece ", i, " has empty text");
    QMOE_CHECK(t.piece_ids_.emplace(p.text, i).second, name, ": duplicate piece '", p.text, "'");
    if (p.type == PieceType::kNormal) t.min_score_ = std::min(t.min_score_, p.score);
    if (p.type == PieceType::kUnknown) t.unk_id_ = i;
    if (p.type == PieceType::kControl && p.text == "<pad>") t.pad_id_ = i;
    if (p.type == PieceType::kControl && p.text == "</s>") t.eos_id_ = i;
    if (p.type == PieceType::kByte) {
      for (int b = 0; b < 256; ++b)
        if (p.text == ByteName(b)) t.byte_ids_[b] = i;
    }
  }
  QMOE_CHECK(t.unk_id_ >= 0, name, ": the model has no UNKNOWN piece");
  if (t.spec_.byte_fallback) {
    for (int b = 0; b < 256; ++b)
      QMOE_CHECK(t.byte_ids_[b] >= 0, name, ": byte_fallback is on but piece ", ByteName(b), " is missing");
  }
  const std::string& cm = t.spec_.precompiled_charsmap;
  if (!cm.empty()) {
    QMOE_CHECK(cm.size() >= 4, name, ": precompiled_charsmap is truncated (", cm.size(), " bytes)");
    uint32_t trie_bytes = 0;
    for (int i = 0; i < 4; ++i) trie_bytes |= static_cast<uint32_t>(static_cast<uint8_t>(cm[i])) << (8 * i);
    QMOE_CHECK(trie_bytes % 4 == 0 && trie_bytes >= 4 && trie_bytes <= cm.size() - 4, name,
               ": precompiled_charsmap trie size ", trie_bytes, " does not fit in ", cm.size(), " bytes");
    t.charsmap_trie_.resize(trie_bytes / 4);
    for (size_t u = 0; u < t.charsmap_trie_.size(); ++u) {
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(cm[4 + 4 * u + i])) << (8 * i);
      t.charsmap_trie_[u] = v;
    }
    t.charsmap_strings_ = cm.substr(4 + trie_bytes);
  }
  t.BuildTrie();
  return t;
}

void Tokenizer::BuildTrie() {
  trie_.assign(1, TrieNode{});
  for (int32_t i = 0; i < num_pieces(); ++i) {
    const SpmPiece& p = pieces_[i];
    // As in SentencePiece, normal and unused pieces are matched (unused ones then skipped);
    // control, unknown and byte pieces never match text.
    if (p.type != PieceType::kNormal && p.type != PieceType::kUnused) continue;
    int32_t node = 0;
    for (char ch : p.text) {
      auto c = static_cast<uint8_t>(ch);
      auto it = trie_[node].next.find(c);
      if (it == trie_[node].next.end()) {
        trie_.push_back(TrieNode{});
        const auto child = static_cast<int32_t>(trie_.size() - 1);
        trie_[node].next.emplace(c, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    trie_[node].id = i;
  }
}

// Normalizes the longest charsmap rule matching a prefix of `in` (or one character unchanged,
// or U+FFFD for one malformed byte); appends the replacement to out.
void Tokenizer::NormalizePrefix(std::string_view in, std::string& out, size_t& consumed) const {
  size_t best_len = 0;
  uint32_t best_value = 0;
  if (!charsmap_trie_.empty()) {
    const auto& a = charsmap_trie_;
    size_t node = UnitOffset(a[0]);
    for (size_t i = 0; i < in.size(); ++i) {
      const auto c = static_cast<uint8_t>(in[i]);
      node ^= c;
      if (node >= a.size()) break;
      const uint32_t unit = a[node];
      if (UnitLabel(unit) != c) break;
      node ^= UnitOffset(unit);
      if (node >= a.size()) break;
      if (UnitHasLeaf(unit)) {
        best_len = i + 1;
        best_value = UnitValue(a[node]);
      }
    }
  }
  if (best_len > 0) {
    QMOE_CHECK(best_value < charsmap_strings_.size(), name_, ": precompiled_charsmap value ", best_value,
               " is outside its string table (", charsmap_strings_.size(), " bytes)");
    out.append(charsmap_strings_.c_str() + best_value);  // NUL-terminated replacement
    consumed = best_len;
    return;
  }
  const size_t n = ValidUtf8Len(in);
  if (n == 0) {
    out.append(kReplacementChar);
    consumed = 1;
  } else {
    out.append(in.substr(0, n));
    consumed = n;
  }
}

std::string Tokenizer::Normalize(std::string_view text) const {
  std::string out;
  std::string piece;
  size_t consumed = 0;
  const bool collapse = spec_.remove_extra_whitespaces;
  if (collapse) {  // drop leading characters that normalize to exactly one space
    while (!text.empty()) {
      piece.clear();
      NormalizePrefix(text, piece, consumed);
      if (piece != " ") break;
      text.remove_prefix(consumed);
    }
  }
  if (text.empty()) return out;
  auto append_space = [&] { out.append(spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ")); };
  if (spec_.add_dummy_prefix) append_space();
  bool prev_space = collapse;
  while (!text.empty()) {
    piece.clear();
    NormalizePrefix(text, piece, consumed);
    std::string_view sp = piece;
    if (prev_space) {
      while (!sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
    }
    if (!sp.empty()) {
      for (char c : sp) {
        if (c == ' ') append_space();
        else out.push_back(c);
      }
      prev_space = sp.back() == ' ';
    }
    text.remove_prefix(consumed);
    if (!collapse) prev_space = false;
  }
  if (collapse) {
    const std::string_view space = spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
    while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space)
      out.resize(out.size() - space.size());
  }
  return out;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  const std::string s = Normalize(text);
  const size_t n = s.size();
  // best[e]: best segmentation of s[0, e): last piece id, its start and the total score.
  struct Best {
    int32_t id = -1;
    int64_t start = -1;
    float score = 0.0f;
  };
  std::vector<Best> best(n + 1);
  const float unk_score = min_score_ - kUnkPenalty;
  for (size_t start = 0; start < n;) {
    const float base = best[start].score;
    const size_t char_len = std::min<size_t>(OneCharLen(static_cast<uint8_t>(s[start])), n - start);
    bool has_single_char_piece = false;
    int32_t node = 0;
    for (size_t end = start; end < n; ++end) {
      auto it = trie_[node].next.find(static_cast<uint8_t>(s[end]));
      if (it == trie_[node].next.end()) break;
      node = it->second;
      const int32_t id = trie_[node].id;
      if (id < 0 || pieces_[id].type == PieceType::kUnused) continue;
      // Bit-exact with spm_encode: the candidate is a double sum, compared with the stored float
      // and then rounded to float. This decides exact ties such as "---" = "--" "-" vs "-" "--".
      const double cand = static_cast<double>(pieces_[id].score) + static_cast<double>(base);
      Best& b = best[end + 1];
      if (b.start < 0 || cand > b.score) b = Best{id, static_cast<int64_t>(start), static_cast<float>(cand)};
      if (end + 1 - start == char_len) has_single_char_piece = true;
    }
    if (!has_single_char_piece) {  // the character is unknown on its own
      const float cand = base + unk_score;  // float + float, as in SentencePiece
      Best& b = best[start + char_len];
      if (b.start < 0 || cand > b.score) b = Best{unk_id_, static_cast<int64_t>(start), cand};
    }
    start += char_len;
  }
  // Backtrack into (start, end, id) spans.
  std::vector<std::pair<size_t, int32_t>> spans;  // (start, id), reversed
  for (size_t end = n; end > 0;) {
    const Best& b = best[end];
    QMOE_ASSERT(b.start >= 0, "unreachable lattice position ", end);
    spans.emplace_back(static_cast<size_t>(b.start), b.id);
    end = static_cast<size_t>(b.start);
  }
  std::vector<int32_t> ids;
  bool prev_unk = false;
  size_t end = n;
  std::vector<std::pair<size_t, size_t>> bounds(spans.size());
  for (size_t k = 0; k < spans.size(); ++k) {  // spans are reversed: recover each end
    bounds[k] = {spans[k].first, end};
    end = spans[k].first;
  }
  for (size_t k = spans.size(); k-- > 0;) {
    const int32_t id = spans[k].second;
    const bool is_unk = id == unk_id_;
    if (is_unk && spec_.byte_fallback) {
      for (size_t i = bounds[k].first; i < bounds[k].second; ++i) ids.push_back(byte_ids_[static_cast<uint8_t>(s[i])]);
    } else if (!(is_unk && prev_unk)) {  // runs of unknown characters merge into one unk id
      ids.push_back(id);
    }
    prev_unk = is_unk;
  }
  return ids;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    QMOE_CHECK(id >= 0 && id < vocab_size(), name_, ": cannot decode id ", id, " (vocab size ", vocab_size(), ")");
    if (IsSentinel(id)) {
      out += IdToPiece(id);
      continue;
    }
    const SpmPiece& p = pieces_[id];
    switch (p.type) {
      case PieceType::kControl: break;
      case PieceType::kUnknown: out += spec_.unk_surface; break;
      case PieceType::kByte: {
        int v = 0;
        std::from_chars(p.text.data() + 3, p.text.data() + 5, v, 16);
        out.push_back(static_cast<char>(v));
        break;
      }
      default: out += p.text;
    }
  }
  std::string text;
  for (size_t i = 0; i < out.size();) {
    if (std::string_view(out).substr(i, kSpaceSymbol.size()) == kSpaceSymbol) {
      text.push_back(' ');
      i += kSpaceSymbol.size();
    } else {
      text.push_back(out[i++]);
    }
  }
  if (spec_.add_dummy_prefix && !text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

int32_t Tokenizer::padded_vocab_size(int32_t multiple) const {
  QMOE_CHECK(multiple > 0, "padded_vocab_size: multiple must be > 0, got ", multiple);
  return (vocab_size() + multiple - 1) / multiple * multiple;
}

int32_t Tokenizer::SentinelId(int k) const {
  QMOE_CHECK(k >= 0 && k < num_sentinels_, name_, ": sentinel <extra_id_", k, "> does not exist (",
             num_sentinels_, " sentinels)");
  return vocab_size() - 1 - k;
}

std::string Tokenizer::IdToPiece(int32_t id) const {
  QMOE_CHECK(id >= 0 && id < vocab_size(), name_, ": id ", id, " out of range [0, ", vocab_size(), ")");
  if (IsSentinel(id)) return "<extra_id_" + std::to_string(vocab_size() - 1 - id) + ">";
  return pieces_[id].text;
}

int32_t Tokenizer::PieceToId(std::string_view piece) const {
  auto it = piece_ids_.find(std::string(piece));
  if (it != piece_ids_.end()) return it->second;
  constexpr std::string_view kPre = "<extra_id_", kPost = ">";
  if (piece.starts_with(kPre) && piece.ends_with(kPost) && piece.size() > kPre.size() + kPost.size()) {
    int k = -1;
    auto digits = piece.substr(kPre.size(), piece.size() - kPre.size() - kPost.size());
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
    if (ec == std::errc() && p == digits.data() + digits.size() && k >= 0 && k < num_sentinels_) return SentinelId(k);
  }
  return -1;
}

}  // namespace qmoe::data
