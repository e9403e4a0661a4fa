#include "framework/core/strings.h"
#include "framework/data/text_sources.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "framework/core/error.h"

namespace fs = std::filesystem;

namespace qmoe::data {
namespace {

// Lines of one file at a time, across a list of files, as JSON objects.
class JsonLineFiles {
 public:
  explicit JsonLineFiles(std::vector<std::string> files) : files_(std::move(files)) {}
  ~JsonLineFiles() { Close(); }
  // The next non-empty line parsed; false at the end of the last file.
  bool Next(nlohmann::json& j) {
    std::string line;
    while (true) {
      if (!gz_) {
        if (next_file_ >= files_.size()) return false;
        path_ = files_[next_file_++];
        gz_ = gzopen(path_.c_str(), "rb");
        QMOE_CHECK(gz_ != nullptr, "cannot open '", path_, "'");
        gzbuffer(gz_, 1 << 20);
        line_no_ = 0;
      }
      if (!ReadLine(line)) {
        Close();
        continue;
      }
      ++line_no_;
      if (line.empty() || line == "\r") continue;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        QMOE_CHECK(false, path_, ":", line_no_, ": not a JSON line (", e.what(), ")");
      }
      QMOE_CHECK(j.is_object(), path_, ":", line_no_, ": expected a JSON object per line");
      return true;
    }
  }
  const std::string& path() const { return path_; }
  int64_t line_no() const { return line_no_; }

 private:
  bool ReadLine(std::string& line) {
    line.clear();
    char buf[1 << 16];
    while (true) {
      if (gzgets(gz_, buf, sizeof buf) == nullptr) {
        int err = 0;
        const char* msg = gzerror(gz_, &err);
        QMOE_CHECK(err == Z_OK || err == Z_STREAM_END, path_, ":", line_no_ + 1, ": read error (", msg,
                   "): truncated or corrupt gzip file?");
        return !line.empty();
      }
      line += buf;
      if (!line.empty() && line.back() == '\n') {
        line.pop_back();
        return true;
      }
    }
  }
  void Close() {
    if (gz_) gzclose(gz_);
    gz_ = nullptr;
  }

  std::vector<std::string> files_;
  size_t next_file_ = 0;
  gzFile gz_ = nullptr;
  std::string path_;
  int64_t line_no_ = 0;
};

std::string TextField(const nlohmann::json& j, const JsonLineFiles& f) {
  auto it = j.find("text");
  QMOE_CHECK(it != j.end() && it->is_string(), f.path(), ":", f.line_no(), ": expected a string field \"text\"");
  return it->get<std::string>();
}

class C4DocStream : public DocumentStream {
 public:
  C4DocStream(std::vector<std::string> files, std::string split) : files_(std::move(files)), split_(std::move(split)) {}
  bool Next(Document& doc) override {
    nlohmann::json j;
    if (!files_.Next(j)) return false;
    doc.text = TextField(j, files_);
    doc.id = fs::path(files_.path()).filename().string() + ":" + std::to_string(files_.line_no());
    doc.domain = "c4";
    doc.split = split_;
    return true;
  }

 private:
  JsonLineFiles files_;
  std::string split_;
};

class RedPajamaDocStream : public DocumentStream {
 public:
  RedPajamaDocStream(std::vector<std::string> files, std::string domain)
      : files_(std::move(files)), domain_(std::move(domain)) {}
  bool Next(Document& doc) override {
    nlohmann::json j;
    while (files_.Next(j)) {
      auto meta = j.find("meta");
      QMOE_CHECK(meta != j.end(), files_.path(), ":", files_.line_no(), ": expected a field \"meta\" (the source)");
      const std::string m = meta->is_string() ? meta->get<std::string>() : meta->dump();
      if (!RedPajamaDomainMatches(domain_, m)) continue;
      doc.text = TextField(j, files_);
      doc.id = fs::path(files_.path()).filename().string() + ":" + std::to_string(files_.line_no());
      doc.domain = domain_;
      doc.split = "validation";
      return true;
    }
    return false;
  }

 private:
  JsonLineFiles files_;
  std::string domain_;
};

class VectorDocStream : public DocumentStream {
 public:
  explicit VectorDocStream(std::vector<Document> docs) : docs_(std::move(docs)) {}
  bool Next(Document& doc) override {
    if (i_ >= docs_.size()) return false;
    doc = std::move(docs_[i_++]);
    return true;
  }

 private:
  std::vector<Document> docs_;
  size_t i_ = 0;
};

class InterleavedDocStream : public DocumentStream {
 public:
  explicit InterleavedDocStream(std::vector<std::unique_ptr<DocumentStream>> s) : s_(std::move(s)), live_(s_.size(), true) {}
  bool Next(Document& doc) override {
    for (size_t tries = 0; tries < s_.size(); ++tries) {
      const size_t k = next_++ % s_.size();
      if (live_[k] && s_[k]->Next(doc)) return true;
      live_[k] = false;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<DocumentStream>> s_;
  std::vector<bool> live_;
  size_t next_ = 0;
};

}  // namespace

std::vector<std::string> C4Shards(const std::string& dir, const std::string& split) {
  QMOE_CHECK(!dir.empty(), "data.c4_dir is empty: set it to the folder with the c4-", split,
             ".*.json.gz shards (docs/reproducing.md)");
  QMOE_CHECK(fs::is_directory(dir), "data.c4_dir '", dir, "' is not a folder");
  const std::regex name("c4-" + split + R"(\.\d+-of-\d+\.json(\.gz)?)");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && std::regex_match(e.path().filename().string(), name)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  QMOE_CHECK(!out.empty(), "data.c4_dir '", dir, "' holds no c4-", split, ".NNNNN-of-NNNNN.json.gz shard");
  return out;
}

std::vector<std::string> RedPajamaFiles(const std::string& path) {
  QMOE_CHECK(!path.empty(), "data.redpajama_dir is empty: set it to the RedPajama-style JSON-lines folder or file ",
             "(docs/reproducing.md)");
  QMOE_CHECK(fs::exists(path), "data.redpajama_dir '", path, "' does not exist");
  if (fs::is_regular_file(path)) return {path};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && (EndsWith(n, ".jsonl") || EndsWith(n, ".jsonl.gz") || EndsWith(n, ".json.gz")))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  QMOE_CHECK(!out.empty(), "data.redpajama_dir '", path, "' holds no .jsonl, .jsonl.gz or .json.gz file");
  return out;
}

bool RedPajamaDomainMatches(const std::string& domain, const std::string& meta) {
  if (domain == "arxiv") return meta.find("arxiv") != std::string::npos;
  if (domain == "wikipedia") return meta.find("https://en.wikipedia.org/wiki") != std::string::npos;
  return meta.find("'source': '" + domain + "'") != std::string::npos ||
         meta.find("\"source\":\"" + domain + "\"") != std::string::npos;
}

std::unique_ptr<DocumentStream> C4Stream(const std::string& dir, const std::string& split) {
  return std::make_unique<C4DocStream>(C4Shards(dir, split), split);
}
std::unique_ptr<DocumentStream> RedPajamaStream(const std::string& path, const std::string& domain) {
  return std::make_unique<RedPajamaDocStream>(RedPajamaFiles(path), domain);
}
std::unique_ptr<DocumentStream> VectorStream(std::vector<Document> docs) {
  return std::make_unique<VectorDocStream>(std::move(docs));
}
std::unique_ptr<DocumentStream> InterleavedStream(std::vector<std::unique_ptr<DocumentStream>> streams) {
  return std::make_unique<InterleavedDocStream>(std::move(streams));
}

}  // namespace qmoe::data
