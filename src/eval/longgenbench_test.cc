// LongGenBench: answer splitting and parsing on crafted model outputs, the
// CSV reader, and prompts built from the real data files.
#include "eval/longgenbench.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "util/error.h"

namespace ri::eval {
namespace {

using Answers = std::vector<std::optional<std::string>>;

TEST(LongGenBenchTest, SplitsAnswersByTheirMarkers) {
  const std::string output =
      "Answer_9:\nJanet has 16 - 3 - 4 = 9 eggs.\nThe answer is 18.\n\n"
      "Answer_10 :\nIt takes 3 bolts.\nThe answer is 3.\n\n"
      "Answer_11:\nThe answer is 70,000.";
  const Answers answers = SplitAnswers(output, 9, 3);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0], "Janet has 16 - 3 - 4 = 9 eggs.\nThe answer is 18.");
  EXPECT_EQ(answers[1], "It takes 3 bolts.\nThe answer is 3.");
  EXPECT_EQ(answers[2], "The answer is 70,000.");
}

TEST(LongGenBenchTest, MissingRepeatedAndStrayAnswers) {
  // Answer_10 is missing; Answer_9 appears twice (the first counts); the
  // model goes on to invent a question, which ends the answer before it;
  // "Answer_1" is not "Answer_11"; a marker without a colon is no answer.
  const std::string output =
      "Some preamble 5.\nAnswer_9: first 7\nAnswer_9: second 8\n"
      "Answer_1: example 1\nAnswer_11: eleven is 11\nQuestion_12: what is 99?\n"
      "Answer_12 twelve 12";
  const Answers answers = SplitAnswers(output, 9, 4);
  EXPECT_EQ(answers[0], "first 7");
  EXPECT_EQ(answers[1], std::nullopt);
  EXPECT_EQ(answers[2], "eleven is 11");
  EXPECT_EQ(answers[3], std::nullopt);
  EXPECT_EQ(SplitAnswers("", 9, 2), (Answers{std::nullopt, std::nullopt}));
  EXPECT_EQ(SplitAnswers("no markers at all, the answer is 4", 9, 1), Answers{std::nullopt});
  EXPECT_EQ(SplitAnswers("Answer_9:", 9, 1), Answers{""});
  // The first blank line ends an answer; blank lines before it do not.
  EXPECT_EQ(SplitAnswers("Answer_9:\n\n  The answer is (D).\n\nThe answer is (A).", 9, 1),
            Answers{"The answer is (D)."});
}

TEST(LongGenBenchTest, LastNumberHandlesCommasSignsAndDecimals) {
  EXPECT_EQ(LastNumber("The answer is 18."), "18");
  EXPECT_EQ(LastNumber("So 1,234 + 5 = 1,239.\nThe answer is 1,239"), "1239");
  EXPECT_EQ(LastNumber("She earns $70,000,000 a year"), "70000000");
  EXPECT_EQ(LastNumber("It costs $18.50 each"), "18.5");
  EXPECT_EQ(LastNumber("7.0 hours"), "7");
  EXPECT_EQ(LastNumber("a change of -5 degrees"), "-5");
  EXPECT_EQ(LastNumber("21 - 15 = 6"), "6");    // a subtraction, not a sign
  EXPECT_EQ(LastNumber("x-5"), "5");            // after a word: a hyphen
  EXPECT_EQ(LastNumber("pick 3,4 or 5"), "5");  // "3,4" are two numbers
  EXPECT_EQ(LastNumber("3,4"), "4");
  EXPECT_EQ(LastNumber("12,3456"), "3456");  // not a thousands group
  EXPECT_EQ(LastNumber("only 007 left"), "7");
  EXPECT_EQ(LastNumber("about .5 of it"), "0.5");
  EXPECT_EQ(LastNumber("The answer is 5. Then we stop"), "5");
  EXPECT_EQ(LastNumber("no digits here"), std::nullopt);
  EXPECT_EQ(LastNumber(""), std::nullopt);
  EXPECT_EQ(ParseAnswer(LongGenTask::kGsm8k, "= 2,000 - 1,500 = 500 dollars."), "500");
}

TEST(LongGenBenchTest, ChoiceLetterPrefersParentheses) {
  EXPECT_EQ(ChoiceLetter("The answer is (B)."), "B");
  EXPECT_EQ(ChoiceLetter("(A) is wrong because of X. The answer is (C)"), "C");
  EXPECT_EQ(ChoiceLetter("(D) fits. A short note: B is tempting"), "D");
  EXPECT_EQ(ChoiceLetter("B"), "B");
  EXPECT_EQ(ChoiceLetter("The answer is D."), "D");
  EXPECT_EQ(ChoiceLetter("Because Bob and DNA and ABC"), std::nullopt);  // inside words
  EXPECT_EQ(ChoiceLetter("The answer is E."), std::nullopt);
  EXPECT_EQ(ChoiceLetter(""), std::nullopt);
  EXPECT_EQ(ParseAnswer(LongGenTask::kMmlu, "I think it is (A)"), "A");
}

