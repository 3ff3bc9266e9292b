#include "cli/engine_options.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "attention/attention_policy.h"
#include "gguf/gguf_file.h"
#include "util/error.h"

namespace ri::cli {

namespace {
constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";
}  // namespace

std::string DefaultModelPath() {
  if (const char* from_environment = std::getenv("RETROINFER_MODEL")) return from_environment;
  const std::filesystem::path local = std::filesystem::path("models") / kDefaultModelFile;
  if (std::filesystem::exists(local)) return local.string();
  return (std::filesystem::path(RETROINFER_SOURCE_DIR) / "models" / kDefaultModelFile).string();
}

void EngineOptions::AddTo(CLI::App& command) {
  command.add_option("-m,--model", model_path,
                     "GGUF model file (default: $RETROINFER_MODEL, else the default model "
                     "fetched by scripts/setup.sh into models/)");
  command.add_option("-t,--threads", threads, "Threads (default: all cores)")
      ->check(CLI::Range(1, 256));
  command.add_option("-c,--ctx-size", context,
                     "Context size in tokens (default: the model's trained context)")
      ->check(CLI::PositiveNumber);
  command.add_option("--chat-template", chat_template,
                     "Chat template family: chatml, llama3, mistral, gemma (default: detected "
                     "from the model)");
  command
      .add_option("--activations", activations,
                  "How activations meet quantized weights: float (exact) or q8 "
                  "(rounded to 8-bit integers per block of 32, integer dot products: faster "
                  "for several rows, less exact)")
      ->check(CLI::IsMember({"float", "q8"}))
      ->capture_default_str();
  command.add_option("--attention", attention,
                     "Attention policy: full, quest, streaming, tova, retro")
      ->capture_default_str();
  command.add_option("--budget", budget,
                     "KV budget of sparse policies: a fraction of the context (0.1) or a token "
                     "count (2048)")
      ->capture_default_str();
  command.add_option("--page-size", page_size, "KV cache page size in tokens (a power of two)")
      ->capture_default_str();
  command.add_option("--dense-layers", dense_layers, "Quest: first layers that attend densely")
      ->capture_default_str();
  command.add_option("--sinks", sinks, "StreamingLLM: attention-sink positions kept")
      ->capture_default_str();
  command.add_option("--window", window,
                     "RetroAttention: retrospective window w (1 is Quest)")
      ->capture_default_str();
  command
      .add_option("--prompt-attention", prompt_attention,
                  "Arithmetic of the prompt's attention: exact (a prompt gives the bits its "
                  "tokens would give decoded one by one) or bf16 (AMX tiles where the CPU "
                  "has them: faster prompts, rounded to 8 significant bits)")
      ->check(CLI::IsMember({"exact", "bf16"}))
      ->capture_default_str();
  command.add_flag("--stats", print_stats, "Print the attention policy's statistics at the end");
}

PolicyConfig EngineOptions::Policy(int num_layers) const {
  PolicyConfig config;
  config.kind = ParsePolicyKind(attention);
  config.budget = Budget::Parse(budget);
  config.dense_layers = dense_layers;
  config.sinks = sinks;
  config.window = window;
  config.prompt = ParsePromptAttention(prompt_attention);
  config.Validate(num_layers);
  return config;
}

void AddSamplingOptions(CLI::App& command, GenerationOptions& options) {
  SamplerOptions& s = options.sampler;
  command.add_option("-n,--max-tokens", options.max_tokens, "Maximum tokens to generate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--temp", s.temperature, "Temperature; 0 is greedy")->capture_default_str();
  command.add_option("--top-k", s.top_k, "Keep the k most likely tokens; 0 is off")
      ->capture_default_str();
  command.add_option("--top-p", s.top_p, "Nucleus sampling probability mass; 1 is off")
      ->capture_default_str();
  command.add_option("--min-p", s.min_p, "Drop tokens below min-p times the top probability")
      ->capture_default_str();
  command.add_option("--repeat-penalty", s.repetition_penalty,
                     "Penalty for recently seen tokens; 1 is off")
      ->capture_default_str();
  command.add_option("--repeat-last-n", s.repetition_window,
                     "How many recent tokens the penalty looks at")
      ->capture_default_str();
  command.add_option("--seed", s.seed, "Random seed (same seed, same output)")
      ->capture_default_str();
  command.add_option("--stop", options.stop, "Stop before this string (repeatable)");
}

Engine Engine::Load(const EngineOptions& options, bool with_tokenizer) {
  std::string path = options.model_path;
  if (path.empty()) {
    path = DefaultModelPath();
    if (!std::filesystem::exists(path)) {
      Fail("no model given (-m) and the default model is missing at '{}'.\n"
           "Fetch it with: bash scripts/setup.sh (or bash scripts/fetch_model.sh)",
           path);
    }
  }
  Engine engine;
  engine.model = Model::Load(path, options.activations == "float" ? ActivationPrecision::kFloat
                                                                  : ActivationPrecision::kQ8);
  const ModelConfig& config = engine.model->config();
  if (with_tokenizer) engine.tokenizer = Tokenizer::FromGguf(*engine.model->file());
  if (engine.tokenizer && engine.tokenizer->vocab_size() != config.vocab_size) {
    Fail("the tokenizer has {} tokens but the embedding has {} rows",
         engine.tokenizer->vocab_size(), config.vocab_size);
  }
  engine.context = options.context > 0 ? options.context : config.context_length;
  if (engine.context > config.context_length) {
    Fail("context size {} exceeds the model's trained context of {}", engine.context,
         config.context_length);
  }
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  engine.threads = std::make_unique<ThreadPool>(threads);
  engine.policy = options.Policy(config.num_layers);
  if (engine.policy.prompt == PromptAttention::kBf16 &&
      !Bf16TileAttentionAvailable(config.head_dim)) {
    fmt::print(stderr,
               "note: bf16 prompt attention needs AMX with BF16 and a head size that is a "
               "multiple of 64; prompts use exact attention\n");
  }
  engine.pages = std::make_unique<KvPagePool>(KvGeometry{.num_layers = config.num_layers,
                                                         .num_kv_heads = config.num_kv_heads,
                                                         .head_dim = config.head_dim,
                                                         .page_size = options.page_size});
  return engine;
}

EngineView Engine::View() const {
  if (!tokenizer) Fail("the engine was loaded without its tokenizer");
  return {.model = *model, .tokenizer = *tokenizer, .pages = *pages, .threads = *threads,
          .context = context};
}

ChatTemplate Engine::Template(const EngineOptions& options) const {
  if (!options.chat_template.empty()) return ParseChatTemplateName(options.chat_template);
  const std::string jinja = model->file()->GetStringOr("tokenizer.chat_template", "");
  if (jinja.empty()) {
    Fail("the model has no chat template; choose one with --chat-template "
         "(chatml, llama3, mistral, gemma)");
  }
  return DetectChatTemplate(jinja);
}

std::string Engine::DefaultSystemPrompt() const {
  return ExtractDefaultSystemPrompt(model->file()->GetStringOr("tokenizer.chat_template", ""));
}

std::string PolicyStatistics(const Session& session, const PolicyConfig& policy) {
  const AttentionStats& stats = session.policy().stats();
  const ModelConfig& c = session.model().config();
  const double steps = std::max<uint64_t>(1, stats.decode_steps);
  const double heads = static_cast<double>(c.num_layers) * c.num_kv_heads;
  const uint64_t full_bytes = session.full_attention_kv_bytes();
  std::string text = fmt::format(
      "attention {}: {} decode steps; per step and kv head: {:.1f} positions, {:.1f} pages; "
      "KV read {:.3f} MiB per step ({:.1f}% of full attention); KV cache {:.2f} MiB",
      policy.ToString(), stats.decode_steps, stats.positions_attended / steps / heads,
      stats.pages_read / steps / heads, stats.kv_bytes_read / steps / 1048576.0,
      full_bytes ? 100.0 * stats.kv_bytes_read / full_bytes : 100.0,
      session.cache().bytes_in_use() / 1048576.0);
  if (stats.window_queries > 0) {
    const double queries = static_cast<double>(stats.window_queries);
    text += fmt::format(
        "\nretrospective window: {:.2f} supplementary pages and {:.1f} positions per window "
        "query and step",
        stats.supplementary_pages / queries, stats.supplementary_positions / queries);
  }
  if (const auto exposure = stats.effective_kv_exposure()) {
    text += fmt::format(
        "\neffective KV exposure: {:.3f} x budget (mean over {} window queries x sparse layers "
        "x kv heads)",
        *exposure, stats.exposure_count);
  }
  return text;
}

std::string TimingSummary(const GenerationResult& result) {
  const auto rate = [](double count, double seconds) {
    return seconds > 0 ? count / seconds : 0.0;
  };
  const int generated = static_cast<int>(result.tokens.size());
  return fmt::format("prompt: {} tokens, {:.1f} tok/s | generated: {} tokens, {:.1f} tok/s",
                     result.prompt_tokens, rate(result.prompt_tokens, result.prefill_seconds),
                     generated, rate(generated, result.decode_seconds));
}

}  // namespace ri::cli
