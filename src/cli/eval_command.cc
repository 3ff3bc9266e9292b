// `retroinfer eval`: the quality cost of attention policies on real data —
// long-generation perplexity, LongGenBench and fidelity to full attention —
// as Markdown tables, one JSON record per policy and SVG charts.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "eval/evals.h"
#include "eval/files.h"
#include "util/error.h"

namespace ri::cli {

namespace {

struct EvalArguments {
  EngineOptions engine;
  std::vector<std::string> policies{"full", "quest:b=0.1", "retro:b=0.1:w=2"};
  std::string json_path;
  std::string svg_path;
  std::string data_dir;
  int max_samples = 0;
  eval::TextEvalOptions text;
  std::string task = "gsm8k";
  eval::LongGenOptions longgen;
};

// The evaluation data: $RETROINFER_DATA, else ../shared/data relative to the
// working directory, else relative to the source tree.
std::string DefaultDataDir() {
  if (const char* from_environment = std::getenv("RETROINFER_DATA")) return from_environment;
  const std::filesystem::path relative = std::filesystem::path("..") / "shared" / "data";
  if (std::filesystem::exists(relative)) return relative.string();
  return (std::filesystem::path(RETROINFER_SOURCE_DIR) / relative).string();
}

// Every .txt file of <data>/books, in name order.
std::vector<std::string> DefaultBooks(const std::string& data_dir) {
  const std::filesystem::path books = std::filesystem::path(data_dir) / "books";
  std::vector<std::string> paths;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(books, error)) {
    if (entry.path().extension() == ".txt") paths.push_back(entry.path().string());
  }
  if (error || paths.empty()) {
    Fail("no --text given and no books (*.txt) in '{}' (set --data-dir)", books.string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

void Print(const eval::EvalReport& report, const EvalArguments& args) {
  for (const std::string& note : report.notes) fmt::print(stderr, "note: {}\n", note);
  for (size_t i = 0; i < report.tables.size(); ++i) {
    fmt::print("{}{}", i > 0 ? "\n" : "", eval::RenderMarkdown(report.tables[i]));
  }
  std::fflush(stdout);
  if (!args.json_path.empty()) {
    std::string lines;
    for (const auto& record : report.records) lines += record.dump() + "\n";
    eval::WriteTextFile(args.json_path, lines);
    fmt::print(stderr, "wrote {} JSON records to {}\n", report.records.size(), args.json_path);
  }
  if (!args.svg_path.empty()) {
    eval::WriteTextFile(args.svg_path, eval::RenderSvg(report.charts));
    fmt::print(stderr, "wrote charts to {}\n", args.svg_path);
  }
}

enum class EvalKind { kPerplexity, kLongGenBench, kFidelity };

int RunEval(EvalKind kind, EvalArguments args) {
  if (args.data_dir.empty()) args.data_dir = DefaultDataDir();
  Engine engine = Engine::Load(args.engine);
  const EngineView eval_engine = engine.View();
  const eval::PolicyList policies =
      eval::ParsePolicyList(args.policies, engine.model->config().num_layers);
  eval::EvalReport report;
  if (kind == EvalKind::kLongGenBench) {
    args.longgen.task = eval::ParseLongGenTask(args.task);
    args.longgen.data_dir = args.data_dir;
    args.longgen.max_samples = args.max_samples;
    report = eval::RunLongGenBenchEval(eval_engine, engine.Template(args.engine), policies,
                                       args.longgen);
  } else {
    if (args.text.texts.empty()) args.text.texts = DefaultBooks(args.data_dir);
    args.text.max_samples = args.max_samples;
    report = kind == EvalKind::kPerplexity
                 ? eval::RunPerplexityEval(eval_engine, policies, args.text)
                 : eval::RunFidelityEval(eval_engine, policies, args.text);
  }
  Print(report, args);
  return 0;
}

void AddCommonOptions(CLI::App& command, EvalArguments& args) {
  args.engine.AddTo(command);
  // Policies come from --policies; statistics are always reported.
  for (const char* single_policy_option : {"--attention", "--budget", "--dense-layers", "--sinks",
                                           "--window", "--prompt-attention", "--stats"}) {
    command.remove_option(command.get_option(single_policy_option));
  }
  command
      .add_option("--policies", args.policies,
                  "Attention policies to compare, comma separated specs such as "
                  "quest:b=0.1, retro:b=0.1:w=4, streaming:b=0.1, tova:b=512, any of them "
                  "with :prompt=bf16 for BF16 prompt attention (full is the reference and is "
                  "added when missing)")
      ->delimiter(',')
      ->capture_default_str();
  command.add_option("--json", args.json_path,
                     "Write one JSON record per policy (JSON Lines) to this file");
  command.add_option("--svg", args.svg_path, "Write the charts as an SVG file");
  command
      .add_option("--max-samples", args.max_samples,
                  "Evaluate at most this many texts / prompts (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--data-dir", args.data_dir,
                     "Evaluation data (default: $RETROINFER_DATA, else ../shared/data relative "
                     "to the working directory or the source tree)");
}

void AddTextOptions(CLI::App& command, EvalArguments& args, const std::string& eval_tokens_help) {
  command.add_option("--text", args.text.texts,
                     "Text files, Gutenberg header and footer stripped; one sample each "
                     "(default: every book in <data-dir>/books)");
  command.add_option("--prompt-tokens", args.text.prompt_tokens, "Prompt tokens (prefilled)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--eval-tokens", args.text.eval_tokens, eval_tokens_help)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--bucket", args.text.bucket, "Decode steps per position bucket")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

}  // namespace

Command RegisterEval(CLI::App& app) {
  auto args = std::make_shared<EvalArguments>();
  CLI::App* command = app.add_subcommand(
      "eval", "Measure the quality cost of attention policies: ppl, longgenbench, fidelity");
  command->require_subcommand(1);
  CLI::App* ppl = command->add_subcommand(
      "ppl",
      "Long-generation perplexity (PG-19 style): prefill a prompt, then teacher-force the text "
      "through each policy's decode path");
  CLI::App* longgen = command->add_subcommand(
      "longgenbench",
      "LongGenBench: K questions after the few-shot prompt, one greedy answer; accuracy and "
      "agreement with full");
  CLI::App* fidelity = command->add_subcommand(
      "fidelity",
      "Full generates greedily; each policy is teacher-forced through that text: KL divergence "
      "and top-1 agreement with full by position");
  for (CLI::App* eval : {ppl, longgen, fidelity}) AddCommonOptions(*eval, *args);
  AddTextOptions(*ppl, *args, "Tokens scored after the prompt, each fed through the decode path");
  AddTextOptions(*fidelity, *args, "Tokens full generates and each policy is compared on");
  longgen->add_option("--task", args->task, "gsm8k or mmlu")
      ->check(CLI::IsMember({"gsm8k", "mmlu"}))
      ->capture_default_str();
  longgen->add_option("--questions", args->longgen.questions, "Questions K per prompt")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  longgen
      ->add_option("--max-new-tokens", args->longgen.max_new_tokens,
                   "Generation limit per question (the prompt's limit is K times this)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  longgen->add_flag("--prime-answer", args->longgen.prime_answer,
                    "Open the reply with 'Answer_<first>:' (not in the protocol; helps small "
                    "models keep to the answer format)");
  return [args, ppl, longgen, fidelity] {
    for (const auto& [eval, kind] :
         {std::pair{ppl, EvalKind::kPerplexity}, std::pair{longgen, EvalKind::kLongGenBench},
          std::pair{fidelity, EvalKind::kFidelity}}) {
      if (eval->parsed()) return RunEval(kind, *args);
    }
    Fail("eval needs one of: ppl, longgenbench, fidelity");
  };
}

}  // namespace ri::cli
