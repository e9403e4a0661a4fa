// A small explicit registry: key -> entry. Filled by one explicit Register* function per kind
// (never by static initializers). Keys reach results.db, so they are permanent: retire, never rename.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe {

template <class Entry>
class Registry {
 public:
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  void Add(const std::string& key, Entry e) {
    QMOE_ASSERT(!entries_.count(key), "duplicate ", kind_, " key '", key, "'");
    entries_.emplace(key, std::move(e));
  }
  bool Has(const std::string& key) const { return entries_.count(key) > 0; }
  const Entry& Get(const std::string& key) const {
    auto it = entries_.find(key);
    QMOE_CHECK(it != entries_.end(), "unknown ", kind_, " '", key, "'", DidYouMean(key, Keys()),
               "; known: ", Join(Keys(), ", "));
    return it->second;
  }
  std::vector<std::string> Keys() const {
    std::vector<std::string> k;
    for (const auto& [key, e] : entries_) k.push_back(key);
    return k;
  }
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace qmoe
