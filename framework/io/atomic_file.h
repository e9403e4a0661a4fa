// Crash-safe writing: every file qmoe saves goes through here. A file is written to a temp file next
// to its final path, fsynced, renamed into place and its folder fsynced, so after a crash, kill -9 or
// power loss a reader finds either the old file intact or the new one complete, never a torn mix.
// A folder of files (a compressed model, a training checkpoint) is built in a staging folder and
// swapped in with one rename (CommitDirectory). Plain C++ (no LibTorch), library `qmoe_fileio`.
//
// Fault injection for tests: with QMOE_TEST_WRITE_FAULT_BYTES=N in the environment (or
// SetWriteFaultForTest(N)), the write that would take this process past N bytes written through
// AtomicFile fails with ENOSPC, exactly as on a full disk.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace qmoe {

class AtomicFile {
 public:
  // Creates `<final>.tmp.<pid>` next to `final_path`; error names the path.
  explicit AtomicFile(const std::filesystem::path& final_path);
  ~AtomicFile();  // removes the temp file unless Commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // A failed write (e.g. ENOSPC) removes the temp file and throws one Error naming the final path;
  // the old file, if any, is untouched.
  void Write(const void* data, size_t n);
  void Write(std::string_view s) { Write(s.data(), s.size()); }
  // fsyncs, closes, renames onto the final path and fsyncs the folder.
  void Commit();

 private:
  [[noreturn]] void Fail(const char* what, int err);
  std::filesystem::path final_, tmp_;
  int fd_ = -1;
};

// The whole of `contents` as `path`, through AtomicFile.
void WriteFileAtomically(const std::filesystem::path& path, std::string_view contents);

// fsync of a folder, so that a rename inside it survives a crash. Error names the folder.
void FsyncDirectory(const std::filesystem::path& dir);

// "<final_dir>.tmp.<pid>": where a folder is built before CommitDirectory (same parent, so the
// rename never crosses file systems). Any leftover of an earlier crashed writer is removed first.
std::filesystem::path FreshStagingDirectory(const std::filesystem::path& final_dir);

// Makes the complete folder `staging` appear as `final_dir` in one step: fsyncs `staging`, then
// renames it onto `final_dir` (atomically exchanging it with an existing folder, which is then
// removed) and fsyncs the parent. A reader sees the old folder or the new one, never a mix.
void CommitDirectory(const std::filesystem::path& staging, const std::filesystem::path& final_dir);

// Test hook: the AtomicFile write that passes `bytes` bytes (counted from now, over every AtomicFile
// of the process) fails with ENOSPC; a negative value turns it off.
void SetWriteFaultForTest(int64_t bytes);

}  // namespace qmoe
