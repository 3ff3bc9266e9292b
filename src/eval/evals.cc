#include "eval/evals.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

#include "eval/buckets.h"
#include "eval/fidelity.h"
#include "eval/files.h"
#include "eval/gutenberg.h"
#include "eval/perplexity.h"
#include "eval/progress.h"
#include "kv/paged_kv_cache.h"
#include "model/model.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace ri::eval {

namespace {

using nlohmann::json;

std::string Fixed(double value, int decimals) { return fmt::format("{:.{}f}", value, decimals); }
std::string Percent(double fraction) { return fmt::format("{:.1f}%", 100 * fraction); }

std::string ExposureCell(const PolicyRunStats& stats) {
  const auto exposure = stats.effective_exposure();
  return exposure ? Fixed(*exposure, 3) : "-";
}

// The columns every summary table ends with.
void AddStatsHeader(Table& table) {
  for (const char* column : {"effective KV exposure", "KV read (of full)", "decode tok/s"}) {
    table.header.push_back(column);
  }
}
std::vector<std::string> StatsCells(const PolicyRunStats& stats) {
  return {ExposureCell(stats), Percent(stats.kv_read_fraction()),
          Fixed(stats.decode_tokens_per_second(), 1)};
}

json EngineSettings(const EngineView& engine) {
  return {{"context", engine.context},
          {"page_size", engine.pages.geometry().page_size},
          {"threads", engine.threads.num_threads()}};
}

json Record(std::string_view eval, const EngineView& engine, const PolicyConfig& policy,
            json settings, json results, const PolicyRunStats& stats) {
  json budget = nullptr;
  if (policy.kind != PolicyKind::kFull) budget = policy.budget.ToString();
  return {{"eval", eval},
          {"model", engine.model.config().name},
          {"policy", policy.ToString()},
          {"kind", PolicyKindName(policy.kind)},
          {"budget", budget},
          {"settings", std::move(settings)},
          {"results", std::move(results)},
          {"stats", stats.ToJson()}};
}

std::vector<std::string> Notes(const PolicyList& list, bool has_budget_charts) {
  std::vector<std::string> notes;
  if (list.full_added) notes.push_back("full was not in --policies: added as the reference");
  const bool token_budgets = std::any_of(
      list.policies.begin(), list.policies.end(),
      [](const PolicyConfig& p) { return p.kind != PolicyKind::kFull && p.budget.tokens > 0; });
  if (has_budget_charts && token_budgets) {
    notes.push_back("policies with a token budget are left out of the charts against the budget");
  }
  return notes;
}

struct TextSample {
  std::string name;
  std::vector<TokenId> tokens;
};

void CheckTextOptions(const TextEvalOptions& options, int context) {
  if (options.texts.empty()) Fail("no text files given (--text FILE...)");
  if (options.prompt_tokens < 1) Fail("--prompt-tokens must be positive");
  if (options.eval_tokens < 1) Fail("--eval-tokens must be positive");
  if (options.max_samples < 0) Fail("--max-samples must not be negative");
  if (options.prompt_tokens + options.eval_tokens > context) {
    Fail("--prompt-tokens {} plus --eval-tokens {} exceed the context size {}",
         options.prompt_tokens, options.eval_tokens, context);
  }
}

// The first `tokens` tokens of each text (at most max_samples texts).
std::vector<TextSample> LoadTexts(const EngineView& engine, const TextEvalOptions& options,
                                  int tokens) {
  std::vector<TextSample> samples;
  for (const std::string& path : options.texts) {
    if (options.max_samples > 0 && static_cast<int>(samples.size()) == options.max_samples) break;
    const std::string text = StripGutenberg(ReadTextFile(path));
    std::vector<TokenId> ids = engine.tokenizer.Encode(text, /*add_bos=*/true,
                                                       /*parse_special=*/false);
    if (static_cast<int>(ids.size()) < tokens) {
      Fail("'{}' has {} tokens (without its Gutenberg header and footer); the evaluation needs {}",
           path, ids.size(), tokens);
    }
    ids.resize(tokens);
    samples.push_back({std::filesystem::path(path).filename().string(), std::move(ids)});
  }
  return samples;
}

json SampleNames(const std::vector<TextSample>& samples) {
  json names = json::array();
  for (const TextSample& sample : samples) names.push_back(sample.name);
  return names;
}

std::string BucketName(const Bucket& bucket) {
  return fmt::format("{}-{}", bucket.begin, bucket.end - 1);
}

// One series per policy (from `first`) of a per-bucket value against the
// bucket's end (tokens generated so far).
Chart PositionChart(std::string title, std::string y_label, const PolicyList& list, size_t first,
                    const std::vector<Bucket>& buckets,
                    const std::function<double(size_t policy, size_t bucket)>& value) {
  Chart chart{.title = std::move(title),
              .x_label = "generated tokens (end of the position bucket)",
              .y_label = std::move(y_label),
              .x_from_zero = true};
  for (size_t p = first; p < list.policies.size(); ++p) {
    Series series{.label = list.policies[p].ToString(), .color = static_cast<int>(p)};
    for (size_t b = 0; b < buckets.size(); ++b) {
      series.points.emplace_back(buckets[b].end, value(p, b));
    }
    chart.series.push_back(std::move(series));
  }
  return chart;
}

// One series per family of budgets (SpecWithout "b") of a value against the
// budget fraction, with full's value as the reference line.
Chart BudgetChart(std::string title, std::string y_label, const PolicyList& list,
                  const std::vector<double>& values) {
  Chart chart{.title = std::move(title),
              .x_label = "KV budget (fraction of the context)",
              .y_label = std::move(y_label),
              .reference = ReferenceLine{values[0], "full"}};
  std::map<std::string, size_t> series_of;
  for (size_t p = 1; p < list.policies.size(); ++p) {
    const PolicyConfig& policy = list.policies[p];
    if (policy.budget.tokens > 0) continue;
    const std::string family = SpecWithout(policy, "b");
    const auto [it, added] = series_of.emplace(family, chart.series.size());
    if (added) chart.series.push_back({.label = family});
    chart.series[it->second].points.emplace_back(policy.budget.fraction, values[p]);
  }
  return chart;
}

// Effective KV exposure of the RetroAttention policies against their window,
// one series per family of windows.
Chart ExposureChart(const PolicyList& list, const std::vector<PolicyRunStats>& stats) {
  Chart chart{.title = "Effective KV exposure against the retrospective window",
              .x_label = "retrospective window w",
              .y_label = "unique positions attended / budget",
              .x_integer = true};
  std::map<std::string, size_t> series_of;
  for (size_t p = 0; p < list.policies.size(); ++p) {
    const auto exposure = stats[p].effective_exposure();
    if (!exposure) continue;
    const std::string family = SpecWithout(list.policies[p], "w");
    const auto [it, added] = series_of.emplace(family, chart.series.size());
    if (added) chart.series.push_back({.label = family});
    chart.series[it->second].points.emplace_back(list.policies[p].window, *exposure);
  }
  return chart;
}

// What --prime-answer puts at the start of the reply.
std::string Primer(const LongGenSample& sample, const LongGenOptions& options) {
  return options.prime_answer ? fmt::format("Answer_{}:\n", sample.first_index) : "";
}

size_t CommonPrefix(const std::vector<TokenId>& a, const std::vector<TokenId>& b) {
  return std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).first -
         a.begin();
}

}  // namespace

