#pragma once
/// The scheduler actor: owns the bounded job queue and every job's record. Jobs that arrive
/// before the model is ready wait here. It places the queue head on the executor (device) where
/// the cost model says it finishes first, adds compatible queued jobs to it as one batch, passes
/// each generation to the encoder, keeps RunPod jobs' results for /status, answers waiters when
/// a job is final, and cancels queued jobs (removed) and running ones (through their flags).
/// Runs on the CAF scheduler; the front door and the loaders message it.

#include "messages/interfaces.hpp"
#include "runtime/sched/cost_model.hpp"
#include "runtime/sched/job_plan.hpp"
#include "runtime/sched/placement.hpp"
#include "runtime/sched/result_retention.hpp"
#include "runtime/sched/speed_calibration.hpp"

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
  job_plan plan;
  job_phase phase = job_phase::queued;
  job_result result;
  cancel_token token;
  int lost_runs = 0;  ///< times its executor host went away while it ran
  std::chrono::steady_clock::time_point submitted;
  std::chrono::steady_clock::time_point started;
  std::vector<caf::typed_response_promise<job_result>> waiters;
};

/// One executor the scheduler may place jobs on, and what it costs there.
struct scheduler_device {
  executor_actor executor;
  std::string name;   ///< shown in /health and in each job's result ("cuda:0", "sim:1")
  cost_model costs;   ///< placement estimates (speed included: the configured, first estimate)
  /// Wall time per cost-model time: 1 for a real device; a simulated one runs its model time
  /// this much faster (its sim_device::time_scale).
  double time_scale = 1.0;
  /// Learn the device's speed from the batches it runs and place by it (else the configured one).
  bool calibrate = true;
};

/// How much the scheduler queues and batches.
struct scheduler_limits {
  size_t capacity = 16;  ///< jobs that may wait (running ones not counted)
  int max_batch = 4;     ///< images one batch may hold; 1 = no batching across requests
  retention_limits kept;  ///< finished jobs remembered for /status and /retry
};

/// One device as the scheduler tracks it.
struct device_slot {
  scheduler_device device;
  device_stats stats;
  bool holds_model = true;  ///< its executor has a model loaded
  std::string model;        ///< the model (job_plan::model) of the last batch it was given
  std::chrono::steady_clock::time_point busy_until;  ///< expected end of the running batch
  std::chrono::steady_clock::time_point batch_started;
  std::vector<std::string> running;  ///< ids of the batch at the executor
  speed_calibration speed;           ///< the speed learned from its batches
};

/// The scheduler's state and the logic of its handlers.
struct scheduler_state {
  scheduler_actor::stateful_base<scheduler_state>* self = nullptr;
  std::vector<device_slot> devices;
  encoder_actor encoder;
  health_actor health;
  scheduler_limits limits;
  sdw::model_state model = sdw::model_state::loading;  ///< ready: on a device at least; failed: on all
  std::string model_error;
  std::deque<std::string> queue;        ///< waiting job ids, oldest first
  std::unordered_map<std::string, job_record> jobs;
  result_retention finished;            ///< the finished jobs still remembered
  queue_stats stats;

  caf::result<job_result> submit(generation_job job);
  /// Fails a job that was just submitted (or retried) without running it; its result.
  job_result fail_at_once(const std::string& id, job_error why);
  /// Records the result of a job answered where it came in (generation_job::answered); its result.
  job_result record_answer(const std::string& id);
  caf::result<job_result> wait(const std::string& id);
  caf::result<job_result> status(const std::string& id);
  caf::result<job_result> cancel(const std::string& id);
  /// Requeues a FAILED or CANCELLED job with its id and input (IN_QUEUE).
  caf::result<job_result> retry(const std::string& id);
  /// Cancels every queued job; returns how many there were.
  int32_t purge();
  /// Sets one of the running jobs' flags (interrupt or skip) on every device; false when none runs.
  bool flag_running(bool interrupt);
  /// The model loaded (or failed) on device `index`, or on every device when `index` < 0.
  void model_ready(bool ok, const std::string& message, int32_t index = -1);
  /// Device `index` went away (a lost executor host): nothing is placed on it until it is ready
  /// again; its running batch comes back as "executor_lost" and is queued again.
  void device_offline(const std::string& why, int32_t index);

  /// What device `index` holds after an unload or reload: its weights' bytes and checkpoints
  /// (none: placement no longer prefers it for its last model); /health hears of it.
  void device_holding(size_t index, int64_t bytes, std::vector<std::string> held);

  /// The devices as placement sees them at `now` (runtime/sched/placement.hpp).
  std::vector<placement_device> placement_view(std::chrono::steady_clock::time_point now) const;

private:
  /// Forgets the finished jobs the retention policy let go of (`ids`).
  void forget(const std::vector<std::string>& ids);
  void dispatch();
  void start_batch(size_t device, std::vector<std::string> ids);
  void batch_done(size_t device, const std::vector<std::string>& ids, std::vector<generation_output> outs);
  /// Puts a job whose executor host went away back at the head of the queue; false when it has
  /// been lost too often (or was cancelled) and should finish with its error instead.
  bool requeue_lost(const std::string& id);
  void finish(const std::string& id, job_result result);
  void report();
};

/// The scheduler's behaviour over several devices (executors).
scheduler_actor::behavior_type scheduler_for_devices(scheduler_actor::stateful_pointer<scheduler_state> self,
                                                     std::vector<scheduler_device> devices, encoder_actor encoder,
                                                     health_actor health, scheduler_limits limits);

/// The scheduler's behaviour with one executor: `capacity` jobs may wait at most (the running
/// one not counted), batches of up to 4 images.
scheduler_actor::behavior_type scheduler(scheduler_actor::stateful_pointer<scheduler_state> self,
                                         executor_actor executor, encoder_actor encoder, health_actor health,
                                         size_t capacity);

} // namespace sdw
