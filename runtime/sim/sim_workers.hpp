#pragma once
/// The simulation harness's worker processes: K real `sdworker serve --simulate 1` processes,
/// each with the RUNPOD_* variables pointing at the emulator, logs to files in a folder; one can
/// be SIGKILLed mid-job; all are killed and reaped at the end.

#include "runtime/base/child_process.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// How to start each worker.
struct sim_worker_spec {
  std::string binary;      ///< the sdworker executable
  std::string log_dir;     ///< <log_dir>/<name>.log gets its stderr and stdout
  double time_scale = 0.05;
  std::vector<std::string> extra;  ///< more `serve` arguments
};

/// The running workers.
class sim_workers {
public:
  /// Every worker still running is killed (SIGKILL) and reaped with it.
  sim_workers() = default;
  sim_workers(const sim_workers&) = delete;
  sim_workers& operator=(const sim_workers&) = delete;

  /// Starts one worker named `name` with `env` added to this process's environment.
  void start(const sim_worker_spec& spec, const std::string& name,
             const std::vector<std::pair<std::string, std::string>>& env);
  /// SIGKILLs worker `name`; false when it is not running.
  bool kill(const std::string& name);
  /// Whether worker `name` is still running.
  bool alive(const std::string& name);
  /// The names, in start order.
  std::vector<std::string> names() const;

private:
  struct proc {
    std::string name;
    std::unique_ptr<child_process> process;
  };
  std::vector<proc> procs_;
};

} // namespace sdw
