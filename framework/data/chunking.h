// Cuts a long document into token pieces of at most `max_tokens` (EOS included) at paragraph or
// sentence boundaries. This is qmoe's recorded deviation from C4's rule (which skips documents
// longer than 568 tokens): our corpora have few, long documents (a State of the Union address
// is ~10k tokens), so skipping would discard most of the text. Protocol tag: "chunked-v1".
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framework/data/tokenizer.h"

namespace qmoe::data {

// Units of text, in order: paragraphs split on blank lines, then lines, then sentences (ending
// in . ! ? plus closing quotes/brackets, followed by whitespace). Joining the units with single
// spaces gives the text up to whitespace.
std::vector<std::string_view> SplitSentences(std::string_view text);

// The document's ids: each unit of SplitSentences encoded on its own (spm_encode-exact per unit),
// concatenated. Decodes to the same text as tok.Encode(text); the ids can differ in rare exact
// score ties (e.g. "---" as "--" "-" or "-" "--"), which SentencePiece breaks by float rounding
// of the running path score, so they depend on the preceding text (10 of the 1744 committed validation documents).
std::vector<std::vector<int32_t>> EncodeUnits(const Tokenizer& tok, std::string_view text);

// Token pieces of a document, each ending in EOS and at most max_tokens long. Units are packed
// greedily; a unit longer than max_tokens - 1 on its own is cut at token boundaries (last
// resort). Concatenating the pieces without their EOS gives exactly the ids of EncodeUnits().
std::vector<std::vector<int32_t>> ChunkDocument(const Tokenizer& tok, std::string_view text, int64_t max_tokens);

}  // namespace qmoe::data
