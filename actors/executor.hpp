#pragma once
/// The executor actor: the only place that runs the model. Spawned detached (its own thread),
/// it holds the model the loader hands it and runs one batch of txt2img jobs at a time (today
/// the members one after another, each with its own cancel flags), reporting each sampler step
/// to health. A failing job (bad input that got through, a cancelled job, out of
/// memory) becomes that job's error; the executor stays alive. Only the scheduler sends it jobs.

#include "messages/interfaces.hpp"

#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace sdw {

/// The executor's state: the model once loaded, and who hears about progress.
struct executor_state {
  loaded_model model;  ///< its `model` is null after unload, until a job or reload loads it again
  std::string startup_path;  ///< the startup checkpoint, loaded again from the cache after unload
  int cuda_index = -1;      ///< its CUDA device, or -1 (CPU)
  health_actor health;
  int max_batch = 4;  ///< images one sampling run may hold (queue.max-batch)

  /// The startup model, loaded again (through the cache) when an unload let it go.
  std::shared_ptr<const sd_model> startup_model();

  /// unload / reload: the weights' bytes and the checkpoints the cache holds now.
  std::tuple<int64_t, std::vector<std::string>> holding() const;

  /// The model a job runs: the startup one, or the checkpoint and VAE it names from the cache
  /// (loaded now when not held). Errors name the file.
  std::shared_ptr<const sd_model> model_for(const generation_job& job);

  /// Runs one job to images, or to its error.
  generation_output run(const generation_job& job, const cancel_token& token,
                        executor_actor::stateful_pointer<executor_state> self);

  /// Runs a batch: one output per job, in order; a cancelled member ends as cancelled alone. A
  /// lone job with one n_iter batch runs as run_txt2img runs it; otherwise its n_iter batches
  /// share sampling runs with each other and with the other jobs.
  std::vector<generation_output> run_batch(const std::vector<generation_job>& jobs,
                                           const std::vector<cancel_token>& tokens,
                                           executor_actor::stateful_pointer<executor_state> self);

  /// Puts what the executor holds after a batch into its outputs: the model cache's checkpoints and weights and,
  /// on a CUDA device (`cuda_index` ≥ 0), the allocator's bytes now and at the batch's peak.
  void note_memory(std::vector<generation_output>& outs, int cuda_index) const;
};

/// The executor's behaviour; spawn it with caf::detached. `max_batch` caps the images of one
/// sampling run (a job's n_iter batches and other jobs share runs up to it).
executor_actor::behavior_type executor(executor_actor::stateful_pointer<executor_state> self, health_actor health,
                                       int max_batch);

} // namespace sdw
