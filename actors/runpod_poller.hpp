#pragma once
/// The RunPod poller: the serverless intake. Once the model is ready it long-polls job-take
/// (up to runpod concurrency jobs at once, through job-take-batch when it wants several), checks
/// each job's input (a malformed one gets its error result at once), queues generations at the
/// scheduler with the stored A1111 options, runs any other A1111 call a job names, posts throttled progress updates while a job runs and hands every result (with how
/// it ran, in the job-done URL's query) to delivery. On stop (SIGTERM) or after a device fault it takes no more
/// jobs, waits until the ones in flight are delivered, then reports the exit code. Runs on the
/// CAF scheduler; the long poll runs on the HTTP library's threads, never blocking it.

#include "actors/http_call.hpp"
#include "actors/http_context.hpp"
#include "messages/runpod.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

namespace sdw {

/// Who the poller works with and how it ends.
struct poller_config {
  runpod_settings settings;
  scheduler_actor scheduler;
  health_actor health;
  delivery_actor delivery;
  heartbeat_actor heartbeat;
  /// The A1111 calls jobs name (options, listings, extras, ...) run here, as the front door runs
  /// them; its options keeper holds the options generation jobs run with.
  std::shared_ptr<front_context> a1111;
  /// Called once when the poller is done: 0 after a stop, 1 when the model failed to load or a
  /// device fault made the worker unfit.
  std::function<void(int)> on_done;
};

/// The poller's state.
struct poller_state {
  poller_config config;
  bool ready = false;                    ///< the model is loaded: jobs may be taken
  bool stopping = false;                 ///< no more jobs are taken
  bool stop_asked = false;               ///< a stop came: the next one ends the running jobs
  bool unfit = false;                    ///< a device fault: stop with exit code 1
  bool done = false;                     ///< on_done was called
  bool taking = false;                   ///< a job-take call is under way
  bool take_scheduled = false;           ///< a delayed take_atom is pending
  std::unique_ptr<http_cancel> take_cancel;
  std::set<std::string> running;         ///< queued at the scheduler, no result yet
  std::set<std::string> delivering;      ///< result handed to delivery, not yet accepted
  progress_throttle progress;            ///< which progress updates are posted
};

/// The poller's behaviour.
poller_actor::behavior_type runpod_poller(poller_actor::stateful_pointer<poller_state> self, poller_config config);

} // namespace sdw
