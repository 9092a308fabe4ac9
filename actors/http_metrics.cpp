// GET /metrics: what /health knows, in Prometheus' text format, for a scraper.
#include "actors/http_context.hpp"

#include "runtime/base/prometheus_text.hpp"

#include <fstream>
#include <unistd.h>

namespace sdw {
namespace {

/// The process's resident memory in bytes (Linux), 0 where it cannot be read.
double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) {
    return 0;
  }
  return pages_resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

void put_histogram(prometheus_text& out, const std::string& name, const std::string& help, const latency_histogram& h) {
  out.family(name, "histogram", help);
  out.histogram(name, std::vector<double>(std::begin(latency_histogram::bounds), std::end(latency_histogram::bounds)),
                h.counts, h.sum);
}

std::string metrics_text(const health_report& h, double uptime) {
  prometheus_text out;
  out.family("sdworker_uptime_seconds", "gauge", "Seconds since the HTTP front started.");
  out.sample("sdworker_uptime_seconds", uptime);
  out.family("sdworker_model_state", "gauge", "1 for the model's state (loading, ready or failed).");
  for (model_state s : {model_state::loading, model_state::ready, model_state::failed}) {
    out.sample("sdworker_model_state", h.model.state == s ? 1 : 0, {{"state", to_string(s)}, {"model", h.model.name}});
  }
  out.family("sdworker_model_load_seconds", "gauge", "Start of loading to ready, warm-up included (0 until ready).");
  out.sample("sdworker_model_load_seconds", h.model.load_seconds);

  const queue_stats& q = h.queue;
  out.family("sdworker_jobs_total", "counter", "Jobs that reached a final status.");
  out.sample("sdworker_jobs_total", static_cast<double>(q.completed), {{"status", "completed"}});
  out.sample("sdworker_jobs_total", static_cast<double>(q.failed), {{"status", "failed"}});
  out.sample("sdworker_jobs_total", static_cast<double>(q.cancelled), {{"status", "cancelled"}});
  out.family("sdworker_jobs_retried_total", "counter", "Jobs run again through /retry.");
  out.sample("sdworker_jobs_retried_total", static_cast<double>(q.retried));
  out.family("sdworker_queue_jobs", "gauge", "Jobs waiting and running now.");
  out.sample("sdworker_queue_jobs", q.in_queue, {{"state", "queued"}});
  out.sample("sdworker_queue_jobs", q.in_progress, {{"state", "running"}});
  out.family("sdworker_queue_capacity", "gauge", "Jobs that may wait before new ones are refused.");
  out.sample("sdworker_queue_capacity", q.capacity);
  put_histogram(out, "sdworker_job_queue_seconds", "Seconds a job waited before it started (jobs that ran).",
                q.queue_wait);
  put_histogram(out, "sdworker_job_execution_seconds", "Seconds from a job's start to its result (jobs that ran).",
                q.execution);
  put_histogram(out, "sdworker_job_seconds", "Seconds from a job's arrival to its final status.", q.end_to_end);

  double images = 0;
  for (const auto& d : q.devices) {
    images += static_cast<double>(d.images);
  }
  out.family("sdworker_images_total", "counter", "Images the devices were asked for.");
  out.sample("sdworker_images_total", images);
  out.family("sdworker_images_per_second", "gauge", "Images per second since the front started.");
  out.sample("sdworker_images_per_second", uptime > 0 ? images / uptime : 0);
  out.family("sdworker_sampling_steps_total", "counter",
             "Sampling steps the jobs ran, summed over jobs (each job of a batch counts its own).");
  out.sample("sdworker_sampling_steps_total", static_cast<double>(h.sampling_steps));

  const auto per_device = [&](const std::string& name, const char* type, const std::string& help, auto value) {
    out.family(name, type, help);
    for (const auto& d : q.devices) {
      out.sample(name, value(d), {{"device", d.name}});
    }
  };
  per_device("sdworker_device_up", "gauge", "1 when the device can take work (idle or busy).",
             [](const device_stats& d) { return usable(d.state) ? 1.0 : 0.0; });
  per_device("sdworker_device_busy_seconds_total", "counter", "Seconds the device spent running batches.",
             [](const device_stats& d) { return static_cast<double>(d.busy_ms) / 1000.0; });
  per_device("sdworker_device_busy_fraction", "gauge", "Share of the uptime the device spent running batches.",
             [&](const device_stats& d) {
               return uptime > 0 ? std::min(1.0, static_cast<double>(d.busy_ms) / 1000.0 / uptime) : 0.0;
             });
  per_device("sdworker_device_jobs_total", "counter", "Jobs the device was given.",
             [](const device_stats& d) { return static_cast<double>(d.jobs); });
  per_device("sdworker_device_batches_total", "counter", "Executor runs (a batch of several jobs counts once).",
             [](const device_stats& d) { return static_cast<double>(d.batches); });
  per_device("sdworker_device_images_total", "counter", "Images the device was asked for.",
             [](const device_stats& d) { return static_cast<double>(d.images); });
  per_device("sdworker_device_model_bytes", "gauge", "Weights the device's model cache held after its last batch.",
             [](const device_stats& d) { return static_cast<double>(d.model_bytes); });
  out.family("sdworker_device_memory_bytes", "gauge",
             "CUDA devices: tensor memory allocated after the last batch, and the peak during it.");
  for (const auto& d : q.devices) {
    if (d.memory_allocated >= 0) {
      out.sample("sdworker_device_memory_bytes", static_cast<double>(d.memory_allocated),
                 {{"device", d.name}, {"kind", "allocated"}});
      out.sample("sdworker_device_memory_bytes", static_cast<double>(d.memory_peak), {{"device", d.name}, {"kind", "peak"}});
    }
  }
  out.family("sdworker_process_resident_bytes", "gauge", "Resident memory of the worker process.");
  out.sample("sdworker_process_resident_bytes", resident_bytes());
  return out.text();
}

} // namespace

void metrics_answer(front_context& ctx, const reply_fn& reply) {
  const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
  ctx.with_report(reply, [reply, uptime, delivery = ctx.config.delivery](health_report& h) {
    reply({200, metrics_text(h, uptime) + (delivery ? delivery_metrics_text(*delivery) : std::string()),
           prometheus_content_type});
  });
}

} // namespace sdw
