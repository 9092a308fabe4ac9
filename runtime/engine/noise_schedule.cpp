#include "runtime/engine/noise_schedule.hpp"

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace sdw {

namespace {

at::Tensor append_zero(const at::Tensor& x) { return at::cat({x, at::zeros({1}, x.options())}); }

at::Tensor float_options_linspace(double start, double end, int64_t n) {
  return at::linspace(start, end, n, at::TensorOptions().dtype(at::kFloat));
}

} // namespace

discrete_schedule::discrete_schedule(const at::Tensor& alphas_cumprod) {
  if (!alphas_cumprod.defined() || alphas_cumprod.dim() != 1 || alphas_cumprod.size(0) < 2)
    throw error(errc::bad_checkpoint, "alphas_cumprod", "expected a 1-D tensor with at least 2 entries");
  alphas_cumprod_ = alphas_cumprod.detach().to(at::kCPU, at::kFloat).contiguous();
  if (!(alphas_cumprod_.gt(0).all().item<bool>() && alphas_cumprod_.lt(1).all().item<bool>()))
    throw error(errc::bad_checkpoint, "alphas_cumprod", "values must lie strictly between 0 and 1");
  make_tables();
}

void discrete_schedule::make_tables() {
  // Same op order as k-diffusion's DiscreteEpsDDPMDenoiser so the values agree bit for bit.
  sigmas_ = ((1 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);
  log_sigmas_ = sigmas_.log();
}

discrete_schedule discrete_schedule::downcast(const discrete_schedule& model) {
  if (model.skip_steps_ > 0) throw error(errc::internal, "alphas_cumprod", "LCM's table is made from a downcast ᾱ, not downcast");
  discrete_schedule s;
  s.alphas_cumprod_ = model.alphas_cumprod_.to(at::kHalf);
  s.make_tables();
  if (!(at::isfinite(s.log_sigmas_).all().item<bool>()))
    throw error(errc::bad_checkpoint, "alphas_cumprod", "rounded to fp16 (use_downcasted_alpha_bar) gives a σ of 0 or ∞");
  return s;
}

at::Tensor discrete_schedule::sd1_alphas_cumprod(double linear_start, double linear_end, int timesteps) {
  if (timesteps < 2) throw error(errc::bad_request, "timesteps", "must be at least 2");
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  auto betas = at::linspace(std::sqrt(linear_start), std::sqrt(linear_end), timesteps, f64).pow(2);
  auto alphas = 1 - betas;
  return at::cumprod(alphas, 0).to(at::kFloat);
}

noise_schedule_kind parse_noise_schedule(const std::string& option) {
  if (option == "Default") return noise_schedule_kind::model_default;
  if (option == "Zero Terminal SNR") return noise_schedule_kind::zero_terminal_snr;
  throw error(errc::bad_request, "override_settings.sd_noise_schedule",
              "unknown noise schedule '" + option + "' (use Default or Zero Terminal SNR)");
}

discrete_schedule discrete_schedule::zero_terminal_snr(const discrete_schedule& model) {
  // float32 throughout, in A1111's order of operations.
  auto sqrt_ac = model.alphas_cumprod().sqrt();
  const auto first = sqrt_ac[0].clone();
  const auto last = sqrt_ac[-1].clone();
  sqrt_ac = (sqrt_ac - last) * (first / (first - last));
  auto ac = sqrt_ac.pow(2);
  ac[-1] = 4.8973451890853435e-08;
  return discrete_schedule(ac);
}

discrete_schedule discrete_schedule::lcm(const discrete_schedule& model) {
  constexpr int64_t timesteps = 1000, original_timesteps = 50, skip = timesteps / original_timesteps;
  const at::Tensor& ac = model.alphas_cumprod();
  if (ac.size(0) != timesteps)
    throw error(errc::bad_checkpoint, "alphas_cumprod",
                "the LCM sampler needs a schedule of 1000 timesteps, not " + std::to_string(ac.size(0)));
  // Entry i is timestep 19 + 20·i (A1111 fills it from the end: 999 − 20·x at 49 − x).
  discrete_schedule s(ac.slice(0, skip - 1, timesteps, skip).clone());
  s.skip_steps_ = static_cast<int>(skip);
  return s;
}

double discrete_schedule::sigma_min() const { return sigmas_[0].item<double>(); }
double discrete_schedule::sigma_max() const { return sigmas_[sigmas_.size(0) - 1].item<double>(); }

at::Tensor discrete_schedule::sigma_to_t(const at::Tensor& sigma) const {
  const int64_t n = log_sigmas_.size(0);
  if (skip_steps_ > 0) {
    // LCMCompVisDenoiser.sigma_to_t: the nearest entry in log σ, as a model timestep.
    auto log_sigma = sigma.to(at::kFloat).reshape({-1}).log();
    auto dists = log_sigma.unsqueeze(0) - log_sigmas_.to(log_sigma.device()).unsqueeze(1);
    auto idx = dists.abs().argmin(0);
    return (idx * skip_steps_ + (skip_steps_ - 1)).to(at::kFloat).view(sigma.sizes());
  }
  auto log_sigma = sigma.to(at::kFloat).reshape({-1}).log();
  auto ls = log_sigmas_.to(log_sigma.device());
  auto dists = log_sigma.unsqueeze(0) - ls.unsqueeze(1); // [N, M]
  // Index of the last log σ_i that is <= log σ (0 when there is none), kept below N-1.
  auto low_idx = dists.ge(0).cumsum(0).argmax(0).clamp_max(n - 2);
  auto high_idx = low_idx + 1;
  auto low = ls.index_select(0, low_idx);
  auto high = ls.index_select(0, high_idx);
  auto w = ((low - log_sigma) / (low - high)).clamp(0, 1);
  auto t = (1 - w) * low_idx + w * high_idx;
  return t.view(sigma.sizes());
}

at::Tensor discrete_schedule::t_to_sigma(const at::Tensor& t_in) const {
  auto t = t_in.to(at::kFloat);
  const int64_t last = log_sigmas_.size(0) - 1;
  if (skip_steps_ > 0) {
    // LCMCompVisDenoiser.t_to_sigma: the table position, clamped to the table.
    t = ((t - (skip_steps_ - 1)) / skip_steps_).clamp(0, static_cast<double>(last));
  }
  auto flat = t.reshape({-1});
  if (flat.numel() > 0 && !(flat.min().item<double>() >= 0 && flat.max().item<double>() <= last))
    throw error(errc::bad_request, "timestep", "must lie between 0 and " + std::to_string(last));
  auto ls = log_sigmas_.to(flat.device());
  auto low_idx = flat.floor().to(at::kLong);
  auto high_idx = flat.ceil().to(at::kLong);
  auto w = flat.frac();
  auto log_sigma = (1 - w) * ls.index_select(0, low_idx) + w * ls.index_select(0, high_idx);
  return log_sigma.exp().view(t.sizes());
}

at::Tensor discrete_schedule::uniform_sigmas(int n) const {
  if (skip_steps_ > 0) {
    const double start = static_cast<double>((sigmas_.size(0) - 1) * skip_steps_ + skip_steps_ - 1);
    return append_zero(t_to_sigma(float_options_linspace(start, skip_steps_ - 1, n)));
  }
  const double t_max = static_cast<double>(sigmas_.size(0) - 1);
  return append_zero(t_to_sigma(float_options_linspace(t_max, 0, n)));
}

at::Tensor make_sigmas(const discrete_schedule& schedule, scheduler_kind kind, int steps,
                       const sigma_options& options) {
  if (steps < 1) throw error(errc::bad_request, "steps", "must be at least 1");
  const bool discard = options.discard_next_to_last_sigma;
  const int n = steps + (discard ? 1 : 0);

  const double m_sigma_min = schedule.sigma_min();
  const double m_sigma_max = schedule.sigma_max();
  double sigma_min = options.use_old_karras ? 0.1 : m_sigma_min;
  double sigma_max = options.use_old_karras ? 10.0 : m_sigma_max;
  if (options.sigma_min != 0 && options.sigma_min != m_sigma_min) sigma_min = options.sigma_min;
  if (options.sigma_max != 0 && options.sigma_max != m_sigma_max) sigma_max = options.sigma_max;
  const double default_rho = scheduler_default_rho(kind);
  double rho = default_rho;
  if (default_rho != -1 && options.rho != 0) rho = options.rho;
  if (kind != scheduler_kind::automatic && kind != scheduler_kind::uniform &&
      (!(sigma_min > 0) || !(sigma_max > sigma_min)))
    throw error(errc::bad_request, "sigma_min", "the schedule needs 0 < sigma_min < sigma_max");

  at::Tensor sigmas;
  switch (kind) {
  case scheduler_kind::automatic:
  case scheduler_kind::uniform:
    sigmas = schedule.uniform_sigmas(n);
    break;
  case scheduler_kind::karras: {
    auto ramp = float_options_linspace(0, 1, n);
    const double min_inv_rho = std::pow(sigma_min, 1 / rho);
    const double max_inv_rho = std::pow(sigma_max, 1 / rho);
    sigmas = append_zero((ramp * (min_inv_rho - max_inv_rho) + max_inv_rho).pow(rho));
    break;
  }
  case scheduler_kind::exponential:
    sigmas = append_zero(float_options_linspace(std::log(sigma_max), std::log(sigma_min), n).exp());
    break;
  case scheduler_kind::polyexponential: {
    auto ramp = float_options_linspace(1, 0, n).pow(rho);
    sigmas = append_zero(
        at::exp(ramp * (std::log(sigma_max) - std::log(sigma_min)) + std::log(sigma_min)));
    break;
  }
  case scheduler_kind::sgm_uniform: {
    auto f32 = at::TensorOptions().dtype(at::kFloat);
    // Python builds 0-d float32 tensors from the float bounds before converting them to timesteps.
    const double start = schedule.sigma_to_t(at::full({}, sigma_max, f32)).item<double>();
    const double end = schedule.sigma_to_t(at::full({}, sigma_min, f32)).item<double>();
    auto ts = float_options_linspace(start, end, n + 1).slice(0, 0, n);
    sigmas = append_zero(schedule.t_to_sigma(ts));
    break;
  }
  }
  if (discard) sigmas = at::cat({sigmas.slice(0, 0, sigmas.size(0) - 2), sigmas.slice(0, -1)});
  return sigmas;
}

} // namespace sdw
