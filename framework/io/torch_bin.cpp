#include "framework/io/torch_bin.h"

#include "framework/core/error.h"
#include "framework/io/dtype.h"
#include "framework/io/zip_directory.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>

namespace qmoe {
namespace {

using caffe2::serialize::PyTorchStreamReader;

// PyTorchStreamReader reports problems as c10::Error with C++ backtraces; turn them into one
// qmoe::Error line naming the file.
std::unique_ptr<PyTorchStreamReader> OpenArchive(const std::filesystem::path& path) {
  try {
    return std::make_unique<PyTorchStreamReader>(path.string());
  } catch (const c10::Error& e) {
    throw Error(StrCat(path.string(), ": not a readable torch zip archive (truncated, corrupt, or the "
                       "legacy pre-1.6 torch.save format): ", e.what_without_backtrace()));
  }
}

std::tuple<at::DataPtr, size_t> ReadRecord(PyTorchStreamReader& r, const std::string& record,
                                           const std::filesystem::path& path, const std::string& tensor) {
  try {
    return r.getRecord(record);
  } catch (const c10::Error& e) {
    throw Error(StrCat(path.string(), ": cannot read record \"", record, "\"",
                       tensor.empty() ? "" : StrCat(" of tensor \"", tensor, "\""), ": ",
                       e.what_without_backtrace()));
  }
}

// Elements of the storage the view touches: offset + 1 + sum((size-1)*stride), 0 if empty; -1
// when that overflows (sizes, strides and offset are non-negative here).
int64_t ExtentOf(const PickledTensor& t) {
  for (int64_t d : t.shape)
    if (d == 0) return 0;
  int64_t extent = t.offset;
  if (__builtin_add_overflow(extent, 1, &extent)) return -1;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    int64_t step = 0;
    if (__builtin_mul_overflow(t.shape[i] - 1, t.stride[i], &step) || __builtin_add_overflow(extent, step, &extent))
      return -1;
  }
  return extent;
}

}  // namespace

std::unique_ptr<TorchBinFile> TorchBinFile::Open(const std::filesystem::path& path) {
  const std::string f = path.string();
  // Every size below comes from the file: checked against its length (and the caps) before LibTorch's
  // reader allocates anything from it.
  const ZipDirectory zip = ReadZipDirectory(path);
  const ZipRecord* pkl_record = zip.Find("data.pkl");
  QMOE_CHECK(pkl_record, f, ": torch archive without data.pkl");
  QMOE_CHECK(pkl_record->size <= kMaxStateDictPickleBytes, f, ": data.pkl claims ", pkl_record->size,
             " bytes (cap ", kMaxStateDictPickleBytes, ")");
  QMOE_CHECK(!zip.prefix.empty() && (zip.Find("version") || zip.Find(".data/version")), f,
             ": not a torch archive: records must sit in one folder with a version record");
  auto reader = OpenArchive(path);
  QMOE_CHECK(reader->hasRecord("data.pkl"), f, ": torch archive without data.pkl");
  auto [pkl, pkl_size] = ReadRecord(*reader, "data.pkl", path, "");
  std::unique_ptr<TorchBinFile> file(new TorchBinFile());
  file->path_ = path;
  for (PickledTensor& t : ParseStateDictPickle(
           std::string_view(static_cast<const char*>(pkl.get()), pkl_size), f)) {
    const std::string where = StrCat(f, ": tensor \"", t.name, "\"");
    for (size_t i = 0; i < t.shape.size(); ++i)
      QMOE_CHECK(t.shape[i] >= 0 && t.stride[i] >= 0, where, ": negative size or stride");
    const int64_t extent = ExtentOf(t);
    QMOE_CHECK(t.offset >= 0 && t.storage_numel >= 0 && extent >= 0 && extent <= t.storage_numel, where,
               ": view (offset ", t.offset, ") reaches past its storage of ", t.storage_numel, " elements");
    int64_t numel = 1;
    for (int64_t d : t.shape)
      QMOE_CHECK(!__builtin_mul_overflow(numel, d, &numel), where, ": element count overflows");
    QMOE_CHECK(numel <= t.storage_numel, where, ": ", numel, " elements in a storage of ", t.storage_numel,
               " (broadcast or overlapping views are not supported)");
    const std::string record = "data/" + t.storage_key;
    const ZipRecord* storage = zip.Find(record);
    QMOE_CHECK(storage && reader->hasRecord(record), where, ": storage record \"", record,
               "\" is missing (truncated archive?)");
    const uint64_t item = DtypeItemSize(t.dtype);
    QMOE_CHECK(storage->size / item == static_cast<uint64_t>(t.storage_numel) && storage->size % item == 0, where,
               ": storage record ", record, " has ", storage->size, " bytes, expected ", t.storage_numel, " x ", item,
               " (truncated or corrupt archive)");
    TensorInfo info;
    info.name = t.name;
    info.dtype = DtypeFromScalarType(t.dtype);
    info.shape = t.shape;
    info.file = f;
    QMOE_CHECK(file->tensors_.emplace(t.name, t).second, f, ": duplicate tensor \"", t.name, "\"");
    file->infos_.push_back(std::move(info));
  }
  return file;
}

at::Tensor TorchBinFile::Load(const std::string& name) const {
  auto it = tensors_.find(name);
  QMOE_CHECK(it != tensors_.end(), path_.string(), ": no tensor \"", name, "\"");
  const PickledTensor& t = it->second;
  // Reopening reads only the zip directory; it keeps no file descriptor per shard between loads.
  auto reader = OpenArchive(path_);
  auto [data, bytes] = ReadRecord(*reader, "data/" + t.storage_key, path_, name);
  const size_t item = DtypeItemSize(t.dtype);
  QMOE_CHECK(bytes == static_cast<size_t>(t.storage_numel) * item, path_.string(), ": tensor \"", name,
             "\": storage record data/", t.storage_key, " has ", bytes, " bytes, expected ",
             t.storage_numel * static_cast<int64_t>(item), " (truncated or corrupt archive)");
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data), nullptr, false);
  at::Tensor view = at::empty({0}, at::TensorOptions().dtype(t.dtype)).set_(storage, t.offset, t.shape, t.stride);
  // Keep the record's buffer only when the tensor is exactly that buffer; otherwise copy out.
  const bool whole = t.offset == 0 && view.is_contiguous() && view.numel() == t.storage_numel;
  return whole ? view : view.clone(at::MemoryFormat::Contiguous);
}

}  // namespace qmoe
