#include "server/http_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>

#include <nlohmann/json.hpp>

#include "server/chat_page.h"
#include "server/response.h"
#include "util/error.h"

namespace ri::server {

namespace {

using nlohmann::json;

// How long a streaming handler waits for text before checking the client again.
constexpr std::chrono::milliseconds kStreamPoll{100};
// How long Shutdown waits for finished generations to reach clients that read
// slowly (httplib's write timeout is 5 s per write).
constexpr std::chrono::seconds kSendGrace{10};

void SendJson(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                       "application/json");
}

void SendError(httplib::Response& response, const ApiError& error) {
  SendJson(response, error.status, ErrorJson(error));
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewId(Endpoint endpoint) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}-{:x}-{}", endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl",
                     UnixSeconds(), counter++);
}

// The error of a status httplib produced itself (404, 413, ...).
ApiError StatusError(int status) {
  switch (status) {
    case 404: return ApiError(404, "no such route", "", "not_found");
    case 405: return ApiError(405, "method not allowed", "", "method_not_allowed");
    case 413: return ApiError(413, "the request body is too large", "", "payload_too_large");
    default:
      return ApiError(status, fmt::format("HTTP error {}", status), "", "http_error");
  }
}

}  // namespace

HttpServer::HttpServer(const EngineView& engine, const ServerOptions& options)
    : engine_(engine),
      options_(options),
      scheduler_(engine, options.scheduler, metrics_),
      http_(std::make_unique<httplib::Server>()) {
  const int threads = options.threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options.max_body_bytes);
  AddRoutes();
}

HttpServer::~HttpServer() = default;

int HttpServer::Bind() {
  if (options_.port == 0) {
    const int port = http_->bind_to_any_port(options_.host);
    if (port < 0) Fail("cannot bind to {} on any port", options_.host);
    return port;
  }
  if (!http_->bind_to_port(options_.host, options_.port)) {
    Fail("cannot bind to {}:{} (in use, or not an address of this machine?)", options_.host,
         options_.port);
  }
  return options_.port;
}

bool HttpServer::Listen() { return http_->listen_after_bind(); }

void HttpServer::Shutdown() {
  scheduler_.Drain();
  {
    std::unique_lock lock(responses_mutex_);
    responses_done_.wait_for(lock, kSendGrace, [&] { return responses_in_flight_ == 0; });
  }
  http_->stop();
}

std::shared_ptr<void> HttpServer::ResponseInFlight() {
  std::lock_guard lock(responses_mutex_);
  ++responses_in_flight_;
  return std::shared_ptr<void>(nullptr, [this](void*) {
    {
      std::lock_guard lock(responses_mutex_);
      --responses_in_flight_;
    }
    responses_done_.notify_all();
  });
}

void HttpServer::AddRoutes() {
  http_->set_pre_routing_handler([this](const httplib::Request& request,
                                        httplib::Response& response) {
    const bool open = request.path == "/" || request.path == "/health";
    if (options_.api_key.empty() || open ||
        request.get_header_value("Authorization") == "Bearer " + options_.api_key) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    SendError(response, ApiError(401, "invalid or missing API key (Authorization: Bearer KEY)",
                                 "", "invalid_api_key", "authentication_error"));
    return httplib::Server::HandlerResponse::Handled;
  });
  http_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.body.empty()) {
      SendError(response, StatusError(response.status));
    }
  });
  http_->set_logger([this](const httplib::Request&, const httplib::Response& response) {
    metrics_.CountResponse(response.status);
  });

  http_->Get("/health", [](const httplib::Request&, httplib::Response& response) {
    SendJson(response, 200, {{"status", "ok"}});
  });
  http_->Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::string(kChatPage), "text/html; charset=utf-8");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.Render(), "text/plain; version=0.0.4");
  });
  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
    SendJson(response, 200,
             {{"object", "list"},
              {"data", json::array({{{"id", options_.model_name},
                                     {"object", "model"},
                                     {"created", 0},
                                     {"owned_by", "retroinfer"}}})}});
  });
  http_->Post("/v1/completions",
              [this](const httplib::Request& request, httplib::Response& response) {
                HandleGeneration(request, response, Endpoint::kCompletions);
              });
  http_->Post("/v1/chat/completions",
              [this](const httplib::Request& request, httplib::Response& response) {
                HandleGeneration(request, response, Endpoint::kChat);
              });
}

