// `retroinfer chat`: interactive multi-turn conversation with streaming.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/engine_options.h"

namespace ri::cli {

namespace {

struct ChatArguments {
  EngineOptions engine;
  GenerationOptions generation;
  std::string system;
  bool timings = false;
};

// Tokens of the conversation so far; the session reuses its cache for the
// common prefix and only feeds what is new.
std::vector<TokenId> DeltaToFeed(Session& session, const std::vector<TokenId>& conversation) {
  const std::vector<TokenId>& held = session.tokens();
  const bool is_prefix = held.size() <= conversation.size() &&
                         std::equal(held.begin(), held.end(), conversation.begin());
  if (!is_prefix) session.Reset();
  return {conversation.begin() + static_cast<long>(session.tokens().size()), conversation.end()};
}

int RunChat(const ChatArguments& args) {
  Engine engine = Engine::Load(args.engine);
  const ChatTemplate family = engine.Template(args.engine);
  const std::string default_system = engine.DefaultSystemPrompt();
  auto session = engine.NewSession();
  std::vector<ChatMessage> messages;
  if (!args.system.empty()) messages.push_back({"system", args.system});
  fmt::print(stderr, "Chatting with {} ({} template). Empty line or Ctrl-D ends.\n",
             engine.model->config().name, ChatTemplateName(family));
  std::string line;
  for (;;) {
    fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    messages.push_back({"user", line});
    const std::string text = RenderChat(family, messages, true, default_system);
    const std::vector<TokenId> conversation = engine.tokenizer->Encode(text, true, true);
    if (conversation.size() >= static_cast<size_t>(session->context_size())) {
      fmt::print(stderr, "The conversation no longer fits in the context of {} tokens.\n",
                 session->context_size());
      return 1;
    }
    const std::vector<TokenId> delta = DeltaToFeed(*session, conversation);
    const GenerationResult result =
        Generate(*session, *engine.tokenizer, delta, args.generation, [](std::string_view piece) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    messages.push_back({"assistant", result.text});
    if (args.timings) fmt::print(stderr, "{}\n", TimingSummary(result));
  }
  if (args.engine.print_stats) {
    fmt::print(stderr, "{}\n", PolicyStatistics(*session, engine.policy));
  }
  return 0;
}

}  // namespace

Command RegisterChat(CLI::App& app) {
  auto args = std::make_shared<ChatArguments>();
  args->generation.max_tokens = 512;
  CLI::App* command = app.add_subcommand("chat", "Interactive multi-turn chat");
  args->engine.AddTo(*command);
  AddSamplingOptions(*command, args->generation);
  command->add_option("--system", args->system, "System message");
  command->add_flag("--timings", args->timings, "Print a timing line after each answer");
  return [args] { return RunChat(*args); };
}

}  // namespace ri::cli
