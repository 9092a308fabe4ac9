#pragma once
/// Checkpoints a job switches to partway, as A1111 reloads weights in the middle of a job: hires
/// fix's `hr_checkpoint_name` for the second pass, and the refiner (`refiner_checkpoint`) inside a
/// sampling run once it has come `refiner_switch_at` of the way (sd_samplers_common.apply_refiner).

#include "runtime/formats/model_choice.hpp"

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sdw {

class discrete_schedule;
class model_cache;
class sd_model;

/// A checkpoint a request named to switch to.
struct checkpoint_switch {
  std::string short_title;  ///< A1111's short_title ("name [hash]"), for the infotext
  std::string checkpoint;   ///< its file: a model already running it does not switch
  /// Loads it (from the device's model cache); null: the job's own model, nothing to load.
  std::function<std::shared_ptr<const sd_model>()> load;
};

/// The switch a resolved choice names (model_choice.hpp), loaded from `cache` when the switch
/// comes; nullopt when none is named. A hires checkpoint that is the job's own model with its own
/// VAE (`own_vae`) loads nothing; without a cache the switch fails naming `field`.
std::optional<checkpoint_switch> switch_to(const switch_choice& choice, const std::string& field,
                                           std::shared_ptr<model_cache> cache, const sd_model& own,
                                           const std::string& own_vae, bool hires);

/// Whether `second` can take over a job planned for `first`: the same family (SD1, SD2, SDXL: the
/// text encoders, conditioning and latent space a plan holds), input channels and embeddings.
/// Else sdw::error(unsupported) naming `field` and both models.
void check_switch_target(const sd_model& first, const sd_model& second, const std::string& field);

/// A1111's completed ratio of a sampling run at a model call, (999 − t) / 1000 in float32: t is
/// the training timestep whose σ is nearest the largest of the call's `sigma` (k-diffusion
/// samplers), or int(max(t)) of the call's timesteps (DDIM, PLMS, UniPC).
float completed_ratio_at_sigma(const discrete_schedule& schedule, const at::Tensor& sigma);
float completed_ratio_at_timestep(const at::Tensor& t);

} // namespace sdw
