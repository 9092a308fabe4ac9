#pragma once
/// The scheduler actor: owns the bounded FIFO job queue and every job's record. Jobs that
/// arrive before the model is ready wait here; it hands one job at a time to the executor,
/// passes each generation to the encoder, keeps RunPod jobs' results for /status, answers
/// waiters when a job is final, and cancels queued jobs (removed) and the running one (through
/// its cancel flag). Runs on the CAF scheduler; the front door and the loader message it.

#include "messages/interfaces.hpp"

#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace sdw {

/// Where a job is in its life.
enum class job_phase { queued, running, done };

/// Everything the scheduler knows about one job.
struct job_record {
  generation_job job;
  job_phase phase = job_phase::queued;
  job_result result;
  cancel_token token;
  std::chrono::steady_clock::time_point submitted;
  std::chrono::steady_clock::time_point started;
  std::vector<caf::typed_response_promise<job_result>> waiters;
};

/// The scheduler's state and the logic of its handlers.
struct scheduler_state {
  /// How many finished RunPod jobs are kept for /status before the oldest is forgotten.
  static constexpr size_t kept_results = 512;

  scheduler_actor::stateful_base<scheduler_state>* self = nullptr;
  executor_actor executor;
  encoder_actor encoder;
  health_actor health;
  size_t capacity = 16;
  std::string model_state = "loading";  ///< "loading", "ready" or "failed"
  std::string model_error;
  std::deque<std::string> queue;        ///< waiting job ids, oldest first
  std::string running;                  ///< the id at the executor, or empty
  std::unordered_map<std::string, job_record> jobs;
  std::deque<std::string> finished;     ///< kept results, oldest first
  queue_stats stats;
  std::string settings_json;            ///< the stored A1111 options given to each job as it starts

  caf::result<job_result> submit(generation_job job);
  caf::result<job_result> wait(const std::string& id);
  caf::result<job_result> status(const std::string& id);
  caf::result<job_result> cancel(const std::string& id);
  /// Requeues a FAILED or CANCELLED job with its id and input (IN_QUEUE).
  caf::result<job_result> retry(const std::string& id);
  /// Cancels every queued job; returns how many there were.
  int32_t purge();
  /// Sets one of the running job's flags (interrupt or skip); false when no job runs.
  bool flag_running(bool interrupt);
  void model_ready(bool ok, const std::string& message);

private:
  void dispatch();
  void finish(const std::string& id, job_result result);
  void report();
};

/// The scheduler's behaviour: `capacity` jobs may wait at most (the running one not counted).
scheduler_actor::behavior_type scheduler(scheduler_actor::stateful_pointer<scheduler_state> self,
                                         executor_actor executor, encoder_actor encoder, health_actor health,
                                         size_t capacity);

} // namespace sdw
