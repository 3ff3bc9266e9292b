// LongGenBench (Liu et al., 2024): several questions concatenated after a
// few-shot prompt and answered in one long greedy generation, each answer
// introduced by "Answer_i:". The protocol is in ../shared/data/README.md;
// this file builds the prompts from the data files and parses the answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ri::eval {

enum class LongGenTask { kGsm8k, kMmlu };

// "gsm8k" or "mmlu"; throws ri::Error naming the known tasks otherwise.
LongGenTask ParseLongGenTask(std::string_view name);
std::string_view LongGenTaskName(LongGenTask task);

struct LongGenQuestion {
  std::string text;  // as put in the prompt (MMLU: with its lettered choices)
  std::string gold;  // a canonical number (GSM8K) or a letter A-D (MMLU)
};

// One prompt: a chat of a system and a user message, and its questions,
// numbered from `first_index` ("Question_9" and on for GSM8K after its
// 8-shot examples, "Question_6" and on for MMLU after its 5 examples).
struct LongGenSample {
  std::string name;  // e.g. "gsm8k 1-4", "mmlu abstract_algebra"
  std::string system;
  std::string user;
  int first_index = 0;
  std::vector<LongGenQuestion> questions;
};

// The samples of `questions_per_sample` consecutive questions each, from
// `data_dir` (holding gsm8k/test.jsonl and longgenbench/gsm8k_8shot_prompt.txt,
// or mmlu/dev and mmlu/test); at most `max_samples` of them (0: all).
// GSM8K: consecutive test questions, the last sample possibly shorter. MMLU:
// one sample per subject in name order, its first test questions after the
// subject's five dev examples, which are rendered as GSM8K's are: all
// "Question_i:" blocks, then "Answer_i:\nThe answer is (X)." blocks (the
// harness's chain-of-thought answers for MMLU are not in the data).
// Throws ri::Error for missing or malformed files.
std::vector<LongGenSample> LoadLongGenSamples(LongGenTask task, const std::string& data_dir,
                                              int questions_per_sample, int max_samples);

// The answer text of each question first_index, ..., first_index + count - 1
// in a generated output: the text after its first "Answer_<i>:" marker up to
// the first blank line (as in the harness and the examples), the next
// "Answer_<n>" or "Question_<n>" marker, or the end. Missing answers are
// nullopt.
std::vector<std::optional<std::string>> SplitAnswers(std::string_view output, int first_index,
                                                     int count);

// The last number in the text, canonical: thousands separators ("1,234") and
// a leading '+' removed, a '-' kept, trailing fractional zeros dropped
// ("18.50" -> "18.5", "7.0" -> "7"). nullopt when there is none.
std::optional<std::string> LastNumber(std::string_view text);

// The chosen letter A-D: the last "(X)"; else the last A-D standing alone
// (not inside a word or number). nullopt when there is none.
std::optional<std::string> ChoiceLetter(std::string_view text);

// The answer parsed from one answer text, as the task compares it with gold.
std::optional<std::string> ParseAnswer(LongGenTask task, std::string_view answer_text);

// RFC 4180 CSV: fields separated by commas, rows by LF or CRLF; quoted
// fields may hold commas, line breaks and doubled quotes. Throws ri::Error
// for an unterminated quote or text after a closing quote.
std::vector<std::vector<std::string>> ParseCsv(std::string_view text);

}  // namespace ri::eval
