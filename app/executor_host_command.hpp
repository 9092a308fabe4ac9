#pragma once
/// `sdworker executor-host`: this machine's device as an executor for a worker on another host.
/// Loads the model like any worker, then publishes an executor host (CAF's network layer) on
/// remote.host:remote.port; a worker started with remote.executor = "<host>:<port>" sends it jobs.

#include "runtime/config/worker_config.hpp"

namespace sdw {

/// Serves until SIGINT or SIGTERM. Returns the exit code (2 for a missing tokenizer, 1 when the
/// port cannot be opened).
int run_executor_host(const worker_config& config);

} // namespace sdw
