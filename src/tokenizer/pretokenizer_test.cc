#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "tokenizer/golden_test_util.h"
#include "util/error.h"

namespace ri {
namespace {

std::vector<std::string> Strings(const std::vector<std::string_view>& views) {
  return std::vector<std::string>(views.begin(), views.end());
}

TEST(PreTokenizer, MatchesPythonRegexSplits) {
  const nlohmann::json golden = testing::ReadTokenizerGolden("pretokenizer_splits.json");
  const std::map<std::string, std::vector<std::string>> names = {
      {"gpt2", {"gpt2", "default"}}, {"llama3", {"llama3", "llama-bpe"}}, {"qwen2", {"qwen2"}}, {"smollm", {"smollm"}}};
  ASSERT_EQ(golden["regexes"].size(), names.size());
  for (const auto& [scheme, aliases] : names) {
    for (const std::string& name : aliases) {
      const PreTokenizer pre = PreTokenizer::ForName(name);
      for (const auto& c : golden["cases"]) {
        const std::string text = c["text"];
        EXPECT_EQ(Strings(pre.Split(text)), c["splits"][scheme].get<std::vector<std::string>>())
            << name << " on case " << c["name"];
      }
    }
  }
}

TEST(PreTokenizer, DigitSchemesDiffer) {
  EXPECT_EQ(Strings(PreTokenizer::ForName("gpt2").Split("a 12345")), (std::vector<std::string>{"a", " 12345"}));
  EXPECT_EQ(Strings(PreTokenizer::ForName("llama3").Split("a 12345")),
            (std::vector<std::string>{"a", " ", "123", "45"}));
  EXPECT_EQ(Strings(PreTokenizer::ForName("smollm").Split("a  1")), (std::vector<std::string>{"a", "  ", "1"}));
}

TEST(PreTokenizer, IllFormedUtf8IsIsolated) {
  const PreTokenizer pre = PreTokenizer::ForName("gpt2");
  EXPECT_EQ(Strings(pre.Split("ab\xFF" "cd \xE6\x97")), (std::vector<std::string>{"ab", "\xFF", "cd", " ", "\xE6\x97"}));
  EXPECT_TRUE(pre.Split("").empty());
}

TEST(PreTokenizer, GapsAreKept) {
  // A regex that matches only letters still covers the whole text.
  const PreTokenizer pre({R"(\p{L}+)"});
  EXPECT_EQ(Strings(pre.Split("12ab 3é")), (std::vector<std::string>{"12", "ab", " 3", "é"}));
  // Empty matches split nothing.
  const PreTokenizer empty_matches({"x*"});
  EXPECT_EQ(Strings(empty_matches.Split("abxxc")), (std::vector<std::string>{"ab", "xx", "c"}));
}

TEST(PreTokenizer, ErrorsNameTheProblem) {
  try {
    PreTokenizer::ForName("tekken");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("supported: default, gpt2, smollm, llama-bpe, llama3, qwen2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(PreTokenizer({"(unclosed"}), Error);
}

TEST(PreTokenizer, LongRunsAreFast) {
  const std::vector<std::string> texts = {std::string(200000, ' '), std::string(200000, '\n'),
                                          std::string(200000, '!'), std::string(200000, 'x')};
  for (std::string_view name : {"gpt2", "llama3", "qwen2", "smollm"}) {
    const PreTokenizer pre = PreTokenizer::ForName(name);
    for (const std::string& text : texts) {
      const auto start = std::chrono::steady_clock::now();
      std::string joined;
      for (std::string_view piece : pre.Split(text)) joined += piece;
      EXPECT_EQ(joined, text);
      EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0) << name;
    }
  }
}

}  // namespace
}  // namespace ri
