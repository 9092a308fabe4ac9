#pragma once
/// `sdworker bench`: the engine's speed on this machine, measured (not a test).

#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_config.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// Arguments of `sdworker bench`.
struct bench_args {
  std::string model;  ///< empty = an sd15-size random checkpoint made in model_dir
  std::string model_dir = "models";
  std::vector<int> sizes{256, 512};
  std::vector<int> step_batches{1};  ///< images per UNet step (CFG doubles them); sizes above 512 time 1 only
  bool cuda_graphs = true;           ///< CUDA: also time the steps with graphs off
  bool cudnn_benchmark = true;       ///< CUDA: let cuDNN time its algorithms per new shape (the worker's default)
  int repeats = 3;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string clip_vocab;
  std::string json_out;
  bool widen_weights = false;
  std::string memory_format = "channels_last";  ///< the networks' layout (device_options::memory_format)
  double token_merging = 0;  ///< the UNet steps with A1111's token merging at this ratio (0: none)
  int batch = 0;  ///< > 0: time this many txt2img requests as one batch against as many singles instead
  int batch_steps = 8;   ///< sampler steps of each request of the batch measurement
  int batch_image = 64;  ///< image width and height of the batch measurement (and of --hires's first pass)
  int lora_rank = 16;    ///< > 0: also time merging and restoring an sd15 LoCon of this rank (default model only)
  bool hires = false;    ///< time hires fix's two passes instead
  double hires_scale = 2.0;
  std::string hires_upscaler = "Latent";
  bool model_switch = false;  ///< time switching between two checkpoints instead (from disk, from the cache)
};

/// Prints load, text-encode, UNet-step (CFG batch 2), VAE-decode and PNG-encode times.
/// With `batch` > 0 it runs run_batch_bench instead.
int run_bench(const bench_args& args);

/// Batching across requests: `batch` txt2img requests (different prompts, seeds, CFG scales) with the
/// tiny model (made in model_dir) or `model`, as one run_txt2img_batch against as many run_txt2img
/// calls; prints both wall times and the gain.
int run_batch_bench(const bench_args& args);

/// Hires fix: a txt2img job of batch_image² with batch_steps steps, alone and with enable_hr
/// (hires_scale, hires_upscaler, the same steps again); prints the time of each pass.
int run_hires_bench(const bench_args& args);

/// Checkpoint switching: two checkpoints of the benched size alternated through a model cache that
/// holds both (a switch is a cache hit) and one that holds one (each switch loads from disk);
/// prints the time of each kind of switch.
int run_switch_bench(const bench_args& args);

/// The checkpoint to measure: `model`, else the sd15-size random one in model_dir (made on first use).
std::string bench_model(const bench_args& args);

/// The make-model preset whose networks a model has (its UNet and text encoder shapes), if any.
std::optional<model_preset> preset_of(const model_config& config);

/// Median wall time in seconds of `repeats` runs of `fn`, after one untimed warm-up run.
double median_seconds(int repeats, const std::function<void()>& fn);

} // namespace sdw
