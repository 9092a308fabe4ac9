#pragma once
/// The simulation harness's report: throughput, end-to-end and queue latency percentiles,
/// per-worker utilisation, the batch-size histogram, and the jobs that were lost (never
/// completed) or delivered more than once, computed from the control plane's job records;
/// written as JSON and as a self-contained HTML page with inline SVG charts (latency histogram, jobs over time per worker, batch sizes).

#include "runtime/sim/sim_control_plane.hpp"

#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// Percentiles of a latency, in ms (0 when there are no samples).
struct sim_latency {
  double p50 = 0, p95 = 0, p99 = 0, mean = 0, max = 0;
};

/// One worker's share.
struct sim_worker_stat {
  std::string name;
  int jobs = 0;          ///< results of this worker that were kept
  double busy_ms = 0;    ///< the union of their take-to-result intervals
  double utilisation = 0;  ///< busy_ms / the run's span
};

/// One bar of the batch-size histogram: the completed jobs whose worker ran them in a run of
/// `size` jobs (as it reported with the result), and how many such runs that makes.
struct sim_batch_bar {
  int size = 0;
  int jobs = 0;
  int batches = 0;  ///< jobs / size, rounded up (a run whose other members failed still counts once)
};

/// The figures of one run.
struct sim_report {
  int jobs = 0, completed = 0, failed = 0, cancelled = 0;
  int lost = 0;               ///< submitted and never finished
  int duplicated = 0;         ///< jobs with more than one final result
  int duplicate_results = 0;  ///< results after the first, over all jobs
  int requeued = 0, injected_faults = 0, injected_duplicates = 0;
  double span_s = 0;          ///< first submission to last completion
  double throughput_per_s = 0;  ///< completed jobs per second over the span
  sim_latency end_to_end, queue;
  std::vector<sim_worker_stat> workers;
  std::vector<sim_batch_bar> batch_sizes;  ///< by size, ascending; only sizes that occurred
  int batch_unreported = 0;   ///< completed jobs whose worker did not say how they ran
  std::vector<double> end_to_end_samples;  ///< ms, per completed job
  std::vector<std::pair<std::string, double>> completions;  ///< (worker, done ms) in time order
  std::string settings;       ///< free text: what was run (shown in the page)
};

/// Nearest-rank percentile `p` (0..100) of `samples`; 0 when empty.
double sim_percentile(std::vector<double> samples, double p);

/// Builds the report from the plane's records and counters; `workers` lists every worker
/// started (so an idle one shows with 0 jobs).
sim_report make_sim_report(const std::vector<sim_job_record>& records, const sim_counters& counters,
                           const std::vector<std::string>& workers);

/// The report as one JSON object.
std::string sim_report_json(const sim_report& report);

/// The report as an HTML page with no outside resources.
std::string sim_report_html(const sim_report& report);

} // namespace sdw
