// The generation loop: prefill a prompt, then sample, stream and stop.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace ri {

class Session;

struct GenerationOptions {
  int max_tokens = 256;
  SamplerOptions sampler;
  std::vector<std::string> stop;  // generation ends before the first occurrence of any
  bool stop_at_end_of_generation = true;
};

enum class FinishReason { kStop, kLength };

struct GenerationResult {
  std::string text;
  std::vector<TokenId> tokens;
  FinishReason finish_reason = FinishReason::kLength;
  int prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Receives each piece of text as soon as it is final (valid UTF-8, and not
// possibly the beginning of a stop string).
using TextCallback = std::function<void(std::string_view)>;

// Feeds `prompt` to the session (on top of what it already holds) and
// generates. The last generated token is not fed back, so the session ends
// one token behind `result.tokens` (callers continuing the sequence feed it).
GenerationResult Generate(Session& session, const Tokenizer& tokenizer,
                          std::span<const TokenId> prompt, const GenerationOptions& options,
                          const TextCallback& on_text);

// Holds back text that might be the start of a stop string.
class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns the part that is now safe to emit. Sets stopped()
  // when a stop string appeared (the text before it is returned).
  std::string Push(std::string_view text);
  // What is held back at the end of generation.
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace ri
