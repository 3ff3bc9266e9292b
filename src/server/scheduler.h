// Continuous batching: one thread owns the model. Each step it admits waiting
// requests (prefilling them one at a time), then runs one DecodeTogether pass
// over all active sequences, samples each sequence's next token with its own
// sampler, streams text to its channel and retires finished or cancelled
// sequences (their KV pages go back to the pool). A sequence's tokens do not
// depend on its neighbours: batched decoding gives bit-identical logits and
// every request has its own seeded sampler.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/channel.h"
#include "server/metrics.h"
#include "runtime/session.h"
#include "server/request.h"
#include "tokenizer/tokenizer.h"

namespace ri::server {

// A request handed to the scheduler.
struct Job {
  CompletionRequest request;
  std::vector<TokenId> prompt;  // non-empty, shorter than the context
  RequestChannel channel;
};

struct SchedulerOptions {
  int max_sequences = 8;  // decoded together
  int max_queue = 32;     // waiting for a slot
};

enum class SubmitResult { kAccepted, kQueueFull, kShuttingDown };

class Scheduler {
 public:
  Scheduler(const EngineView& engine, const SchedulerOptions& options, Metrics& metrics);
  // Cancels what is left and joins the thread.
  ~Scheduler();

  SubmitResult Submit(std::shared_ptr<Job> job);
  // Refuses new requests and returns once the admitted ones have finished.
  void Drain();

 private:
  struct Sequence;
  void Run();
  // Prefills a new sequence and samples its first token (done when that ended
  // it); null when it was cancelled or failed.
  std::unique_ptr<Sequence> Admit(std::shared_ptr<Job> job);
  // Samples the token after the sequence's current logits; true when it ended.
  bool Advance(Sequence& sequence);
  // Sends the held-back text and the summary to the request.
  void Finish(Sequence& sequence);
  // Destroys the done sequences (their KV pages go back to the pool).
  void RemoveFinished();
  void PublishState();

  EngineView engine_;
  SchedulerOptions options_;
  Metrics& metrics_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Job>> waiting_;
  int active_count_ = 0;  // guarded by mutex_ (the vector is the thread's own)
  bool draining_ = false;
  bool stopping_ = false;

  std::vector<std::unique_ptr<Sequence>> active_;
  std::thread thread_;
};

}  // namespace ri::server
