// The process's own memory figures from /proc/self/status (Linux), for recording peak RSS.
#pragma once
#include <cstdint>

namespace qmoe {

// Peak resident set size (VmHWM) in bytes; 0 where /proc is not available.
int64_t PeakRssBytes();

// Current resident set size (VmRSS) in bytes; 0 where /proc is not available.
int64_t CurrentRssBytes();

}  // namespace qmoe
