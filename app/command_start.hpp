#pragma once
/// What the long-running commands (api, serve, executor-host) do before their actors start.

#include "runtime/config/worker_config.hpp"

#include <string>

namespace sdw {

/// What a command has checked before anything starts.
struct start_checks {
  bool vocab = true;       ///< the CLIP vocabulary (simulated executors have no text encoder)
  bool checkpoint = true;  ///< the start-up checkpoint (a model.url without a file name is refused)
};

/// The outcome: the exit code to leave with (0 = go on) and the vocabulary's path.
struct command_start {
  int exit_code = 0;
  std::string vocab;
};

/// Finds the CLIP vocabulary and checks the start-up checkpoint as `checks` asks (an error is the
/// configuration's: logged, exit code 2), then installs the SIGINT/SIGTERM handlers (exit code 1
/// when they cannot be).
command_start start_command(const worker_config& config, start_checks checks = {});

} // namespace sdw
