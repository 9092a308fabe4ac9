#pragma once
/// `sdworker serve`: the production mode on RunPod serverless. With RUNPOD_WEBHOOK_GET_JOB set it
/// takes jobs from the platform until SIGTERM; without it, it runs one local test job
/// (`--test-input FILE` or ./test_input.json) and prints the result, as the RunPod SDK does.

#include "runtime/config/worker_config.hpp"

#include <string>

namespace sdw {

/// Runs the worker. Returns the exit code: 0 after SIGTERM/SIGINT once the jobs in flight are
/// delivered (or a successful local test), 1 when the model fails to load, after a device fault,
/// or a failed local test, 2 for a missing tokenizer.
/// `config` has been validated; `test_input` is a job file or the job JSON itself for the
/// one-shot local test (empty = ./test_input.json when RUNPOD_WEBHOOK_GET_JOB is unset).
int run_serve(const worker_config& config, const std::string& test_input);

} // namespace sdw
