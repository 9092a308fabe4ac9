#include "runtime/runpod/delivery_counters.hpp"

#include "runtime/base/prometheus_text.hpp"

namespace sdw {

std::string delivery_metrics_text(const delivery_counters& c) {
  const auto value = [](const std::atomic<uint64_t>& n) { return static_cast<double>(n.load()); };
  prometheus_text out;
  out.family("sdworker_delivery_results_total", "counter", "RunPod job results by how their delivery ended.");
  out.sample("sdworker_delivery_results_total", value(c.results_delivered), {{"outcome", "delivered"}});
  out.sample("sdworker_delivery_results_total", value(c.results_replaced), {{"outcome", "replaced_by_error"}});
  out.sample("sdworker_delivery_results_total", value(c.results_given_up), {{"outcome", "given_up"}});
  out.family("sdworker_delivery_retries_total", "counter", "Posts and uploads tried again after a transient failure.");
  out.sample("sdworker_delivery_retries_total", value(c.result_retries), {{"kind", "result"}});
  out.sample("sdworker_delivery_retries_total", value(c.upload_retries), {{"kind", "upload"}});
  out.family("sdworker_delivery_uploads_total", "counter", "Result images stored in S3-compatible storage.");
  out.sample("sdworker_delivery_uploads_total", value(c.uploads));
  out.family("sdworker_delivery_upload_failures_total", "counter", "Results whose images could not all be stored.");
  out.sample("sdworker_delivery_upload_failures_total", value(c.upload_failures));
  out.family("sdworker_delivery_progress_failed_total", "counter", "Progress posts that failed (best effort).");
  out.sample("sdworker_delivery_progress_failed_total", value(c.progress_failed));
  return out.text();
}

} // namespace sdw
