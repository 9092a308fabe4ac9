#pragma once
/// The worker side of the RunPod serverless protocol (job-take, job-done, progress, ping) as
/// plain functions: settings from the environment, URL templating, what a job-take answer
/// means, the bodies posted back, the retry schedule and the log line format.

#include "runtime/base/json_value.hpp"
#include "runtime/config/worker_config.hpp"

#include "runtime/formats/txt2img_request.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// The version string sent as `runpod_version` in pings.
constexpr const char* runpod_worker_version = "sdworker-0.1";

/// The RunPod variables a serverless worker reads (spec §2.2), with the SDK's defaults.
struct runpod_settings {
  std::string get_job_url;                      ///< RUNPOD_WEBHOOK_GET_JOB; empty = not on RunPod
  std::string post_output_url = "JOB_DONE_URL";  ///< RUNPOD_WEBHOOK_POST_OUTPUT
  std::string ping_url;                         ///< RUNPOD_WEBHOOK_PING; empty or "PING_NOT_SET" = no pings
  int64_t ping_interval_ms = 10000;             ///< RUNPOD_PING_INTERVAL
  std::string api_key;                          ///< RUNPOD_AI_API_KEY, sent raw in Authorization
  std::string worker_id;                        ///< RUNPOD_POD_ID; a random UUID when unset
  std::string endpoint_id;                      ///< RUNPOD_ENDPOINT_ID; set = JSON log lines
  int concurrency = 1;                          ///< jobs held at once (taken, running or being delivered)
  double max_megapixel_steps = 10000;           ///< queue.max-megapixel-steps: a job asking for more fails
  std::size_t max_result_bytes = 20'000'000;    ///< runpod.max-result-mb: a larger result is replaced by an error

  /// Whether job-take is configured (production mode).
  bool on_runpod() const { return !get_job_url.empty(); }
  /// Whether heartbeats are sent: a ping URL, a key and a worker id, as the SDK requires.
  bool pings() const;
};

/// The RunPod part of the worker configuration (RUNPOD_* variables, validated there), with the
/// SDK's defaults where a variable is unset: job-done "JOB_DONE_URL", a random worker id.
runpod_settings runpod_settings_from(const worker_config& config);

/// Replaces every `from` in `text` with `to`.
std::string replace_all(std::string text, std::string_view from, std::string_view to);

/// Appends `key=value` to a URL: after `&` when it already has a query, `?` otherwise (nothing
/// when it ends in `?` or `&`).
std::string append_query(std::string url, std::string_view key_value);

/// `GET_JOB` with `$ID` and `$RUNPOD_POD_ID` set to the worker id, plus `job_in_progress=0|1`; for
/// more than one job, the SDK's batch form: `/job-take/` becomes `/job-take-batch/` and
/// `batch_size=N` is added (the answer is then a JSON array).
std::string job_take_url(const runpod_settings& s, bool job_in_progress, int batch_size = 1);

/// `POST_OUTPUT` with `$RUNPOD_POD_ID` = worker id and `$ID` = job id, plus `isStream=false|true`.
std::string job_done_url(const runpod_settings& s, const std::string& job_id, bool is_stream = false);

/// job_done_url for a final result of a job that ran, with how it ran appended:
/// `device=<executor, percent-encoded>&batch_jobs=<jobs that shared its run>`. The output the
/// user receives stays as the handler's; these are worker-side facts for a control plane that
/// reports them (the simulation harness's batch-size histogram). RunPod's own platform puts its
/// worker facts in the same place (its templates carry `?gpu=...`), and a control plane that does
/// not know a parameter has no use for it.
std::string job_done_url_for_run(const runpod_settings& s, const std::string& job_id, const std::string& device,
                                 int32_t batch_jobs);

/// The ping URL with `job_id=<ids, comma-separated>` (omitted when none) and `runpod_version`.
std::string ping_url(const runpod_settings& s, const std::vector<std::string>& job_ids);

/// A URL as logs show it: the query string (which may hold secrets) is cut off.
std::string url_for_log(std::string_view url);

/// One job handed out by job-take.
struct runpod_job {
  std::string id;
  std::string body;  ///< the job object as JSON text (`{"id","input",...}`)
};

/// What a job-take answer means.
struct take_outcome {
  enum class kind { jobs, no_job, back_off, failed };
  kind what = kind::no_job;
  std::vector<runpod_job> jobs;  ///< for `jobs`
  std::string message;           ///< why: for `failed`, and for jobs the platform sent malformed
  /// Job ids the platform handed out whose objects were unusable (no `input`): each still gets
  /// an error result.
  std::vector<runpod_job> rejected;
};

