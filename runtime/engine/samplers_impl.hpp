#pragma once
/// The sampling loops behind sdw::sample(), one function per sampler family (internal to runtime/).

#include "runtime/engine/samplers.hpp"

namespace sdw::detail {

/// Which k-diffusion function (or A1111 timestep function) a sampler runs.
enum class sampler_fn {
  euler, euler_ancestral, heun, dpm_2, dpm_2_ancestral, lms, dpmpp_2m, dpmpp_2s_ancestral,
  dpmpp_sde, dpmpp_2m_sde, dpmpp_2m_sde_heun, dpmpp_3m_sde, restart, dpm_fast, dpm_adaptive, lcm, ddim, plms, unipc, unsupported
};

/// The function a sampler of all_samplers() maps to.
sampler_fn function_of(const sampler_info& info);

/// Shared state of one sampling run: the model, the sigma list (float32 CPU) and the step callback.
struct run_context {
  sampling_model& model;
  at::Tensor sigmas; ///< float32, on x's device
  const sampler_params& params;
  int total_steps;   ///< number of sampler steps, for on_step
  /// DPM fast/adaptive σ range {min, max}: the model's for txt2img; unset for img2img, where
  /// A1111 uses sigmas[-2] and sigmas[0] of the shortened schedule.
  std::optional<std::pair<double, double>> dpm_sigma_range = std::nullopt;
  /// Calls the denoiser with sigma (a 0-d tensor) broadcast to the batch, as `sigma * s_in`.
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) const;
  /// A noise draw shaped like x (rng.next()).
  at::Tensor noise(const at::Tensor& x) const;
  /// The SDE samplers' noise for a step from sigma to sigma_next: model.noise_sampler, or noise(x)
  /// without one.
  at::Tensor brownian(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& sigma_next) const;
  void step_done(int i) const;
};

at::Tensor sample_euler(run_context& c, at::Tensor x);
at::Tensor sample_euler_ancestral(run_context& c, at::Tensor x);
at::Tensor sample_heun(run_context& c, at::Tensor x);
at::Tensor sample_dpm_2(run_context& c, at::Tensor x);
at::Tensor sample_dpm_2_ancestral(run_context& c, at::Tensor x);
at::Tensor sample_lms(run_context& c, at::Tensor x);
at::Tensor sample_dpmpp_2m(run_context& c, at::Tensor x);
at::Tensor sample_dpmpp_2s_ancestral(run_context& c, at::Tensor x);
at::Tensor sample_dpmpp_sde(run_context& c, at::Tensor x);
at::Tensor sample_dpmpp_2m_sde(run_context& c, at::Tensor x, bool heun);
at::Tensor sample_dpmpp_3m_sde(run_context& c, at::Tensor x);
at::Tensor sample_restart(run_context& c, at::Tensor x);
at::Tensor sample_dpm_fast(run_context& c, at::Tensor x);
at::Tensor sample_dpm_adaptive(run_context& c, at::Tensor x);
/// A1111's LCM loop (the model's denoise must be the LCM denoiser's).
at::Tensor sample_lcm(run_context& c, at::Tensor x);

/// Timestep samplers get the schedule's ᾱ and the timesteps instead of sigmas.
at::Tensor sample_ddim(run_context& c, const discrete_schedule& s, const at::Tensor& timesteps, at::Tensor x);
at::Tensor sample_plms(run_context& c, const discrete_schedule& s, const at::Tensor& timesteps, at::Tensor x);
/// `t_start` (img2img) replaces UniPC's start time 1.0; the number of steps is timesteps.size(0).
at::Tensor sample_unipc(run_context& c, const discrete_schedule& s, const at::Tensor& timesteps, at::Tensor x,
                        std::optional<double> t_start);

/// The k-diffusion ancestral step split (σ_down, σ_up) as 0-d tensors.
std::pair<at::Tensor, at::Tensor> ancestral_step(const at::Tensor& sigma_from, const at::Tensor& sigma_to, double eta);

} // namespace sdw::detail
