// The process's own memory figures from /proc/self/status (Linux), for recording peak RSS.
#pragma once
#include <cstdint>

namespace qmoe {

// Peak resident set size (VmHWM) in bytes; 0 where /proc is not available.
int64_t PeakRssBytes();

// Current resident set size (VmRSS) in bytes; 0 where /proc is not available.
int64_t CurrentRssBytes();

// Resets the peak (VmHWM) to the current RSS, so that PeakRssBytes measures the peak of what runs
// next (Linux >= 4.0: "5" written to /proc/self/clear_refs). False where that is not possible.
bool ResetPeakRss();

// Installed RAM (MemTotal of /proc/meminfo) in bytes; 0 where /proc is not available.
int64_t PhysicalMemoryBytes();

}  // namespace qmoe
