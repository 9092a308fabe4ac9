#pragma once
/// `sdworker api`: the worker as a local HTTP server (A1111 API and RunPod-style test API).

#include "runtime/config/worker_config.hpp"

namespace sdw {

/// Starts the actors and the HTTP server, serves until SIGINT or SIGTERM, then shuts down.
/// `config` has been validated. Returns the exit code (2 for a missing tokenizer, 1 when the
/// server cannot start).
int run_api(const worker_config& config);

} // namespace sdw
