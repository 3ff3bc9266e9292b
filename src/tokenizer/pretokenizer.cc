#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ri {

namespace {

// The regexes published with each tokenizer (GPT-2's as in Hugging Face's
// ByteLevel pre-tokenizer, which adds the final "\s+" to OpenAI's).
constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kDigitRegex = R"(\p{N})";

std::string Pcre2ErrorText(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return fmt::format("error {}", code);
  return reinterpret_cast<const char*>(buffer);
}

struct Piece {
  std::string_view text;
  bool valid_utf8;
};

// Splits off each ill-formed UTF-8 subpart as a piece of its own.
std::vector<Piece> SplitInvalidUtf8(std::string_view text) {
  std::vector<Piece> pieces;
  size_t run_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Unit unit = ScanUtf8(text, pos);
    if (unit.kind == Utf8Unit::kChar) {
      pos += unit.length;
      continue;
    }
    if (pos > run_start) pieces.push_back({text.substr(run_start, pos - run_start), true});
    pieces.push_back({text.substr(pos, unit.length), false});
    pos += unit.length;
    run_start = pos;
  }
  if (pos > run_start) pieces.push_back({text.substr(run_start, pos - run_start), true});
  return pieces;
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* match) const { pcre2_match_data_free(match); }
};
using MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }

  // Appends the matches of this regex in `text` (well-formed UTF-8) and the
  // gaps between them. Empty matches split nothing.
  void Split(std::string_view text, pcre2_match_data* match, std::vector<Piece>& out) const {
    size_t gap_start = 0;
    size_t search = 0;
    while (search < text.size()) {
      const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), search,
                                 PCRE2_NO_UTF_CHECK, match, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) Fail("pre-tokenizer regex match failed: {}", Pcre2ErrorText(rc));
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
      const size_t start = ovector[0];
      const size_t end = ovector[1];
      if (end == start) {
        search = start + ScanUtf8(text, start).length;
        continue;
      }
      if (start > gap_start) out.push_back({text.substr(gap_start, start - gap_start), true});
      out.push_back({text.substr(start, end - start), true});
      gap_start = search = end;
    }
    if (gap_start < text.size()) out.push_back({text.substr(gap_start), true});
  }
};

PreTokenizer PreTokenizer::ForName(std::string_view name) {
  if (name == "default" || name == "gpt2") return PreTokenizer({std::string(kGpt2Regex)});
  if (name == "smollm") return PreTokenizer({std::string(kDigitRegex), std::string(kGpt2Regex)});
  if (name == "llama-bpe" || name == "llama3") return PreTokenizer({std::string(kLlama3Regex)});
  if (name == "qwen2") return PreTokenizer({std::string(kQwen2Regex)});
  Fail("unsupported pre-tokenizer (tokenizer.ggml.pre) '{}'; supported: default, gpt2, smollm, "
       "llama-bpe, llama3, qwen2",
       name);
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    auto regex = std::make_unique<Regex>();
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
    if (regex->code == nullptr) {
      Fail("pre-tokenizer regex '{}' does not compile at offset {}: {}", pattern, error_offset,
           Pcre2ErrorText(error));
    }
    // JIT is an optimization only: without it (unsupported platform or
    // library built without JIT) pcre2_match interprets the pattern.
    pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);
    regexes_.push_back(std::move(regex));
  }
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<Piece> pieces = SplitInvalidUtf8(text);
  std::vector<Piece> next;
  for (const auto& regex : regexes_) {
    next.clear();
    // Match data is per call, so one PreTokenizer serves several threads.
    MatchData match(pcre2_match_data_create_from_pattern(regex->code, nullptr));
    if (match == nullptr) Fail("pre-tokenizer: out of memory for regex match data");
    for (const Piece& piece : pieces) {
      if (piece.valid_utf8) {
        regex->Split(piece.text, match.get(), next);
      } else {
        next.push_back(piece);
      }
    }
    std::swap(pieces, next);
  }
  std::vector<std::string_view> result;
  result.reserve(pieces.size());
  for (const Piece& piece : pieces) result.push_back(piece.text);
  return result;
}

}  // namespace ri