/// Classifies an answer (spec §2.5): 204/400 → no job; 429 → back off; other non-2xx → failed;
/// 2xx that is not JSON, empty or not an object/array → no job; an object → one job; an array →
/// a batch. A job object without a string `id` is dropped (message says so); one without
/// `input` goes to `rejected`.
take_outcome classify_take(int status, std::string_view content_type, std::string_view body);

/// How long the worker waits before it asks job-take again after an answer of this kind (a
/// failed call counts as `failed`): none after jobs, 200 ms after "no job" (so a server that
/// answers at once is not asked in a tight loop), 5 s after 429 (the SDK's wait), 1 s after a failure.
std::chrono::milliseconds take_pause(take_outcome::kind what);

/// When a running job's progress is posted: its first step at once, then at most one update a
/// second, each for a step not posted yet (worker-a1111 posts none; RunPod's /status shows the
/// last one). One job at a time: progress for another job starts afresh. Time is a parameter.
class progress_throttle {
public:
  static constexpr std::chrono::milliseconds every{1000};

  /// Whether to post `step` of `job` at `now`; when yes, it is remembered as posted.
  bool should_post(const std::string& job, int step, std::chrono::steady_clock::time_point now);
  /// The job ended: nothing more is posted for it until it starts again.
  void forget(const std::string& job);

private:
  std::string job_;
  int step_ = 0;  ///< the last step posted (0 = none)
  std::chrono::steady_clock::time_point posted_;
};

/// The A1111 call a job's input names (unwrap_a1111_call): `input` must be an object
/// (sdw::error(bad_request, "input", ...)); a plain input is a txt2img body.
a1111_call job_call(std::string_view job_json);

/// What worker-a1111's handler returns for an A1111 answer (its JSON, whatever the HTTP status) as
/// the RunPod SDK's run_job makes it a result: an object with a truthy `error` fails, with that
/// error (a string as it is, anything else as JSON) and the other members as output (none when no
/// member is left); anything else completes with the answer as output. An answer that is not JSON
/// fails as the handler's exception would (`error_text` is then runpod_error_text's).
struct handler_result {
  bool failed = false;
  std::string output_json;  ///< empty = no output
  std::string error_text;
};
handler_result handler_result_of(const std::string& answer_json);

/// The request a job's input holds, checked before it is queued: `input` must be an object; the `{"api","payload"}`
/// form must name POST /sdapi/v1/txt2img, else sdw::error(unsupported, "input.api.endpoint",
/// "... is not supported yet ..."); then the payload must be a valid txt2img body
/// (sdw::error(bad_request, "<field>", ...)).
txt2img_request check_job_input(std::string_view job_json);

/// The job-done body of a success: `{"output": <output_json>}`.
std::string done_output_body(const std::string& output_json);
/// The job-done body of a failure: `{"error": "<error text>"}`, plus `"stopPod": true` when the
/// worker is no longer fit to run jobs.
std::string done_error_body(const std::string& error_text, bool stop_pod);
/// The job-done body of a failure with output (an A1111 answer with `error`):
/// `{"output": <output_json>, "error": "<error text>"}`, as the SDK posts it.
std::string done_failed_body(const std::string& output_json, const std::string& error_text);
/// A progress update (§2.8): `{"status":"IN_PROGRESS","output":{"step","steps","progress"}}`.
std::string progress_body(int step, int steps);

/// Whether a job error means the device is broken (a CUDA/driver fault, not out-of-memory), so
/// the process should not take more jobs.
bool is_device_fault(std::string_view message);

/// The wait before retry `attempt` (1 = the first retry) of a job-done post: 0.25 s doubling,
/// capped at 8 s.
std::chrono::milliseconds delivery_backoff(int attempt);

/// How long job-done posts are retried before the result is given up.
constexpr std::chrono::minutes delivery_give_up{10};

/// A log line in RunPod's JSON format (§2.13): `{"requestId": <id or null>, "message", "level"}`.
/// Messages over 4096 characters are cut in the middle.
std::string runpod_log_json(const std::string& request_id, std::string_view message, std::string_view level);

/// The one-shot test job (§3.1): the file's JSON object with `id` set to "local_test" when it
/// has none. No `input` → sdw::error(bad_request, "input", "field required"); not JSON or not an
/// object → sdw::error(bad_request, "test_input", ...).
runpod_job local_test_job(std::string_view text);

} // namespace sdw
