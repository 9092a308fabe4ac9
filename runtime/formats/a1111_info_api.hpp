#pragma once
/// A1111's status routes at the API edge: /sdapi/v1/schedulers, /progress and /memory, and the
/// HTTP basic authentication of `--api-auth`.

#include "runtime/formats/a1111_api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdw {

/// GET /sdapi/v1/schedulers: `[{"name","label","aliases","default_rho","need_inner_model"}]` in
/// A1111's order.
std::string schedulers_json();

/// What /sdapi/v1/progress is computed from: the running job, if any.
struct progress_view {
  bool running = false;
  int job_no = 0;          ///< the n_iter batch being sampled, from 0
  int job_count = 0;       ///< n_iter
  int sampling_step = 0;   ///< steps done in the current batch
  int sampling_steps = 0;  ///< steps per batch
  double elapsed_s = 0;    ///< since the job started
  std::string job_timestamp = "0";  ///< the start as %Y%m%d%H%M%S
  bool interrupted = false;
  bool skipped = false;
};

/// GET /sdapi/v1/progress: `{"progress","eta_relative","state":{skipped, interrupted,
/// stopping_generation, job, job_count, job_timestamp, job_no, sampling_step, sampling_steps},
/// "current_image":null,"textinfo":null}` with A1111's formulas (progress starts at 0.01 and
/// eta_relative = elapsed / progress − elapsed); all zero while no job runs.
std::string progress_json(const progress_view& view);

/// A job's progress as A1111 counts it, from the step over all batches (`job_step` of
/// `job_steps`, `iterations` batches) and its start (Unix milliseconds) at `now_unix_ms`.
progress_view make_progress_view(int job_step, int job_steps, int iterations, int64_t started_unix_ms,
                                 int64_t now_unix_ms);

/// GET /sdapi/v1/memory: `{"ram":{"free","used","total"},"cuda":{"error":"unavailable"}}` as A1111
/// reports it without CUDA: used = this process's resident set, total = MemTotal of `meminfo`
/// (the text of /proc/meminfo), free = total − used. Unreadable figures give `{"error": ...}`.
std::string memory_json(std::string_view meminfo, int64_t rss_bytes);

/// The resident set size of this process in bytes (from /proc/self/statm); −1 when unknown.
int64_t process_rss_bytes();

/// One `--api-auth` user.
struct api_credential {
  std::string user;
  std::string password;
};

/// Parses `--api-auth "u1:p1,u2:p2"`; an entry without `:` or with an empty user →
/// sdw::error(bad_request, "--api-auth", ...).
std::vector<api_credential> parse_api_auth(const std::string& text);

/// FastAPI's HTTPBasic check of an `Authorization` header against `users`: nothing when it
/// passes, else the 401 answer with A1111's error body ("Not authenticated", "Invalid
/// authentication credentials" or "Incorrect username or password"). User names and passwords
/// are compared in constant time, all users every time.
std::optional<http_answer> check_basic_auth(const std::vector<api_credential>& users,
                                            const std::optional<std::string>& authorization);

} // namespace sdw
