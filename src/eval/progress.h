// Progress of a long evaluation on stderr: a bar redrawn in place with rate
// and ETA when stderr is a terminal; otherwise (logs, CI) an ordinary line at
// every further tenth of the work or at most every 30 s.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ri::eval {

class Progress {
 public:
  // `total` units of work (e.g. decode steps), reported to stderr.
  explicit Progress(uint64_t total);
  // For tests: output to `out`, drawn as for a terminal or not.
  Progress(uint64_t total, std::FILE* out, bool terminal);
  ~Progress();

  // What is being worked on (e.g. the policy), shown after the numbers.
  void SetLabel(std::string label);
  void Advance(uint64_t units = 1);
  // Ends the bar's line (also done on destruction).
  void Finish();

  uint64_t done() const { return done_; }

 private:
  void Report(bool force);

  uint64_t total_;
  uint64_t done_ = 0;
  std::FILE* out_;
  bool terminal_;
  bool finished_ = false;
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_report_;
  uint64_t next_tenth_ = 1;  // plain lines: the next tenth of the work to report
};

// "0:07", "12:34", "1:02:03".
std::string FormatDuration(double seconds);

// One progress line: "[#####-----]  50%  5/10  2.5/s  ETA 0:02  label";
// the ETA is "?" before any work is done.
std::string ProgressLine(std::string_view label, uint64_t done, uint64_t total, double elapsed,
                         int bar_width);

}  // namespace ri::eval
