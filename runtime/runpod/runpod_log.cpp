#include "runtime/runpod/runpod_log.hpp"

#include "runtime/runpod/runpod_worker.hpp"

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace sdw {
namespace {

/// The job a line is about, set by log_job around its spdlog call (spdlog formats on the
/// calling thread, so a thread-local reaches the formatter).
thread_local std::string current_request_id;
bool json_lines_on = false;

const char* level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "TRACE";
    case spdlog::level::debug: return "DEBUG";
    case spdlog::level::info: return "INFO";
    case spdlog::level::warn: return "WARN";
    case spdlog::level::err: return "ERROR";
    case spdlog::level::critical: return "CRITICAL";
    default: return "INFO";
  }
}

class json_line_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = runpod_log_json(current_request_id, std::string_view(msg.payload.data(), msg.payload.size()),
                                             level_name(msg.level));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_line_formatter>(); }
};

} // namespace

void use_runpod_json_logs() {
  json_lines_on = true;
  spdlog::set_formatter(std::make_unique<json_line_formatter>());
}

void log_job(log_level level, const std::string& job_id, const std::string& message) {
  const auto lvl = level == log_level::error ? spdlog::level::err
                   : level == log_level::warn ? spdlog::level::warn
                                              : spdlog::level::info;
  if (json_lines_on) {
    current_request_id = job_id;
    spdlog::log(lvl, "{}", message);
    current_request_id.clear();
  } else {
    spdlog::log(lvl, "{} | {}", job_id, message);
  }
}

} // namespace sdw
