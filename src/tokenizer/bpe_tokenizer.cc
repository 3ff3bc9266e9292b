// Byte-level BPE (GPT-2 style): special tokens are split off, the rest is cut
// into words by the pre-tokenizer regexes, each word's bytes start as the
// byte tokens of GPT-2's alphabet, and adjacent pairs are merged by the rank
// of their merge rule (lowest first, leftmost among equal ranks) until no
// rule applies, as Hugging Face tokenizers' BPE model does.
#include <array>
#include <queue>
#include <unordered_map>

#include "gguf/gguf_file.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_models.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ri {

namespace {

uint64_t PairKey(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(const gguf::File& file)
      : pre_tokenizer_(PreTokenizer::ForName(file.GetStringOr("tokenizer.ggml.pre", "default"))),
        whole_words_first_(UsesWholeWords(file.GetStringOr("tokenizer.ggml.pre", "default"))) {
    LoadVocabulary(file, /*default_add_bos=*/false);
    for (int byte = 0; byte < 256; ++byte) {
      std::string text;
      AppendUtf8(text, ByteToCodePoint(static_cast<uint8_t>(byte)));
      byte_tokens_[byte] = Find(text);  // -1 when missing (SmolLM2 lacks 21 bytes)
    }
    LoadMerges(file);
    token_bytes_.reserve(tokens_.size());
    for (size_t id = 0; id < tokens_.size(); ++id) token_bytes_.push_back(ComputeTokenBytes(static_cast<TokenId>(id)));
  }

  void EncodeFragment(std::string_view fragment, bool /*at_input_start*/,
                      std::vector<TokenId>& ids) const override {
    for (std::string_view word : pre_tokenizer_.Split(fragment)) EncodeWord(word, ids);
  }

  std::string TokenBytes(TokenId id) const override {
    CheckId(id);
    return token_bytes_[id];
  }

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };

  void LoadMerges(const gguf::File& file) {
    const std::vector<std::string> merges = file.GetStringArray("tokenizer.ggml.merges");
    if (merges.empty()) Fail("byte-level BPE tokenizer without tokenizer.ggml.merges");
    merges_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& merge = merges[rank];
      // Tokens never contain a space (it is 'Ġ' in GPT-2's alphabet), but a
      // first token could be one; so the separator is searched from index 1.
      const size_t space = merge.find(' ', 1);
      if (space == std::string::npos) {
        Fail("tokenizer.ggml.merges[{}] '{}' is not two tokens separated by a space", rank, merge);
      }
      const std::string_view left(merge.data(), space);
      const std::string_view right(merge.data() + space + 1, merge.size() - space - 1);
      const TokenId left_id = Find(left);
      const TokenId right_id = Find(right);
      const TokenId result = Find(std::string(left) + std::string(right));
      if (left_id < 0 || right_id < 0 || result < 0) {
        Fail("tokenizer.ggml.merges[{}] '{}' uses a token missing from the vocabulary", rank, merge);
      }
      merges_.emplace(PairKey(left_id, right_id), Merge{static_cast<int32_t>(rank), result});
    }
  }

  // Normal tokens are spelled in GPT-2's byte alphabet; special and
  // user-defined ones are stored as their raw text.
  std::string ComputeTokenBytes(TokenId id) const {
    const std::string& text = tokens_[id];
    const TokenType type = Type(id);
    if (type == kTokenControl || type == kTokenUnknown || type == kTokenUserDefined) return text;
    std::string bytes;
    size_t pos = 0;
    while (pos < text.size()) {
      const Utf8Unit unit = ScanUtf8(text, pos);
      const int byte = unit.kind == Utf8Unit::kChar ? CodePointToByte(unit.code_point) : -1;
      if (byte >= 0) {
        bytes += static_cast<char>(byte);
      } else {
        bytes.append(text, pos, unit.length);  // not in the alphabet: kept as is
      }
      pos += unit.length;
    }
    return bytes;
  }

  // Llama 3's tokenizer ("ignore_merges") takes a word that is a token as a
  // whole, whatever the merges would make of it.
  static bool UsesWholeWords(std::string_view pre) { return pre == "llama-bpe" || pre == "llama3"; }

  // Bytes the vocabulary has no token for are dropped, as Hugging Face's BPE
  // does when it has no unknown token (the GGUF conversion sets none).
  void EncodeWord(std::string_view word, std::vector<TokenId>& ids) const {
    if (whole_words_first_) {
      std::string text;
      for (char byte : word) AppendUtf8(text, ByteToCodePoint(static_cast<uint8_t>(byte)));
      const TokenId whole = Find(text);
      if (whole >= 0) {
        ids.push_back(whole);
        return;
      }
    }
    // Symbols form a linked list over the word's bytes; a merged-away symbol
    // gets id -1. Candidates are validated when popped (stale ones skipped).
    struct Symbol {
      TokenId id;
      int prev;
      int next;
    };
    struct Candidate {
      int32_t rank;
      int left;
      TokenId left_id;
      TokenId right_id;
      TokenId result;
      bool operator>(const Candidate& other) const {
        return rank != other.rank ? rank > other.rank : left > other.left;
      }
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    for (char byte : word) {
      const TokenId id = byte_tokens_[static_cast<uint8_t>(byte)];
      if (id < 0) continue;
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({id, index - 1, -1});
      if (index > 0) symbols[index - 1].next = index;
    }
    const int n = static_cast<int>(symbols.size());
    if (n == 0) return;
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto push_pair = [&](int left) {
      const int right = symbols[left].next;
      if (right < 0) return;
      const auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
      if (it == merges_.end()) return;
      queue.push({it->second.rank, left, symbols[left].id, symbols[right].id, it->second.result});
    };
    for (int i = 0; i + 1 < n; ++i) push_pair(i);

    while (!queue.empty()) {
      const Candidate candidate = queue.top();
      queue.pop();
      Symbol& left = symbols[candidate.left];
      if (left.id != candidate.left_id || left.next < 0 || symbols[left.next].id != candidate.right_id) continue;
      Symbol& right = symbols[left.next];
      left.id = candidate.result;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = candidate.left;
      right.id = -1;
      if (left.prev >= 0) push_pair(left.prev);
      push_pair(candidate.left);
    }
    for (int i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
  }

  PreTokenizer pre_tokenizer_;
  bool whole_words_first_;
  std::array<TokenId, 256> byte_tokens_{};
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> rule
  std::vector<std::string> token_bytes_;
};

}  // namespace

std::unique_ptr<Tokenizer> MakeBpeTokenizer(const gguf::File& file) { return std::make_unique<BpeTokenizer>(file); }

}  // namespace ri
