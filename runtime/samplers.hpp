#pragma once
/// The samplers of A1111 1.9.4: the list `/sdapi/v1/samplers` shows and the sampling loops
/// (k-diffusion samplers on sigmas, DDIM/PLMS/UniPC on integer timesteps).

#include "runtime/noise_schedule.hpp"

#include <ATen/core/Tensor.h>

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// One entry of A1111's sampler list with the options it declares.
struct sampler_info {
  std::string name;                              ///< e.g. "DPM++ 2M"
  std::vector<std::string> aliases;              ///< e.g. {"k_dpmpp_2m"}
  std::optional<scheduler_kind> default_scheduler; ///< what "Automatic" means for this sampler
  bool second_order = false;                     ///< two model calls per step (doubles total_steps)
  bool discard_next_to_last_sigma = false;
  bool uses_ensd = false;                        ///< the infotext shows ENSD when eta ≠ 0
  bool brownian_noise = false;                   ///< A1111 uses a Brownian-tree noise sampler
  bool timestep_based = false;                   ///< DDIM, PLMS, UniPC
  std::map<std::string, std::string> options;    ///< as /sdapi/v1/samplers shows them ("True" etc.)
};

/// Every sampler of A1111 1.9.4 in its list order (k-diffusion, then DDIM, PLMS, UniPC, LCM).
const std::vector<sampler_info>& all_samplers();
/// The sampler with exactly this name (not an alias), or nullptr.
const sampler_info* find_sampler(const std::string& name);
/// A sampler and scheduler as a request names them, resolved the A1111 1.9.4 way.
struct resolved_sampler {
  const sampler_info* sampler;  ///< never null
  scheduler_kind scheduler;     ///< `automatic` when it equals the sampler's own default
};
/// A1111's `get_sampler_and_scheduler`: an absent or unknown sampler becomes the first one
/// ("DPM++ 2M"); a scheduler suffix on the sampler name ("DPM++ 2M Karras", "Euler SGMUniform")
/// is split off and wins over `scheduler_name`; unknown scheduler names mean Automatic; a scheduler
/// equal to the sampler's default is reported as Automatic.
resolved_sampler resolve_sampler_and_scheduler(const std::optional<std::string>& sampler_name,
                                               const std::optional<std::string>& scheduler_name);
/// Whether sample() can run this sampler (others throw errc::unsupported).
bool implemented(const sampler_info& info);
/// The scheduler a request's choice means for this sampler: `automatic` becomes the sampler's
/// own default (e.g. Karras for DPM++ 2M) or stays automatic (= the model's uniform sigmas).
scheduler_kind effective_scheduler(const sampler_info& info, scheduler_kind requested);
/// The eta a request without one gets: option `eta_ancestral` (1.0) for k-diffusion samplers,
/// option `eta_ddim` (0.0) for the timestep samplers.
double default_eta(const sampler_info& info);

/// Which request parameters a sampler's function takes (A1111 passes each only to those, and
/// notes non-default values in the infotext only for those).
struct sampler_takes {
  bool eta = false;      ///< ancestral and SDE k-diffusion samplers, DDIM
  bool churn = false;    ///< s_churn, s_tmin, s_tmax: Euler, Heun, DPM2
  bool s_noise = false;  ///< the churn samplers and the noise-adding ones
};
sampler_takes parameters_taken(const sampler_info& info);

/// Sampler parameters from the request and options (A1111 passes each only to samplers that take it).
struct sampler_params {
  double eta = 1.0;   ///< ancestral / SDE noise amount; DDIM eta for DDIM
  double s_churn = 0, s_tmin = 0, s_tmax = INFINITY, s_noise = 1.0;
  std::string uni_pc_variant = "bh1";          ///< option `uni_pc_variant`: "bh1" or "bh2"
  std::string uni_pc_skip_type = "time_uniform"; ///< "time_uniform", "time_quadratic" or "logSNR"
  int uni_pc_order = 3;                        ///< option `uni_pc_order`; must not exceed the steps
  bool uni_pc_lower_order_final = true;        ///< option `uni_pc_lower_order_final`
  bool sgm_noise_multiplier = false;           ///< option: start from noise·√(1+σ₀²) instead of noise·σ₀
};

/// The model as samplers see it. The caller applies CFG inside these.
struct sampling_model {
  /// k-diffusion samplers: the denoised prediction for x at noise level sigma ([B], float32).
  std::function<at::Tensor(const at::Tensor& x, const at::Tensor& sigma)> denoise;
  /// Timestep samplers: the eps prediction for x at timesteps t ([B] float32; integral values for
  /// DDIM/PLMS, fractional for UniPC, as A1111 passes them to the UNet).
  std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t)> eps;
  /// The next per-image noise draw (A1111's rng.next()), shaped like x.
  std::function<at::Tensor()> randn_like;
  /// Called after each sampler step with (step index, number of steps); may throw
  /// sdw::error(cancelled).
  std::function<void(int step, int total)> on_step;
};

/// Runs a sampler. k-diffusion samplers receive the raw unit noise and start from
/// noise·sigmas[0]; timestep samplers build their timesteps from steps = sigmas.size(0) − 1 and
/// start from the unscaled noise. Noise comes only from model.randn_like, in A1111's draw order;
/// the `brownian_noise` samplers (DPM++ SDE, 2M SDE, 2M SDE Heun, 3M SDE) also take theirs from it
/// where A1111 samples a per-image torchsde Brownian tree, so their output differs from A1111's
/// (same distribution). Throws unsupported for samplers implemented() rejects, bad_request for
/// unusable sigmas or options, and rethrows what the model callbacks throw (e.g. cancelled).
at::Tensor sample(const sampler_info& info, sampling_model& model, at::Tensor x_noise,
                  const discrete_schedule& schedule, const at::Tensor& sigmas,
                  const sampler_params& params);

/// A1111's `setup_img2img_steps`: {steps to build the schedule for, t_enc}. Without
/// `img2img_fix_steps`, t_enc = int(min(strength, 0.999)·steps); with it, the schedule grows to
/// int(steps / min(strength, 0.999)) and t_enc = steps − 1. Throws bad_request for bad values.
std::pair<int, int> img2img_steps(int steps, double denoising_strength, bool fix_steps = false);

/// img2img as A1111 runs it from an encoded latent and unit noise: k-diffusion samplers start from
/// init + noise·σ on sigmas[steps − t_enc − 1:] (t_enc + 1 model steps); DDIM/PLMS/UniPC noise the
/// latent to timestep[t_enc] (√ᾱ·init + √(1−ᾱ)·noise) and run the first t_enc timesteps.
/// `sigmas` are those for the full `steps` (as make_sigmas builds them). Masks are the caller's.
at::Tensor sample_img2img(const sampler_info& info, sampling_model& model, const at::Tensor& init_latent,
                          const at::Tensor& noise, const discrete_schedule& schedule, const at::Tensor& sigmas,
                          int t_enc, const sampler_params& params);

/// The integer timesteps A1111 gives DDIM/PLMS/UniPC for `steps`:
/// clip(range(0, 1000, 1000 // steps) + 1, 0, 999) as int64 (it may hold more than `steps` entries).
at::Tensor ddim_timesteps(int steps, int64_t num_train_timesteps = 1000);

} // namespace sdw