EvalReport RunPerplexityEval(const EngineView& engine, const PolicyList& list,
                             const TextEvalOptions& options) {
  CheckTextOptions(options, engine.context);
  const std::vector<TextSample> samples =
      LoadTexts(engine, options, options.prompt_tokens + options.eval_tokens + 1);
  const std::vector<PolicyConfig>& policies = list.policies;
  std::vector<BucketedMean> nlls(policies.size(), BucketedMean(options.bucket));
  std::vector<PolicyRunStats> stats(policies.size());
  {
    Progress progress(policies.size() * samples.size() * options.eval_tokens);
    for (size_t p = 0; p < policies.size(); ++p) {
      progress.SetLabel("ppl " + policies[p].ToString());
      for (const TextSample& sample : samples) {
        auto session = engine.NewSession(policies[p]);
        const TeacherForcedResult result = TeacherForcedNll(
            *session, sample.tokens, options.prompt_tokens, [&] { progress.Advance(); });
        nlls[p].AddSample(result.nlls);
        stats[p].Add(*session, result.nlls.size(), result.decode_seconds);
      }
    }
  }

  EvalReport report;
  report.notes = Notes(list, /*has_budget_charts=*/false);
  const std::vector<Bucket>& full_buckets = nlls[0].buckets();
  const size_t num_buckets = full_buckets.size();
  const auto ratio = [&](size_t p, size_t b) {
    return Perplexity(nlls[p].buckets()[b]) / Perplexity(full_buckets[b]);
  };
  Table summary{.title = fmt::format("Perplexity over {} generated tokens after a {}-token "
                                     "prompt, {} text(s)",
                                     options.eval_tokens, options.prompt_tokens, samples.size()),
                .header = {"policy", "perplexity", "ratio to full"}};
  AddStatsHeader(summary);
  Table by_position{.title = "Perplexity by generated position (ratio to full)",
                    .header = {"policy"}};
  for (const Bucket& bucket : full_buckets) by_position.header.push_back(BucketName(bucket));
  const json settings_base = {{"texts", SampleNames(samples)},
                              {"prompt_tokens", options.prompt_tokens},
                              {"eval_tokens", options.eval_tokens},
                              {"bucket", options.bucket},
                              {"engine", EngineSettings(engine)}};
  for (size_t p = 0; p < policies.size(); ++p) {
    const double perplexity = Perplexity(nlls[p].total());
    const double total_ratio = perplexity / Perplexity(nlls[0].total());
    std::vector<std::string> row = {policies[p].ToString(), Fixed(perplexity, 3),
                                    Fixed(total_ratio, 4)};
    const auto stat_cells = StatsCells(stats[p]);
    row.insert(row.end(), stat_cells.begin(), stat_cells.end());
    summary.rows.push_back(std::move(row));

    std::vector<std::string> position_row = {policies[p].ToString()};
    json buckets = json::array();
    for (size_t b = 0; b < num_buckets; ++b) {
      const Bucket& bucket = nlls[p].buckets()[b];
      position_row.push_back(fmt::format("{:.3f} ({:.4f})", Perplexity(bucket), ratio(p, b)));
      buckets.push_back({{"begin", bucket.begin},
                         {"end", bucket.end},
                         {"predictions", bucket.count},
                         {"mean_nll", bucket.Mean()},
                         {"perplexity", Perplexity(bucket)},
                         {"ratio_to_full", ratio(p, b)}});
    }
    by_position.rows.push_back(std::move(position_row));
    const json results = {{"perplexity", perplexity},
                          {"mean_nll", nlls[p].total().Mean()},
                          {"ratio_to_full", total_ratio},
                          {"predictions", nlls[p].total().count},
                          {"buckets", std::move(buckets)}};
    report.records.push_back(Record("ppl", engine, policies[p], settings_base, results, stats[p]));
  }
  report.tables = {std::move(summary), std::move(by_position)};
  report.charts.push_back(PositionChart("Perplexity ratio to full against generation length",
                                        "perplexity / full's", list, 1, full_buckets, ratio));
  report.charts.back().reference = ReferenceLine{1.0, "full"};
  report.charts.push_back(
      PositionChart("Perplexity against generation length", "perplexity", list, 0, full_buckets,
                    [&](size_t p, size_t b) { return Perplexity(nlls[p].buckets()[b]); }));
  report.charts.push_back(ExposureChart(list, stats));
  return report;
}

