// Helpers for the file-reader fuzz targets: a private scratch folder per process (on /dev/shm when
// it exists, so no disk I/O), whole-file writes, and the check macro the targets use for their
// invariants (a violated invariant is a crash the fuzzer keeps).
#pragma once
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_INVARIANT(cond)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                        \
    }                                                                          \
  } while (0)

namespace qmoe::fuzz {

inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    // libFuzzer ends with _Exit, so the atexit below rarely runs: remove the folders of earlier
    // fuzz processes that are gone.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("qmoe-fuzz-", 0) != 0 || name.size() == 10 ||
          name.find_first_not_of("0123456789", 10) != std::string::npos)
        continue;
      const long pid = std::strtol(name.c_str() + 10, nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove_all(e.path(), ec);
    }
    std::filesystem::path d = base / ("qmoe-fuzz-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(ScratchDir(), ec); });
    return d;
  }();
  return dir;
}

inline void WriteBytes(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Splits `data` at every `sep` byte into at most `max_parts` parts (the last keeps the rest).
inline std::vector<std::string_view> SplitInput(std::string_view data, char sep, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = data.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(data.substr(0, at));
    data.remove_prefix(at + 1);
  }
  parts.push_back(data);
  return parts;
}

}  // namespace qmoe::fuzz
