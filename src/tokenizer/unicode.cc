#include "tokenizer/unicode.h"

#include <array>

namespace ri {

Utf8Unit ScanUtf8(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) return {Utf8Unit::kChar, 1, lead};

  // Number of continuation bytes, the allowed range of the first one (which
  // excludes overlong forms, surrogates and code points above U+10FFFF), and
  // the payload bits of the lead byte.
  int continuation = 0;
  uint8_t first_lo = 0x80, first_hi = 0xBF;
  uint32_t code_point = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation = 2;
    code_point = lead & 0x0F;
    if (lead == 0xE0) first_lo = 0xA0;
    if (lead == 0xED) first_hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation = 3;
    code_point = lead & 0x07;
    if (lead == 0xF0) first_lo = 0x90;
    if (lead == 0xF4) first_hi = 0x8F;
  } else {
    return {Utf8Unit::kInvalid, 1, 0};
  }

  int length = 1;
  for (int i = 0; i < continuation; ++i) {
    if (pos + length >= text.size()) return {Utf8Unit::kIncomplete, length, 0};
    const uint8_t next = byte(pos + length);
    const uint8_t lo = i == 0 ? first_lo : 0x80;
    const uint8_t hi = i == 0 ? first_hi : 0xBF;
    if (next < lo || next > hi) return {Utf8Unit::kInvalid, length, 0};
    code_point = (code_point << 6) | (next & 0x3F);
    ++length;
  }
  return {Utf8Unit::kChar, length, code_point};
}

void AppendUtf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

size_t AppendValidUtf8(std::string_view bytes, bool at_end, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Unit unit = ScanUtf8(bytes, pos);
    if (unit.kind == Utf8Unit::kIncomplete && !at_end) break;
    if (unit.kind == Utf8Unit::kChar) {
      out.append(bytes.substr(pos, unit.length));
    } else {
      AppendUtf8(out, kReplacementChar);
    }
    pos += unit.length;
  }
  return pos;
}

namespace {

// GPT-2's bytes_to_unicode(): the printable ranges '!'..'~', U+00A1..U+00AC
// and U+00AE..U+00FF keep their value; the remaining bytes, in order, get
// U+0100, U+0101, ...
struct ByteLevelAlphabet {
  std::array<uint32_t, 256> to_code_point{};
  std::array<int16_t, 512> to_byte{};  // every code point used is < 0x144

  ByteLevelAlphabet() {
    to_byte.fill(-1);
    uint32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_code_point[b] = printable ? b : next_extra++;
      to_byte[to_code_point[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelAlphabet& Alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

}  // namespace

uint32_t ByteToCodePoint(uint8_t byte) { return Alphabet().to_code_point[byte]; }

int CodePointToByte(uint32_t code_point) {
  return code_point < Alphabet().to_byte.size() ? Alphabet().to_byte[code_point] : -1;
}

}  // namespace ri
