// The subcommands of the `retroinfer` program. Each Register* adds its
// options to the app and returns the callback that runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace ri::cli {

using Command = std::function<int()>;

Command RegisterGenerate(CLI::App& app);
Command RegisterChat(CLI::App& app);
Command RegisterInfo(CLI::App& app);
Command RegisterBench(CLI::App& app);
Command RegisterEval(CLI::App& app);
Command RegisterServe(CLI::App& app);

}  // namespace ri::cli
