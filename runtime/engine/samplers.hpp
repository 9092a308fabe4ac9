#pragma once
/// The sampling loops of A1111 1.9.4's samplers (k-diffusion samplers on sigmas, DDIM/PLMS/UniPC on
/// integer timesteps). The sampler list itself is runtime/formats/a1111_samplers.hpp (no torch).

#include "runtime/engine/noise_schedule.hpp"
#include "runtime/formats/a1111_samplers.hpp"

#include <ATen/core/Tensor.h>

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// Whether sample() can run this sampler (others throw errc::unsupported).
bool implemented(const sampler_info& info);

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
  /// k-diffusion's `noise_sampler(sigma, sigma_next)` (0-d float32 tensors, as the sampler computes
  /// them), shaped like x: the noise of the `brownian_noise` samplers, which A1111 gives Brownian
  /// trees (a1111_noise_sampler, brownian_noise.hpp). Unset, they draw from randn_like instead.
  std::function<at::Tensor(const at::Tensor& sigma, const at::Tensor& sigma_next)> noise_sampler;
  /// Called after each sampler step with (step index, number of steps); may throw
  /// sdw::error(cancelled).
  std::function<void(int step, int total)> on_step;
};

/// Runs a sampler. k-diffusion samplers receive the raw unit noise and start from
/// noise·sigmas[0]; timestep samplers build their timesteps from steps = sigmas.size(0) − 1 and
/// start from the unscaled noise. Noise comes from model.randn_like, in A1111's draw order, but for
/// the `brownian_noise` samplers (DPM++ SDE, 2M SDE, 2M SDE Heun, 3M SDE), which query
/// model.noise_sampler (when set) at the sigmas k-diffusion passes it. Throws unsupported for
/// samplers implemented() rejects, bad_request for unusable sigmas or options, and rethrows what the
/// model callbacks throw (e.g. cancelled).
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
/// `sigmas` are those for the full `steps` (as make_sigmas builds them). Masks are the caller's. A1111's
/// per-image Brownian trees span the full `sigmas` here too (with `no_dpmpp_sde_batch_determinism`,
/// k-diffusion's own tree spans the shortened schedule).
/// `extra_noise` (option img2img_extra_noise) adds noise·extra_noise to the start, as A1111 does.
at::Tensor sample_img2img(const sampler_info& info, sampling_model& model, const at::Tensor& init_latent,
                          const at::Tensor& noise, const discrete_schedule& schedule, const at::Tensor& sigmas,
                          int t_enc, const sampler_params& params, double extra_noise = 0.0);

/// The integer timesteps A1111 gives DDIM/PLMS/UniPC for `steps`:
/// clip(range(0, 1000, 1000 // steps) + 1, 0, 999) as int64 (it may hold more than `steps` entries).
at::Tensor ddim_timesteps(int steps, int64_t num_train_timesteps = 1000);

} // namespace sdw
