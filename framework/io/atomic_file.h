// Write-to-temp-then-rename, so readers never see a half-written file. Internal to framework/io.
#pragma once
#include <cstddef>
#include <filesystem>

namespace qmoe {

class AtomicFile {
 public:
  // Creates `<final>.tmp.<pid>` next to `final_path`; error names the path.
  explicit AtomicFile(const std::filesystem::path& final_path);
  ~AtomicFile();  // removes the temp file unless Commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void Write(const void* data, size_t n);
  // fsyncs, closes and renames onto the final path.
  void Commit();

 private:
  std::filesystem::path final_, tmp_;
  int fd_ = -1;
};

}  // namespace qmoe
