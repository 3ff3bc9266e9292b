#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <set>

#include "tokenizer/golden_test_util.h"

namespace ri {
namespace {

std::string FromHex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

TEST(Utf8, ReplacementMatchesPython) {
  const nlohmann::json golden = testing::ReadTokenizerGolden("utf8_replace.json");
  for (const auto& c : golden["cases"]) {
    const std::string bytes = FromHex(c["hex"]);
    std::string text;
    EXPECT_EQ(AppendValidUtf8(bytes, /*at_end=*/true, text), bytes.size());
    EXPECT_EQ(text, c["text"].get<std::string>()) << c["hex"];
  }
}

TEST(Utf8, CutOffCharacterIsKept) {
  std::string text;
  EXPECT_EQ(AppendValidUtf8("a\xF0\x9F\x98", /*at_end=*/false, text), 1u);
  EXPECT_EQ(text, "a");
  text.clear();
  EXPECT_EQ(AppendValidUtf8("a\xF0\x9F\x98", /*at_end=*/true, text), 4u);
  EXPECT_EQ(text, "a\xEF\xBF\xBD");
  // A byte that can never start a character is replaced at once.
  text.clear();
  EXPECT_EQ(AppendValidUtf8("a\xFF", /*at_end=*/false, text), 2u);
  EXPECT_EQ(text, "a\xEF\xBF\xBD");
}

TEST(Utf8, EncodeDecodeAllCodePoints) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string text;
    AppendUtf8(text, cp);
    const Utf8Unit unit = ScanUtf8(text, 0);
    ASSERT_EQ(unit.kind, Utf8Unit::kChar) << cp;
    ASSERT_EQ(unit.code_point, cp);
    ASSERT_EQ(static_cast<size_t>(unit.length), text.size());
  }
  EXPECT_EQ(ScanUtf8("\xED\xA0\x80", 0).kind, Utf8Unit::kInvalid);  // surrogate
  EXPECT_EQ(ScanUtf8("\xC0\xAF", 0).kind, Utf8Unit::kInvalid);      // overlong
  EXPECT_EQ(ScanUtf8("\xF4\x90\x80\x80", 0).kind, Utf8Unit::kInvalid);  // above U+10FFFF
}

TEST(ByteLevelAlphabet, IsGpt2Mapping) {
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = ByteToCodePoint(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(cp).second);
    EXPECT_EQ(CodePointToByte(cp), b);
  }
  EXPECT_EQ(ByteToCodePoint('A'), static_cast<uint32_t>('A'));
  EXPECT_EQ(ByteToCodePoint(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(ByteToCodePoint('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(ByteToCodePoint(0), 0x100u);
  EXPECT_EQ(ByteToCodePoint(0xAD), 0x143u);  // the last one
  EXPECT_EQ(CodePointToByte(0x144), -1);
  EXPECT_EQ(CodePointToByte(0x4E00), -1);
}

}  // namespace
}  // namespace ri
