// retroinfer: run GGUF language models on the CPU.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <string_view>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"retroinfer: LLM inference on the CPU with sparse and retrospective attention"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "retroinfer 0.1");
  const std::vector<std::pair<CLI::App*, ri::cli::Command>> commands = [&] {
    std::vector<std::pair<CLI::App*, ri::cli::Command>> list;
    for (auto* register_command :
         {&ri::cli::RegisterGenerate, &ri::cli::RegisterChat, &ri::cli::RegisterInfo,
          &ri::cli::RegisterBench, &ri::cli::RegisterEval, &ri::cli::RegisterServe}) {
      ri::cli::Command run = register_command(app);
      list.emplace_back(app.get_subcommands({}).back(), std::move(run));
    }
    return list;
  }();
  const auto is_command = [&](std::string_view name) {
    return std::any_of(commands.begin(), commands.end(),
                       [&](const auto& entry) { return entry.first->get_name() == name; });
  };
  if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1])) {
    std::string known;
    for (const auto& entry : commands) known += (known.empty() ? "" : ", ") + entry.first->get_name();
    fmt::print(stderr, "error: unknown subcommand '{}' (known: {})\n", argv[1], known);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    for (const auto& [command, run] : commands) {
      if (command->parsed()) return run();
    }
  } catch (const ri::Error& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  }
  return 1;
}
