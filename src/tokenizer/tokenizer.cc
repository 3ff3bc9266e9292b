#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer_models.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ri {

namespace {

// Texts of the end-of-turn / end-of-text tokens of the common chat formats.
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "</s>", "<|end|>",
};

// An optional token-id key: -1 when absent, ri::Error when out of range.
TokenId OptionalTokenId(const gguf::File& file, std::string_view key, size_t vocab_size) {
  if (file.Find(key) == nullptr) return -1;
  const uint64_t id = file.GetUint(key);
  if (id >= vocab_size) Fail("{} = {} is outside the vocabulary of {} tokens", key, id, vocab_size);
  return static_cast<TokenId>(id);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::FromGguf(const gguf::File& file) {
  if (file.Find("tokenizer.ggml.model") == nullptr) Fail("the GGUF file has no tokenizer (tokenizer.ggml.model)");
  const std::string model = file.GetString("tokenizer.ggml.model");
  if (model == "gpt2") return MakeBpeTokenizer(file);
  if (model == "llama") return MakeSpmTokenizer(file);
  Fail("unsupported tokenizer model (tokenizer.ggml.model) '{}'; supported: gpt2 (byte-level BPE), "
       "llama (SentencePiece BPE)",
       model);
}

void Tokenizer::LoadVocabulary(const gguf::File& file, bool default_add_bos) {
  tokens_ = file.GetStringArray("tokenizer.ggml.tokens");
  if (tokens_.empty()) Fail("the GGUF file has no tokenizer.ggml.tokens");
  if (tokens_.size() > static_cast<size_t>(INT32_MAX)) Fail("tokenizer.ggml.tokens has too many tokens");

  const std::vector<int64_t> types = file.GetIntArray("tokenizer.ggml.token_type");
  if (types.empty()) {
    token_types_.assign(tokens_.size(), kTokenNormal);
  } else if (types.size() != tokens_.size()) {
    Fail("tokenizer.ggml.token_type has {} entries for {} tokens", types.size(), tokens_.size());
  } else {
    token_types_.assign(types.begin(), types.end());
  }

  ids_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id) ids_.emplace(tokens_[id], static_cast<TokenId>(id));

  bos_ = OptionalTokenId(file, "tokenizer.ggml.bos_token_id", tokens_.size());
  eos_ = OptionalTokenId(file, "tokenizer.ggml.eos_token_id", tokens_.size());
  add_bos_ = file.GetBoolOr("tokenizer.ggml.add_bos_token", default_add_bos);

  end_of_generation_.clear();
  if (eos_ >= 0) end_of_generation_.push_back(eos_);
  const TokenId eot = OptionalTokenId(file, "tokenizer.ggml.eot_token_id", tokens_.size());
  if (eot >= 0) end_of_generation_.push_back(eot);
  for (std::string_view text : kEndOfGenerationTexts) {
    const TokenId id = Find(text);
    if (id >= 0 && (Type(id) == kTokenControl || Type(id) == kTokenUserDefined)) end_of_generation_.push_back(id);
  }
  std::sort(end_of_generation_.begin(), end_of_generation_.end());
  end_of_generation_.erase(std::unique(end_of_generation_.begin(), end_of_generation_.end()),
                           end_of_generation_.end());

  for (auto& bucket : specials_by_first_byte_) bucket.clear();
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const TokenType type = Type(static_cast<TokenId>(id));
    if (tokens_[id].empty() || (type != kTokenControl && type != kTokenUnknown && type != kTokenUserDefined)) {
      continue;
    }
    specials_by_first_byte_[static_cast<uint8_t>(tokens_[id][0])].push_back(static_cast<TokenId>(id));
  }
  for (auto& bucket : specials_by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(),
                     [&](TokenId a, TokenId b) { return tokens_[a].size() > tokens_[b].size(); });
  }
}

std::vector<Tokenizer::Fragment> Tokenizer::SplitOnSpecialTokens(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  size_t text_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    TokenId match = -1;
    for (TokenId id : specials_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      if ((parse_special || Type(id) == kTokenUserDefined) && text.substr(pos).starts_with(tokens_[id])) {
        match = id;
        break;
      }
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    if (pos > text_start) fragments.push_back({text.substr(text_start, pos - text_start)});
    fragments.push_back({text.substr(pos, tokens_[match].size()), match});
    pos += tokens_[match].size();
    text_start = pos;
  }
  if (text_start < text.size()) fragments.push_back({text.substr(text_start)});
  return fragments;
}

void Tokenizer::CheckId(TokenId id) const {
  if (id < 0 || id >= vocab_size()) Fail("token id {} is outside the vocabulary of {} tokens", id, vocab_size());
}

std::vector<TokenId> Tokenizer::Encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  std::vector<TokenId> ids;
  if (add_bos && add_bos_ && bos_ >= 0) ids.push_back(bos_);
  for (const Fragment& fragment : SplitOnSpecialTokens(text, parse_special)) {
    if (fragment.token >= 0) {
      ids.push_back(fragment.token);
    } else {
      EncodeFragment(fragment.text, fragment.text.data() == text.data(), ids);
    }
  }
  return ids;
}

bool Tokenizer::IsEndOfGeneration(TokenId id) const {
  return std::binary_search(end_of_generation_.begin(), end_of_generation_.end(), id);
}

TokenId Tokenizer::Find(std::string_view token_text) const {
  const auto it = ids_.find(token_text);
  return it == ids_.end() ? -1 : it->second;
}

std::string Tokenizer::Decode(const std::vector<TokenId>& ids) const {
  std::string bytes;
  bool at_start = drop_leading_space_;
  for (TokenId id : ids) {
    std::string piece = TokenBytes(id);
    if (at_start && Type(id) != kTokenControl) {
      at_start = false;
      if (Type(id) == kTokenNormal && piece.starts_with(' ')) piece.erase(0, 1);
    }
    bytes += piece;
  }
  std::string text;
  AppendValidUtf8(bytes, /*at_end=*/true, text);
  return text;
}

std::string StreamingDecoder::Push(TokenId id) {
  pending_ += tokenizer_.TokenBytes(id);
  std::string text;
  pending_.erase(0, AppendValidUtf8(pending_, /*at_end=*/false, text));
  return text;
}

std::string StreamingDecoder::Flush() {
  std::string text;
  AppendValidUtf8(pending_, /*at_end=*/true, text);
  pending_.clear();
  return text;
}

}  // namespace ri
