// `retroinfer serve`: the OpenAI-compatible HTTP server (see src/server/).
#include <fmt/format.h>
#include <pthread.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "server/http_server.h"
#include "util/error.h"

namespace ri::cli {

namespace {

struct ServeArgs {
  EngineOptions engine;
  server::ServerOptions server;
  int max_tokens = 0;  // 0: the context size
};

int RunServe(const ServeArgs& args) {
  // SIGINT and SIGTERM are taken by one thread (sigwait) that shuts the server
  // down gracefully; every thread started from here on inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a vanished client is seen as a failed write

  Engine engine = Engine::Load(args.engine);
  server::ServerOptions options = args.server;
  const std::string path = args.engine.model_path.empty() ? DefaultModelPath()
                                                          : args.engine.model_path;
  options.model_name = std::filesystem::path(path).stem().string();
  options.limits.num_layers = engine.model->config().num_layers;
  options.limits.default_policy = engine.policy;
  options.limits.max_tokens = args.max_tokens > 0 ? args.max_tokens : engine.context;
  options.limits.default_max_tokens = std::min(options.limits.default_max_tokens,
                                               options.limits.max_tokens);
  options.chat_template = engine.Template(args.engine);
  options.default_system_prompt = engine.DefaultSystemPrompt();
  options.threads = options.scheduler.max_sequences + options.scheduler.max_queue + 8;

  server::HttpServer http(engine.View(), options);
  const int port = http.Bind();
  fmt::print(stderr, "serving {} ({}, context {}) with attention {}\n", options.model_name,
             path, engine.context, engine.policy.ToString());
  fmt::print(stderr, "listening on {}:{}\n", options.host, port);
  std::fflush(stderr);

  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    fmt::print(stderr, "signal {}: finishing the requests in flight, then exiting\n", signal);
    http.Shutdown();
  });
  const bool served = http.Listen();
  if (!served) pthread_kill(signal_thread.native_handle(), SIGTERM);  // ends the waiting thread
  signal_thread.join();
  if (!served) Fail("the server on {}:{} stopped on an error", options.host, port);
  return 0;
}

}  // namespace

Command RegisterServe(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* command =
      app.add_subcommand("serve", "Serve an OpenAI-compatible HTTP API (and a chat page at /)");
  args->engine.AddTo(*command);
  server::ServerOptions& s = args->server;
  command->add_option("--host", s.host, "Address to listen on")->capture_default_str();
  command->add_option("--port", s.port, "Port (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  command->add_option("--api-key", s.api_key,
                      "Require 'Authorization: Bearer KEY' (except for / and /health)");
  command->add_option("--max-sequences", s.scheduler.max_sequences,
                      "Sequences decoded together; more requests wait")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  command->add_option("--max-queue", s.scheduler.max_queue,
                      "Requests that may wait for a slot; beyond it: 429")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  command->add_option("--max-tokens", args->max_tokens,
                      "Largest max_tokens a request may ask for (default: the context size)")
      ->check(CLI::PositiveNumber);
  command->add_option("--default-max-tokens", s.limits.default_max_tokens,
                      "max_tokens of requests that give none")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->add_option("--max-body", s.max_body_bytes, "Largest request body in bytes (413 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  return [args] { return RunServe(*args); };
}

}  // namespace ri::cli
