#pragma once
/// `sdworker api`: the worker as a local HTTP server (A1111 API and RunPod-style test API).

#include <cstddef>
#include <string>

namespace sdw {

/// Arguments of `sdworker api`.
struct api_args {
  std::string host = "127.0.0.1";
  int port = 3000;
  std::string model;  ///< checkpoint; empty = the embedded tiny random-weight demo model
  std::string model_dir = "models";
  std::string clip_vocab;  ///< empty = search the usual places
  std::string device = "auto";
  std::string dtype = "auto";
  int queue_size = 16;  ///< jobs that may wait; more are refused with HTTP 503
  std::string api_auth;  ///< A1111's `--api-auth user:pass[,user2:pass2]` for the /sdapi/v1 routes; empty = open
  size_t max_body_mb = 32;  ///< request bodies above this many MiB get HTTP 413
};

/// Starts the actors and the HTTP server, serves until SIGINT or SIGTERM, then shuts down.
/// Returns the exit code (2 for bad arguments, 1 when the server cannot start).
int run_api(const api_args& args);

} // namespace sdw
