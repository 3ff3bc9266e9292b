#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "runtime/session.h"
#include "util/seconds.h"

namespace ri {

std::string StopStringFilter::Push(std::string_view text) {
  if (stopped_) return "";
  held_.append(text);
  size_t first_stop = std::string::npos;
  for (const std::string& stop : stops_) {
    if (!stop.empty()) first_stop = std::min(first_stop, held_.find(stop));
  }
  if (first_stop != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first_stop);
    held_.clear();
    return out;
  }
  // Keep the longest suffix that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - (stop.empty() ? 0 : 1), held_.size()); n > keep; --n) {
      if (held_.compare(held_.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStringFilter::Flush() {
  std::string out;
  out.swap(held_);
  return stopped_ ? "" : out;
}

GenerationResult Generate(Session& session, const Tokenizer& tokenizer,
                          std::span<const TokenId> prompt, const GenerationOptions& options,
                          const TextCallback& on_text) {
  GenerationResult result;
  result.prompt_tokens = static_cast<int>(prompt.size());
  Sampler sampler(options.sampler);
  StreamingDecoder decoder(tokenizer);
  StopStringFilter filter(options.stop);
  const auto emit = [&](const std::string& piece) {
    if (piece.empty()) return;
    result.text += piece;
    if (on_text) on_text(piece);
  };

  const auto prefill_start = std::chrono::steady_clock::now();
  std::span<const float> logits = session.Prefill(prompt);
  result.prefill_seconds = SecondsSince(prefill_start);

  const auto decode_start = std::chrono::steady_clock::now();
  std::vector<TokenId> history = session.tokens();
  for (int i = 0; i < options.max_tokens; ++i) {
    const TokenId token = sampler.Sample(logits, history);
    if (options.stop_at_end_of_generation && tokenizer.IsEndOfGeneration(token)) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    result.tokens.push_back(token);
    history.push_back(token);
    emit(filter.Push(decoder.Push(token)));
    if (filter.stopped()) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    if (i + 1 == options.max_tokens || session.remaining() == 0) break;
    logits = session.Decode(token);
  }
  emit(filter.Push(decoder.Flush()));
  emit(filter.Flush());
  result.decode_seconds = SecondsSince(decode_start);
  return result;
}

}  // namespace ri
