// The progress line's numbers and the plain (non-terminal) reporting rhythm.
#include "eval/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace ri::eval {
namespace {

TEST(ProgressTest, FormatsDurations) {
  EXPECT_EQ(FormatDuration(0), "0:00");
  EXPECT_EQ(FormatDuration(7.4), "0:07");
  EXPECT_EQ(FormatDuration(754), "12:34");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-5), "0:00");
}

TEST(ProgressTest, FormatsTheLine) {
  // 25 of 100 in 10 s: 2.5/s, 75 left take 30 s.
  EXPECT_EQ(ProgressLine("ppl full", 25, 100, 10.0, 8),
            "[##------]  25%  25/100  2.5/s  ETA 0:30  ppl full");
  EXPECT_EQ(ProgressLine("x", 0, 10, 1.0, 4), "[----]   0%  0/10  0.0/s  ETA ?  x");
  EXPECT_EQ(ProgressLine("x", 10, 10, 5.0, 4), "[####] 100%  10/10  2.0/s  ETA 0:00  x");
}

std::string ReadAll(std::FILE* file) {
  std::rewind(file);
  std::string text;
  char buffer[256];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  return text;
}

TEST(ProgressTest, PlainOutputPrintsALineEveryTenth) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    Progress progress(200, file, /*terminal=*/false);
    progress.SetLabel("work");
    for (int i = 0; i < 200; ++i) progress.Advance();
    EXPECT_EQ(progress.done(), 200u);
    progress.Advance(5);  // never past the total
    EXPECT_EQ(progress.done(), 200u);
  }
  const std::string text = ReadAll(file);
  std::fclose(file);
  size_t lines = 0;
  for (const char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 10u) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find(" 10%  20/200"), std::string::npos) << text;
  EXPECT_NE(text.find("100%  200/200"), std::string::npos) << text;
}

TEST(ProgressTest, TerminalOutputRedrawsOneLine) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    Progress progress(3, file, /*terminal=*/true);
    progress.SetLabel("work");
    progress.Advance(3);
  }
  const std::string text = ReadAll(file);
  std::fclose(file);
  EXPECT_EQ(text.front(), '\r');
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1);  // one line, redrawn in place
  EXPECT_NE(text.find("100%  3/3"), std::string::npos);
}

}  // namespace
}  // namespace ri::eval
