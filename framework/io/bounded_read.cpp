#include "framework/io/bounded_read.h"

#include "framework/core/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qmoe {

std::string ReadFileBounded(const std::filesystem::path& path, uint64_t max_bytes, const std::string& what) {
  const std::string f = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  QMOE_CHECK(fd >= 0, f, ": cannot open ", what, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int e = errno;
    ::close(fd);
    throw Error(StrCat(f, ": cannot read ", what, ": ", S_ISDIR(st.st_mode) ? "is a folder" : std::strerror(e)));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(StrCat(f, ": ", what, " is ", size, " bytes, more than the cap of ", max_bytes));
  }
  std::string out(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    const ssize_t got = ::read(fd, out.data() + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // shrank while reading: keep what is there
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

}  // namespace qmoe
