// Regex pre-tokenizer of byte-level BPE: splits text into the words that BPE
// then encodes one by one. A scheme is a sequence of regexes; each splits
// every piece from the previous step into its matches and the gaps between
// them, both kept (the semantics of Hugging Face's Split/ByteLevel
// pre-tokenizers and of llama.cpp's regex lists).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ri {

class PreTokenizer {
 public:
  // The scheme for a `tokenizer.ggml.pre` value:
  //   "default", "gpt2"   the GPT-2 regex
  //   "smollm"            "\p{N}" (each digit alone), then the GPT-2 regex
  //   "llama-bpe", "llama3"  the Llama 3 regex
  //   "qwen2"             the Qwen2 regex (Llama 3's with single digits)
  // Throws ri::Error listing these for any other name.
  static PreTokenizer ForName(std::string_view name);
  // Compiles PCRE2 patterns (UTF, Unicode properties, JIT when available);
  // throws ri::Error naming a pattern that does not compile.
  explicit PreTokenizer(const std::vector<std::string>& patterns);

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Pieces of `text`, in order; they concatenate to `text`. Bytes that are
  // not well-formed UTF-8 are never given to the regexes: each ill-formed
  // subpart is a piece of its own and splits the text around it.
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace ri
