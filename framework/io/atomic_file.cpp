#include "framework/io/atomic_file.h"

#include "framework/core/error.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace qmoe {
namespace fs = std::filesystem;
namespace {

// Bytes this process may still write before the injected ENOSPC; negative = no fault.
std::atomic<int64_t>& FaultBudget() {
  static std::atomic<int64_t> budget{[] {
    const char* v = std::getenv("QMOE_TEST_WRITE_FAULT_BYTES");
    return v && *v ? std::strtoll(v, nullptr, 10) : int64_t{-1};
  }()};
  return budget;
}

// How many of `n` bytes may be written before the injected fault (n when there is none).
size_t AllowedBeforeFault(size_t n) {
  auto& budget = FaultBudget();
  int64_t left = budget.load();
  while (left >= 0) {
    const int64_t take = std::min<int64_t>(left, static_cast<int64_t>(n));
    if (budget.compare_exchange_weak(left, left - take)) return static_cast<size_t>(take);
  }
  return n;
}

// "out/model/" and "out/model" name the same folder; the staging folder must sit beside it.
fs::path WithoutTrailingSlash(const fs::path& p) {
  fs::path n = p.lexically_normal();
  return n.has_filename() || !n.has_parent_path() ? n : n.parent_path();
}

}  // namespace

void SetWriteFaultForTest(int64_t bytes) { FaultBudget().store(bytes < 0 ? -1 : bytes); }

AtomicFile::AtomicFile(const fs::path& final_path)
    : final_(final_path), tmp_(final_path.string() + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  QMOE_CHECK(fd_ >= 0, final_.string(), ": cannot create the temp file ", tmp_.string(), ": ",
             std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::Fail(const char* what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  throw Error(StrCat(final_.string(), ": ", what, ": ", std::strerror(err),
                     err == ENOSPC ? " (disk full; the previous file, if any, is unchanged)" : ""));
}

void AtomicFile::Write(const void* data, size_t n) {
  QMOE_ASSERT(fd_ >= 0, "write after commit or failure");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const size_t allowed = AllowedBeforeFault(n);
    if (allowed == 0) Fail("write failed", ENOSPC);
    const ssize_t w = ::write(fd_, p, allowed);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Fail("write failed", w < 0 ? errno : ENOSPC);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::Commit() {
  QMOE_ASSERT(fd_ >= 0, "commit after commit or failure");
  if (::fsync(fd_) != 0) Fail("fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp_.c_str());
    throw Error(StrCat(final_.string(), ": close failed: ", std::strerror(e)));
  }
  if (::rename(tmp_.c_str(), final_.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp_.c_str());
    throw Error(StrCat(final_.string(), ": cannot rename the temp file into place: ", std::strerror(e)));
  }
  FsyncDirectory(final_.has_parent_path() ? final_.parent_path() : fs::path("."));
}

void WriteFileAtomically(const fs::path& path, std::string_view contents) {
  AtomicFile out(path);
  out.Write(contents);
  out.Commit();
}

void FsyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  QMOE_CHECK(fd >= 0, dir.string(), ": cannot open the folder to fsync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  QMOE_CHECK(rc == 0, dir.string(), ": fsync of the folder failed: ", std::strerror(e));
}

fs::path FreshStagingDirectory(const fs::path& final_dir_in) {
  const fs::path final_dir = WithoutTrailingSlash(final_dir_in);
  fs::path staging = final_dir.string() + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  QMOE_CHECK(!ec, staging.string(), ": cannot create the staging folder for ", final_dir.string(), ": ",
             ec.message());
  return staging;
}

void CommitDirectory(const fs::path& staging, const fs::path& final_dir_in) {
  const fs::path final_dir = WithoutTrailingSlash(final_dir_in);
  FsyncDirectory(staging);
  const fs::path parent = final_dir.has_parent_path() ? final_dir.parent_path() : fs::path(".");
  if (::rename(staging.c_str(), final_dir.c_str()) == 0) {  // no folder there yet (or an empty one)
    FsyncDirectory(parent);
    return;
  }
  const int first = errno;
  QMOE_CHECK(first == ENOTEMPTY || first == EEXIST, final_dir.string(), ": cannot move ", staging.string(),
             " into place: ", std::strerror(first));
  std::error_code ec;
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
    FsyncDirectory(parent);
    fs::remove_all(staging, ec);  // now the old folder
    return;
  }
  // File systems without RENAME_EXCHANGE: old folder aside, new one in. A crash in between leaves
  // the old folder complete under "<final>.old.<pid>".
  const fs::path old = final_dir.string() + ".old." + std::to_string(::getpid());
  fs::remove_all(old, ec);
  QMOE_CHECK(::rename(final_dir.c_str(), old.c_str()) == 0, final_dir.string(), ": cannot move the old folder aside: ",
             std::strerror(errno));
  if (::rename(staging.c_str(), final_dir.c_str()) != 0) {
    const int e = errno;
    ::rename(old.c_str(), final_dir.c_str());
    throw Error(StrCat(final_dir.string(), ": cannot move ", staging.string(), " into place: ", std::strerror(e)));
  }
  FsyncDirectory(parent);
  fs::remove_all(old, ec);
}

}  // namespace qmoe
