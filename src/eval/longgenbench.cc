#include "eval/longgenbench.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "eval/files.h"
#include "util/error.h"

namespace ri::eval {

namespace {

constexpr std::string_view kGsm8kSystem =
    "Answer each question step by step, adhering to the format shown in the examples provided. "
    "Start each response with 'Answer_' and introduce the final response with 'The answer is'. "
    "Do not repeat the question. Ensure that you respond to all the questions presented, "
    "regardless of their number.";
// The harness's MMLU system message, with GSM8K's "The answer is" clause
// because the examples end that way here.
constexpr std::string_view kMmluSystem =
    "Answer each question step by step, adhering to the format shown in the examples provided. "
    "Start each response with 'Answer_' and introduce the final response with 'The answer is'. "
    "Do not repeat the question. Ensure that you respond to all the questions presented, "
    "regardless of their number. The following are multiple choice questions (with answers) "
    "about {}.";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         static_cast<unsigned char>(c) >= 0x80;  // letters of other scripts
}

std::string Trim(std::string_view text) {
  constexpr std::string_view kBlank = " \t\r\n";
  const size_t first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return "";
  return std::string(text.substr(first, text.find_last_not_of(kBlank) - first + 1));
}

// "Answer_<n>" or "Question_<n>" at `at`: the number and the offset after it.
struct Marker {
  bool is_answer = false;
  int index = 0;
  size_t begin = 0;
  size_t end = 0;  // after the digits
};

std::optional<Marker> MarkerAt(std::string_view text, size_t at) {
  for (const auto& [word, is_answer] :
       {std::pair<std::string_view, bool>{"Answer_", true}, {"Question_", false}}) {
    if (text.substr(at, word.size()) != word) continue;
    size_t end = at + word.size();
    int index = 0;
    while (end < text.size() && IsDigit(text[end])) {
      // Absurdly long numbers saturate: they match no question.
      index = std::min(index * 10 + (text[end] - '0'), 100000000);
      ++end;
    }
    if (end == at + word.size()) return std::nullopt;
    return Marker{is_answer, index, at, end};
  }
  return std::nullopt;
}

std::string Gsm8kQuestionsPath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "gsm8k" / "test.jsonl").string();
}

std::vector<LongGenSample> LoadGsm8k(const std::string& data_dir, int per_sample, int max_samples) {
  const std::string examples_path =
      (std::filesystem::path(data_dir) / "longgenbench" / "gsm8k_8shot_prompt.txt").string();
  const std::string examples = ReadTextFile(examples_path);
  const std::string questions_path = Gsm8kQuestionsPath(data_dir);
  const std::string lines = ReadTextFile(questions_path);
  std::vector<LongGenQuestion> questions;
  size_t line_number = 0;
  for (size_t begin = 0; begin < lines.size();) {
    const size_t newline = std::min(lines.find('\n', begin), lines.size());
    const std::string_view line = std::string_view(lines).substr(begin, newline - begin);
    begin = newline + 1;
    ++line_number;
    if (Trim(line).empty()) continue;
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_object() || !record.contains("question") || !record["question"].is_string() ||
        !record.contains("answer") || !record["answer"].is_string()) {
      Fail("{} line {}: not a JSON object with string fields question and answer", questions_path,
           line_number);
    }
    const std::string answer = record["answer"];
    const size_t hashes = answer.rfind("####");
    const std::optional<std::string> gold =
        hashes == std::string::npos ? std::nullopt : LastNumber(answer.substr(hashes));
    if (!gold) Fail("{} line {}: the answer has no '#### <number>'", questions_path, line_number);
    questions.push_back({record["question"], *gold});
  }
  std::vector<LongGenSample> samples;
  constexpr int kFirstIndex = 9;  // after the 8 examples
  for (size_t first = 0; first < questions.size(); first += per_sample) {
    if (max_samples > 0 && static_cast<int>(samples.size()) == max_samples) break;
    LongGenSample sample;
    const size_t end = std::min(questions.size(), first + per_sample);
    sample.name = fmt::format("gsm8k {}-{}", first + 1, end);
    sample.system = std::string(kGsm8kSystem);
    sample.first_index = kFirstIndex;
    sample.user = "Examples: \n" + examples + "\n\nFollowing Question: \n";
    for (size_t q = first; q < end; ++q) {
      sample.user +=
          fmt::format("Question_{}:\n{}\n", kFirstIndex + (q - first), questions[q].text);
      sample.questions.push_back(questions[q]);
    }
    sample.user += "\n";
    samples.push_back(std::move(sample));
  }
  return samples;
}

