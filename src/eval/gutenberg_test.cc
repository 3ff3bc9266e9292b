// The Gutenberg stripper on crafted texts and on the real books of the
// evaluation data.
#include "eval/gutenberg.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "eval/files.h"
#include "util/error.h"

namespace ri::eval {
namespace {

TEST(GutenbergTest, KeepsOnlyTheTextBetweenTheMarkers) {
  const std::string text =
      "The Project Gutenberg eBook of Tests\r\n\r\nRelease date: 2024\r\n"
      "*** START OF THE PROJECT GUTENBERG EBOOK TESTS ***\r\n\r\n\r\n"
      "CHAPTER I.\r\nIt was a dark night.\r\n\r\nThe end.\r\n\r\n"
      "*** END OF THE PROJECT GUTENBERG EBOOK TESTS ***\r\n\r\nSection 1. License...\r\n";
  EXPECT_EQ(StripGutenberg("\xEF\xBB\xBF" + text), "CHAPTER I.\nIt was a dark night.\n\nThe end.");
  EXPECT_EQ(StripGutenberg(text), "CHAPTER I.\nIt was a dark night.\n\nThe end.");
}

TEST(GutenbergTest, AcceptsOlderMarkersAndBareCarriageReturns) {
  EXPECT_EQ(StripGutenberg("header\r***START OF THIS PROJECT GUTENBERG EBOOK X***\rBody\r"
                           "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\rfooter"),
            "Body");
}

TEST(GutenbergTest, PlainTextIsOnlyNormalized) {
  EXPECT_EQ(StripGutenberg("\xEF\xBB\xBF  Just text,\r\nno markers.\r\n\r\n"),
            "Just text,\nno markers.");
  // A marker must open its line: a mention inside a sentence is not one.
  EXPECT_EQ(StripGutenberg("He wrote *** START OF nothing\n"), "He wrote *** START OF nothing");
  EXPECT_EQ(StripGutenberg(""), "");
}

TEST(GutenbergTest, RejectsAHalfOrReversedFrame) {
  EXPECT_THROW(StripGutenberg("*** START OF THE PROJECT GUTENBERG EBOOK X ***\nbody\n"), Error);
  EXPECT_THROW(StripGutenberg("body\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n"), Error);
  EXPECT_THROW(StripGutenberg("*** END OF X ***\nbody\n*** START OF X ***\n"), Error);
}

TEST(GutenbergTest, StripsTheRealBooks) {
  const std::filesystem::path books =
      std::filesystem::path(RETROINFER_SOURCE_DIR) / ".." / "shared" / "data" / "books";
  if (!std::filesystem::exists(books)) GTEST_SKIP() << "no evaluation data at " << books;
  // Each book's first and last words of the work itself (checked by hand).
  const struct {
    const char* file;
    const char* begins;
    const char* ends;
  } kBooks[] = {
      {"alice_in_wonderland.txt", "[Illustration]", "THE END"},
      {"carmilla.txt", "Carmilla", "Carmilla and Other Classic Tales of Mystery"},
      {"frankenstein.txt", "Frankenstein;", "lost in darkness and distance."},
      {"heart_of_darkness.txt", "Heart of Darkness",
       "to lead into the heart of an immense darkness."},
  };
  for (const auto& book : kBooks) {
    const std::string raw = ReadTextFile((books / book.file).string());
    const std::string text = StripGutenberg(raw);
    EXPECT_TRUE(text.starts_with(book.begins)) << book.file << ": " << text.substr(0, 80);
    EXPECT_TRUE(text.ends_with(book.ends)) << book.file << ": " << text.substr(text.size() - 80);
    EXPECT_EQ(text.find("PROJECT GUTENBERG"), std::string::npos) << book.file;
    EXPECT_EQ(text.find("Project Gutenberg"), std::string::npos) << book.file;
    EXPECT_EQ(text.find('\r'), std::string::npos) << book.file;
    EXPECT_GT(text.size(), raw.size() / 2) << book.file;
  }
  // Every book strips without error and keeps most of its text.
  for (const auto& entry : std::filesystem::directory_iterator(books)) {
    const std::string raw = ReadTextFile(entry.path().string());
    EXPECT_GT(StripGutenberg(raw).size(), raw.size() * 3 / 4) << entry.path();
  }
}

}  // namespace
}  // namespace ri::eval
