#include "framework/data/corpus.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/hash.h"

namespace qmoe::data {

std::string SplitOf(std::string_view doc_id) {
  const std::string hex = Sha256Hex(std::string("qmoe-split-v1|") + std::string(doc_id));
  const uint32_t bucket = static_cast<uint32_t>(std::stoul(hex.substr(0, 8), nullptr, 16)) % 100;
  return bucket < 80 ? "train" : (bucket < 90 ? "calibration" : "validation");
}

std::vector<Document> ReadDocuments(const std::string& path) {
  std::ifstream f(path);
  QMOE_CHECK(f.good(), "cannot open corpus file '", path, "' (run scripts/fetch_corpora.sh for data/cache/)");
  std::vector<Document> docs;
  std::string line;
  for (int64_t n = 1; std::getline(f, line); ++n) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      QMOE_CHECK(false, path, ":", n, ": not a JSON line (", e.what(), ")");
    }
    for (const char* key : {"id", "domain", "split", "text"}) {
      QMOE_CHECK(j.contains(key) && j[key].is_string(), path, ":", n, ": expected string field '", key, "'");
    }
    docs.push_back({j["id"], j["domain"], j["split"], j["text"]});
  }
  return docs;
}

}  // namespace qmoe::data
