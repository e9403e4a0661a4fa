// Progress reporting for long work: a live line with ETA on a terminal, plain log lines otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace qmoe {

class Progress {
 public:
  // `total` units of work labelled `what` (e.g. "layer 3/12 experts").
  Progress(std::string what, int64_t total);
  ~Progress();
  void Advance(int64_t n = 1);
  void SetLabel(std::string label);
  void Finish();

  static bool IsTerminal();

 private:
  void Print(bool final_line);
  std::string what_, label_;
  int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool tty_, finished_ = false;
};

// Formats seconds as "1h02m", "3m07s" or "12.3s".
std::string FormatDuration(double seconds);

}  // namespace qmoe
