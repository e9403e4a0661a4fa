#include "framework/io/atomic_file.h"

#include "framework/core/error.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace qmoe {

AtomicFile::AtomicFile(const std::filesystem::path& final_path)
    : final_(final_path), tmp_(final_path.string() + ".tmp." + std::to_string(::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  QMOE_CHECK(fd_ >= 0, tmp_.string(), ": cannot create file for writing ", final_.string(), ": ",
             std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::Write(const void* data, size_t n) {
  QMOE_ASSERT(fd_ >= 0, "write after commit");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    QMOE_CHECK(w > 0, tmp_.string(), ": write failed: ", std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::Commit() {
  QMOE_ASSERT(fd_ >= 0, "double commit");
  QMOE_CHECK(::fsync(fd_) == 0, tmp_.string(), ": fsync failed: ", std::strerror(errno));
  int fd = fd_;
  fd_ = -1;
  QMOE_CHECK(::close(fd) == 0, tmp_.string(), ": close failed: ", std::strerror(errno));
  if (::rename(tmp_.c_str(), final_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    throw Error(StrCat(final_.string(), ": cannot rename temp file into place: ", std::strerror(e)));
  }
}

}  // namespace qmoe
