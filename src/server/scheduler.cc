#include "server/scheduler.h"

#include <algorithm>
#include <chrono>

#include "kv/paged_kv_cache.h"
#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/seconds.h"

namespace ri::server {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

struct Scheduler::Sequence {
  Sequence(std::shared_ptr<Job> job, const EngineView& engine)
      : job(std::move(job)),
        session(engine.model, engine.pages, this->job->request.policy, engine.context,
                engine.threads),
        sampler(this->job->request.sampler),
        decoder(engine.tokenizer),
        filter(this->job->request.stop) {}

  std::shared_ptr<Job> job;
  Session session;
  Sampler sampler;
  StreamingDecoder decoder;
  StopStringFilter filter;
  std::vector<TokenId> history;  // prompt and generated tokens, for the sampler's penalty
  TokenId next = 0;              // sampled, to be fed by the next decode step
  int generated = 0;
  bool end_of_generation = false;
  bool done = false;  // finished, failed or cancelled: to be removed
  Clock::time_point decode_start;
};

Scheduler::Scheduler(const EngineView& engine, const SchedulerOptions& options,
                     Metrics& metrics)
    : engine_(engine), options_(options), metrics_(metrics) {
  thread_ = std::thread([this] { Run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    draining_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

SubmitResult Scheduler::Submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard lock(mutex_);
    if (draining_) return SubmitResult::kShuttingDown;
    // Requests beyond the free sequence slots wait, up to max_queue of them.
    const int free_slots = std::max(0, options_.max_sequences - active_count_);
    if (static_cast<int>(waiting_.size()) >= free_slots + options_.max_queue) {
      return SubmitResult::kQueueFull;
    }
    waiting_.push_back(std::move(job));
  }
  changed_.notify_all();
  return SubmitResult::kAccepted;
}

void Scheduler::Drain() {
  std::unique_lock lock(mutex_);
  draining_ = true;
  changed_.wait(lock, [&] { return waiting_.empty() && active_count_ == 0; });
}

void Scheduler::Run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !active_.empty(); });
      if (stopping_) break;
    }
    // Admit waiting requests while there are free slots.
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::lock_guard lock(mutex_);
        if (waiting_.empty() || static_cast<int>(active_.size()) >= options_.max_sequences) break;
        job = std::move(waiting_.front());
        waiting_.pop_front();
        ++active_count_;
      }
      if (std::unique_ptr<Sequence> sequence = Admit(std::move(job))) {
        active_.push_back(std::move(sequence));
      } else {
        std::lock_guard lock(mutex_);
        --active_count_;
        changed_.notify_all();
      }
      RemoveFinished();
    }
    // Cancelled sequences are dropped (destroying a session frees its KV pages).
    for (auto& sequence : active_) {
      if (sequence->job->channel.cancelled()) sequence->done = true;
    }
    RemoveFinished();
    if (active_.empty()) continue;

    std::vector<Session*> sessions;
    std::vector<TokenId> tokens;
    for (const auto& sequence : active_) {
      sessions.push_back(&sequence->session);
      tokens.push_back(sequence->next);
    }
    const auto step_start = Clock::now();
    try {
      DecodeTogether(sessions, tokens);
      metrics_.RecordDecodeStep(static_cast<int>(sessions.size()), SecondsSince(step_start));
      for (auto& sequence : active_) {
        if (Advance(*sequence)) Finish(*sequence);
      }
    } catch (const Error& error) {
      for (auto& sequence : active_) {
        sequence->job->channel.Fail(error.what());
        sequence->done = true;
      }
    }
    RemoveFinished();
  }
  // Stopping: cancel what is left.
  for (auto& sequence : active_) sequence->job->channel.Fail("the server is shutting down");
  active_.clear();
  std::lock_guard lock(mutex_);
  for (auto& job : waiting_) job->channel.Fail("the server is shutting down");
  waiting_.clear();
  active_count_ = 0;
}

std::unique_ptr<Scheduler::Sequence> Scheduler::Admit(std::shared_ptr<Job> job) {
  if (job->channel.cancelled()) return nullptr;
  try {
    auto sequence = std::make_unique<Sequence>(job, engine_);
    sequence->session.Prefill(job->prompt);
    sequence->history = job->prompt;
    sequence->decode_start = Clock::now();
    metrics_.CountTokens(static_cast<int>(job->prompt.size()), 0);
    if (Advance(*sequence)) Finish(*sequence);
    return sequence;
  } catch (const Error& error) {
    job->channel.Fail(error.what());
    return nullptr;
  }
}

bool Scheduler::Advance(Sequence& sequence) {
  const CompletionRequest& request = sequence.job->request;
  const TokenId token = sequence.sampler.Sample(sequence.session.logits(), sequence.history);
  if (engine_.tokenizer.IsEndOfGeneration(token)) {
    sequence.end_of_generation = true;
    return true;
  }
  ++sequence.generated;
  sequence.history.push_back(token);
  sequence.next = token;
  sequence.job->channel.Push(sequence.filter.Push(sequence.decoder.Push(token)));
  return sequence.filter.stopped() || sequence.generated >= request.max_tokens ||
         sequence.session.remaining() == 0;
}

void Scheduler::Finish(Sequence& sequence) {
  RequestChannel& channel = sequence.job->channel;
  channel.Push(sequence.filter.Push(sequence.decoder.Flush()));
  channel.Push(sequence.filter.Flush());
  GenerationSummary summary;
  summary.prompt_tokens = static_cast<int>(sequence.job->prompt.size());
  summary.completion_tokens = sequence.generated;
  const bool stopped = sequence.end_of_generation || sequence.filter.stopped();
  summary.finish_reason = stopped ? "stop" : "length";
  summary.policy = sequence.job->request.policy.ToString();
  summary.decode_seconds = SecondsSince(sequence.decode_start);
  summary.effective_kv_exposure = sequence.session.policy().stats().effective_kv_exposure();
  channel.Finish(summary);
  sequence.done = true;
}

void Scheduler::RemoveFinished() {
  for (const auto& sequence : active_) {
    if (sequence->done) metrics_.CountTokens(0, sequence->generated);
  }
  const size_t removed =
      std::erase_if(active_, [](const std::unique_ptr<Sequence>& s) { return s->done; });
  if (removed > 0) {
    std::lock_guard lock(mutex_);
    active_count_ -= static_cast<int>(removed);
  }
  changed_.notify_all();
  PublishState();
}

void Scheduler::PublishState() {
  int queued;
  {
    std::lock_guard lock(mutex_);
    queued = static_cast<int>(waiting_.size());
  }
  metrics_.SetSchedulerState(queued, static_cast<int>(active_.size()),
                             engine_.pages.pages_in_use());
}

}  // namespace ri::server
