#include "eval/gutenberg.h"

#include <optional>

#include "util/error.h"

namespace ri::eval {

namespace {

std::string NormalizeLineEnds(std::string_view text) {
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (text.starts_with(kByteOrderMark)) text.remove_prefix(kByteOrderMark.size());
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Whether `line` opens with "***", optional spaces, then `word` followed by " OF".
bool IsMarkerLine(std::string_view line, std::string_view word) {
  if (!line.starts_with("***")) return false;
  line.remove_prefix(3);
  while (line.starts_with(' ')) line.remove_prefix(1);
  return line.starts_with(word) && line.substr(word.size()).starts_with(" OF");
}

struct Line {
  size_t begin;  // offset of the first character
  size_t end;    // offset just past the line's LF (or the text's end)
};

// The first line of `text` for which `is_marker` holds.
template <typename Predicate>
std::optional<Line> FindLine(std::string_view text, Predicate is_marker) {
  for (size_t begin = 0; begin < text.size();) {
    size_t newline = text.find('\n', begin);
    const size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    if (is_marker(text.substr(begin, end - begin))) return Line{begin, end};
    begin = end;
  }
  return std::nullopt;
}

std::string Trim(std::string_view text) {
  constexpr std::string_view kBlank = " \t\n";
  const size_t first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return "";
  return std::string(text.substr(first, text.find_last_not_of(kBlank) - first + 1));
}

}  // namespace

std::string StripGutenberg(std::string_view raw) {
  const std::string text = NormalizeLineEnds(raw);
  const auto start = FindLine(text, [](std::string_view l) { return IsMarkerLine(l, "START"); });
  const auto end = FindLine(text, [](std::string_view l) { return IsMarkerLine(l, "END"); });
  if (!start && !end) return Trim(text);
  if (!start) Fail("the text has a Gutenberg '*** END OF' line but no '*** START OF' line");
  if (!end) Fail("the text has a Gutenberg '*** START OF' line but no '*** END OF' line");
  if (end->begin < start->end) {
    Fail("the Gutenberg '*** END OF' line comes before the '*** START OF' line");
  }
  return Trim(std::string_view(text).substr(start->end, end->begin - start->end));
}

}  // namespace ri::eval
