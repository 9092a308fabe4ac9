#pragma once
/// The RunPod-style job API at the edge (/run, /runsync, /status, /cancel, /health): job ids,
/// request checks and the JSON shapes of the answers.

#include "runtime/base/errors.hpp"
#include "runtime/formats/a1111_info_api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

namespace sdw {

/// A new job id: a random UUID v4, after `prefix` and a dash when `prefix` is not empty
/// ("sync" → "sync-1b4e28ba-2fa1-41d2-883f-0016d3cca427").
std::string new_job_id(std::string_view prefix = "");

/// Checks a /run or /runsync body: a JSON object whose `input` is an object. Errors:
/// sdw::error(bad_request, "body" or "input", ...) with pydantic's messages.
void check_runpod_body(std::string_view body);

/// Whether an `Authorization` header carries credentials this worker takes: `api_key` (when not
/// empty) as "Bearer <key>" or as the bare key (RunPod accepts both; its SDKs send the first), or
/// one of `users` by HTTP basic auth. Secrets are compared in constant time.
bool runpod_authorized(const std::vector<api_credential>& users, const std::string& api_key,
                       const std::optional<std::string>& authorization);

/// The 401 of the RunPod-style routes: `{"error":"Unauthorized: ..."}`.
std::string runpod_unauthorized_json();

/// A job as the RunPod status API shows it.
struct runpod_job_view {
  std::string id;
  std::string status;       ///< IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED
  std::string output_json;  ///< JSON text of `output`; empty = no output key
  std::string error;        ///< the `error` string; empty = no error key
  int64_t delay_ms = -1;    ///< -1 = no delayTime key
  int64_t execution_ms = -1;
};

/// `{"id","status"[,"delayTime"][,"executionTime"][,"output"][,"error"]}`; `output_json` is spliced
/// in as it is (it is already JSON).
std::string runpod_job_json(const runpod_job_view& job);

/// The `error` string of a FAILED job: JSON text `{"error_type","error_message","field"}`, which
/// clients parse as they do the RunPod SDK's error object.
std::string runpod_error_text(errc kind, const std::string& field, const std::string& message);

/// The time /runsync waits for a result: the `wait` query value in milliseconds, clamped to
/// 1000..300000; 90000 when absent or not a number.
int64_t runsync_wait_ms(const std::optional<std::string>& wait_query);

/// A `wait` query value in milliseconds, clamped to min_ms..max_ms; `fallback` when absent or
/// empty. Anything but a whole number → sdw::error(bad_request, "wait", ...).
int64_t parse_wait_ms(const std::optional<std::string>& wait_query, int64_t fallback, int64_t min_ms, int64_t max_ms);

/// GET/POST /stream/{id} of a worker that streams nothing: `{"id","status","stream":[]}`.
std::string runpod_stream_json(const std::string& id, const std::string& status);

/// POST /purge-queue: `{"removed":n,"status":"completed"}`.
std::string runpod_purge_json(int64_t removed);

/// Whether a RunPod job status is final (COMPLETED, FAILED, CANCELLED, TIMED_OUT).
bool is_final_status(std::string_view status);

/// One executor (device) in /health.
struct device_health {
  std::string name;   ///< "cuda:0", "cpu", "sim:3"
  std::string state;  ///< loading, idle, busy or failed
  double speed = 1;   ///< the configured speed factor of its cost model
  double calibrated_speed = 1;  ///< the speed factor placement uses (learned from its batches)
  int64_t running = 0, jobs = 0, batches = 0, images = 0, busy_ms = 0;
  std::string model;  ///< the checkpoint file it last ran; empty = the startup model
  std::vector<std::string> models;  ///< the checkpoints its model cache holds, most recently used first
  int64_t model_bytes = 0;          ///< their weights' bytes
};

/// What /health shows.
struct service_health {
  std::string state = "loading";  ///< "loading", "ready" or "failed"
  double load_progress = 0;
  std::string load_stage;
  std::string error;
  std::string model_name;
  int64_t in_queue = 0, in_progress = 0, capacity = 0;
  int64_t completed = 0, failed = 0, cancelled = 0, retried = 0;
  std::string current_job;  ///< the running job's id, or empty
  int64_t current_step = 0, current_steps = 0;
  std::vector<device_health> devices;  ///< one per executor; empty = not shown
};

/// `{"status","model":{...},"jobs":{"completed","failed","cancelled","inProgress","inQueue","retried"},
/// "workers":{"idle","running","initializing","ready","unhealthy"},"queue":{"capacity"},"current"?,
/// "devices"?:[{"name","state","speed","calibratedSpeed","running","jobs","batches","images","busyMs"}]}`:
/// RunPod's /health shape with the model state and the devices added.
std::string health_json(const service_health& health);

} // namespace sdw
