// Tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata:
// byte-level BPE (`gpt2`, pre-tokenizer regex chosen by `tokenizer.ggml.pre`)
// and SentencePiece-style BPE (`llama`, scores and byte fallback).
//
// Reference behaviour (goldens from tools/reference/make_tokenizer_golden.py):
// - gpt2 models give the ids of Hugging Face tokenizers with the model's own
//   pre-tokenizer. For SmolLM2 ("smollm") that is each digit split off, then
//   the GPT-2 regex, as in its tokenizer.json and llama.cpp; transformers'
//   GGUF loader drops the digit split, which changes whitespace before digits
//   ("a  1"). Bytes without a token in the vocabulary (SmolLM2 lacks 21, e.g.
//   0x04, 0xFF) are dropped, as Hugging Face's BPE does without an unknown
//   token.
// - llama models give sentencepiece's ids for plain text; special tokens
//   follow transformers (see spm_tokenizer.cc for the space prefix).
// - add_bos follows tokenizer.ggml.add_bos_token (absent: false for gpt2, true
//   for llama). SmolLM2's GGUF says false (BOS id 1 is <|im_start|>), and
//   transformers' tokenizer built from it adds no BOS either.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ri::gguf {
class File;
}

namespace ri {

using TokenId = int32_t;

// Values of tokenizer.ggml.token_type (SentencePiece's piece types).
enum TokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

// Hash that lets unordered maps keyed by std::string be searched with a
// std::string_view (no temporary string per lookup).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using TokenIdMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

class Tokenizer {
 public:
  // Throws ri::Error for a missing or unsupported tokenizer model / pre-tokenizer.
  static std::unique_ptr<Tokenizer> FromGguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // Encodes text. With `parse_special`, the texts of control and unknown
  // tokens in the input (e.g. "<|im_start|>") become their ids; otherwise they
  // are ordinary text. User-defined tokens are always matched (as
  // sentencepiece, transformers and llama.cpp do). With `add_bos`, the BOS
  // token is prepended when the model wants one (tokenizer.ggml.add_bos_token).
  std::vector<TokenId> Encode(std::string_view text, bool add_bos, bool parse_special) const;
  // The bytes a token stands for (may be an incomplete UTF-8 sequence).
  // Control, unknown and user-defined tokens stand for their text, so
  // decoding what Encode(text, parse_special = true) gave returns the text
  // (but for dropped bytes and Decode's SentencePiece space rule).
  // Throws ri::Error for an id outside the vocabulary.
  virtual std::string TokenBytes(TokenId id) const = 0;

  int vocab_size() const { return static_cast<int>(tokens_.size()); }
  const std::string& TokenText(TokenId id) const { return tokens_.at(id); }
  TokenId bos() const { return bos_; }  // -1 when the model has none
  TokenId eos() const { return eos_; }
  bool adds_bos() const { return add_bos_; }
  // End-of-generation: EOS, tokenizer.ggml.eot_token_id, and every control or
  // user-defined token whose text is one of <|im_end|>, <|eot_id|>,
  // <|end_of_text|>, <|endoftext|>, <end_of_turn>, </s>, <|end|>. (The text
  // rule makes ChatML chat stop at <|im_end|> even when a file's EOS is
  // another token; SmolLM2's is <|im_end|> itself.)
  bool IsEndOfGeneration(TokenId id) const;
  const std::vector<TokenId>& end_of_generation() const { return end_of_generation_; }
  // Id of an exact token text, or -1.
  TokenId Find(std::string_view token_text) const;
  // The text of a whole sequence, as valid UTF-8 (see StreamingDecoder). For
  // SentencePiece models with add_space_prefix, the leading space of the
  // first token that is not a control token is dropped when that is a normal
  // token starting with U+2581, as sentencepiece's Decode does.
  std::string Decode(const std::vector<TokenId>& ids) const;

 protected:
  // A run of ordinary text, or (token >= 0) one special token found in it.
  struct Fragment {
    std::string_view text;
    TokenId token = -1;
  };

  // Reads the vocabulary, token types, BOS/EOS, add_bos (absent key:
  // `default_add_bos`) and the end-of-generation set.
  void LoadVocabulary(const gguf::File& file, bool default_add_bos);
  // Appends the ids of a piece of text between special tokens; `at_input_start`
  // when the piece begins the text given to Encode.
  virtual void EncodeFragment(std::string_view fragment, bool at_input_start,
                              std::vector<TokenId>& ids) const = 0;

  // Splits `text` at the special tokens Encode matches (longest match first).
  std::vector<Fragment> SplitOnSpecialTokens(std::string_view text, bool parse_special) const;
  TokenType Type(TokenId id) const { return static_cast<TokenType>(token_types_[id]); }
  // Throws ri::Error unless 0 <= id < vocab_size().
  void CheckId(TokenId id) const;

  std::vector<std::string> tokens_;
  std::vector<int32_t> token_types_;  // tokenizer.ggml.token_type (1 normal, 3 control, 6 byte, ...)
  TokenId bos_ = -1;
  TokenId eos_ = -1;
  bool add_bos_ = false;
  std::vector<TokenId> end_of_generation_;
  TokenIdMap ids_;  // token text -> first id with that text
  // Special tokens Encode matches in raw text, by first byte, longest first.
  std::array<std::vector<TokenId>, 256> specials_by_first_byte_;
  bool drop_leading_space_ = false;  // Decode's SentencePiece rule
};

// Turns a stream of token ids into text pieces that are always valid UTF-8:
// bytes of a character split across tokens are held back until complete, and
// ill-formed bytes become U+FFFD, one per maximal ill-formed subpart (as
// Python's bytes.decode("utf-8", "replace")). The stream continues a text, so
// unlike Decode no leading space is dropped.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // Returns the text that became complete with this token (maybe empty).
  std::string Push(TokenId id);
  // Returns what is left (invalid trailing bytes become U+FFFD).
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace ri
