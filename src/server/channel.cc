#include "server/channel.h"

namespace ri::server {

void RequestChannel::Push(std::string_view text) {
  if (text.empty()) return;
  {
    std::lock_guard lock(mutex_);
    text_.append(text);
  }
  changed_.notify_all();
}

void RequestChannel::Finish(const GenerationSummary& summary) {
  {
    std::lock_guard lock(mutex_);
    summary_ = summary;
  }
  changed_.notify_all();
}

void RequestChannel::Fail(std::string message) {
  {
    std::lock_guard lock(mutex_);
    error_ = std::move(message);
  }
  changed_.notify_all();
}

RequestChannel::Update RequestChannel::Take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !text_.empty() || summary_ || error_; });
  Update update;
  update.text.swap(text_);
  update.summary = summary_;
  update.error = error_;
  return update;
}

}  // namespace ri::server
