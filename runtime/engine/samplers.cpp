#include "runtime/engine/samplers.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/samplers_impl.hpp"

#include <ATen/ATen.h>

namespace sdw {

namespace detail {

sampler_fn function_of(const sampler_info& info) {
  static const std::map<std::string, sampler_fn> map = {
      {"DPM++ 2M", sampler_fn::dpmpp_2m},       {"DPM++ SDE", sampler_fn::dpmpp_sde},
      {"DPM++ 2M SDE", sampler_fn::dpmpp_2m_sde}, {"DPM++ 2M SDE Heun", sampler_fn::dpmpp_2m_sde_heun},
      {"DPM++ 2S a", sampler_fn::dpmpp_2s_ancestral}, {"DPM++ 3M SDE", sampler_fn::dpmpp_3m_sde},
      {"Euler a", sampler_fn::euler_ancestral}, {"Euler", sampler_fn::euler},
      {"LMS", sampler_fn::lms},                 {"Heun", sampler_fn::heun},
      {"DPM2", sampler_fn::dpm_2},              {"DPM2 a", sampler_fn::dpm_2_ancestral},
      {"DDIM", sampler_fn::ddim},               {"PLMS", sampler_fn::plms},
      {"UniPC", sampler_fn::unipc},             {"Restart", sampler_fn::restart},
      {"DPM fast", sampler_fn::dpm_fast},       {"DPM adaptive", sampler_fn::dpm_adaptive},
      {"LCM", sampler_fn::lcm},
  };
  auto it = map.find(info.name);
  return it == map.end() ? sampler_fn::unsupported : it->second;
}

at::Tensor run_context::denoise(const at::Tensor& x, const at::Tensor& sigma) const {
  auto s_in = at::ones({x.size(0)}, x.options());
  return model.denoise(x, sigma.to(x.device()) * s_in);
}

at::Tensor run_context::noise(const at::Tensor& x) const {
  if (!model.randn_like) throw error(errc::internal, "sampler", "the sampler needs a noise source");
  auto n = model.randn_like();
  if (!n.defined() || n.sizes() != x.sizes())
    throw error(errc::internal, "sampler", "the noise source returned a tensor of the wrong shape");
  return n.to(x.device(), x.scalar_type());
}

at::Tensor run_context::brownian(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& sigma_next) const {
  if (!model.noise_sampler) return noise(x);
  auto n = model.noise_sampler(sigma, sigma_next);
  if (!n.defined() || n.sizes() != x.sizes())
    throw error(errc::internal, "sampler", "the noise sampler returned a tensor of the wrong shape");
  return n.to(x.device(), x.scalar_type());
}

void run_context::step_done(int i) const {
  if (model.on_step) model.on_step(i, total_steps);
}

std::pair<at::Tensor, at::Tensor> ancestral_step(const at::Tensor& sigma_from, const at::Tensor& sigma_to, double eta) {
  if (eta == 0) return {sigma_to, at::zeros_like(sigma_to)};
  auto up = ((sigma_to.pow(2) * (sigma_from.pow(2) - sigma_to.pow(2)) / sigma_from.pow(2)).pow(0.5)) * eta;
  auto sigma_up = up.lt(sigma_to).item<bool>() ? up : sigma_to;
  auto sigma_down = (sigma_to.pow(2) - sigma_up.pow(2)).pow(0.5);
  return {sigma_down, sigma_up};
}

} // namespace detail

bool implemented(const sampler_info& info) { return detail::function_of(info) != detail::sampler_fn::unsupported; }

sampler_takes parameters_taken(const sampler_info& info) {
  using detail::sampler_fn;
  const sampler_fn fn = detail::function_of(info);
  const bool churn = fn == sampler_fn::euler || fn == sampler_fn::heun || fn == sampler_fn::dpm_2;
  const bool noise_adding = fn == sampler_fn::dpm_fast || fn == sampler_fn::dpm_2_ancestral ||
                            fn == sampler_fn::dpmpp_2s_ancestral || fn == sampler_fn::dpmpp_sde ||
                            fn == sampler_fn::dpmpp_2m_sde || fn == sampler_fn::dpmpp_2m_sde_heun ||
                            fn == sampler_fn::dpmpp_3m_sde;
  sampler_takes t;
  t.churn = churn;
  t.s_noise = churn || noise_adding;
  t.eta = noise_adding || fn == sampler_fn::euler_ancestral || fn == sampler_fn::dpm_adaptive ||
          fn == sampler_fn::ddim;
  return t;
}

at::Tensor ddim_timesteps(int steps, int64_t num_train_timesteps) {
  if (steps < 1 || steps > num_train_timesteps)
    throw error(errc::bad_request, "steps", "must be between 1 and " + std::to_string(num_train_timesteps));
  const int64_t stride = num_train_timesteps / steps;
  return (at::arange(0, num_train_timesteps, stride, at::TensorOptions().dtype(at::kLong)) + 1)
      .clamp(0, num_train_timesteps - 1);
}

namespace {

void check_inputs(const sampler_info& info, const sampling_model& model, const at::Tensor& x,
                  const at::Tensor& sigmas) {
  if (!implemented(info))
    throw error(errc::unsupported, "sampler_name", "sampler \"" + info.name + "\" is not supported yet");
  if (!x.defined() || x.dim() != 4)
    throw error(errc::internal, "sampler", "the latent must be a [B,C,H,W] tensor");
  if (!sigmas.defined() || sigmas.dim() != 1 || sigmas.size(0) < 2)
    throw error(errc::bad_request, "steps", "the sampler needs at least one step");
  if (info.timestep_based ? !model.eps : !model.denoise)
    throw error(errc::internal, "sampler", "the model lacks the prediction this sampler needs");
}

/// Runs a sampler loop and turns torch failures (e.g. a singular UniPC system) into sdw errors.
template <class F>
at::Tensor guarded(F&& f) {
  try {
    return f();
  } catch (const error&) {
    throw;
  } catch (const c10::Error& e) {
    throw error(errc::internal, "sampler", e.what_without_backtrace());
  }
}

/// A1111 hands s_churn/s_tmin/s_tmax/s_noise only to the k-diffusion functions listed in its
/// `sampler_extra_params`; the others run with k-diffusion's defaults (Euler a ignores s_noise).
sampler_params accepted_params(const sampler_info& info, const sampler_params& in) {
  sampler_params p = in;
  const sampler_params defaults;
  const sampler_takes takes = parameters_taken(info);
  if (!takes.churn) {
    p.s_churn = defaults.s_churn;
    p.s_tmin = defaults.s_tmin;
    p.s_tmax = defaults.s_tmax;
  }
  if (!takes.s_noise) p.s_noise = defaults.s_noise;
  return p;
}

at::Tensor run_kdiffusion(const sampler_info& info, sampling_model& model, const at::Tensor& x,
                          const at::Tensor& sig, const sampler_params& given,
                          std::optional<std::pair<double, double>> dpm_range = std::nullopt) {
  using detail::sampler_fn;
  const sampler_params params = accepted_params(info, given);
  detail::run_context c{model, sig, params, static_cast<int>(sig.size(0) - 1), dpm_range};
  switch (detail::function_of(info)) {
  case sampler_fn::euler: return detail::sample_euler(c, x);
  case sampler_fn::euler_ancestral: return detail::sample_euler_ancestral(c, x);
  case sampler_fn::heun: return detail::sample_heun(c, x);
  case sampler_fn::dpm_2: return detail::sample_dpm_2(c, x);
  case sampler_fn::dpm_2_ancestral: return detail::sample_dpm_2_ancestral(c, x);
  case sampler_fn::lms: return detail::sample_lms(c, x);
  case sampler_fn::dpmpp_2m: return detail::sample_dpmpp_2m(c, x);
  case sampler_fn::dpmpp_2s_ancestral: return detail::sample_dpmpp_2s_ancestral(c, x);
  case sampler_fn::dpmpp_sde: return detail::sample_dpmpp_sde(c, x);
  case sampler_fn::dpmpp_2m_sde: return detail::sample_dpmpp_2m_sde(c, x, false);
  case sampler_fn::dpmpp_2m_sde_heun: return detail::sample_dpmpp_2m_sde(c, x, true);
  case sampler_fn::dpmpp_3m_sde: return detail::sample_dpmpp_3m_sde(c, x);
  case sampler_fn::restart: return detail::sample_restart(c, x);
  case sampler_fn::dpm_fast: return detail::sample_dpm_fast(c, x);
  case sampler_fn::dpm_adaptive: return detail::sample_dpm_adaptive(c, x);
  case sampler_fn::lcm: return detail::sample_lcm(c, x);
  default: break;
  }
  throw error(errc::unsupported, "sampler_name", "sampler \"" + info.name + "\" is not supported yet");
}

at::Tensor run_timesteps(const sampler_info& info, sampling_model& model, const at::Tensor& x,
                         const discrete_schedule& schedule, const at::Tensor& sig, const at::Tensor& timesteps,
                         const sampler_params& params, std::optional<double> unipc_t_start) {
  using detail::sampler_fn;
  detail::run_context c{model, sig, params, static_cast<int>(timesteps.size(0) - 1)};
  switch (detail::function_of(info)) {
  case sampler_fn::ddim: return detail::sample_ddim(c, schedule, timesteps, x);
  case sampler_fn::plms: return detail::sample_plms(c, schedule, timesteps, x);
  default: return detail::sample_unipc(c, schedule, timesteps, x, unipc_t_start);
  }
}

} // namespace

at::Tensor sample(const sampler_info& info, sampling_model& model, at::Tensor x_noise,
                  const discrete_schedule& schedule, const at::Tensor& sigmas, const sampler_params& params) {
  check_inputs(info, model, x_noise, sigmas);
  auto sig = sigmas.detach().to(at::kCPU, at::kFloat).contiguous();
  return guarded([&] {
    if (info.timestep_based) {
      auto timesteps = ddim_timesteps(static_cast<int>(sig.size(0) - 1), schedule.alphas_cumprod().size(0));
      return run_timesteps(info, model, x_noise, schedule, sig, timesteps, params, std::nullopt);
    }
    auto scale = params.sgm_noise_multiplier ? at::sqrt(1.0 + sig[0] * sig[0]) : sig[0];
    return run_kdiffusion(info, model, x_noise * scale.to(x_noise.device()), sig, params,
                          std::make_pair(schedule.sigma_min(), schedule.sigma_max()));
  });
}

std::pair<int, int> img2img_steps(int steps, double denoising_strength, bool fix_steps) {
  if (steps < 1) throw error(errc::bad_request, "steps", "must be at least 1");
  if (!(denoising_strength >= 0 && denoising_strength <= 1))
    throw error(errc::bad_request, "denoising_strength", "must be between 0 and 1");
  const double strength = std::min(denoising_strength, 0.999);
  if (fix_steps) {
    const int total = denoising_strength > 0 ? static_cast<int>(steps / strength) : 0;
    return {total, steps - 1};
  }
  return {steps, static_cast<int>(strength * steps)};
}

at::Tensor sample_img2img(const sampler_info& info, sampling_model& model, const at::Tensor& init_latent,
                          const at::Tensor& noise, const discrete_schedule& schedule, const at::Tensor& sigmas,
                          int t_enc, const sampler_params& params, double extra_noise) {
  check_inputs(info, model, init_latent, sigmas);
  if (!noise.defined() || noise.sizes() != init_latent.sizes())
    throw error(errc::internal, "sampler", "the noise must have the latent's shape");
  auto sig = sigmas.detach().to(at::kCPU, at::kFloat).contiguous();
  const int steps = static_cast<int>(sig.size(0) - 1);
  if (t_enc < 0 || t_enc >= steps) throw error(errc::bad_request, "denoising_strength", "leaves no step to run");
  return guarded([&] {
    if (info.timestep_based) {
      auto timesteps = ddim_timesteps(steps, schedule.alphas_cumprod().size(0));
      if (t_enc >= timesteps.size(0)) throw error(errc::bad_request, "denoising_strength", "leaves no step to run");
      auto sched = timesteps.slice(0, 0, t_enc);
      if (sched.size(0) < 1) throw error(errc::bad_request, "denoising_strength", "leaves no step to run");
      // Noise the latent to timestep[t_enc] in one go, as the forward process does.
      auto a = schedule.alphas_cumprod()[timesteps[t_enc].item<int64_t>()];
      auto xi = init_latent * at::sqrt(a).to(init_latent.device()) + noise * at::sqrt(1 - a).to(init_latent.device());
      if (extra_noise > 0) xi = xi + noise * extra_noise;
      // UniPC starts at the last kept timestep, expressed in its [1/N, 1] time.
      auto t_start = (sched[-1].to(at::kFloat) / 1000 + 1. / 1000).item<double>();
      return run_timesteps(info, model, xi, schedule, sig, sched, params, t_start);
    }
    auto sched = sig.slice(0, steps - t_enc - 1);
    auto xi = init_latent + noise * sched[0].to(init_latent.device());
    if (extra_noise > 0) xi = xi + noise * extra_noise;
    return run_kdiffusion(info, model, xi, sched.contiguous(), params);
  });
}

} // namespace sdw
