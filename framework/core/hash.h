// SHA-256 (OpenSSL) for run keys, the dictionary check values and data-file checksums.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace qmoe {

std::string Sha256Hex(const void* data, size_t n);
inline std::string Sha256Hex(std::string_view s) { return Sha256Hex(s.data(), s.size()); }
// SHA-256 of a file's bytes; throws Error naming the file if it cannot be read.
std::string Sha256File(const std::string& path);

}  // namespace qmoe