TEST(LongGenBenchTest, ParsesCsv) {
  const auto rows = ParseCsv(
      "plain,\"with, comma\",\"say \"\"hi\"\"\"\r\n"
      "\"two\nlines\",,last\n"
      "\n"
      "no newline at end");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"plain", "with, comma", "say \"hi\""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"two\nlines", "", "last"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"no newline at end"}));
  EXPECT_THROW(ParseCsv("a,\"open"), Error);
  EXPECT_THROW(ParseCsv("\"closed\"junk,b"), Error);
}

TEST(LongGenBenchTest, TaskNames) {
  EXPECT_EQ(ParseLongGenTask("gsm8k"), LongGenTask::kGsm8k);
  EXPECT_EQ(LongGenTaskName(ParseLongGenTask("mmlu")), "mmlu");
  EXPECT_THROW(ParseLongGenTask("csqa"), Error);
}

std::string DataDir() {
  return (std::filesystem::path(RETROINFER_SOURCE_DIR) / ".." / "shared" / "data").string();
}

TEST(LongGenBenchTest, BuildsGsm8kPromptsFromTheData) {
  if (!std::filesystem::exists(DataDir())) GTEST_SKIP() << "no evaluation data";
  const auto samples = LoadLongGenSamples(LongGenTask::kGsm8k, DataDir(), 4, 2);
  ASSERT_EQ(samples.size(), 2u);
  const LongGenSample& first = samples[0];
  EXPECT_EQ(first.name, "gsm8k 1-4");
  EXPECT_EQ(first.first_index, 9);
  ASSERT_EQ(first.questions.size(), 4u);
  // The first GSM8K test problem (Janet's ducks) has gold answer 18.
  EXPECT_TRUE(first.questions[0].text.starts_with("Janet"));
  EXPECT_EQ(first.questions[0].gold, "18");
  EXPECT_TRUE(first.system.starts_with("Answer each question step by step"));
  EXPECT_TRUE(first.user.starts_with("Examples: \nQuestion_1: \nThere are 15 trees"));
  const size_t following =
      first.user.find("The answer is 8.\n\nFollowing Question: \nQuestion_9:\n");
  EXPECT_NE(following, std::string::npos);
  EXPECT_NE(first.user.find("\nQuestion_12:\n"), std::string::npos);
  EXPECT_EQ(first.user.find("Question_13"), std::string::npos);
  EXPECT_TRUE(first.user.ends_with("\n\n"));
  EXPECT_EQ(samples[1].name, "gsm8k 5-8");
  // All 1319 problems in batches of 4: 330 prompts, the last with 3 questions.
  const auto all = LoadLongGenSamples(LongGenTask::kGsm8k, DataDir(), 4, 0);
  ASSERT_EQ(all.size(), 330u);
  EXPECT_EQ(all.back().questions.size(), 3u);
  for (const auto& sample : all) {
    for (const auto& question : sample.questions) ASSERT_FALSE(question.gold.empty());
  }
  EXPECT_THROW(LoadLongGenSamples(LongGenTask::kGsm8k, "/nonexistent", 4, 1), Error);
}

TEST(LongGenBenchTest, BuildsMmluPromptsFromTheData) {
  if (!std::filesystem::exists(DataDir())) GTEST_SKIP() << "no evaluation data";
  const auto samples = LoadLongGenSamples(LongGenTask::kMmlu, DataDir(), 3, 2);
  ASSERT_EQ(samples.size(), 2u);
  const LongGenSample& first = samples[0];
  EXPECT_EQ(first.name, "mmlu abstract_algebra");
  EXPECT_EQ(first.first_index, 6);
  ASSERT_EQ(first.questions.size(), 3u);
  for (const auto& question : first.questions) {
    EXPECT_TRUE(question.gold == "A" || question.gold == "B" || question.gold == "C" ||
                question.gold == "D");
    EXPECT_NE(question.text.find("\n(D) "), std::string::npos);
  }
  EXPECT_TRUE(first.system.ends_with("about abstract algebra."));
  // The first dev example's answer is B.
  EXPECT_NE(first.user.find("Answer_1:\nThe answer is (B).\n\n"), std::string::npos);
  EXPECT_NE(first.user.find("Following Question: \nQuestion_6:\n"), std::string::npos);
  EXPECT_NE(first.user.find("\nQuestion_8:\n"), std::string::npos);
  EXPECT_EQ(samples[1].name, "mmlu anatomy");
  EXPECT_EQ(LoadLongGenSamples(LongGenTask::kMmlu, DataDir(), 1, 0).size(), 57u);
}

}  // namespace
}  // namespace ri::eval
