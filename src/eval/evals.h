// The three evaluations of `retroinfer eval`, each over a list of attention
// policies with `full` as the reference: run with a progress bar on stderr,
// and return tables, one JSON record per policy and charts.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "eval/longgenbench.h"
#include "eval/policies.h"
#include "eval/report.h"
#include "runtime/session.h"
#include "tokenizer/chat_template.h"

namespace ri::eval {

struct EvalReport {
  std::vector<std::string> notes;  // things the reader must know (e.g. full was added)
  std::vector<Table> tables;
  std::vector<nlohmann::json> records;  // one per policy, in the list's order
  std::vector<Chart> charts;
};

// Texts scored (perplexity) or used as prompts (fidelity): each file is
// stripped of its Gutenberg header and footer and encoded; each is one sample.
struct TextEvalOptions {
  std::vector<std::string> texts;
  int prompt_tokens = 1024;
  int eval_tokens = 1024;  // predictions scored / decode steps compared per sample
  int bucket = 256;        // decode steps per position bucket
  int max_samples = 0;     // at most this many texts (0: all)
};

struct LongGenOptions {
  LongGenTask task = LongGenTask::kGsm8k;
  std::string data_dir;
  int questions = 4;         // K questions per prompt
  int max_new_tokens = 300;  // generation limit per question
  int max_samples = 0;       // at most this many prompts (0: all)
  // Opens the reply with "Answer_<first>:\n" (then part of the scored
  // output). Not in the protocol; it makes small models keep to the format.
  bool prime_answer = false;
};

// Long-generation perplexity (see perplexity.h): overall and per position
// bucket, with its ratio to full.
EvalReport RunPerplexityEval(const EngineView& engine, const PolicyList& policies,
                             const TextEvalOptions& options);

// Fidelity to full along full's greedy continuation of each text's first
// prompt_tokens tokens (see fidelity.h): KL divergence and top-1 agreement
// per position bucket.
EvalReport RunFidelityEval(const EngineView& engine, const PolicyList& policies,
                           const TextEvalOptions& options);

// LongGenBench (see longgenbench.h): accuracy, and agreement of each
// question's parsed answer with full's. Prompts use the chat template `chat`.
EvalReport RunLongGenBenchEval(const EngineView& engine, ChatTemplate chat,
                               const PolicyList& policies, const LongGenOptions& options);

}  // namespace ri::eval
