#include "framework/data/chunking.h"

#include "framework/core/error.h"

namespace qmoe::data {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsCloser(char c) { return c == '"' || c == '\'' || c == ')' || c == ']'; }

}  // namespace

std::vector<std::string_view> SplitSentences(std::string_view text) {
  std::vector<std::string_view> units;
  size_t start = 0;
  auto emit = [&](size_t end) {
    std::string_view u = text.substr(start, end - start);
    while (!u.empty() && IsSpace(u.front())) u.remove_prefix(1);
    while (!u.empty() && IsSpace(u.back())) u.remove_suffix(1);
    if (!u.empty()) units.push_back(u);
    start = end;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      emit(i);
    } else if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      while (j < text.size() && IsCloser(text[j])) ++j;
      if (j < text.size() && IsSpace(text[j])) {
        emit(j);
        i = j - 1;
      }
    }
  }
  emit(text.size());
  return units;
}

std::vector<std::vector<int32_t>> EncodeUnits(const Tokenizer& tok, std::string_view text) {
  std::vector<std::vector<int32_t>> out;
  for (std::string_view unit : SplitSentences(text)) out.push_back(tok.Encode(unit));
  return out;
}

std::vector<std::vector<int32_t>> ChunkDocument(const Tokenizer& tok, std::string_view text, int64_t max_tokens) {
  QMOE_CHECK(max_tokens >= 2, "max_tokens must be >= 2 (one token plus EOS), got ", max_tokens);
  const auto budget = static_cast<size_t>(max_tokens - 1);  // room for EOS
  std::vector<std::vector<int32_t>> chunks;
  std::vector<int32_t> cur;
  auto flush = [&] {
    if (cur.empty()) return;
    cur.push_back(tok.eos_id());
    chunks.push_back(std::move(cur));
    cur.clear();
  };
  for (const std::vector<int32_t>& ids : EncodeUnits(tok, text)) {
    if (cur.size() + ids.size() > budget) flush();
    for (size_t i = 0; i < ids.size(); i += budget) {  // only loops for a unit longer than budget
      const size_t n = std::min(budget, ids.size() - i);
      if (cur.size() + n > budget) flush();
      cur.insert(cur.end(), ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(i + n));
    }
  }
  flush();
  return chunks;
}

}  // namespace qmoe::data
