#pragma once
// The RunPod control plane for testing `sdworker serve` end to end: the simulation harness's own
// control plane and server (runtime/sim), with a short job-take long poll, no requeueing of
// jobs (a test decides when a worker dies), every request recorded with its headers, and the
// scripted faults tests ask for: job-takes answered 429/400, results failed with HTTP 500 or a
// TCP reset.

#include "runtime/base/json_value.hpp"
#include "runtime/sim/sim_control_plane.hpp"
#include "runtime/sim/sim_server.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sdw::test {

using fake_request = sim_request;

/// The `error` text of a job-done result body ("" when it has none).
inline std::string result_error_text(const std::string& body) {
  const json_value doc = parse_json(body);
  const json_value* error = doc.find("error");
  return error != nullptr && error->is_string() ? error->as_string() : "";
}

class fake_runpod {
public:
  /// How a failing job-done post fails.
  enum class failure { http_500, reset };

  fake_runpod() : plane_(config()), server_(plane_, 0, true) {}

  std::string base() const { return server_.base(); }

  /// The RunPod variables pointing a worker at this plane (templates as sls-local-server has them).
  std::vector<std::pair<std::string, std::string>> env(const std::string& key = "rp-test-key",
                                                       const std::string& pod = "pod-1",
                                                       int ping_ms = 300) const {
    return {{"RUNPOD_WEBHOOK_GET_JOB", base() + "/v2/ep/job-take/$RUNPOD_POD_ID"},
            {"RUNPOD_WEBHOOK_POST_OUTPUT", base() + "/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=cpu"},
            {"RUNPOD_WEBHOOK_PING", base() + "/v2/ep/ping/$RUNPOD_POD_ID"},
            {"RUNPOD_PING_INTERVAL", std::to_string(ping_ms)},
            {"RUNPOD_AI_API_KEY", key},
            {"RUNPOD_POD_ID", pod}};
  }

  /// Queues a job: `input_json` becomes the job's `input`.
  void add_job(const std::string& id, const std::string& input_json) { plane_.submit_as(id, input_json); }
  /// Queues a job that job-take hands out as `job_json` is.
  void add_raw_job(const std::string& id, const std::string& job_json) { plane_.submit_raw(id, job_json); }

  /// The next `n` job-takes answer `status` (429, 400, ...) with no job.
  void answer_next_takes(int status, int n) { plane_.script_takes(status, n); }
  /// The next `n` job-done results (not progress posts; of job `job` only, when given) fail as `how`.
  void fail_next_done(failure how, int n, const std::string& job = {}) {
    plane_.script_result_failures(how == failure::reset ? 0 : 500, n, job);
  }
  /// The next `n` job-done results (of job `job` only, when given) are answered `status` (4xx).
  void refuse_next_done(int status, int n, const std::string& job = {}) { plane_.script_result_failures(status, n, job); }

  std::vector<fake_request> takes() const { return recorded("job-take"); }
  std::vector<fake_request> done_posts() const { return recorded("job-done"); }
  std::vector<fake_request> pings() const { return recorded("ping"); }

  /// The job-done posts for `job_id` that are results (not IN_PROGRESS updates).
  std::vector<fake_request> results_for(const std::string& job_id) const { return posts_for(job_id, false); }
  /// The progress updates posted for `job_id`.
  std::vector<fake_request> progress_for(const std::string& job_id) const { return posts_for(job_id, true); }

  /// The accepted (HTTP 200) result of `job_id`, waiting up to `limit`; "" when none came.
  std::string wait_for_result(const std::string& job_id, std::chrono::seconds limit = std::chrono::seconds(60)) const {
    std::string body;
    wait_until([&] {
      for (auto& r : results_for(job_id)) {
        if (r.answered == 200) {
          body = r.body;
          return true;
        }
      }
      return false;
    }, limit);
    return body;
  }

  /// Polls `pred` every 20 ms until true or `limit` passes.
  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }

private:
  static sim_plane_config config() {
    sim_plane_config c;
    c.take_wait_ms = 300;
    c.lost_after_ms = 3600 * 1000;
    c.job_timeout_ms = 3600 * 1000;
    return c;
  }

  std::vector<fake_request> recorded(const std::string& kind) const {
    std::vector<fake_request> out;
    for (auto& r : server_.requests()) {
      if (r.path.find("/" + kind + "/") != std::string::npos) {
        out.push_back(r);
      }
    }
    return out;
  }

  std::vector<fake_request> posts_for(const std::string& job_id, bool progress) const {
    std::vector<fake_request> out;
    for (auto& r : done_posts()) {
      const bool is_progress = r.body.find("\"IN_PROGRESS\"") != std::string::npos;
      if (r.path.size() >= job_id.size() && r.path.compare(r.path.size() - job_id.size(), job_id.size(), job_id) == 0 &&
          is_progress == progress) {
        out.push_back(r);
      }
    }
    return out;
  }

  sim_control_plane plane_;
  sim_server server_;
};

} // namespace sdw::test
