// `retroinfer generate`: one prompt in, streamed text out.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "util/error.h"

namespace ri::cli {

namespace {

struct GenerateArguments {
  EngineOptions engine;
  GenerationOptions generation;
  std::string prompt;
  std::string prompt_file;
  bool chat = false;
  std::string system;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("cannot read prompt file '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int RunGenerate(const GenerateArguments& args) {
  std::string prompt = args.prompt_file.empty() ? args.prompt : ReadFile(args.prompt_file);
  Engine engine = Engine::Load(args.engine);
  const Tokenizer& tokenizer = *engine.tokenizer;
  std::vector<TokenId> tokens;
  if (args.chat) {
    std::vector<ChatMessage> messages;
    if (!args.system.empty()) messages.push_back({"system", args.system});
    messages.push_back({"user", prompt});
    const std::string text = RenderChat(engine.Template(args.engine), messages, true,
                                        engine.DefaultSystemPrompt());
    tokens = tokenizer.Encode(text, /*add_bos=*/true, /*parse_special=*/true);
  } else {
    tokens = tokenizer.Encode(prompt, /*add_bos=*/true, /*parse_special=*/false);
  }
  auto session = engine.NewSession();
  const GenerationResult result =
      Generate(*session, tokenizer, tokens, args.generation, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  fmt::print(stderr, "{}\n", TimingSummary(result));
  if (args.engine.print_stats) {
    fmt::print(stderr, "{}\n", PolicyStatistics(*session, engine.policy));
  }
  return 0;
}

}  // namespace

Command RegisterGenerate(CLI::App& app) {
  auto args = std::make_shared<GenerateArguments>();
  CLI::App* command = app.add_subcommand("generate", "Generate text from a prompt");
  args->engine.AddTo(*command);
  AddSamplingOptions(*command, args->generation);
  auto* prompt = command->add_option("-p,--prompt", args->prompt, "Prompt text");
  auto* file = command->add_option("-f,--file", args->prompt_file, "Read the prompt from a file");
  prompt->excludes(file);
  command->add_flag("--chat", args->chat, "Wrap the prompt in the model's chat template");
  command->add_option("--system", args->system, "System message (with --chat)");
  return [args, command, prompt, file] {
    if (prompt->count() == 0 && file->count() == 0) {
      Fail("generate needs a prompt: -p TEXT or -f FILE (see --help)");
    }
    return RunGenerate(*args);
  };
}

}  // namespace ri::cli
