// Options shared by the subcommands that run a model, and the objects they
// set up from them.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "attention/policy_config.h"
#include "kv/paged_kv_cache.h"
#include "model/model.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace ri::cli {

struct EngineOptions {
  std::string model_path;          // empty: the default model
  int threads = 0;                 // 0: all hardware threads
  int context = 0;                 // 0: the model's trained context
  std::string chat_template;       // empty: detected from the model
  std::string activations = "float";  // float or q8 (ActivationPrecision)
  // Attention policy of the sequences (--attention, --budget, --page-size,
  // ...).
  std::string attention = "full";
  std::string budget = "0.1";
  int page_size = 16;
  int dense_layers = 2;
  int sinks = 4;
  int window = 2;
  std::string prompt_attention = "exact";  // exact or bf16 (PromptAttention)
  bool print_stats = false;

  void AddTo(CLI::App& command);
  // The policy chosen by the attention options; throws ri::Error when invalid.
  PolicyConfig Policy(int num_layers) const;
};

void AddSamplingOptions(CLI::App& command, GenerationOptions& options);

// What a run needs: the model, its tokenizer, threads and a KV page pool.
struct Engine {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> threads;
  std::unique_ptr<KvPagePool> pages;
  int context = 0;
  PolicyConfig policy;

  // Without `with_tokenizer` the tokenizer is left null (describing a file
  // must not depend on its tokenizer being usable).
  static Engine Load(const EngineOptions& options, bool with_tokenizer = true);
  // What sessions of this engine share; valid while the engine lives.
  EngineView View() const;
  // A session with the command line's attention policy.
  std::unique_ptr<Session> NewSession() const { return View().NewSession(policy); }
  // The chat template family: the override if given, else detected.
  ChatTemplate Template(const EngineOptions& options) const;
  // The default system prompt of the model's template (may be empty).
  std::string DefaultSystemPrompt() const;
};

// Path of the default model, and the error shown when it is missing.
std::string DefaultModelPath();

// The policy's statistics (--stats), several lines.
std::string PolicyStatistics(const Session& session, const PolicyConfig& policy);

// "prompt: 12 tokens, 310.2 tok/s | generated: 64 tokens, 95.1 tok/s".
std::string TimingSummary(const GenerationResult& result);

}  // namespace ri::cli
