#pragma once
/// What the delivery of RunPod results has done since start, counted where it happens (each job's
/// delivery actor) and read by /metrics. Lock-free counters: writers and the reader need no lock.

#include <atomic>
#include <cstdint>
#include <string>

namespace sdw {

struct delivery_counters {
  std::atomic<uint64_t> results_delivered{0};  ///< results the platform accepted (error results standing in included)
  std::atomic<uint64_t> result_retries{0};     ///< result posts tried again after a failure (no answer, 429, 5xx)
  std::atomic<uint64_t> results_replaced{0};   ///< results refused or too large, replaced by an error result
  std::atomic<uint64_t> results_given_up{0};   ///< results never accepted (give-up time passed, or refused again)
  std::atomic<uint64_t> uploads{0};            ///< images stored in S3-compatible storage
  std::atomic<uint64_t> upload_retries{0};     ///< image uploads tried again
  std::atomic<uint64_t> upload_failures{0};    ///< results whose images could not all be stored
  std::atomic<uint64_t> progress_failed{0};    ///< progress posts that failed (best effort, not retried)
};

/// The counters as Prometheus text families (`sdworker_delivery_*`).
std::string delivery_metrics_text(const delivery_counters& c);

} // namespace sdw
