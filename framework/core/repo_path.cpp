#include "framework/core/repo_path.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace qmoe {

std::string SourceDir() { return QMOE_SOURCE_DIR; }

std::string ResolveRepoPath(const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || fs::exists(p)) return p;
  const fs::path in_repo = fs::path(SourceDir()) / p;
  return fs::exists(in_repo) ? in_repo.string() : p;
}

std::string RepoRootFor(const std::string& marker) {
  return fs::exists(marker) ? fs::current_path().string() : SourceDir();
}

}  // namespace qmoe
