#pragma once
/// The simulation harness's HTTP server: serves a sim_control_plane on loopback with plain
/// sockets, one thread per connection and `Connection: close`, so that the faults it plays are
/// real: a late answer, a connection closed without an answer, or a TCP reset (SO_LINGER 0).
/// It can keep every request it was sent (the tests' view of what a worker posted). Also a
/// minimal blocking HTTP client for the load generator and the tests.

#include "runtime/sim/sim_control_plane.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sdw {

/// One request a sim_server received, as kept with `record`.
struct sim_request {
  std::string method;
  std::string path;
  std::string query;                           ///< without the `?`
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  int answered = 0;  ///< the status sent back; 0 = closed or reset without an answer
  std::chrono::steady_clock::time_point at;  ///< when it arrived

  /// A query parameter's raw value, or "" when absent.
  std::string param(const std::string& name) const;
  bool has_param(const std::string& name) const;
};

/// The emulator's HTTP front.
class sim_server {
public:
  /// Listens on 127.0.0.1:`port` (0 = any free port) and serves `plane`; with `record`, keeps
  /// every request (bodies included: for tests, not for long load runs).
  explicit sim_server(sim_control_plane& plane, int port = 0, bool record = false);
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
  /// The requests answered so far, in that order (empty without `record`).
  std::vector<sim_request> requests() const;
  /// A control-plane restart: stops listening (new connections are refused) for `down`, then
  /// listens again on the same port. Connections already open are served to their end.
  void restart(std::chrono::milliseconds down);

private:
  void accept_loop();
  void serve(int fd);

  sim_control_plane& plane_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  const bool record_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::condition_variable listening_;  ///< restart and the accept loop hand the socket over
  bool restarting_ = false;
  bool accepting_ = false;             ///< the accept loop is in accept() on listen_fd_
  int open_connections_ = 0;
  std::vector<sim_request> requests_;
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
