#include "framework/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace qmoe {

std::string FormatDuration(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

bool Progress::IsTerminal() { return isatty(fileno(stderr)) != 0; }

Progress::Progress(std::string what, int64_t total)
    : what_(std::move(what)), total_(total), tty_(IsTerminal()) {
  start_ = last_print_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { Finish(); }

void Progress::SetLabel(std::string label) { label_ = std::move(label); }

void Progress::Advance(int64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  // Terminals refresh up to 10x/s; logs get a line at most every 10 s (and at the end).
  double since = std::chrono::duration<double>(now - last_print_).count();
  if ((tty_ && since > 0.1) || (!tty_ && since > 10.0) || done_ == total_) {
    last_print_ = now;
    Print(done_ == total_);
  }
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (done_ != total_ || tty_) Print(true);
}

void Progress::Print(bool final_line) {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = done_ > 0 ? el * double(total_ - done_) / double(done_) : 0.0;
  char line[512];
  std::snprintf(line, sizeof line, "%s%s%s %lld/%lld (%.0f%%) elapsed %s eta %s", what_.c_str(),
                label_.empty() ? "" : " ", label_.c_str(), (long long)done_, (long long)total_,
                total_ > 0 ? 100.0 * double(done_) / double(total_) : 100.0, FormatDuration(el).c_str(),
                FormatDuration(eta).c_str());
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

}  // namespace qmoe