EvalReport RunFidelityEval(const EngineView& engine, const PolicyList& list,
                           const TextEvalOptions& options) {
  CheckTextOptions(options, engine.context);
  const std::vector<TextSample> samples = LoadTexts(engine, options, options.prompt_tokens);
  const std::vector<PolicyConfig>& policies = list.policies;
  const size_t n = policies.size();
  std::vector<BucketedMean> kl(n, BucketedMean(options.bucket));
  std::vector<BucketedMean> top1(n, BucketedMean(options.bucket));
  std::vector<PolicyRunStats> stats(n);
  json generated = json::array();
  {
    Progress progress(samples.size() * options.eval_tokens);
    for (const TextSample& sample : samples) {
      progress.SetLabel(fmt::format("fidelity of {} policies, {}", n - 1, sample.name));
      auto reference = engine.NewSession(policies[0]);
      std::vector<std::unique_ptr<Session>> sessions;
      std::vector<Session*> candidates;
      for (size_t p = 1; p < n; ++p) {
        sessions.push_back(engine.NewSession(policies[p]));
        candidates.push_back(sessions.back().get());
      }
      const FidelityRun run = RunFidelity(*reference, candidates, sample.tokens,
                                          options.eval_tokens, [&] { progress.Advance(); });
      // full is the reference: KL 0 and full agreement by definition.
      kl[0].AddSample(std::vector<double>(options.eval_tokens, 0.0));
      top1[0].AddSample(std::vector<double>(options.eval_tokens, 1.0));
      stats[0].Add(*reference, options.eval_tokens, run.reference_decode_seconds);
      for (size_t c = 0; c < candidates.size(); ++c) {
        kl[c + 1].AddSample(run.candidates[c].kl);
        top1[c + 1].AddSample(run.candidates[c].top1_agrees);
        stats[c + 1].Add(*candidates[c], options.eval_tokens, run.candidates[c].decode_seconds);
      }
      generated.push_back(
          {{"text", sample.name}, {"generated", engine.tokenizer.Decode(run.generated)}});
    }
  }

  EvalReport report;
  report.notes = Notes(list, /*has_budget_charts=*/true);
  const std::vector<Bucket>& buckets = kl[0].buckets();
  const size_t num_buckets = buckets.size();
  Table summary{
      .title = fmt::format("Fidelity to full over {} greedy tokens after a {}-token prompt, {} "
                           "text(s)",
                           options.eval_tokens, options.prompt_tokens, samples.size()),
      .header = {"policy", "mean KL (nats)", "top-1 agreement"}};
  AddStatsHeader(summary);
  Table by_position{.title = "KL from full / top-1 agreement by generated position",
                    .header = {"policy"}};
  for (const Bucket& bucket : buckets) by_position.header.push_back(BucketName(bucket));
  const json settings = {{"texts", SampleNames(samples)},
                         {"prompt_tokens", options.prompt_tokens},
                         {"eval_tokens", options.eval_tokens},
                         {"bucket", options.bucket},
                         {"engine", EngineSettings(engine)}};
  std::vector<double> mean_kl(n), mean_top1(n);
  for (size_t p = 0; p < n; ++p) {
    mean_kl[p] = kl[p].total().Mean();
    mean_top1[p] = top1[p].total().Mean();
    std::vector<std::string> row = {policies[p].ToString(),
                                    p == 0 ? "reference" : Fixed(mean_kl[p], 5),
                                    p == 0 ? "reference" : Percent(mean_top1[p])};
    const auto stat_cells = StatsCells(stats[p]);
    row.insert(row.end(), stat_cells.begin(), stat_cells.end());
    summary.rows.push_back(std::move(row));
    if (p == 0) continue;
    std::vector<std::string> position_row = {policies[p].ToString()};
    json bucket_records = json::array();
    for (size_t b = 0; b < num_buckets; ++b) {
      const Bucket& k = kl[p].buckets()[b];
      const Bucket& t = top1[p].buckets()[b];
      position_row.push_back(fmt::format("{:.5f} / {}", k.Mean(), Percent(t.Mean())));
      bucket_records.push_back({{"begin", k.begin},
                                {"end", k.end},
                                {"steps", k.count},
                                {"mean_kl", k.Mean()},
                                {"top1_agreement", t.Mean()}});
    }
    by_position.rows.push_back(std::move(position_row));
    json results = {{"reference", false},
                    {"mean_kl", mean_kl[p]},
                    {"top1_agreement", mean_top1[p]},
                    {"steps", kl[p].total().count},
                    {"buckets", std::move(bucket_records)}};
    report.records.push_back(Record("fidelity", engine, policies[p], settings, results, stats[p]));
  }
  // full's record (the reference) carries the generated texts, first in the list.
  const json full_results = {{"reference", true},
                             {"mean_kl", 0.0},
                             {"top1_agreement", 1.0},
                             {"steps", kl[0].total().count},
                             {"generated", std::move(generated)}};
  report.records.insert(report.records.begin(),
                        Record("fidelity", engine, policies[0], settings, full_results, stats[0]));
  report.tables = {std::move(summary)};
  if (n > 1) report.tables.push_back(std::move(by_position));
  report.charts.push_back(PositionChart(
      "KL divergence from full against generation length", "KL(full || policy), nats", list, 1,
      buckets, [&](size_t p, size_t b) { return kl[p].buckets()[b].Mean(); }));
  report.charts.push_back(
      PositionChart("Top-1 agreement with full against generation length", "top-1 agreement", list,
                    1, buckets, [&](size_t p, size_t b) { return top1[p].buckets()[b].Mean(); }));
  report.charts.back().reference = ReferenceLine{1.0, "full"};
  report.charts.push_back(
      BudgetChart("Mean KL divergence from full against the budget", "KL, nats", list, mean_kl));
  report.charts.push_back(ExposureChart(list, stats));
  return report;
}

