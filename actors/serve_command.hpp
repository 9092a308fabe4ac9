#pragma once
/// `sdworker serve`: the production mode on RunPod serverless. With RUNPOD_WEBHOOK_GET_JOB set it
/// takes jobs from the platform until SIGTERM; without it, it runs one local test job
/// (`--test-input FILE` or ./test_input.json) and prints the result, as the RunPod SDK does.

#include "runtime/runpod_worker.hpp"

#include <string>

namespace sdw {

/// Arguments of `sdworker serve`; `runpod` comes from the environment (runpod_settings_from_env).
struct serve_args {
  std::string model;  ///< checkpoint; empty = the embedded tiny random-weight demo model
  std::string model_dir = "models";
  std::string clip_vocab;  ///< empty = search the usual places
  std::string device = "auto";
  std::string dtype = "auto";
  int queue_size = 4;      ///< jobs that may wait at the scheduler
  std::string test_input;  ///< a job file for the one-shot local test; empty = ./test_input.json
  runpod_settings runpod;
};

/// Runs the worker. Returns the exit code: 0 after SIGTERM/SIGINT once the jobs in flight are
/// delivered (or a successful local test), 1 when the model fails to load, after a device fault,
/// or a failed local test, 2 for bad arguments.
int run_serve(const serve_args& args);

} // namespace sdw
