// `retroinfer bench`: prefill and decode speed at chosen context lengths, for
// one or several attention policies, against the machine's measured memory
// bandwidth.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "kernels/cpu_features.h"
#include "kernels/memory_bandwidth.h"
#include "util/error.h"
#include "util/phase_profile.h"
#include "util/seconds.h"

namespace ri::cli {

namespace {

struct BenchArguments {
  EngineOptions engine;
  std::vector<int> contexts{256, 2048};
  std::vector<std::string> policies;  // empty: the --attention options
  int decode_tokens = 32;
  int repetitions = 3;
  int batch = 1;
  bool profile = false;
  std::string json_path;
};

struct Summary {
  double median = 0, min = 0, max = 0;
  nlohmann::json ToJson() const { return {{"median", median}, {"min", min}, {"max", max}}; }
};

Summary Summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

using PhaseSeconds = std::array<double, kPhaseCount>;

void AddTo(PhaseSeconds& total, const PhaseSeconds& more) {
  for (int i = 0; i < kPhaseCount; ++i) total[i] += more[i];
}

struct PolicyRun {
  std::vector<double> decode_rates;  // tokens per second, all sequences together
  double kv_bytes_per_token = 0;     // K/V and page bounds read per generated token
  PhaseSeconds decode_phases{};      // summed over repetitions (--profile)
  double decode_seconds = 0;
};

// Milliseconds per prompt or step (`per` of them) in each phase of the
// forward pass (--profile), and as "other" what no top-level phase covers.
nlohmann::json PhaseMilliseconds(const PhaseSeconds& phases, double wall_seconds, double per) {
  nlohmann::json ms = nlohmann::json::object();
  double covered = 0;
  for (int i = 0; i < kPhaseCount; ++i) {
    const auto phase = static_cast<Phase>(i);
    ms[std::string(PhaseName(phase))] = 1e3 * phases[i] / per;
    if (!IsPartOfAttention(phase)) covered += phases[i];
  }
  ms["other"] = 1e3 * (wall_seconds - covered) / per;
  return ms;
}

// A markdown table of the prefill's and each policy's decode step's phases:
// milliseconds (share of the measured time).
std::string ProfileTable(int context, const nlohmann::json& prefill, double prefill_ms,
                         std::span<const PolicyConfig> policies,
                         const std::vector<nlohmann::json>& decodes,
                         const std::vector<double>& decode_ms) {
  std::string table = fmt::format(
      "\nWhere the time goes at context {} (ms per prompt and per decode step, share of the "
      "measured time):\n\n| phase | prefill |",
      context);
  for (const PolicyConfig& policy : policies) {
    table += fmt::format(" decode {} |", policy.ToString());
  }
  table += "\n| --- | ---: |";
  for (size_t p = 0; p < policies.size(); ++p) table += " ---: |";
  table += "\n";
  const auto cell = [](double ms, double total) {
    return fmt::format(" {:.3f} ({:.0f}%) |", ms, 100 * ms / total);
  };
  std::vector<std::string> names;
  for (int i = 0; i < kPhaseCount; ++i) names.emplace_back(PhaseName(static_cast<Phase>(i)));
  names.emplace_back("other");
  for (const std::string& name : names) {
    table += fmt::format("| {} |{}", name, cell(prefill[name].get<double>(), prefill_ms));
    for (size_t p = 0; p < decodes.size(); ++p) {
      table += cell(decodes[p][name].get<double>(), decode_ms[p]);
    }
    table += "\n";
  }
  return table;
}

int RunBench(const BenchArguments& args) {
  Engine engine = Engine::Load(args.engine);
  const ModelConfig& config = engine.model->config();
  std::vector<PolicyConfig> policies;
  if (args.policies.empty()) policies.push_back(engine.policy);
  for (const std::string& spec : args.policies) {
    policies.push_back(PolicyConfig::Parse(spec));
    policies.back().Validate(config.num_layers);
    // One prefill serves every policy, so it has one prompt arithmetic.
    if (spec.find(":prompt=") != std::string::npos) {
      Fail(
          "'{}': bench prefills once for all policies; choose the prompt's arithmetic with "
          "--prompt-attention",
          spec);
    }
    policies.back().prompt = engine.policy.prompt;
  }
  phase_profile::Enable(args.profile);
  const double bandwidth = MeasureReadBandwidth(*engine.threads);
  const double weight_bytes = static_cast<double>(engine.model->WeightBytesPerPass());
  fmt::print(
      "model {}, {} threads, batch {}, kernels {}, measured read bandwidth {:.1f} GB/s, weights "
      "{:.1f} MB per pass\n\n",
      config.name, engine.threads->num_threads(), args.batch, ActiveKernelsName(), bandwidth / 1e9,
      weight_bytes / 1e6);
  fmt::print("| context | policy | prefill tok/s | decode tok/s (median, min-max) | KV MB/token | "
             "bytes/token (MB) | bandwidth bound |\n");
  fmt::print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");

  std::mt19937 rng(1234);
  std::uniform_int_distribution<TokenId> random_token(0, config.vocab_size - 1);
  nlohmann::json records = nlohmann::json::array();
  std::string profiles;  // printed after the main table
  for (const int context : args.contexts) {
    if (context + args.decode_tokens > engine.context) {
      Fail("context {} plus {} decode tokens exceeds the context size {}", context,
           args.decode_tokens, engine.context);
    }
    std::vector<double> prefill_rates;
    std::vector<PolicyRun> runs(policies.size());
    PhaseSeconds prefill_phases{};
    double prefill_seconds = 0;
    for (int repetition = 0; repetition < args.repetitions; ++repetition) {
      std::vector<TokenId> prompt(context);
      for (TokenId& token : prompt) token = random_token(rng);
      std::vector<TokenId> continuation(args.decode_tokens);
      for (TokenId& token : continuation) token = random_token(rng);
      // One prefill, then every policy decodes from a copy of its cache.
      auto base = engine.NewSession();
      phase_profile::Take();
      const auto start = std::chrono::steady_clock::now();
      base->Prefill(prompt);
      const double seconds = SecondsSince(start);
      prefill_rates.push_back(context / seconds);
      AddTo(prefill_phases, phase_profile::Take());
      prefill_seconds += seconds;
      for (size_t p = 0; p < policies.size(); ++p) {
        std::vector<std::unique_ptr<Session>> sessions;
        std::vector<Session*> batch;
        for (int b = 0; b < args.batch; ++b) {
          sessions.push_back(base->Fork(policies[p]));
          batch.push_back(sessions.back().get());
        }
        phase_profile::Take();
        const auto decode_start = std::chrono::steady_clock::now();
        for (const TokenId token : continuation) {
          DecodeTogether(batch, std::vector<TokenId>(args.batch, token));
        }
        const double seconds = SecondsSince(decode_start);
        AddTo(runs[p].decode_phases, phase_profile::Take());
        runs[p].decode_seconds += seconds;
        runs[p].decode_rates.push_back(args.batch * args.decode_tokens / seconds);
        runs[p].kv_bytes_per_token = static_cast<double>(batch[0]->policy().stats().kv_bytes_read) /
                                     args.decode_tokens;
      }
    }
    const Summary prefill = Summarize(prefill_rates);
    const nlohmann::json prefill_profile =
        PhaseMilliseconds(prefill_phases, prefill_seconds, args.repetitions);
    std::vector<nlohmann::json> decode_profiles;
    std::vector<double> decode_step_ms;
    for (size_t p = 0; p < policies.size(); ++p) {
      const Summary decode = Summarize(runs[p].decode_rates);
      // One pass reads the weights once for the whole batch, and each
      // sequence its own K/V.
      const double bytes_per_token = weight_bytes / args.batch + runs[p].kv_bytes_per_token;
      const double bound_fraction = decode.median * bytes_per_token / bandwidth;
      fmt::print("| {} | {} | {:.1f} | {:.1f} ({:.1f}-{:.1f}) | {:.2f} | {:.1f} | {:.0f}% |\n",
                 context, policies[p].ToString(), prefill.median, decode.median, decode.min,
                 decode.max, runs[p].kv_bytes_per_token / 1e6, bytes_per_token / 1e6,
                 100 * bound_fraction);
      records.push_back({{"context", context},
                         {"policy", policies[p].ToString()},
                         {"prefill_tokens_per_second", prefill.ToJson()},
                         {"decode_tokens_per_second", decode.ToJson()},
                         {"kv_bytes_per_token", runs[p].kv_bytes_per_token},
                         {"bytes_per_token", bytes_per_token},
                         {"bandwidth_bytes_per_second", bandwidth},
                         {"bandwidth_bound_fraction", bound_fraction},
                         {"decode_tokens", args.decode_tokens},
                         {"batch", args.batch},
                         {"repetitions", args.repetitions},
                         {"threads", engine.threads->num_threads()}});
      if (args.profile) {
        const double steps = static_cast<double>(args.repetitions) * args.decode_tokens;
        decode_profiles.push_back(
            PhaseMilliseconds(runs[p].decode_phases, runs[p].decode_seconds, steps));
        decode_step_ms.push_back(1e3 * runs[p].decode_seconds / steps);
        records.back()["profile_ms"] = {{"prefill", prefill_profile},
                                        {"decode_step", decode_profiles.back()}};
      }
    }
    if (args.profile) {
      profiles += ProfileTable(context, prefill_profile, 1e3 * prefill_seconds / args.repetitions,
                               policies, decode_profiles, decode_step_ms);
    }
  }
  fmt::print("{}", profiles);
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
      "bench",
      "Measure prefill and decode tokens/s at given context lengths (random tokens), per "
      "attention policy, against the measured memory bandwidth");
  args->engine.AddTo(*command);
  command->add_option("--ctx", args->contexts, "Context lengths, comma separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--policies", args->policies,
                   "Policies to compare, comma separated specs (e.g. "
                   "full,quest:b=0.1,retro:b=0.1:w=2; the prompt's arithmetic is "
                   "--prompt-attention's for all); default: the --attention options")
      ->delimiter(',');
  command->add_option("--decode-tokens", args->decode_tokens, "Decode steps per measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("-r,--repetitions", args->repetitions, "Repetitions (median reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--batch", args->batch,
                      "Sequences decoded together (rows per matmul); each is a copy of the "
                      "prefilled one")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command->add_flag("--profile", args->profile,
                    "Also print where the time goes: milliseconds per prompt and per decode step "
                    "in each phase of the forward pass");
  command->add_option("--json", args->json_path, "Also write the results as JSON to this file");
  return [args] { return RunBench(*args); };
}

}  // namespace ri::cli
