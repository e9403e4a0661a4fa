// Where relative paths in configs point. A path is used as given when it is absolute or exists
// from the working directory; otherwise it is read from the source tree qmoe was built from, so
// the shipped models, data and configs resolve from any directory.
#pragma once
#include <string>

namespace qmoe {

// The source tree this binary was built from.
std::string SourceDir();

// `p` if empty, absolute or present from the working directory; else SourceDir()/p if that
// exists; else `p` unchanged (so the caller's "not found" error names what the user wrote).
std::string ResolveRepoPath(const std::string& p);

// The folder relative data paths are read against: the working directory when `marker` (a path
// relative to it, e.g. "data/tokenizer") exists there, else SourceDir().
std::string RepoRootFor(const std::string& marker);

}  // namespace qmoe
