#pragma once
/// A request's sampler settings resolved as A1111 1.9.4 resolves them, before any model is chosen:
/// the sampler and scheduler, the sigma and sampler parameters (request values, options, and the
/// options that win over them), the noise-schedule and padding options, and the infotext entries.

#include "runtime/base/json_value.hpp"
#include "runtime/engine/cfg_denoiser.hpp"
#include "runtime/engine/noise_schedule.hpp"
#include "runtime/engine/samplers.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <optional>
#include <string>

namespace sdw {

/// What a request's sampler settings resolve to, without a model: the sampler, its sigma
/// schedule recipe, the sampler parameters, and the infotext entries they produce.
struct sampling_setup {
  const sampler_info* sampler = nullptr;     ///< never null after make_sampling_setup
  scheduler_kind scheduler = scheduler_kind::uniform;
  sigma_options sigma_opts;
  sampler_params params;
  double s_min_uncond = 0.0;
  noise_schedule_kind noise_schedule = noise_schedule_kind::model_default;  ///< option sd_noise_schedule
  bool downcast_alphas = false;              ///< option use_downcasted_alpha_bar: ᾱ rounded to fp16
  cond_padding padding = cond_padding::none;  ///< options pad_cond_uncond_v0, pad_cond_uncond
  double token_merging = 0.0;                ///< the pass's token merging ratio (0: none)
  std::optional<std::string> schedule_type;  ///< the infotext's "Schedule type" slot
  json_object extra;                         ///< extra_generation_params of the sampling settings
};

/// Resolves a request's sampling settings. Throws not_found for an unknown sampler, unsupported for
/// features the engine does not have (hires fix, face restoration, tiling, scripts).
sampling_setup make_sampling_setup(const txt2img_request& request, const options& opts);

/// The token merging ratio a pass runs with (A1111's get_token_merging_ratio; the request's own
/// token_merging_ratio is not an API field): txt2img takes token_merging_ratio, its hires pass
/// token_merging_ratio_hr when not 0; img2img takes token_merging_ratio_img2img when not 0, unless
/// override_settings names a token_merging_ratio that is not 0.
double token_merging_ratio(const txt2img_request& request, const options& opts, bool hires_pass);

} // namespace sdw
