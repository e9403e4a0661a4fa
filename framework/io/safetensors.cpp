#include "framework/io/safetensors.h"

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"
#include "framework/io/dtype.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

namespace qmoe {
namespace {

// The reference implementation refuses headers above 100 MB; so do we (a garbage length
// would otherwise make us parse gigabytes of tensor data as JSON).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Dimensions per tensor (LibTorch's own limit is 64). Element counts need no cap of their own: a
// tensor's bytes must match its data_offsets, which must lie inside the file.
constexpr size_t kMaxRank = 64;

uint64_t PageSize() { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

// numel * itemsize, or nullopt-like UINT64_MAX on overflow.
uint64_t ByteSize(const std::vector<int64_t>& shape, size_t item) {
  unsigned __int128 n = item;
  for (int64_t d : shape) {
    n *= static_cast<uint64_t>(d);
    if (n > UINT64_MAX / 2) return UINT64_MAX;
  }
  return static_cast<uint64_t>(n);
}

// Pre-faults the whole pages inside [p, p + n) for writing with one call instead of one page
// fault per 4 KiB (Linux >= 5.14; a hint only, errors are ignored).
void PopulateForWrite(void* p, uint64_t n) {
  const uint64_t page = PageSize();
  const uint64_t a = (reinterpret_cast<uint64_t>(p) + page - 1) / page * page;
  const uint64_t b = (reinterpret_cast<uint64_t>(p) + n) / page * page;
  if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_WRITE);
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::Open(const std::filesystem::path& path) {
  const std::string f = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  QMOE_CHECK(fd >= 0, f, ": cannot open safetensors file: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(StrCat(f, ": cannot stat: ", std::strerror(errno)));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw Error(StrCat(f, ": not a safetensors file: ", size,
                       " bytes, expected at least the 8-byte header length"));
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file alive; this keeps fds free for many shards
  QMOE_CHECK(m != MAP_FAILED, f, ": mmap failed: ", std::strerror(errno));

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = static_cast<const uint8_t*>(m);
  file->size_ = size;

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file->map_[i];  // little-endian u64
  QMOE_CHECK(n >= 2 && n <= kMaxHeaderBytes, f, ": bad safetensors header length ", n,
             " (expected 2..", kMaxHeaderBytes, " bytes of JSON)");
  QMOE_CHECK(n <= size - 8, f, ": truncated: the header says ", n, " bytes of JSON but the file has only ",
             size - 8, " bytes after the length");
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = size - data_start;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(file->map_ + 8),
                                   reinterpret_cast<const char*>(file->map_ + data_start));
  } catch (const nlohmann::json::exception& e) {
    throw Error(StrCat(f, ": corrupt safetensors header (invalid JSON): ", e.what()));
  }
  QMOE_CHECK(header.is_object(), f, ": corrupt safetensors header: expected a JSON object, got ",
             header.type_name());

