// Reading a whole small file (a config, an index, a header) with its size checked first, so a
// hostile or mistaken multi-gigabyte file is one clear Error instead of an allocation that
// exhausts memory. Plain C++, library `qmoe_fileio`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace qmoe {

// Caps for whole-file reads (documented in framework/io/README.md).
constexpr uint64_t kMaxConfigFileBytes = 16ull << 20;  // YAML configs, HF config.json
constexpr uint64_t kMaxIndexFileBytes = 256ull << 20;  // checkpoint index, qmoe.json

// The bytes of `path`; `what` names the kind of file in errors ("HF config.json").
std::string ReadFileBounded(const std::filesystem::path& path, uint64_t max_bytes, const std::string& what);

}  // namespace qmoe
