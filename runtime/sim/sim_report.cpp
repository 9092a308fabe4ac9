#include "runtime/sim/sim_report.hpp"

#include "runtime/base/json_writer.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace sdw {
namespace {

sim_latency latency_of(const std::vector<double>& samples) {
  sim_latency l;
  if (samples.empty()) {
    return l;
  }
  l.p50 = sim_percentile(samples, 50);
  l.p95 = sim_percentile(samples, 95);
  l.p99 = sim_percentile(samples, 99);
  l.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  l.max = *std::max_element(samples.begin(), samples.end());
  return l;
}

std::string num(double v) {
  return python_float_repr(std::round(v * 1000.0) / 1000.0);
}

std::string latency_json(const sim_latency& l) {
  return "{\"p50\":" + num(l.p50) + ",\"p95\":" + num(l.p95) + ",\"p99\":" + num(l.p99) + ",\"mean\":" + num(l.mean) +
         ",\"max\":" + num(l.max) + "}";
}

} // namespace

double sim_percentile(std::vector<double> samples, double p) {
  if (samples.empty()) {
    return 0;
  }
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

sim_report make_sim_report(const std::vector<sim_job_record>& records, const sim_counters& counters,
                           const std::vector<std::string>& workers) {
  sim_report r;
  r.jobs = static_cast<int>(records.size());
  r.requeued = counters.requeued;
  r.injected_faults = counters.injected_faults;
  r.injected_duplicates = counters.injected_duplicates;
  r.duplicate_results = counters.duplicate_results;
  std::map<std::string, sim_worker_stat> per_worker;
  for (const auto& w : workers) {
    per_worker[w].name = w;
  }
  double first = -1, last = 0;
  std::vector<double> queue_samples;
  std::map<std::string, std::vector<std::pair<double, double>>> intervals;
  std::map<int, int> jobs_by_size;
  for (const auto& j : records) {
    first = first < 0 ? j.submitted_ms : std::min(first, j.submitted_ms);
    r.completed += j.status == "COMPLETED";
    r.failed += j.status == "FAILED";
    r.cancelled += j.status == "CANCELLED";
    r.lost += j.status == "IN_QUEUE" || j.status == "IN_PROGRESS";
    r.duplicated += j.results > 1;
    if (j.status != "COMPLETED" && j.status != "FAILED") {
      continue;
    }
    last = std::max(last, j.done_ms);
    r.end_to_end_samples.push_back(j.done_ms - j.submitted_ms);
    queue_samples.push_back(j.taken_ms - j.submitted_ms);
    auto& w = per_worker[j.worker];
    w.name = j.worker;
    ++w.jobs;
    intervals[j.worker].emplace_back(j.taken_ms, j.done_ms);
    r.completions.emplace_back(j.worker, j.done_ms);
    if (j.status == "COMPLETED") {
      if (j.batch_jobs > 0) {
        ++jobs_by_size[j.batch_jobs];
      } else {
        ++r.batch_unreported;
      }
    }
  }
  for (const auto& [size, jobs] : jobs_by_size) {
    r.batch_sizes.push_back(sim_batch_bar{size, jobs, (jobs + size - 1) / size});
  }
  // A worker takes its next job while it still posts the last one, so its jobs' intervals
  // overlap: busy time is their union, not their sum.
  for (auto& [name, list] : intervals) {
    std::sort(list.begin(), list.end());
    double busy = 0, from = list.front().first, to = list.front().second;
    for (const auto& [a, b] : list) {
      if (a > to) {
        busy += to - from;
        from = a;
      }
      to = std::max(to, b);
    }
    per_worker[name].busy_ms = busy + (to - from);
  }
  std::sort(r.completions.begin(), r.completions.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  r.span_s = first >= 0 && last > first ? (last - first) / 1000.0 : 0;
  r.throughput_per_s = r.span_s > 0 ? r.completed / r.span_s : 0;
  r.end_to_end = latency_of(r.end_to_end_samples);
  r.queue = latency_of(queue_samples);
  for (auto& [name, w] : per_worker) {
    w.utilisation = r.span_s > 0 ? w.busy_ms / (r.span_s * 1000.0) : 0;
    r.workers.push_back(w);
  }
  return r;
}

std::string sim_report_json(const sim_report& r) {
  std::string out = "{\"jobs\":" + std::to_string(r.jobs) + ",\"completed\":" + std::to_string(r.completed) +
                    ",\"failed\":" + std::to_string(r.failed) + ",\"cancelled\":" + std::to_string(r.cancelled) +
                    ",\"lost\":" + std::to_string(r.lost) + ",\"duplicated\":" + std::to_string(r.duplicated) +
                    ",\"duplicate_results\":" + std::to_string(r.duplicate_results) +
                    ",\"requeued\":" + std::to_string(r.requeued) +
                    ",\"injected_faults\":" + std::to_string(r.injected_faults) +
                    ",\"injected_duplicates\":" + std::to_string(r.injected_duplicates) +
                    ",\"span_s\":" + num(r.span_s) + ",\"throughput_per_s\":" + num(r.throughput_per_s) +
                    ",\"end_to_end_ms\":" + latency_json(r.end_to_end) + ",\"queue_ms\":" + latency_json(r.queue) +
                    ",\"workers\":[";
  for (size_t i = 0; i < r.workers.size(); ++i) {
    const auto& w = r.workers[i];
    out += std::string(i ? "," : "") + "{\"name\":" + json_quote(w.name, false) + ",\"jobs\":" +
           std::to_string(w.jobs) + ",\"busy_ms\":" + num(w.busy_ms) + ",\"utilisation\":" + num(w.utilisation) + "}";
  }
  out += "],\"batch_sizes\":[";
  for (size_t i = 0; i < r.batch_sizes.size(); ++i) {
    const auto& b = r.batch_sizes[i];
    out += std::string(i ? "," : "") + "{\"size\":" + std::to_string(b.size) + ",\"jobs\":" + std::to_string(b.jobs) +
           ",\"batches\":" + std::to_string(b.batches) + "}";
  }
  out += "],\"batch_unreported\":" + std::to_string(r.batch_unreported);
  return out + ",\"settings\":" + json_quote(r.settings, false) + "}";
}

} // namespace sdw
