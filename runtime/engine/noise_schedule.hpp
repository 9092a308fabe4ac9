#pragma once
/// The discrete noise schedule of an eps-prediction SD model and the sigma schedulers that
/// A1111 1.9.4 offers (Automatic, Uniform, Karras, Exponential, Polyexponential, SGM Uniform).

#include "runtime/formats/a1111_samplers.hpp"

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

namespace sdw {

/// The ᾱ override A1111 applies to the model before sampling (option sd_noise_schedule).
enum class noise_schedule_kind { model_default, zero_terminal_snr };

/// "Default" → model_default, "Zero Terminal SNR" → zero_terminal_snr; throws bad_request
/// (override_settings.sd_noise_schedule) for anything else.
noise_schedule_kind parse_noise_schedule(const std::string& option);

/// The k-diffusion view of a DDPM schedule: sigmas = sqrt((1 - ᾱ) / ᾱ), ascending, float32.
class discrete_schedule {
public:
  /// Builds the schedule from a 1-D float tensor of ᾱ (1000 entries for SD1); it is kept as float32.
  /// Throws sdw::error(bad_checkpoint, "alphas_cumprod") for a tensor of the wrong shape or range.
  explicit discrete_schedule(const at::Tensor& alphas_cumprod);

  /// The ldm "linear" schedule: betas = linspace(√start, √end, n)² and ᾱ = cumprod(1 − β), both in
  /// float64, returned as float32 as ldm stores the buffer.
  static at::Tensor sd1_alphas_cumprod(double linear_start = 0.00085, double linear_end = 0.012,
                                       int timesteps = 1000);

  /// A1111's LCMCompVisDenoiser view of `model` (1000 timesteps): the 50 timesteps of LCM's
  /// original schedule (999, 979, ..., 19) as its σ table. Its timesteps are those of the model: σ
  /// maps to the nearest table entry's (index·20 + 19), a timestep back through the table.
  /// Throws bad_checkpoint for a model schedule without 1000 entries.
  static discrete_schedule lcm(const discrete_schedule& model);

  /// A1111's rescale_zero_terminal_snr_abar of `model`: √ᾱ shifted so that its last entry is 0
  /// and scaled so that its first is unchanged, squared, with the last ᾱ set to 4.8973451890853435e-08.
  static discrete_schedule zero_terminal_snr(const discrete_schedule& model);

  /// A1111's option use_downcasted_alpha_bar: ᾱ rounded to fp16, and σ and log σ computed from it
  /// in fp16 as k-diffusion's wrapper then does (the tables stay fp16; what reads them promotes to
  /// float32 where PyTorch would). Throws bad_checkpoint when that makes a σ 0 or infinite.
  static discrete_schedule downcast(const discrete_schedule& model);

  /// LCM's stride between table entries in model timesteps (20), or 0 for a model's own schedule.
  int lcm_skip_steps() const noexcept { return skip_steps_; }

  /// ᾱ [N], float32 (fp16 when downcast).
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  /// σ per discrete timestep [N], ascending, in ᾱ's dtype.
  const at::Tensor& sigmas() const { return sigmas_; }
  /// log σ [N], in ᾱ's dtype.
  const at::Tensor& log_sigmas() const { return log_sigmas_; }
  /// sigmas()[0] as a double (what `.item()` gives in Python).
  double sigma_min() const;
  /// sigmas()[N-1] as a double.
  double sigma_max() const;
  /// Continuous timestep for each σ (piecewise linear in log σ, k-diffusion's formula); same shape.
  /// LCM: the nearest table entry's model timestep (integral values).
  at::Tensor sigma_to_t(const at::Tensor& sigma) const;
  /// σ for each (fractional) timestep t: exp of the linear interpolation of log σ. LCM: of the
  /// table position (t − 19) / 20, clamped to the table.
  at::Tensor t_to_sigma(const at::Tensor& t) const;
  /// The model's own sigma list for n steps: t = linspace(N−1, 0, n), σ(t), then a final 0 (LCM:
  /// t = linspace(t(σ_max), t(σ_min), n) in model timesteps).
  at::Tensor uniform_sigmas(int n) const;

private:
  discrete_schedule() = default;
  /// σ and log σ from alphas_cumprod_, in its dtype and k-diffusion's order of operations.
  void make_tables();

  int skip_steps_ = 0;
  at::Tensor alphas_cumprod_;
  at::Tensor sigmas_;
  at::Tensor log_sigmas_;
};

/// Overrides of the sigma schedule; 0 means the model's / scheduler's default.
struct sigma_options {
  double sigma_min = 0;                    ///< option `sigma_min`
  double sigma_max = 0;                    ///< option `sigma_max`
  double rho = 0;                          ///< option `rho` (Karras, Polyexponential only)
  bool discard_next_to_last_sigma = false; ///< sampler option or `always_discard_next_to_last_sigma`
  bool use_old_karras = false;             ///< option `use_old_karras_scheduler_sigmas` (σ range 0.1…10)
};

/// The sigmas (float32, descending, ending in 0) for `steps` sampler steps, as A1111's
/// `KDiffusionSampler.get_sigmas` builds them. `automatic` here means the model default (uniform);
/// resolve a sampler's own default scheduler before calling. Throws bad_request for steps < 1.
at::Tensor make_sigmas(const discrete_schedule& schedule, scheduler_kind kind, int steps,
                       const sigma_options& options = {});

} // namespace sdw