  struct Entry { size_t index; uint64_t begin, end; };
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      QMOE_CHECK(v.is_object(), f, ": __metadata__ must be an object of strings");
      for (const auto& [k, mv] : v.items()) {
        QMOE_CHECK(mv.is_string(), f, ": __metadata__[\"", k, "\"] must be a string");
        file->metadata_[k] = mv.get<std::string>();
      }
      continue;
    }
    const std::string where = StrCat(f, ": tensor \"", name, "\"");
    QMOE_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
               where, ": expected an object with dtype, shape and data_offsets");
    QMOE_CHECK(v["dtype"].is_string(), where, ": dtype must be a string");
    TensorInfo info;
    info.name = name;
    info.dtype = v["dtype"].get<std::string>();
    info.file = f;
    const at::ScalarType type = ScalarTypeFromDtype(info.dtype, where);
    QMOE_CHECK(v["shape"].is_array(), where, ": shape must be an array of non-negative integers");
    QMOE_CHECK(v["shape"].size() <= kMaxRank, where, ": shape has ", v["shape"].size(), " dimensions (cap ",
               kMaxRank, ")");
    for (const auto& d : v["shape"]) {
      QMOE_CHECK((d.is_number_unsigned() && d.get<uint64_t>() <= INT64_MAX) ||
                     (d.is_number_integer() && d.get<int64_t>() >= 0),
                 where, ": shape must be an array of non-negative integers, got ", v["shape"].dump());
      info.shape.push_back(d.get<int64_t>());
    }
    const auto& off = v["data_offsets"];
    QMOE_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                   off[1].is_number_unsigned(),
               where, ": data_offsets must be [begin, end] with non-negative integers, got ", off.dump());
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    QMOE_CHECK(begin <= end, where, ": data_offsets [", begin, ", ", end, "] has begin > end");
    const uint64_t want = ByteSize(info.shape, DtypeItemSize(type));
    QMOE_CHECK(want == end - begin, where, ": shape ", ShapeStr(info.shape), " of ", info.dtype,
               " needs ", want, " bytes but data_offsets [", begin, ", ", end, "] hold ", end - begin);
    entries.push_back({file->infos_.size(), begin, end});
    file->index_[name] = file->infos_.size();
    file->infos_.push_back(std::move(info));
    file->ranges_.push_back({data_start + begin, data_start + end});
  }

  // In file order: the first tensor past the end of the file is the first one a truncation hit.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t prev_end = 0;
  const std::string* prev_name = nullptr;
  for (const Entry& e : entries) {
    const std::string& name = file->infos_[e.index].name;
    QMOE_CHECK(e.end <= data_size, f, ": truncated or corrupt: tensor \"", name, "\" needs data bytes [",
               e.begin, ", ", e.end, ") but the data section has only ", data_size, " bytes (file size ",
               size, ")");
    QMOE_CHECK(e.begin >= prev_end || e.begin == e.end, f, ": corrupt header: tensor \"", name,
               "\" data [", e.begin, ", ", e.end, ") overlaps tensor \"", *prev_name, "\" (ends at ",
               prev_end, ")");
    if (e.end > prev_end) {
      prev_end = e.end;
      prev_name = &name;
    }
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

const TensorInfo& SafetensorsFile::Find(const std::string& name, Range* range) const {
  auto it = index_.find(name);
  QMOE_CHECK(it != index_.end(), path_.string(), ": no tensor \"", name, "\"");
  *range = ranges_[it->second];
  return infos_[it->second];
}

at::Tensor SafetensorsFile::Load(const std::string& name) const {
  Range r;
  const TensorInfo& info = Find(name, &r);
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(ScalarTypeFromDtype(info.dtype, info.file)));
  if (r.end == r.begin) return t;
  // One pread straight into the tensor: nothing of the file enters our RSS, no madvise juggling,
  // and a file shrunk after open gives an Error here instead of SIGBUS from the mapping. The fd is
  // opened per call so thousands of shards never exhaust file descriptors.
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  QMOE_CHECK(fd >= 0, path_.string(), ": cannot reopen to read tensor \"", name, "\": ", std::strerror(errno));
  char* dst = static_cast<char*>(t.data_ptr());
  uint64_t done = 0;
  const uint64_t n = r.end - r.begin;
  PopulateForWrite(dst, n);
  while (done < n) {
    const ssize_t got = ::pread(fd, dst + done, n - done, static_cast<off_t>(r.begin + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int e = errno;
      ::close(fd);
      throw Error(StrCat(path_.string(), ": tensor \"", name, "\": read ", done, " of ", n, " bytes at offset ",
                         r.begin, got == 0 ? " (file truncated since it was opened?)" : ": ",
                         got == 0 ? "" : std::strerror(e)));
    }
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return t;
}

at::Tensor SafetensorsFile::Load_ref(const std::string& name) const {
  Range r;
  const TensorInfo& info = Find(name, &r);
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(ScalarTypeFromDtype(info.dtype, info.file)));
  const uint64_t n = r.end - r.begin;
  if (n == 0) return t;
  std::memcpy(t.data_ptr(), map_ + r.begin, n);
  // Whole pages covering the tensor; neighbours sharing an edge page just fault it back in. The
  // mapping is private and never written, so dropping the pages only releases them from our RSS.
  const uint64_t page = PageSize();
  const uint64_t lo = r.begin / page * page;
  const uint64_t hi = std::min(size_, (r.end + page - 1) / page * page);
  ::madvise(const_cast<uint8_t*>(map_) + lo, hi - lo, MADV_DONTNEED);
  return t;
}

void WriteSafetensorsStreaming(const std::filesystem::path& path, const std::vector<SafetensorsEntry>& entries,
                               const std::function<at::Tensor(size_t)>& make,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> seen;
  std::vector<uint64_t> sizes;
  sizes.reserve(entries.size());
  for (const SafetensorsEntry& e : entries) {
    QMOE_CHECK(e.name != "__metadata__", path.string(), ": a tensor cannot be named __metadata__");
    QMOE_CHECK(seen.insert(e.name).second, path.string(), ": duplicate tensor name \"", e.name, "\"");
    uint64_t n = at::elementSize(e.dtype);
    for (int64_t d : e.shape) {
      QMOE_CHECK(d >= 0, path.string(), ": tensor \"", e.name, "\" has a negative dimension");
      n *= static_cast<uint64_t>(d);
    }
    header[e.name] = {{"dtype", DtypeFromScalarType(e.dtype)}, {"shape", e.shape},
                      {"data_offsets", {offset, offset + n}}};
    offset += n;
    sizes.push_back(n);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(json.size()) >> (8 * i));

  AtomicFile out(path);
  out.Write(len, 8);
  out.Write(json.data(), json.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const at::Tensor t = make(i);
    QMOE_CHECK(t.defined(), path.string(), ": tensor \"", entries[i].name, "\" is undefined");
    const at::Tensor c = t.to(at::kCPU).contiguous();
    QMOE_CHECK(c.scalar_type() == entries[i].dtype && c.sizes().vec() == entries[i].shape, path.string(),
               ": tensor \"", entries[i].name, "\" was announced as ", DtypeFromScalarType(entries[i].dtype),
               " ", nlohmann::json(entries[i].shape).dump(), " but is ", DtypeFromScalarType(c.scalar_type()), " ",
               nlohmann::json(c.sizes().vec()).dump());
    out.Write(c.data_ptr(), sizes[i]);
  }
  out.Commit();
}

void WriteSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsEntry> entries;
  entries.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    QMOE_CHECK(tensor.defined(), path.string(), ": tensor \"", name, "\" is undefined");
    entries.push_back({name, tensor.scalar_type(), tensor.sizes().vec()});
  }
  WriteSafetensorsStreaming(path, entries, [&](size_t i) { return tensors[i].second; }, metadata);
}

}  // namespace qmoe
