// The central directory of a zip archive (torch.save's .bin / .pt container), read and checked
// against the file's length before anything is allocated from its sizes: every record must lie
// inside the file, be stored uncompressed (as torch.save writes them) and have a unique name.
// LibTorch's own reader trusts these sizes, so TorchBinFile checks them here first.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace qmoe {

// Caps on what a zip may claim (documented in framework/io/README.md).
constexpr uint64_t kMaxZipCentralDirectoryBytes = 64ull << 20;  // ~500k records
constexpr uint64_t kMaxZipRecords = 1u << 20;

struct ZipRecord {
  uint64_t data_offset = 0;  // first byte of the record's data in the file
  uint64_t size = 0;         // bytes (stored: compressed == uncompressed)
};

struct ZipDirectory {
  uint64_t file_size = 0;
  std::map<std::string, ZipRecord> records;  // full names ("archive/data.pkl")
  std::string prefix;  // folder of the first record plus '/': torch archives keep every record there
  // The record `prefix + name`, or nullptr.
  const ZipRecord* Find(const std::string& name) const;
};

// Reads and validates the directory of `path`; one Error naming the file and the record otherwise.
ZipDirectory ReadZipDirectory(const std::filesystem::path& path);

}  // namespace qmoe