std::vector<TokenId> HttpServer::PromptTokens(const CompletionRequest& request) const {
  std::vector<TokenId> tokens;
  if (request.endpoint == Endpoint::kChat) {
    std::string text;
    try {
      text = RenderChat(options_.chat_template, request.messages, /*add_generation_prompt=*/true,
                        options_.default_system_prompt);
    } catch (const Error& error) {
      throw ApiError(400, error.what(), "messages");
    }
    tokens = engine_.tokenizer.Encode(text, /*add_bos=*/true, /*parse_special=*/true);
  } else {
    tokens = engine_.tokenizer.Encode(request.prompt, /*add_bos=*/true, /*parse_special=*/false);
  }
  const std::string param = request.endpoint == Endpoint::kChat ? "messages" : "prompt";
  if (tokens.empty()) throw ApiError(400, "the prompt is empty", param);
  if (static_cast<int>(tokens.size()) >= engine_.context) {
    throw ApiError(400,
                   fmt::format("the prompt has {} tokens; the context holds {} (including at "
                               "least one generated token)",
                               tokens.size(), engine_.context),
                   param, "context_length_exceeded");
  }
  return tokens;
}

void HttpServer::HandleGeneration(const httplib::Request& http_request,
                                  httplib::Response& response, Endpoint endpoint) {
  // Taken before Submit, so that Shutdown cannot miss a response it accepted.
  std::shared_ptr<void> in_flight = ResponseInFlight();
  auto job = std::make_shared<Job>();
  try {
    job->request = ParseCompletionRequest(http_request.body, endpoint, options_.limits);
    job->prompt = PromptTokens(job->request);
    switch (scheduler_.Submit(job)) {
      case SubmitResult::kAccepted: break;
      case SubmitResult::kQueueFull:
        throw ApiError(429, "too many requests are waiting; retry later", "",
                       "rate_limit_exceeded", "rate_limit_error");
      case SubmitResult::kShuttingDown:
        throw ApiError(503, "the server is shutting down", "", "shutting_down", "server_error");
    }
  } catch (const ApiError& error) {
    SendError(response, error);
    return;
  }
  metrics_.CountRequest(std::string(PolicyKindName(job->request.policy.kind)));
  const ResponseHeader header{.endpoint = endpoint,
                              .id = NewId(endpoint),
                              .created = UnixSeconds(),
                              .model = options_.model_name};
  const auto failure = [](const std::string& message) {
    return ApiError(500, message, "", "generation_failed", "server_error");
  };

  if (!job->request.stream) {
    // The JSON is sent whole at the end, but through a content provider so
    // that a client that goes away while it waits is noticed (and its
    // sequence cancelled). A generation failure after that point can only be
    // reported in the body.
    response.set_chunked_content_provider(
        "application/json",
        [job, header, failure, text = std::string()](size_t, httplib::DataSink& sink) mutable {
          const RequestChannel::Update update = job->channel.Take(kStreamPoll);
          text += update.text;
          std::string body;
          if (update.summary) body = CompletionJson(header, text, *update.summary).dump();
          if (update.error) body = ErrorJson(failure(*update.error)).dump();
          if (!sink.is_writable() || (!body.empty() && !sink.write(body.data(), body.size()))) {
            job->channel.Cancel();
            return false;
          }
          if (update.done()) sink.done();
          return true;
        },
        [job, in_flight](bool) { job->channel.Cancel(); });
    return;
  }

  response.set_header("Cache-Control", "no-cache");
  response.set_chunked_content_provider(
      "text/event-stream",
      [job, header, failure, first = true](size_t, httplib::DataSink& sink) mutable {
        const RequestChannel::Update update = job->channel.Take(kStreamPoll);
        std::string events;
        if (!update.text.empty()) {
          events += SseEvent(ChunkJson(header, update.text, first, nullptr));
          first = false;
        }
        if (update.summary) events += SseEvent(ChunkJson(header, "", first, &*update.summary));
        if (update.error) events += SseEvent(ErrorJson(failure(*update.error)));
        if (update.done()) events += kSseDone;
        if (!sink.is_writable() || (!events.empty() && !sink.write(events.data(), events.size()))) {
          job->channel.Cancel();  // the client went away
          return false;
        }
        if (update.done()) sink.done();
        return true;
      },
      // Runs when the response ends, normally or not: a cancelled sequence
      // stops at the next step and frees its KV pages.
      [job, in_flight](bool) { job->channel.Cancel(); });
}

}  // namespace ri::server
