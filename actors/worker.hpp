#pragma once
/// The actors every serving mode shares (health, encoder, executor, scheduler, loader), started
/// and stopped in one place, and the process's stop channel (signals and "done" from actors).

#include "messages/interfaces.hpp"
#include "runtime/config/worker_config.hpp"
#include "runtime/sched/result_retention.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace sdw {

class embedding_library;

/// What the worker's actors load and how many jobs may wait.
struct worker_setup {
  std::string model;       ///< checkpoint; empty = the embedded tiny demo model
  std::string model_dir = "models";
  std::string clip_vocab;  ///< resolved path of the tokenizer's BPE file
  std::string device = "auto";
  std::string dtype = "auto";
  size_t queue_size = 16;
  retention_limits kept_results;     ///< finished jobs remembered for /status and /retry
  std::vector<std::string> devices;  ///< one executor and loader each; empty = {device}
  int simulate = 0;                  ///< N > 0: N simulated executors, no model loaded
  std::vector<double> simulate_speeds;  ///< speed factor per simulated device (missing = 1)
  double simulate_time_scale = 1.0;
  int max_batch = 4;                 ///< images per batch across requests
  /// Executor hosts whose devices join the local ones (the system must load caf::io::middleman).
  std::vector<remote_address> remotes;
  std::string lora_dir = "models/Lora";  ///< the Lora folder each loader opens for its model
  size_t model_cache_bytes = size_t{8192} << 20;  ///< weights each executor may keep (model.cache-mb)
  std::string model_url;     ///< where `model` is fetched from when it is not there yet
  std::string model_sha256;  ///< what the fetched file must hash to
  std::string embeddings_dir = "models/embeddings";  ///< the textual-inversion embeddings folder (model.embeddings-dir)
  std::string esrgan_dir = "models/ESRGAN";  ///< the model upscalers' folder (RealESRGAN beside it)
};

/// The handles of the running worker actors.
struct worker_actors {
  health_actor health;
  encoder_actor encoder;
  executor_actor executor;               ///< the first of `executors`
  std::vector<executor_actor> executors;  ///< one per device, as the scheduler lists them
  scheduler_actor scheduler;
  /// The embeddings folder the loaders read for their model; the front door lists it. Null when simulated.
  std::shared_ptr<embedding_library> embeddings;
};

/// Spawns health, encoder, one executor per device (detached), the scheduler and one loader per
/// device, which starts reading the model at once, and one remote executor per executor host,
/// which connects in the background; or, with `simulate`, that many simulated executors that
/// are ready at once.
worker_actors start_worker(caf::actor_system& system, const worker_setup& setup);

/// The actors' part of the configuration, with the tokenizer file already found.
worker_setup worker_setup_from(const worker_config& config, const std::string& clip_vocab);

/// The checkpoint the worker starts with: model.checkpoint; else, with model.url, the file it is
/// fetched to in <model.dir>/Stable-diffusion; else the demo model's path. A bad URL →
/// sdw::error naming model.url.
std::string startup_checkpoint(const worker_config& config);
/// Installs the model upscalers of `esrgan_dir` (and the RealESRGAN folder beside it) for the
/// whole process; the paths outside an executor (extras, checks, listings) run them on `device`
/// ("auto", "cpu", "cuda:N") with `dtype`, an executor on its own device.
void install_upscalers(const std::string& esrgan_dir, const std::string& device, const std::string& dtype);

/// The actor system's settings every command shares: message types, two scheduler threads, and
/// CAF's network layer when `network` (executor hosts, and workers that use them).
void prepare_system_config(caf::actor_system_config& cfg, bool network);

/// Asks every worker actor to end.
void stop_worker(const worker_actors& actors);

/// Installs the SIGINT/SIGTERM handlers that feed the stop channel; false (logged) when it cannot be made.
bool open_stop_channel();

/// Blocks until an event arrives: a signal number (SIGINT, SIGTERM), or `stop_done + code` from
/// notify_done.
int wait_stop_event();

/// wait_stop_event_until, when the deadline passed first.
constexpr int stop_timed_out = -1;

/// wait_stop_event, giving up at `deadline` (stop_timed_out).
int wait_stop_event_until(std::chrono::steady_clock::time_point deadline);

/// The base of the "done" events: wait_stop_event returns stop_done + the exit code.
constexpr int stop_done = 100;

/// Tells the main thread the work is over with exit `code` (0..99); safe from any thread.
void notify_done(int code);

/// Lets the actors told to exit finish, and returns `code` for the command to return, so that the
/// actor_system's destructor (which waits for every actor, then stops CAF's threads) and the
/// process's own end run as usual. Actors still running after a few seconds (an executor inside a
/// long model call, which an interrupt ends only at its next step) would hold that destructor:
/// then the logs are flushed and the process leaves at once with `code`. A watchdog bounds the
/// destructor too.
int finish_actors(caf::actor_system& system, int code);

} // namespace sdw
