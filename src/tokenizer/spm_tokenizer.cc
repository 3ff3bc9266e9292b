// SentencePiece-style BPE (Llama 2, Mistral, Gemma GGUFs). Each run of text
// between special tokens has its spaces replaced by U+2581 ("▁"); the run at
// the very start of the input also gets a "▁" prepended when
// add_space_prefix (sentencepiece's add_dummy_prefix; like transformers'
// Metaspace "first" scheme, text after a special token gets none). The run's
// characters are then merged pairwise, always the adjacent pair whose
// concatenation is the vocabulary piece with the highest score (leftmost
// among equal scores), as sentencepiece's BPE model does. Characters left
// without a piece become their UTF-8 bytes' <0xNN> tokens (byte fallback), or
// the unknown token. As with sentencepiece, a "▁" in the input is a space.
// Only difference from sentencepiece found (besides parsing control tokens,
// which it never does): input starting with a user-defined token gets no
// space prefix, as in transformers.
#include <array>
#include <queue>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer_models.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ri {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = text.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(text.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(text.substr(pos));
  return out;
}

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(const gguf::File& file) {
    LoadVocabulary(file, /*default_add_bos=*/true);
    scores_ = file.GetFloatArray("tokenizer.ggml.scores");
    if (scores_.size() != tokens_.size()) {
      Fail("tokenizer.ggml.scores has {} entries for {} tokens", scores_.size(), tokens_.size());
    }
    if (file.Find("tokenizer.ggml.unknown_token_id") != nullptr) {
      const uint64_t unk = file.GetUint("tokenizer.ggml.unknown_token_id");
      if (unk >= tokens_.size()) Fail("tokenizer.ggml.unknown_token_id = {} is outside the vocabulary", unk);
      unk_ = static_cast<TokenId>(unk);
    }
    add_space_prefix_ = file.GetBoolOr("tokenizer.ggml.add_space_prefix", true);
    drop_leading_space_ = add_space_prefix_;
    for (int byte = 0; byte < 256; ++byte) {
      const TokenId id = Find(fmt::format("<0x{:02X}>", byte));
      byte_tokens_[byte] = id >= 0 && Type(id) == kTokenByte ? id : -1;
    }
    // Normal pieces stand for their text with "▁" as space; byte tokens for
    // their byte; control, unknown and user-defined tokens for their text.
    token_bytes_.reserve(tokens_.size());
    for (size_t id = 0; id < tokens_.size(); ++id) {
      const TokenType type = Type(static_cast<TokenId>(id));
      const bool verbatim = type == kTokenControl || type == kTokenUnknown || type == kTokenUserDefined ||
                            type == kTokenByte;
      token_bytes_.push_back(verbatim ? tokens_[id] : ReplaceAll(tokens_[id], kSpaceMark, " "));
    }
    for (int byte = 0; byte < 256; ++byte) {
      if (byte_tokens_[byte] >= 0) token_bytes_[byte_tokens_[byte]] = std::string(1, static_cast<char>(byte));
    }
  }

  void EncodeFragment(std::string_view fragment, bool at_input_start,
                      std::vector<TokenId>& ids) const override {
    std::string escaped = add_space_prefix_ && at_input_start ? std::string(kSpaceMark) : std::string();
    escaped += ReplaceAll(fragment, " ", kSpaceMark);
    EncodeRun(escaped, ids);
  }

  std::string TokenBytes(TokenId id) const override {
    CheckId(id);
    return token_bytes_[id];
  }

 private:
  // Id of a piece BPE may produce (normal or user-defined), or -1.
  TokenId PieceId(std::string_view piece) const {
    const TokenId id = Find(piece);
    return id >= 0 && (Type(id) == kTokenNormal || Type(id) == kTokenUserDefined) ? id : -1;
  }

  void EncodeRun(std::string_view text, std::vector<TokenId>& ids) const {
    // Symbols are spans of `text` in a linked list; a merged-away symbol has
    // length 0. A candidate is stale when its symbols changed since it was
    // queued, which always makes their total length differ from `length`.
    struct Symbol {
      int start;
      int length;
      int prev;
      int next;
    };
    struct Candidate {
      float score;
      int left;
      int length;
      bool operator<(const Candidate& other) const {
        return score != other.score ? score < other.score : left > other.left;
      }
    };
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
      const int length = ScanUtf8(text, pos).length;
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({static_cast<int>(pos), length, index - 1, -1});
      if (index > 0) symbols[index - 1].next = index;
      pos += length;
    }
    if (symbols.empty()) return;

    std::priority_queue<Candidate> queue;
    const auto push_pair = [&](int left) {
      const int right = symbols[left].next;
      if (right < 0) return;
      const int length = symbols[left].length + symbols[right].length;
      const TokenId id = PieceId(text.substr(symbols[left].start, length));
      if (id >= 0) queue.push({scores_[id], left, length});
    };
    for (size_t i = 0; i + 1 < symbols.size(); ++i) push_pair(static_cast<int>(i));

    while (!queue.empty()) {
      const Candidate candidate = queue.top();
      queue.pop();
      Symbol& left = symbols[candidate.left];
      if (left.length == 0 || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      if (left.length + right.length != candidate.length) continue;
      left.length = candidate.length;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = candidate.left;
      right.length = 0;
      if (left.prev >= 0) push_pair(left.prev);
      push_pair(candidate.left);
    }

    for (int i = 0; i >= 0; i = symbols[i].next) {
      const std::string_view piece = text.substr(symbols[i].start, symbols[i].length);
      const TokenId id = PieceId(piece);
      if (id >= 0) {
        ids.push_back(id);
      } else {
        AppendFallback(piece, ids);
      }
    }
  }

  void AppendFallback(std::string_view piece, std::vector<TokenId>& ids) const {
    bool has_all_bytes = true;
    for (char c : piece) has_all_bytes = has_all_bytes && byte_tokens_[static_cast<uint8_t>(c)] >= 0;
    if (has_all_bytes) {
      for (char c : piece) ids.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
    } else if (unk_ >= 0) {
      ids.push_back(unk_);
    } else {
      Fail("cannot encode '{}': no token, byte token or unknown token for it", piece);
    }
  }

  std::vector<float> scores_;
  std::array<TokenId, 256> byte_tokens_{};  // <0xNN> tokens, -1 when missing
  TokenId unk_ = -1;
  bool add_space_prefix_ = true;
  std::vector<std::string> token_bytes_;
};

}  // namespace

std::unique_ptr<Tokenizer> MakeSpmTokenizer(const gguf::File& file) { return std::make_unique<SpmTokenizer>(file); }

}  // namespace ri
