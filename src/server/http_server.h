// The OpenAI-compatible HTTP API over the scheduler: routes, authentication,
// JSON and server-sent-event responses, and the built-in chat page.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "server/metrics.h"
#include "server/request.h"
#include "server/scheduler.h"
#include "tokenizer/chat_template.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace ri::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  std::string api_key;  // empty: no authentication
  std::string model_name;
  size_t max_body_bytes = 1 << 20;
  int threads = 48;  // HTTP handler threads (streams hold one each)
  SchedulerOptions scheduler;
  RequestLimits limits;
  ChatTemplate chat_template = ChatTemplate::kChatML;
  std::string default_system_prompt;
};

class HttpServer {
 public:
  HttpServer(const EngineView& engine, const ServerOptions& options);
  ~HttpServer();

  // Binds the socket; returns the port (throws ri::Error when it cannot).
  int Bind();
  // Serves until Shutdown; blocks. False when serving failed.
  bool Listen();
  // Refuses new generations (503), lets the admitted ones finish and their
  // responses be sent, then stops Listen.
  void Shutdown();

 private:
  void AddRoutes();
  // Parses, tokenizes and submits a generation; writes the response.
  void HandleGeneration(const httplib::Request& http_request, httplib::Response& response,
                        Endpoint endpoint);
  std::vector<TokenId> PromptTokens(const CompletionRequest& request) const;
  // Held by a generation's response until it is destroyed (sent or abandoned):
  // stopping httplib cuts the chunked responses still being written.
  std::shared_ptr<void> ResponseInFlight();

  std::mutex responses_mutex_;
  std::condition_variable responses_done_;
  int responses_in_flight_ = 0;

  EngineView engine_;
  ServerOptions options_;
  Metrics metrics_;
  Scheduler scheduler_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace ri::server
