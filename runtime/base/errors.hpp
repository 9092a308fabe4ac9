#pragma once
/// Errors raised by the engine. Each names what was wrong (a request field, a file, a tensor),
/// so the edge can answer with a clear message and a proper status.

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sdw {

/// What kind of failure, which decides the HTTP status at the edge.
enum class errc {
  bad_request,     ///< a request field is missing, of the wrong type or out of range (422)
  not_found,       ///< a named thing (sampler, model, file) does not exist (404)
  bad_checkpoint,  ///< a model file is malformed or does not match the architecture
  unsupported,     ///< a valid request for something sdworker does not do yet
  cancelled,       ///< the job was interrupted
  internal,        ///< anything else
  queue_full,      ///< the job queue has no room (503)
  device_fault,    ///< the device broke (CUDA error): later jobs on it would fail too
  executor_lost,   ///< the executor (a remote host) went away with the job
};

/// The one exception type of runtime/: a kind, the offending field or file, and a message.
class error : public std::runtime_error {
public:
  error(errc code, std::string where, const std::string& message)
    : std::runtime_error(where.empty() ? message : where + ": " + message),
      code_(code), where_(std::move(where)), message_(message) {}

  errc code() const noexcept { return code_; }
  /// The request field (e.g. "steps") or file path the error is about; may be empty.
  const std::string& where() const noexcept { return where_; }
  /// The message without the `where` prefix.
  const std::string& message() const noexcept { return message_; }

private:
  errc code_;
  std::string where_;
  std::string message_;
};

/// The name of an error kind, for logs and JSON bodies.
const char* to_string(errc code) noexcept;

inline std::ostream& operator<<(std::ostream& out, errc code) { return out << to_string(code); }

/// A new random id ("err-3f9a1c2b7d04") that an answer and the log line with the details share.
std::string new_error_id();

/// What a client may see of an exception that is not an sdw::error, whose text may hold internals
/// (libtorch's c10::Error appends a C++ stack trace): the first line, without a leading
/// "[enforce fail at file.cpp:N] ", cut to 300 bytes, then " (error <id>)". The caller logs the
/// whole text with the same id.
std::string public_error_text(std::string_view what, const std::string& id);

} // namespace sdw
