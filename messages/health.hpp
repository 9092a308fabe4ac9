#pragma once
/// Messages health collects and reports: queue counters and the whole report.

#include "messages/jobs.hpp"
#include "messages/model.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace sdw {

/// An executor (device) as the scheduler sees it: loading its model, idle, running a batch, failed
/// to load, or offline (its executor host went away).
enum class device_state : uint8_t { loading, idle, busy, failed, offline };

/// As /health spells it ("loading", "idle", ...).
inline const char* to_string(device_state s) {
  switch (s) {
    case device_state::loading: return "loading";
    case device_state::idle: return "idle";
    case device_state::busy: return "busy";
    case device_state::failed: return "failed";
    case device_state::offline: return "offline";
  }
  return "failed";
}

inline std::ostream& operator<<(std::ostream& out, device_state s) { return out << to_string(s); }

/// Whether a device in this state can be given work.
inline bool usable(device_state s) { return s == device_state::idle || s == device_state::busy; }

/// One executor (device) as the scheduler sees it.
struct device_stats {
  std::string name;           ///< "cuda:0", "cpu", "sim:2"
  device_state state = device_state::loading;
  double speed = 1.0;         ///< the configured speed factor (the cost model's)
  double calibrated_speed = 1.0;  ///< the factor placement uses: learned from its batches, else `speed`
  int32_t running = 0;        ///< jobs in its current batch
  int64_t jobs = 0;           ///< jobs it has been given
  int64_t batches = 0;        ///< executor runs (a batch of several jobs counts once)
  int64_t images = 0;         ///< images it has been asked for
  int64_t busy_ms = 0;        ///< time spent running batches
  std::string model;          ///< the checkpoint file of its last batch ("" = the startup model)
  int64_t model_bytes = 0;       ///< weights its model cache held after its last batch
  std::vector<std::string> cached_models;  ///< the checkpoints its cache held then, most recently used first
  int64_t memory_allocated = -1;  ///< CUDA: tensor bytes allocated after its last batch; -1 elsewhere
  int64_t memory_peak = -1;       ///< CUDA: the most allocated during its last batch; -1 elsewhere
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_stats& x) {
  return f(caf::meta::type_name("sdw::device_stats"), x.name, x.state, x.speed, x.calibrated_speed, x.running, x.jobs,
           x.batches, x.images, x.busy_ms, x.model, x.model_bytes, x.cached_models,
           x.memory_allocated, x.memory_peak);
}

/// Seconds of one kind of wait, counted into fixed buckets (Prometheus' cumulative `le` buckets
/// are made from these when shown).
struct latency_histogram {
  /// Upper bounds in seconds: a 1-step preview to a long hires job; +Inf is implied.
  static constexpr double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  static constexpr size_t size = sizeof(bounds) / sizeof(bounds[0]);
  std::vector<int64_t> counts = std::vector<int64_t>(size + 1, 0);  ///< per bucket (not cumulative), +Inf last
  double sum = 0;
  int64_t count = 0;

  void observe(double seconds) {
    size_t i = 0;
    while (i < size && seconds > bounds[i]) {
      ++i;
    }
    ++counts[i];
    sum += seconds;
    ++count;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_histogram& x) {
  return f(caf::meta::type_name("sdw::latency_histogram"), x.counts, x.sum, x.count);
}

/// The scheduler's counters.
struct queue_stats {
  int32_t in_queue = 0;
  int32_t in_progress = 0;
  int32_t capacity = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  int64_t retried = 0;  ///< jobs run again through /retry
  std::vector<device_stats> devices;  ///< one per executor, in configuration order
  latency_histogram queue_wait;  ///< submitted → started, of jobs that ran
  latency_histogram execution;   ///< started → final, of jobs that ran
  latency_histogram end_to_end;  ///< submitted → final, of every final job
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("sdw::queue_stats"), x.in_queue, x.in_progress, x.capacity, x.completed,
           x.failed, x.cancelled, x.retried, x.devices, x.queue_wait, x.execution, x.end_to_end);
}

/// Everything /health shows: the model, the queue and the running job's progress; and A1111's
/// `state.interrupted` / `state.skipped` for /progress, which /interrupt and /skip set and which
/// follow the flags of the job reporting progress (a job that starts clears them; they outlive
/// the job that was interrupted, as in A1111).
struct health_report {
  model_status model;
  queue_stats queue;
  job_progress current;
  bool interrupted = false;
  bool skipped = false;
  /// Sampling steps the jobs reported running, summed over jobs (a batch of n jobs counts each):
  /// how much work was done, whatever the clock says (a cancelled job adds only the steps it ran).
  int64_t sampling_steps = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_report& x) {
  return f(caf::meta::type_name("sdw::health_report"), x.model, x.queue, x.current, x.interrupted, x.skipped,
           x.sampling_steps);
}

} // namespace sdw