// MMLU rows: question, four choices, answer letter.
std::vector<LongGenQuestion> ReadMmluFile(const std::filesystem::path& path) {
  std::vector<LongGenQuestion> questions;
  const auto rows = ParseCsv(ReadTextFile(path.string()));
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() != 6 || row[5].size() != 1 || row[5][0] < 'A' || row[5][0] > 'D') {
      Fail("{} row {}: expected question, 4 choices and an answer A-D", path.string(), r + 1);
    }
    questions.push_back(
        {fmt::format("{}\n(A) {}\n(B) {}\n(C) {}\n(D) {}", row[0], row[1], row[2], row[3], row[4]),
         row[5]});
  }
  return questions;
}

std::vector<LongGenSample> LoadMmlu(const std::string& data_dir, int per_sample, int max_samples) {
  const std::filesystem::path root = std::filesystem::path(data_dir) / "mmlu";
  constexpr std::string_view kTestSuffix = "_test.csv";
  std::vector<std::string> subjects;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(root / "test", error)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(kTestSuffix))
      subjects.push_back(name.substr(0, name.size() - kTestSuffix.size()));
  }
  if (error || subjects.empty()) {
    Fail("no MMLU test files (*_test.csv) in '{}'", (root / "test").string());
  }
  std::sort(subjects.begin(), subjects.end());
  std::vector<LongGenSample> samples;
  for (const std::string& subject : subjects) {
    if (max_samples > 0 && static_cast<int>(samples.size()) == max_samples) break;
    const auto examples = ReadMmluFile(root / "dev" / (subject + "_dev.csv"));
    auto tests = ReadMmluFile(root / "test" / (subject + std::string(kTestSuffix)));
    if (examples.empty() || tests.empty()) Fail("MMLU subject {} has no dev or test rows", subject);
    tests.resize(std::min<size_t>(tests.size(), per_sample));
    std::string readable = subject;
    std::replace(readable.begin(), readable.end(), '_', ' ');
    LongGenSample sample;
    sample.name = "mmlu " + subject;
    sample.system = fmt::format(fmt::runtime(kMmluSystem), readable);
    sample.first_index = static_cast<int>(examples.size()) + 1;
    sample.user = "Examples: \n";
    for (size_t i = 0; i < examples.size(); ++i) {
      sample.user += fmt::format("Question_{}:\n{}\n\n", i + 1, examples[i].text);
    }
    for (size_t i = 0; i < examples.size(); ++i) {
      sample.user += fmt::format("Answer_{}:\nThe answer is ({}).\n\n", i + 1, examples[i].gold);
    }
    sample.user += "Following Question: \n";
    for (size_t i = 0; i < tests.size(); ++i) {
      sample.user += fmt::format("Question_{}:\n{}\n\n", sample.first_index + i, tests[i].text);
    }
    sample.questions = std::move(tests);
    samples.push_back(std::move(sample));
  }
  return samples;
}

}  // namespace

LongGenTask ParseLongGenTask(std::string_view name) {
  if (name == "gsm8k") return LongGenTask::kGsm8k;
  if (name == "mmlu") return LongGenTask::kMmlu;
  Fail("unknown LongGenBench task '{}' (known: gsm8k, mmlu)", name);
}

std::string_view LongGenTaskName(LongGenTask task) {
  return task == LongGenTask::kGsm8k ? "gsm8k" : "mmlu";
}

std::vector<LongGenSample> LoadLongGenSamples(LongGenTask task, const std::string& data_dir,
                                              int questions_per_sample, int max_samples) {
  if (questions_per_sample < 1) {
    Fail("the questions per sample must be positive, got {}", questions_per_sample);
  }
  if (max_samples < 0) Fail("the maximum number of samples must not be negative");
  return task == LongGenTask::kGsm8k ? LoadGsm8k(data_dir, questions_per_sample, max_samples)
                                     : LoadMmlu(data_dir, questions_per_sample, max_samples);
}

