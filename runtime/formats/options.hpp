#pragma once
/// The A1111 options (settings) the engine reads, with A1111 1.9.4's defaults, and per-request
/// overrides (`override_settings`).

#include "runtime/base/json_value.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// The options that change what the engine does. Names and defaults are A1111's option keys.
struct options {
  // Noise and seeds.
  std::string randn_source = "GPU";       ///< "GPU", "CPU" or "NV" (§3.2)
  std::int64_t eta_noise_seed_delta = 0;  ///< ENSD
  // Prompt encoding.
  int CLIP_stop_at_last_layers = 1;  ///< clip skip, 1..12
  std::string emphasis = "Original";   ///< "Original", "None", "Ignore", "No norm"
  int comma_padding_backtrack = 20;
  bool enable_prompt_comments = true;
  int sdxl_crop_top = 0;   ///< SDXL size conditioning: the crop coordinates the model is told of
  int sdxl_crop_left = 0;
  // Sampler parameters.
  double eta_ancestral = 1.0;
  double eta_ddim = 0.0;
  double s_churn = 0.0;
  double s_tmin = 0.0;
  double s_tmax = 0.0;
  double s_noise = 1.0;
  double s_min_uncond = 0.0;
  double sigma_min = 0.0;
  double sigma_max = 0.0;
  double rho = 0.0;
  bool always_discard_next_to_last_sigma = false;
  bool use_old_karras_scheduler_sigmas = false;
  bool sgm_noise_multiplier = false;
  bool batch_cond_uncond = true;
  bool use_old_scheduling = false;  ///< prompt editing: `when` < 1 a fraction, else a step (before 1.6)
  bool use_old_emphasis_implementation = false;  ///< SD1: brackets weigh as vocabulary tokens (2022)
  bool pad_cond_uncond = false;     ///< pad the shorter of prompt and negative with empty-prompt chunks
  bool pad_cond_uncond_v0 = false;  ///< the older padding: repeat (or cut) the negative's last vector
  bool no_dpmpp_sde_batch_determinism = false;  ///< SDE samplers: k-diffusion's one tree per batch
  std::string sd_noise_schedule = "Default";      ///< "Default" or "Zero Terminal SNR" (ᾱ rescaled)
  bool use_downcasted_alpha_bar = false;          ///< ᾱ rounded to fp16 before sampling (A1111 before 1.8)
  // Token merging (token_merge.hpp), 0 to 0.9; the img2img and hires ratios win when not 0.
  double token_merging_ratio = 0.0;
  double token_merging_ratio_img2img = 0.0;
  double token_merging_ratio_hr = 0.0;
  std::string uni_pc_variant = "bh1";             ///< "bh1", "bh2", "vary_coeff"
  std::string uni_pc_skip_type = "time_uniform";  ///< "time_uniform", "time_quadratic", "logSNR"
  int uni_pc_order = 3;
  bool uni_pc_lower_order_final = true;
  // img2img.
  bool img2img_fix_steps = false;                ///< run exactly `steps` steps whatever the strength
  double initial_noise_multiplier = 1.0;
  double img2img_extra_noise = 0.0;
  std::string img2img_background_color = "#ffffff";  ///< what transparent init images are flattened onto
  std::string sd_vae_encode_method = "Full";     ///< "Full" (the VAE encoder) or "TAESD"
  std::string sd_vae_decode_method = "Full";     ///< "Full" (the VAE decoder) or "TAESD"
  bool img2img_color_correction = false;         ///< results take their init image's colours
  // Inpainting.
  double inpainting_mask_weight = 1.0;           ///< inpainting models: how much of the masked image they see
  bool overlay_inpaint = true;                   ///< paste the original back outside the mask
  bool return_mask = false;                      ///< also return the mask as an image
  bool return_mask_composite = false;            ///< also return the generated pixels inside the mask
  // Upscalers.
  int ESRGAN_tile = 192;                         ///< model upscalers' tile size; 0 = the whole image at once
  int ESRGAN_tile_overlap = 8;                   ///< pixels the tiles overlap by
  std::optional<std::string> upscaler_for_img2img;  ///< img2img's resize upscaler; none = Lanczos
  // Output features.
  bool tiling = false;                           ///< the request's `tiling` when null
  bool face_restoration = false;                 ///< the request's `restore_faces` when null
  std::string face_restoration_model = "CodeFormer";
  // Models.
  std::optional<std::string> sd_model_checkpoint;  ///< checkpoint title or alias; none = the loaded one
  std::string sd_vae = "Automatic";  ///< "Automatic", "None" or a VAE file name
  bool sd_vae_overrides_per_model_preferences = true;
  bool use_old_hires_fix_width_height = false;  ///< hires fix: width × height is the final size (before 1.0)
  bool hires_fix_use_firstpass_conds = false;   ///< hires prompts encoded with the first pass's LoRAs
  std::string hires_fix_refiner_pass = "second pass";  ///< which hires pass a refiner may switch in
  bool refiner_switch_by_sample_steps = false;         ///< refiner_switch_at counts model calls, not σ
  // Output and infotext.
  std::string samples_format = "png";
  bool enable_pnginfo = true;
  bool add_model_hash_to_info = true;
  bool add_model_name_to_info = true;
  bool add_vae_hash_to_info = true;
  bool add_vae_name_to_info = true;
  bool add_version_to_infotext = true;
  bool textual_inversion_add_hashes_to_infotext = true;  ///< "TI hashes" of the embeddings a prompt used
};

/// Applies one `override_settings` entry. A key of `options` with a value of the wrong type or
/// outside its choices → sdw::error(bad_request, "override_settings.<key>", ...). Any other A1111
/// option key is accepted and ignored; a key A1111 does not know →
/// sdw::error(bad_request, "override_settings.<key>", "unknown option ...").
void apply_override(options& opts, const std::string& key, const json_value& value);

/// Applies every entry of an `override_settings` object, in order.
void apply_overrides(options& opts, const json_object& overrides);

/// The options a request runs with: A1111's defaults, then `stored` (what POST /sdapi/v1/options
/// stored, checked when posted), then the request's `override_settings`. Errors as apply_override.
options resolve_options(const json_object& stored, const std::optional<json_object>& overrides);

/// The value of one of the engine's options as JSON; null for keys that are not fields of `options`.
json_value option_value(const options& opts, std::string_view key);

/// Every option key A1111 1.9.4 registers (Appendix A of the spec), in registration order.
const std::vector<std::string_view>& a1111_option_keys();

/// Whether `key` is one of a1111_option_keys().
bool is_a1111_option_key(std::string_view key);

} // namespace sdw
