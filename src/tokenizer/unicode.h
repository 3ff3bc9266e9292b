// UTF-8 scanning and the GPT-2 byte <-> character mapping used by the
// tokenizers. Text is never trusted to be valid UTF-8: every function here
// says what it does with ill-formed bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ri {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// What starts at some position of a byte string.
struct Utf8Unit {
  enum Kind {
    kChar,        // a well-formed character of `length` bytes (`code_point`)
    kInvalid,     // an ill-formed maximal subpart of `length` >= 1 bytes
    kIncomplete,  // the last `length` bytes begin a character that is cut off
  };
  Kind kind;
  int length;
  uint32_t code_point;  // only for kChar
};

// Classifies the bytes at `pos` (< text.size()). Ill-formed input is split
// into maximal subparts as in the Unicode standard (section 3.9, "U+FFFD
// substitution of maximal subparts"), which is what Python's
// bytes.decode("utf-8", "replace") does.
Utf8Unit ScanUtf8(std::string_view text, size_t pos);

void AppendUtf8(std::string& out, uint32_t code_point);

// Appends `bytes` to `out` with each ill-formed subpart replaced by U+FFFD.
// Unless `at_end`, a character cut off at the end of `bytes` is left
// unconsumed (it may complete later). Returns the number of bytes consumed.
size_t AppendValidUtf8(std::string_view bytes, bool at_end, std::string& out);

// GPT-2's byte-level alphabet: each byte is shown as a printable character
// (printable Latin-1 bytes stand for themselves, the others map to U+0100..).
uint32_t ByteToCodePoint(uint8_t byte);
// The byte a character of that alphabet stands for, or -1.
int CodePointToByte(uint32_t code_point);

}  // namespace ri
