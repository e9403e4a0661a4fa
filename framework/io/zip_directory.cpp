#include "framework/io/zip_directory.h"

#include "framework/core/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace qmoe {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kZip64LocatorSig = 0x07064b50, kZip64EocdSig = 0x06064b50,
                   kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr uint64_t kEocdBytes = 22, kMaxComment = 0xffff, kCentralBytes = 46, kLocalBytes = 30;

uint64_t Le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class File {
 public:
  File(const std::filesystem::path& path) : name_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    QMOE_CHECK(fd_ >= 0, name_, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      ::close(fd_);
      throw Error(StrCat(name_, ": cannot stat: ", std::strerror(errno)));
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~File() { ::close(fd_); }
  uint64_t size() const { return size_; }
  // `n` bytes at `offset`; the range was checked against the file size by the caller.
  std::vector<uint8_t> Read(uint64_t offset, uint64_t n, const char* what) const {
    QMOE_CHECK(offset <= size_ && n <= size_ - offset, name_, ": corrupt zip: ", what, " [", offset, ", +", n,
               ") lies past the end of the file (", size_, " bytes)");
    std::vector<uint8_t> buf(n);
    uint64_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, buf.data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      QMOE_CHECK(got > 0, name_, ": reading ", what, " failed: ", got == 0 ? "file shrank" : std::strerror(errno));
      done += static_cast<uint64_t>(got);
    }
    return buf;
  }

 private:
  std::string name_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace

const ZipRecord* ZipDirectory::Find(const std::string& name) const {
  auto it = records.find(prefix + name);
  return it == records.end() ? nullptr : &it->second;
}

ZipDirectory ReadZipDirectory(const std::filesystem::path& path) {
  const std::string f = path.string();
  File file(path);
  const uint64_t size = file.size();
  QMOE_CHECK(size >= kEocdBytes, f, ": not a zip archive (", size, " bytes; truncated?)");
  // The end-of-central-directory record: the last 22 bytes plus a comment of up to 64 KiB.
  const uint64_t tail_n = std::min(size, kEocdBytes + kMaxComment);
  const std::vector<uint8_t> tail = file.Read(size - tail_n, tail_n, "end of central directory");
  int64_t at = -1;
  for (int64_t i = static_cast<int64_t>(tail_n - kEocdBytes); i >= 0; --i)
    if (Le(&tail[i], 4) == kEocdSig) {
      at = i;
      break;
    }
  QMOE_CHECK(at >= 0, f, ": not a zip archive: no end-of-central-directory record (truncated?)");
  const uint8_t* e = &tail[at];
  uint64_t count = Le(e + 10, 2), cd_size = Le(e + 12, 4), cd_offset = Le(e + 16, 4);
  const uint64_t eocd_pos = size - tail_n + static_cast<uint64_t>(at);
  if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {  // ZIP64
    QMOE_CHECK(eocd_pos >= 20, f, ": corrupt zip: ZIP64 sizes without a ZIP64 locator");
    const std::vector<uint8_t> loc = file.Read(eocd_pos - 20, 20, "ZIP64 locator");
    QMOE_CHECK(Le(loc.data(), 4) == kZip64LocatorSig, f, ": corrupt zip: ZIP64 sizes without a ZIP64 locator");
    const std::vector<uint8_t> z = file.Read(Le(loc.data() + 8, 8), 56, "ZIP64 end of central directory");
    QMOE_CHECK(Le(z.data(), 4) == kZip64EocdSig, f, ": corrupt zip: bad ZIP64 end-of-central-directory record");
    count = Le(z.data() + 32, 8);
    cd_size = Le(z.data() + 40, 8);
    cd_offset = Le(z.data() + 48, 8);
  }
  QMOE_CHECK(cd_size <= kMaxZipCentralDirectoryBytes && count <= kMaxZipRecords, f, ": zip claims ", count,
             " records in a ", cd_size, "-byte central directory (caps: ", kMaxZipRecords, " records, ",
             kMaxZipCentralDirectoryBytes, " bytes)");
  QMOE_CHECK(count * kCentralBytes <= cd_size, f, ": corrupt zip: ", count, " records cannot fit in a ", cd_size,
             "-byte central directory");
  const std::vector<uint8_t> cd = file.Read(cd_offset, cd_size, "central directory");

  ZipDirectory dir;
  dir.file_size = size;
  uint64_t pos = 0;
  for (uint64_t r = 0; r < count; ++r) {
    QMOE_CHECK(cd_size - pos >= kCentralBytes && Le(&cd[pos], 4) == kCentralSig, f,
               ": corrupt zip: central directory entry ", r, " is cut off or has a bad signature");
    const uint8_t* c = &cd[pos];
    const uint64_t method = Le(c + 10, 2), name_n = Le(c + 28, 2), extra_n = Le(c + 30, 2), comment_n = Le(c + 32, 2);
    uint64_t comp = Le(c + 20, 4), uncomp = Le(c + 24, 4), local = Le(c + 42, 4);
    QMOE_CHECK(cd_size - pos - kCentralBytes >= name_n + extra_n + comment_n, f, ": corrupt zip: central directory entry ",
               r, " runs past the directory");
    const std::string name(reinterpret_cast<const char*>(c + kCentralBytes), name_n);
    const std::string where = StrCat(f, ": zip record \"", name, "\"");
    // ZIP64 extra field: the 64-bit values of the 32-bit fields that read 0xffffffff, in this order.
    for (uint64_t x = 0; x + 4 <= extra_n;) {
      const uint8_t* h = c + kCentralBytes + name_n + x;
      const uint64_t id = Le(h, 2), n = Le(h + 2, 2);
      QMOE_CHECK(x + 4 + n <= extra_n, where, ": corrupt extra field");
      if (id == 1) {
        uint64_t k = 0;
        for (uint64_t* v : {&uncomp, &comp, &local})
          if (*v == 0xffffffff) {
            QMOE_CHECK(k + 8 <= n, where, ": ZIP64 extra field too short");
            *v = Le(h + 4 + k, 8);
            k += 8;
          }
      }
      x += 4 + n;
    }
    // Encrypted (bits 0, 6) or patch-data (bit 5) records: LibTorch's reader refuses them at load time.
    QMOE_CHECK((Le(c + 8, 2) & 0x61) == 0, where, ": encrypted or patch-data record (flags 0x", std::hex, Le(c + 8, 2),
               std::dec, ") is not supported");
    QMOE_CHECK(method == 0, where, ": compressed with method ", method,
               "; torch.save archives store records uncompressed (method 0)");
    QMOE_CHECK(comp == uncomp, where, ": stored record with different sizes (", comp, " vs ", uncomp, ")");
    const std::vector<uint8_t> lh = file.Read(local, kLocalBytes, "local header");
    QMOE_CHECK(Le(lh.data(), 4) == kLocalSig, where, ": bad local header signature at offset ", local);
    const uint64_t data = local + kLocalBytes + Le(lh.data() + 26, 2) + Le(lh.data() + 28, 2);
    QMOE_CHECK(data <= size && uncomp <= size - data, where, ": claims ", uncomp, " bytes at offset ", data,
               " but the file has only ", size, " bytes (truncated or corrupt)");
    QMOE_CHECK(dir.records.emplace(name, ZipRecord{data, uncomp}).second, where, ": appears twice");
    if (r == 0) dir.prefix = name.substr(0, name.find('/') + 1);
    pos += kCentralBytes + name_n + extra_n + comment_n;
  }
  return dir;
}

}  // namespace qmoe
