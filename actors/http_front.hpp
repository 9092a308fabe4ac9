#pragma once
/// The local HTTP front door: A1111's /sdapi/v1 routes, /health and the RunPod-style test API
/// (/run, /runsync, /status/{id}, /cancel/{id}). A thin adapter: bodies are checked with
/// runtime/ functions, turned into typed messages to the scheduler and health, and the answers
/// are turned back into JSON. Requests run on the HTTP library's threads.

#include "messages/interfaces.hpp"

#include <caf/actor_system.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace sdw {

/// Where to listen and what to tell clients about limits.
struct front_door_config {
  std::string host = "127.0.0.1";
  int port = 3000;
  size_t queue_capacity = 16;
};

/// The HTTP listener and its routes.
class http_front {
public:
  http_front(caf::actor_system& system, scheduler_actor scheduler, health_actor health, front_door_config config);
  ~http_front();
  http_front(const http_front&) = delete;
  http_front& operator=(const http_front&) = delete;

  /// Starts listening; throws std::exception when the address cannot be bound.
  void open();
  /// Stops listening and waits for the listener to close.
  void close();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sdw