EvalReport RunLongGenBenchEval(const EngineView& engine, ChatTemplate chat, const PolicyList& list,
                               const LongGenOptions& options) {
  if (options.max_new_tokens < 1) Fail("--max-new-tokens must be positive");
  const std::vector<LongGenSample> samples =
      LoadLongGenSamples(options.task, options.data_dir, options.questions, options.max_samples);
  std::vector<std::vector<TokenId>> prompts;
  std::vector<int> limits;  // generation limit of each sample
  uint64_t total_limit = 0;
  for (const LongGenSample& sample : samples) {
    const std::string text =
        RenderChat(chat, {{"system", sample.system}, {"user", sample.user}}, true) +
        Primer(sample, options);
    prompts.push_back(engine.tokenizer.Encode(text, /*add_bos=*/true, /*parse_special=*/true));
    limits.push_back(options.max_new_tokens * static_cast<int>(sample.questions.size()));
    total_limit += limits.back();
    if (static_cast<int>(prompts.back().size()) + limits.back() > engine.context) {
      Fail("{}: a prompt of {} tokens and up to {} generated tokens exceed the context size {}",
           sample.name, prompts.back().size(), limits.back(), engine.context);
    }
  }
  const std::vector<PolicyConfig>& policies = list.policies;
  struct Outcome {
    std::string text;
    std::vector<TokenId> tokens;
    std::vector<std::optional<std::string>> predicted = {};  // per question
  };
  std::vector<std::vector<Outcome>> outcomes(policies.size());
  std::vector<PolicyRunStats> stats(policies.size());
  {
    Progress progress(policies.size() * total_limit);
    for (size_t p = 0; p < policies.size(); ++p) {
      progress.SetLabel(
          fmt::format("{} {}", LongGenTaskName(options.task), policies[p].ToString()));
      for (size_t s = 0; s < samples.size(); ++s) {
        auto session = engine.NewSession(policies[p]);
        GenerationOptions generation;  // greedy
        generation.max_tokens = limits[s];
        int pieces = 0;  // text pieces seen: about one per token
        GenerationResult result =
            Generate(*session, engine.tokenizer, prompts[s], generation, [&](std::string_view) {
              if (pieces < limits[s]) {
                ++pieces;
                progress.Advance();
              }
            });
        progress.Advance(limits[s] - pieces);
        stats[p].Add(*session, result.tokens.size(), result.decode_seconds);
        const LongGenSample& sample = samples[s];
        Outcome outcome{.text = Primer(sample, options) + result.text,
                        .tokens = std::move(result.tokens)};
        for (const auto& answer : SplitAnswers(outcome.text, sample.first_index,
                                               static_cast<int>(sample.questions.size()))) {
          outcome.predicted.push_back(answer ? ParseAnswer(options.task, *answer) : std::nullopt);
        }
        outcomes[p].push_back(std::move(outcome));
      }
    }
  }

  EvalReport report;
  report.notes = Notes(list, /*has_budget_charts=*/true);
  Table summary{
      .title = fmt::format("LongGenBench {}: {} prompt(s) of {} question(s), greedy, up to {} "
                           "tokens per question{}",
                           LongGenTaskName(options.task), samples.size(), options.questions,
                           options.max_new_tokens,
                           options.prime_answer ? ", replies primed with Answer_i:" : ""),
      .header = {"policy", "accuracy", "agreement with full", "answered",
                 "common prefix with full (tokens)", "generated tokens"}};
  AddStatsHeader(summary);
  const json settings = {{"task", LongGenTaskName(options.task)},
                         {"questions_per_prompt", options.questions},
                         {"max_new_tokens_per_question", options.max_new_tokens},
                         {"prompts", samples.size()},
                         {"chat_template", ChatTemplateName(chat)},
                         {"prime_answer", options.prime_answer},
                         {"engine", EngineSettings(engine)}};
  std::vector<double> accuracy(policies.size()), agreement(policies.size());
  for (size_t p = 0; p < policies.size(); ++p) {
    int questions = 0, correct = 0, answered = 0, agreeing = 0;
    uint64_t prefix = 0, generated = 0;
    json sample_records = json::array();
    for (size_t s = 0; s < samples.size(); ++s) {
      const Outcome& outcome = outcomes[p][s];
      const Outcome& full = outcomes[0][s];
      prefix += CommonPrefix(outcome.tokens, full.tokens);
      generated += outcome.tokens.size();
      json answers = json::array();
      for (size_t q = 0; q < samples[s].questions.size(); ++q) {
        const std::optional<std::string>& predicted = outcome.predicted[q];
        const bool is_correct = predicted == samples[s].questions[q].gold;
        // A missing answer agrees only with a missing answer.
        const bool agrees = predicted == full.predicted[q];
        ++questions;
        correct += is_correct;
        answered += predicted.has_value();
        agreeing += agrees;
        answers.push_back({{"question", samples[s].first_index + static_cast<int>(q)},
                           {"gold", samples[s].questions[q].gold},
                           {"predicted", predicted ? json(*predicted) : json(nullptr)},
                           {"correct", is_correct},
                           {"agrees_with_full", agrees}});
      }
      sample_records.push_back({{"name", samples[s].name},
                                {"output", outcome.text},
                                {"generated_tokens", outcome.tokens.size()},
                                {"answers", std::move(answers)}});
    }
    accuracy[p] = questions ? static_cast<double>(correct) / questions : 0.0;
    agreement[p] = questions ? static_cast<double>(agreeing) / questions : 0.0;
    const double mean_prefix = samples.empty() ? 0.0 : static_cast<double>(prefix) / samples.size();
    std::vector<std::string> row = {
        policies[p].ToString(), fmt::format("{} ({}/{})", Percent(accuracy[p]), correct, questions),
        Percent(agreement[p]),  fmt::format("{}/{}", answered, questions),
        Fixed(mean_prefix, 1),  std::to_string(generated)};
    const auto stat_cells = StatsCells(stats[p]);
    row.insert(row.end(), stat_cells.begin(), stat_cells.end());
    summary.rows.push_back(std::move(row));
    const json results = {{"accuracy", accuracy[p]},
                          {"correct", correct},
                          {"questions", questions},
                          {"answered", answered},
                          {"agreement_with_full", agreement[p]},
                          {"mean_common_prefix_tokens", mean_prefix},
                          {"generated_tokens", generated},
                          {"samples", std::move(sample_records)}};
    report.records.push_back(
        Record("longgenbench", engine, policies[p], settings, results, stats[p]));
  }
  report.tables = {std::move(summary)};
  report.charts.push_back(
      BudgetChart("LongGenBench accuracy against the budget", "accuracy", list, accuracy));
  report.charts.push_back(BudgetChart("Answer agreement with full against the budget",
                                      "agreement with full", list, agreement));
  for (Chart* fraction_chart : {&report.charts[0], &report.charts[1]}) {
    fraction_chart->y_include = {0.0, 1.0};
  }
  report.charts.push_back(ExposureChart(list, stats));
  return report;
}

}  // namespace ri::eval