std::vector<std::optional<std::string>> SplitAnswers(std::string_view output, int first_index,
                                                     int count) {
  std::vector<Marker> markers;
  for (size_t at = 0; at < output.size(); ++at) {
    if (auto marker = MarkerAt(output, at)) {
      markers.push_back(*marker);
      at = marker->end - 1;
    }
  }
  std::vector<std::optional<std::string>> answers(std::max(0, count));
  for (size_t m = 0; m < markers.size(); ++m) {
    const Marker& marker = markers[m];
    const int slot = marker.index - first_index;
    if (!marker.is_answer || slot < 0 || slot >= count || answers[slot]) continue;
    size_t begin = marker.end;
    while (begin < output.size() && output[begin] == ' ') ++begin;
    if (begin >= output.size() || output[begin] != ':') continue;
    // As the harness does, an answer also ends at its first blank line.
    const size_t text_begin =
        std::min(output.find_first_not_of(" \t\r\n", begin + 1), output.size());
    const size_t next_marker = m + 1 < markers.size() ? markers[m + 1].begin : output.size();
    const size_t end = std::min(next_marker, output.find("\n\n", text_begin));
    answers[slot] = Trim(output.substr(text_begin, end - text_begin));
  }
  return answers;
}

std::optional<std::string> LastNumber(std::string_view text) {
  std::optional<std::string> last;
  for (size_t i = 0; i < text.size();) {
    const bool starts_fraction = text[i] == '.' && i + 1 < text.size() && IsDigit(text[i + 1]);
    if (!IsDigit(text[i]) && !starts_fraction) {
      ++i;
      continue;
    }
    // A '-' right before the number (not after a word or number) is its sign.
    const bool negative = i > 0 && text[i - 1] == '-' && (i < 2 || !IsAlnum(text[i - 2]));
    std::string integer, fraction;
    size_t j = i;
    while (j < text.size() && IsDigit(text[j])) integer += text[j++];
    // Thousands separators: a comma followed by exactly three digits.
    while (!integer.empty() && j + 3 < text.size() && text[j] == ',' && IsDigit(text[j + 1]) &&
           IsDigit(text[j + 2]) && IsDigit(text[j + 3]) &&
           (j + 4 == text.size() || !IsDigit(text[j + 4]))) {
      integer.append(text.substr(j + 1, 3));
      j += 4;
    }
    if (j + 1 < text.size() && text[j] == '.' && IsDigit(text[j + 1])) {
      ++j;
      while (j < text.size() && IsDigit(text[j])) fraction += text[j++];
    }
    integer.erase(0, std::min(integer.find_first_not_of('0'), integer.size()));
    if (integer.empty()) integer = "0";
    while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
    std::string number = integer + (fraction.empty() ? "" : "." + fraction);
    if (negative && number != "0") number = "-" + number;
    last = std::move(number);
    i = j;
  }
  return last;
}

std::optional<std::string> ChoiceLetter(std::string_view text) {
  std::optional<std::string> in_parentheses, standing_alone;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c < 'A' || c > 'D') continue;
    const char before = i > 0 ? text[i - 1] : ' ';
    const char after = i + 1 < text.size() ? text[i + 1] : ' ';
    if (before == '(' && after == ')') in_parentheses = std::string(1, c);
    if (!IsAlnum(before) && !IsAlnum(after)) standing_alone = std::string(1, c);
  }
  return in_parentheses ? in_parentheses : standing_alone;
}

std::optional<std::string> ParseAnswer(LongGenTask task, std::string_view answer_text) {
  return task == LongGenTask::kGsm8k ? LastNumber(answer_text) : ChoiceLetter(answer_text);
}

std::vector<std::vector<std::string>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  size_t i = 0;
  size_t line = 1;
  const auto end_row = [&] {
    row.push_back(std::move(field));
    field.clear();
    // A blank line is no row.
    if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
    row.clear();
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' && field.empty()) {
      const size_t quote_line = line;
      ++i;
      for (;;) {
        if (i >= text.size()) Fail("CSV line {}: the quoted field is not closed", quote_line);
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field += text[i++];
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        Fail("CSV line {}: text after a closing quote", line);
      }
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      ++i;
    } else if (c == '\n' || c == '\r') {
      end_row();
      i += (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
      ++line;
    } else {
      field += c;
      ++i;
    }
  }
  if (!field.empty() || !row.empty()) end_row();
  return rows;
}

}  // namespace ri::eval
