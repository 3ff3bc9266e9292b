// `retroinfer bench`: prefill and decode speed at chosen context lengths.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "util/error.h"

namespace ri::cli {

namespace {

struct BenchArguments {
  EngineOptions engine;
  std::vector<int> contexts{256, 2048};
  int decode_tokens = 32;
  int repetitions = 3;
  std::string json_path;
};

struct Summary {
  double median = 0, min = 0, max = 0;
};

Summary Summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int RunBench(const BenchArguments& args) {
  Engine engine = Engine::Load(args.engine);
  const ModelConfig& config = engine.model->config();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<TokenId> random_token(0, config.vocab_size - 1);
  nlohmann::json records = nlohmann::json::array();
  fmt::print("model {}, {} threads\n", config.name, engine.threads->num_threads());
  fmt::print("| context | prefill tok/s (median, min-max) | decode tok/s (median, min-max) |\n");
  fmt::print("| ---: | ---: | ---: |\n");
  for (const int context : args.contexts) {
    if (context + args.decode_tokens > engine.context) {
      Fail("context {} plus {} decode tokens exceeds the context size {}", context,
           args.decode_tokens, engine.context);
    }
    std::vector<double> prefill_rates, decode_rates;
    for (int repetition = 0; repetition < args.repetitions; ++repetition) {
      std::vector<TokenId> prompt(context);
      for (TokenId& token : prompt) token = random_token(rng);
      auto session = engine.NewSession();
      auto start = std::chrono::steady_clock::now();
      session->Prefill(prompt);
      prefill_rates.push_back(context / Seconds(start));
      start = std::chrono::steady_clock::now();
      for (int i = 0; i < args.decode_tokens; ++i) session->Decode(random_token(rng));
      decode_rates.push_back(args.decode_tokens / Seconds(start));
    }
    const Summary prefill = Summarize(prefill_rates);
    const Summary decode = Summarize(decode_rates);
    fmt::print("| {} | {:.1f} ({:.1f}-{:.1f}) | {:.1f} ({:.1f}-{:.1f}) |\n", context,
               prefill.median, prefill.min, prefill.max, decode.median, decode.min, decode.max);
    records.push_back({{"context", context},
                       {"prefill_tokens_per_second",
                        {{"median", prefill.median}, {"min", prefill.min}, {"max", prefill.max}}},
                       {"decode_tokens_per_second",
                        {{"median", decode.median}, {"min", decode.min}, {"max", decode.max}}},
                       {"decode_tokens", args.decode_tokens},
                       {"repetitions", args.repetitions},
                       {"threads", engine.threads->num_threads()}});
  }
  if (!args.json_path.empty()) {
    std::ofstream out(args.json_path);
    if (!out) Fail("cannot write '{}'", args.json_path);
    out << records.dump(2) << "\n";
  }
  return 0;
}

}  // namespace

Command RegisterBench(CLI::App& app) {
  auto args = std::make_shared<BenchArguments>();
  CLI::App* command = app.add_subcommand(
      "bench", "Measure prefill and decode tokens/s at given context lengths (random tokens)");
  args->engine.AddTo(*command);
  command->add_option("--ctx", args->contexts, "Context lengths, comma separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--decode-tokens", args->decode_tokens, "Decode steps per measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("-r,--repetitions", args->repetitions, "Repetitions (median reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--json", args->json_path, "Also write the results as JSON to this file");
  return [args] { return RunBench(*args); };
}

}  // namespace ri::cli
