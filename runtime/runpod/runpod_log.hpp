#pragma once
/// Log lines for the serverless worker: RunPod's JSON lines (spec §2.13) when the worker runs on
/// an endpoint, and the job id on every line about a job.

#include <string>

namespace sdw {

/// Switches every spdlog line to `{"requestId","message","level"}` JSON (call once at start).
void use_runpod_json_logs();

/// How serious a job log line is.
enum class log_level { info, warn, error };

/// Logs a line about job `job_id`: its requestId in JSON mode, "<id> | <message>" otherwise.
void log_job(log_level level, const std::string& job_id, const std::string& message);

} // namespace sdw
