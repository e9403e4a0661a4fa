// Errors for qmoe. QMOE_CHECK is for user input (config, files, CLI): its message must name
// the file, key or tensor and what was expected. QMOE_ASSERT is for internal invariants.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace qmoe {

// Thrown for bad user input; the CLI prints what() once and exits non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
std::string StrCat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace qmoe

#define QMOE_CHECK(cond, ...)                                 \
  do {                                                        \
    if (!(cond)) throw ::qmoe::Error(::qmoe::StrCat(__VA_ARGS__)); \
  } while (0)

#define QMOE_ASSERT(cond, ...)                                                         \
  do {                                                                                 \
    if (!(cond))                                                                       \
      throw std::logic_error(::qmoe::StrCat("internal error at ", __FILE__, ":", __LINE__, \
                                            ": ", #cond, " ", ##__VA_ARGS__));         \
  } while (0)
