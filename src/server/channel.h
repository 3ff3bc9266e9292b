// The per-request channel between the scheduler thread (producer of text
// pieces and of the final summary) and the HTTP handler thread (consumer).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "server/response.h"

namespace ri::server {

class RequestChannel {
 public:
  // Producer side.
  void Push(std::string_view text);
  void Finish(const GenerationSummary& summary);
  void Fail(std::string message);

  // What arrived since the last Take.
  struct Update {
    std::string text;
    std::optional<GenerationSummary> summary;  // set once generation ended
    std::optional<std::string> error;          // set when generation failed
    bool done() const { return summary || error; }
  };
  // Waits up to `timeout` for news (returns early when there is some).
  Update Take(std::chrono::milliseconds timeout);

  // The client went away: the scheduler drops the sequence at its next step.
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string text_;
  std::optional<GenerationSummary> summary_;
  std::optional<std::string> error_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace ri::server
