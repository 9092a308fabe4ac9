#pragma once
/// `sdworker api`: the worker as a local HTTP server (A1111 API and RunPod-style test API).

#include "actors/http_front.hpp"
#include "runtime/config/worker_config.hpp"

#include <vector>

namespace sdw {

/// The front door's settings from the worker configuration, with the `--api-auth` users. `sdworker
/// serve` runs the A1111 calls of its jobs with the same settings (and no users).
front_door_config front_door_from(const worker_config& config, const std::vector<api_credential>& users);

/// Starts the actors and the HTTP server, serves until SIGINT or SIGTERM, then shuts down.
/// `config` has been validated. Returns the exit code (2 for a missing tokenizer, 1 when the
/// server cannot start).
int run_api(const worker_config& config);

} // namespace sdw
