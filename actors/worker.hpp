#pragma once
/// The actors every serving mode shares (health, encoder, executor, scheduler, loader), started
/// and stopped in one place, and the process's stop channel (signals and "done" from actors).

#include "messages/interfaces.hpp"
#include "runtime/worker_config.hpp"

#include <caf/actor_system.hpp>

#include <cstddef>
#include <string>

namespace sdw {

/// What the worker's actors load and how many jobs may wait.
struct worker_setup {
  std::string model;       ///< checkpoint; empty = the embedded tiny demo model
  std::string model_dir = "models";
  std::string clip_vocab;  ///< resolved path of the tokenizer's BPE file
  std::string device = "auto";
  std::string dtype = "auto";
  size_t queue_size = 16;
  int simulate = 0;                 ///< N > 0: simulated executors instead of the model (N = 1 for now)
  double simulate_time_scale = 1.0;  ///< simulated time per real time
};

/// The handles of the running worker actors.
struct worker_actors {
  health_actor health;
  encoder_actor encoder;
  executor_actor executor;
  scheduler_actor scheduler;
};

/// Spawns health, encoder, the executor (detached), the scheduler and the loader, which starts
/// reading the model at once; with `simulate` > 0, a simulated executor instead, ready at once.
worker_actors start_worker(caf::actor_system& system, const worker_setup& setup);

/// The actors' part of the configuration, with the tokenizer file already found.
worker_setup worker_setup_from(const worker_config& config, const std::string& clip_vocab);

/// Asks every worker actor to end.
void stop_worker(const worker_actors& actors);

/// Installs the SIGINT/SIGTERM handlers that feed the stop channel; false when it cannot be made.
bool open_stop_channel();

/// Blocks until an event arrives: a signal number (SIGINT, SIGTERM), or `stop_done + code` from
/// notify_done.
int wait_stop_event();

/// The base of the "done" events: wait_stop_event returns stop_done + the exit code.
constexpr int stop_done = 100;

/// Tells the main thread the work is over with exit `code` (0..99); safe from any thread.
void notify_done(int code);

/// Flushes the logs and ends the process with `code` without running CAF's actor_system
/// destructor (CAF 0.17.6 was seen waiting forever in it after every actor had ended).
[[noreturn]] void leave_process(int code);

} // namespace sdw
