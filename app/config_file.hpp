#pragma once
/// Reading conf/sdworker.ini: CAF's INI format, parsed by CAF, applied through the same key table
/// as the environment and the command line (runtime/worker_config.hpp).

#include "runtime/config/worker_config.hpp"

#include <string>

namespace sdw {

/// Applies every key of the INI file `path` to `config`. Errors (sdw::error, bad_request, naming
/// the file, and the line or the key): the file cannot be read, a syntax error, an unknown
/// section or key, a value of the wrong kind.
void load_config_file(worker_config& config, const std::string& path);

/// The configuration a command starts from: the defaults, then the INI file (`path`, else
/// $SDWORKER_CONFIG, else conf/sdworker.ini when it exists), then the environment. Returns the
/// file that was read in `used_file` (empty when none).
worker_config load_worker_config(const std::string& path, std::string& used_file);

} // namespace sdw
