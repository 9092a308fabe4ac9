#pragma once
/// `sdworker sim`: one simulation run. Starts the RunPod control-plane emulator on loopback,
/// K real `sdworker serve --simulate 1` processes pointed at it, a load generator (Poisson
/// arrivals over HTTP /run, or C closed-loop clients on /runsync), optionally SIGKILLs one worker
/// while it holds a job, waits until every job is finished (or a time limit), and writes the
/// report as <out>.json and <out>.html.

#include "runtime/sim/sim_control_plane.hpp"
#include "runtime/sim/sim_report.hpp"

#include <cstdint>
#include <string>

namespace sdw {

/// Everything one run is told.
struct sim_args {
  int workers = 2;             ///< worker processes
  double time_scale = 0.05;    ///< simulated time per real time in the workers' cost model
  int concurrency = 0;         ///< jobs each worker holds at once (runpod.concurrency); 0 = its default
  int max_batch = 4;           ///< images per batch across requests in each worker (queue.max-batch)
  int ping_ms = 500;           ///< RUNPOD_PING_INTERVAL given to the workers
  int lost_after_ms = 0;       ///< requeue a job unseen this long; 0 = 4 ping intervals
  int take_wait_ms = 500;      ///< job-take long poll
  int jobs = 100;
  double rate = 0;             ///< arrivals per second; 0 = closed loop with `clients`
  int clients = 4;
  std::string mix_file;        ///< JSON request mix; empty = the default mix
  uint64_t seed = 1;
  sim_faults faults;
  double kill_after_s = -1;    ///< SIGKILL a worker holding a job this long after the start; < 0 = never
  double restart_every_s = 0;  ///< the control plane restarts this often (refusing connections); 0 = never
  int restart_down_ms = 1000;  ///< how long each restart refuses connections
  double timeout_s = 300;      ///< give up waiting for unfinished jobs after this long
  int port = 0;                ///< emulator port; 0 = any free one
  std::string out = "sim-report";  ///< writes <out>.json, <out>.html and <out>-logs/
  std::string binary;          ///< sdworker to start; empty = this executable
};

/// What a run produced, for callers that check it (tests).
struct sim_outcome {
  sim_report report;
  bool killed = false;        ///< a worker was SIGKILLed while holding a job
  std::string killed_worker;
  std::string killed_job;     ///< the job it held
};

/// Runs one simulation; throws std::runtime_error when the emulator or a worker cannot start.
sim_outcome run_sim_session(const sim_args& args);

/// The command: runs, writes the report files, prints a summary; exit 0 when no job was lost
/// and none was duplicated unless duplicates were injected.
int run_sim(const sim_args& args);

} // namespace sdw
