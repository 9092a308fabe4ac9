#pragma once
/// Hires fix, A1111 1.9.4's second txt2img pass (StableDiffusionProcessingTxt2Img.init,
/// calculate_target_resolution, sample_hr_pass): the first pass's latents upscaled (in latent space,
/// or decoded, upscaled as pixels and encoded again), then sampled as img2img at the target size.

#include "runtime/engine/txt2img_plan.hpp"

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace sdw {

class clip_tokenizer;
class sd_model;

/// How the first pass's latents reach the target size.
struct hires_upscale {
  std::string upscaler;          ///< the request's hr_upscaler, "Latent" when null
  std::optional<std::string> latent_mode;  ///< torch interpolate mode for the Latent family
  bool antialias = false;
  int tile = 192;     ///< a model upscaler's tiles (option ESRGAN_tile)
  int overlap = 8;    ///< ESRGAN_tile_overlap
};

/// The second pass of a plan: a plan of its own (hires sampler, schedule for hr steps, hires
/// prompts, target latent size) plus the upscale.
struct hires_plan {
  txt2img_plan pass;      ///< img2img at the target size; its init_latent is set per n_iter batch
  int target_width = 0;   ///< hr_upscale_to_x
  int target_height = 0;
  int truncate_x = 0;     ///< latent columns cropped away (hr_resize_x/y with another aspect)
  int truncate_y = 0;
  hires_upscale upscale;
  double mask_weight = 1.0;  ///< option inpainting_mask_weight, for an inpainting model's conditioning
  /// Option hires_fix_use_firstpass_conds (without a hires checkpoint): the second pass's prompts
  /// are encoded before the first pass, with the first pass's LoRAs on the text encoder.
  bool firstpass_conds = false;
  std::string first_pass_schedule_type;  ///< to tell whether "Hires schedule type" differs
};

/// The first pass's size a hires request asks for (firstphase_width/height when given, else
/// width/height) before the option use_old_hires_fix_width_height.
std::pair<int, int> requested_first_pass_size(const txt2img_request& request);

/// A1111's old_hires_fix_first_pass_dimensions (option use_old_hires_fix_width_height, where width ×
/// height is the final size): about 512² pixels of the same aspect, each side rounded up to 64.
std::pair<int, int> old_hires_fix_first_pass_size(int width, int height);

/// The hires plan of a request with enable_hr, built on its first-pass plan (whose
/// extra_generation_params gain A1111's Hires entries, in A1111's order; "Hires checkpoint" is
/// `hr_title` when not empty). Errors: bad_request "denoising_strength" when null (A1111 fails
/// there too), "hr_upscaler" for an upscaler that is neither a Latent mode nor a built-in one nor
/// a present model upscaler; not_found "hr_sampler_name".
hires_plan make_hires_plan(const sd_model& model, const txt2img_request& request, const options& opts,
                           txt2img_plan& first, const std::string& hr_title = {});

/// Where the second pass of an n_iter batch starts.
struct hires_start {
  at::Tensor latent;      ///< [B, C, h, w] at the target size, truncated
  at::Tensor image_cond;  ///< an inpainting `model`'s conditioning [B, 5, h, w]; undefined for others
};

/// The start of the second pass of n_iter batch `iter`: `low`, its first-pass latents [B, C, h, w],
/// upscaled to the target size (in latent space, or decoded by `first_model`, upscaled as pixels
/// and encoded again by `model`) and truncated as hr_resize_x/y ask. An inpainting `model` also
/// gets its image conditioning as A1111's sample_hr_pass makes it: of the upscaled pixels (in
/// [0, 1], as A1111 hands them over), or for a Latent upscaler of the decoded latents when
/// inpainting_mask_weight < 1, else of a mid-gray picture (A1111 makes that one at the first
/// pass's size, which its UNet then refuses unless the sizes agree; here it has the target size).
hires_start hires_init(const sd_model& first_model, const sd_model& model, const hires_plan& hr,
                       const txt2img_plan& first, const at::Tensor& low, int iter);

/// The second pass of n_iter batch `iter` on `model`: `low` are its first-pass latents [B, C, h, w]
/// from `first_model` (the same model unless a hires checkpoint is switched to). Returns the
/// latents at the target size. The hooks are those of the first pass (a skip still set ends this
/// pass at its first model call, as in A1111). `encoded`: the pass's prompts encoded beforehand
/// (hr.firstpass_conds); null: encoded here by `model`.
at::Tensor run_hires_pass(const sd_model& first_model, const sd_model& model, const clip_tokenizer& tokenizer,
                          hires_plan& hr, const txt2img_plan& first, const at::Tensor& low, int iter,
                          const sampling_hooks& hooks, const plan_batch* encoded = nullptr);

} // namespace sdw
