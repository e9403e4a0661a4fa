// Documents of the cleaned corpora (scripts/fetch_corpora.sh): JSON lines with id, domain, split
// and text, and the deterministic document split (a hash of the id, never a random draw).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace qmoe::data {

struct Document {
  std::string id;      // "<domain>/<source-specific id>", unique within the corpora
  std::string domain;  // sotu, brown, austen, kjv, fortunes, pydocs
  std::string split;   // train, calibration or validation
  std::string text;    // paragraphs separated by "\n\n"
};

// bucket = (first 4 bytes of sha256("qmoe-split-v1|" + id), big-endian) % 100:
// < 80 train, < 90 calibration, else validation. Same rule as scripts/corpora/build_corpora.py.
std::string SplitOf(std::string_view doc_id);

// Reads a .jsonl file of documents, in file order. Errors name the file and line.
std::vector<Document> ReadDocuments(const std::string& path);

}  // namespace qmoe::data
