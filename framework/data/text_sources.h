// Readers for the evaluation and calibration text of real checkpoints (docs/reproducing.md), as
// document streams, beside the shipped corpora (corpus.h):
//  * C4 shards `c4-<split>.NNNNN-of-NNNNN.json.gz` (split: train or validation) in one folder, read in
//    shard order; one JSON object per line, field `text`. Domain name: `c4`.
//  * RedPajama-style JSON lines (*.jsonl, *.jsonl.gz, *.json.gz; every file of a folder in name
//    order), fields `text` and `meta`. A document belongs to a domain by its `meta` (a string, as
//    RedPajama-Data-1T-Sample stores it, or an object, whose JSON text is searched):
//      arxiv          meta contains "arxiv"
//      wikipedia      meta contains "https://en.wikipedia.org/wiki"
//      any other X    meta's source is X: 'source': 'X' in a string, "source":"X" in an object
//                     (github, stackexchange, book, c4, ...)
// Every file is read through zlib, so plain and gzip-compressed files both work. Files are read
// lazily: only as many documents as a sample set needs. Errors name the file and line.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/data/corpus.h"

namespace qmoe::data {

// Yields documents one at a time; false at the end.
class DocumentStream {
 public:
  virtual ~DocumentStream() = default;
  virtual bool Next(Document& doc) = 0;
};

// The C4 shards of `split` in `dir`, sorted; an Error names dir when there are none.
std::vector<std::string> C4Shards(const std::string& dir, const std::string& split);
// The RedPajama files: `path` itself when it is a file, else its *.jsonl, *.jsonl.gz and *.json.gz files, sorted.
std::vector<std::string> RedPajamaFiles(const std::string& path);
// Does a document with this `meta` text belong to `domain` (rules above)?
bool RedPajamaDomainMatches(const std::string& domain, const std::string& meta);

// Streams. Document ids are "<file name>:<line>", domain the given name, split the given one.
std::unique_ptr<DocumentStream> C4Stream(const std::string& dir, const std::string& split);
std::unique_ptr<DocumentStream> RedPajamaStream(const std::string& path, const std::string& domain);
std::unique_ptr<DocumentStream> VectorStream(std::vector<Document> docs);
// Round-robin over several streams (one document of each in turn) until all are exhausted.
std::unique_ptr<DocumentStream> InterleavedStream(std::vector<std::unique_ptr<DocumentStream>> streams);

}  // namespace qmoe::data
