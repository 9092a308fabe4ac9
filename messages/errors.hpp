#pragma once
/// The errors actors answer requests with (as caf::error), mapped to HTTP at the front door.

#include <caf/all.hpp>

#include <cstdint>

namespace sdw {

/// Why the scheduler refused or could not find a job.
enum class sd_errc : uint8_t {
  queue_full = 1,  ///< the bounded queue holds its maximum of waiting jobs (HTTP 503)
  unknown_job,     ///< no job with that id (HTTP 404)
  not_retryable,   ///< /retry of a job that is not FAILED or CANCELLED (HTTP 400)
};

/// The name of an sd_errc, for logs and error bodies.
inline const char* to_string(sd_errc code) noexcept {
  switch (code) {
    case sd_errc::queue_full: return "queue_full";
    case sd_errc::unknown_job: return "unknown_job";
    case sd_errc::not_retryable: return "not_retryable";
  }
  return "unknown";
}

/// Whether `err` is the sd_errc `code`.
inline bool is(const caf::error& err, sd_errc code) {
  return err.category() == caf::atom("sdw") && err.code() == static_cast<uint8_t>(code);
}

} // namespace sdw

CAF_ERROR_CODE_ENUM(sdw::sd_errc, "sdw")
