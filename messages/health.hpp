#pragma once
/// Messages health collects and reports: queue counters and the whole report.

#include "messages/jobs.hpp"
#include "messages/model.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>

namespace sdw {

/// The scheduler's counters.
struct queue_stats {
  int32_t in_queue = 0;
  int32_t in_progress = 0;
  int32_t capacity = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  int64_t retried = 0;  ///< jobs run again through /retry
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("sdw::queue_stats"), x.in_queue, x.in_progress, x.capacity, x.completed,
           x.failed, x.cancelled, x.retried);
}

/// Everything /health shows: the model, the queue and the running job's progress.
struct health_report {
  model_status model;
  queue_stats queue;
  job_progress current;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_report& x) {
  return f(caf::meta::type_name("sdw::health_report"), x.model, x.queue, x.current);
}

} // namespace sdw
