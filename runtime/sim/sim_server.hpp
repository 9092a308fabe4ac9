#pragma once
/// The simulation harness's HTTP server: serves a sim_control_plane on loopback with plain
/// sockets, one thread per connection and `Connection: close`, so that the faults it plays are
/// real: a late answer, a connection closed without an answer, or a TCP reset (SO_LINGER 0).
/// Also a minimal blocking HTTP client for the load generator and the tests.

#include "runtime/sim/sim_control_plane.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sdw {

/// The emulator's HTTP front.
class sim_server {
public:
  /// Listens on 127.0.0.1:`port` (0 = any free port) and serves `plane`.
  explicit sim_server(sim_control_plane& plane, int port = 0);
  /// Stops the plane's long polls, closes the socket and waits for every connection.
  ~sim_server();
  sim_server(const sim_server&) = delete;
  sim_server& operator=(const sim_server&) = delete;

  int port() const { return port_; }
  /// "http://127.0.0.1:<port>".
  std::string base() const;
  /// The RUNPOD_* variables that point a worker named `pod` at endpoint `endpoint` here.
  std::vector<std::pair<std::string, std::string>> worker_env(const std::string& pod, int ping_ms,
                                                              const std::string& endpoint = "sim") const;

private:
  void accept_loop();
  void serve(int fd);

  sim_control_plane& plane_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable idle_;
  int open_connections_ = 0;
};

/// One HTTP exchange with a sim_server (or anything on loopback).
struct sim_http_reply {
  int status = 0;     ///< 0 = no answer (closed, reset, refused)
  std::string body;
};

/// Sends `method` `target` (path and query) with `body` to 127.0.0.1:`port` and reads the answer.
sim_http_reply sim_http_request(int port, const std::string& method, const std::string& target,
                                const std::string& body = "");

} // namespace sdw
