#pragma once
/// A child process started with fork and exec: the worker processes of the simulation harness
/// and of the tests. Its stdout and stderr go to files; it is killed and reaped with its owner.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// What to start and where its output goes.
struct child_spec {
  std::vector<std::string> args;  ///< args[0] is the executable's path
  std::vector<std::pair<std::string, std::string>> env;  ///< added to (or replacing in) this environment
  std::vector<std::string> unset;  ///< variables the child does not inherit
  std::string stdout_path;         ///< empty = this process's stdout
  std::string stderr_path;         ///< empty = this process's stderr; equal to stdout_path = one file
  std::string cwd;                 ///< empty = this process's folder
};

/// A running (or ended) child process; SIGKILLed and reaped by the destructor if still running.
class child_process {
public:
  /// Starts it; std::runtime_error when an output file cannot be opened or fork fails.
  explicit child_process(const child_spec& spec);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Whether it still runs (reaps it, keeping the exit code, when it has ended).
  bool alive();
  /// Sends `sig` while it runs.
  void signal(int sig);
  /// Waits up to `limit` for it to end by itself: its exit code, or -1 when it ended by a signal
  /// or did not end in time (it is then SIGKILLed).
  int wait_exit(std::chrono::milliseconds limit);
  /// SIGTERM, up to `grace` to end, then SIGKILL: the exit code, or -1 (killed, or already gone).
  int stop(std::chrono::milliseconds grace);
  /// SIGKILL and reap.
  void kill();

private:
  pid_t pid_ = -1;
  int code_ = -1;
};

} // namespace sdw
