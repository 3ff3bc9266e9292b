#include "eval/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace ri::eval {

namespace {
constexpr double kTerminalRedrawSeconds = 0.2;
constexpr double kPlainLineSeconds = 30;

double Seconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}
}  // namespace

std::string FormatDuration(double seconds) {
  const long total = std::lround(std::max(0.0, seconds));
  const long hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

std::string ProgressLine(std::string_view label, uint64_t done, uint64_t total, double elapsed,
                         int bar_width) {
  const double fraction = total > 0 ? std::min(1.0, static_cast<double>(done) / total) : 1.0;
  const int filled = static_cast<int>(fraction * bar_width);
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const std::string eta =
      done > 0 ? FormatDuration(elapsed / done * (total > done ? total - done : 0)) : "?";
  return fmt::format("[{}{}] {:3.0f}%  {}/{}  {:.1f}/s  ETA {}  {}", std::string(filled, '#'),
                     std::string(bar_width - filled, '-'), 100 * fraction, done, total, rate, eta,
                     label);
}

Progress::Progress(uint64_t total) : Progress(total, stderr, isatty(fileno(stderr)) != 0) {}

Progress::Progress(uint64_t total, std::FILE* out, bool terminal)
    : total_(total),
      out_(out),
      terminal_(terminal),
      start_(std::chrono::steady_clock::now()),
      last_report_(start_) {}

Progress::~Progress() { Finish(); }

void Progress::SetLabel(std::string label) {
  label_ = std::move(label);
  if (terminal_) Report(true);
}

void Progress::Advance(uint64_t units) {
  done_ = std::min(total_, done_ + units);
  Report(done_ == total_);
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (terminal_) {
    Report(true);
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void Progress::Report(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since_last = Seconds(now - last_report_);
  const double elapsed = Seconds(now - start_);
  if (terminal_) {
    if (!force && since_last < kTerminalRedrawSeconds) return;
    // \r returns to the line start; \x1b[K clears what a longer line left.
    fmt::print(out_, "\r{}\x1b[K", ProgressLine(label_, done_, total_, elapsed, 30));
  } else {
    const bool tenth = total_ > 0 && done_ * 10 >= next_tenth_ * total_;
    if (!tenth && since_last < kPlainLineSeconds) return;
    while (total_ > 0 && done_ * 10 >= next_tenth_ * total_) ++next_tenth_;
    fmt::print(out_, "{}\n", ProgressLine(label_, done_, total_, elapsed, 20));
  }
  std::fflush(out_);
  last_report_ = now;
}

}  // namespace ri::eval
