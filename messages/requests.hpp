#pragma once
/// How a validated request crosses actors and processes: inspect() for the A1111 request and the
/// engine options (runtime/formats), so a job is parsed once at the edge and sent typed, also to
/// executors in other processes.

#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>

#include <optional>
#include <string>

namespace sdw {

/// A std::optional as CAF 0.17 sees it (it knows no std::optional): a flag and the value.
template <class T>
struct optional_field {
  std::optional<T>& x;
};

template <class T>
optional_field<T> optional_of(std::optional<T>& x) {
  return {x};
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, optional_field<T>& o) {
  bool present = o.x.has_value();
  T value = present ? *o.x : T{};
  auto load = caf::meta::load_callback([&]() -> caf::error {
    if (present) {
      o.x = std::move(value);
    } else {
      o.x.reset();
    }
    return caf::none;
  });
  return f(present, value, load);
}

/// Free-form JSON (override_settings, script arguments) travels as its text.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, json_value& x) {
  std::string text = to_json(x);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x = parse_json(text, "json");
    return caf::none;
  });
  return f(caf::meta::type_name("sdw::json_value"), text, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image8& x) {
  return f(caf::meta::type_name("sdw::image8"), x.width, x.height, x.channels, x.pixels);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, txt2img_request& x) {
  return f(caf::meta::type_name("sdw::txt2img_request"), x.kind, x.prompt, x.negative_prompt, optional_of(x.styles), x.seed,
           x.subseed, x.subseed_strength, x.seed_resize_from_h, x.seed_resize_from_w, optional_of(x.sampler_name),
           optional_of(x.scheduler), x.batch_size, x.n_iter, x.steps, x.cfg_scale, x.width, x.height,
           optional_of(x.restore_faces), optional_of(x.tiling), x.do_not_save_samples, x.do_not_save_grid,
           optional_of(x.eta), optional_of(x.denoising_strength), optional_of(x.s_min_uncond), optional_of(x.s_churn),
           optional_of(x.s_tmax), optional_of(x.s_tmin), optional_of(x.s_noise), optional_of(x.override_settings),
           x.override_settings_restore_afterwards, optional_of(x.refiner_checkpoint), optional_of(x.refiner_switch_at),
           x.disable_extra_networks, optional_of(x.firstpass_image), optional_of(x.comments), x.enable_hr,
           x.firstphase_width, x.firstphase_height, x.hr_scale, optional_of(x.hr_upscaler), x.hr_second_pass_steps,
           x.hr_resize_x, x.hr_resize_y, optional_of(x.hr_checkpoint_name), optional_of(x.hr_sampler_name),
           optional_of(x.hr_scheduler), x.hr_prompt, x.hr_negative_prompt, optional_of(x.force_task_id),
           x.sampler_index, optional_of(x.script_name), x.script_args, x.send_images, x.save_images,
           x.alwayson_scripts, optional_of(x.infotext), x.init_images, optional_of(x.init_images_text), x.resize_mode,
           optional_of(x.image_cfg_scale), optional_of(x.mask_image), optional_of(x.mask), x.mask_blur_x, x.mask_blur_y,
           optional_of(x.mask_blur), x.mask_round, x.inpainting_fill, x.inpaint_full_res, x.inpaint_full_res_padding,
           x.inpainting_mask_invert, optional_of(x.initial_noise_multiplier), optional_of(x.latent_mask),
           x.include_init_images, x.fields_set);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, options& x) {
  return f(caf::meta::type_name("sdw::options"), x.randn_source, x.eta_noise_seed_delta, x.CLIP_stop_at_last_layers,
           x.emphasis, x.comma_padding_backtrack, x.enable_prompt_comments, x.eta_ancestral, x.eta_ddim, x.s_churn,
           x.s_tmin, x.s_tmax, x.s_noise, x.s_min_uncond, x.sigma_min, x.sigma_max, x.rho,
           x.always_discard_next_to_last_sigma, x.use_old_karras_scheduler_sigmas, x.sgm_noise_multiplier,
           x.batch_cond_uncond, x.no_dpmpp_sde_batch_determinism, x.uni_pc_variant, x.uni_pc_skip_type,
           x.uni_pc_order, x.uni_pc_lower_order_final, x.img2img_fix_steps, x.initial_noise_multiplier,
           x.img2img_extra_noise, x.img2img_background_color, x.sd_vae_encode_method, x.inpainting_mask_weight,
           x.overlay_inpaint, x.return_mask, x.return_mask_composite, x.tiling, x.face_restoration,
           x.face_restoration_model,
           optional_of(x.sd_model_checkpoint), x.sd_vae, x.samples_format, x.enable_pnginfo, x.add_model_hash_to_info,
           x.add_model_name_to_info, x.add_vae_hash_to_info, x.add_vae_name_to_info, x.add_version_to_infotext,
           x.sd_vae_overrides_per_model_preferences, x.sdxl_crop_top, x.sdxl_crop_left, x.ESRGAN_tile,
           x.ESRGAN_tile_overlap, optional_of(x.upscaler_for_img2img), x.textual_inversion_add_hashes_to_infotext,
           x.hires_fix_refiner_pass, x.refiner_switch_by_sample_steps, x.sd_noise_schedule, x.pad_cond_uncond,
           x.pad_cond_uncond_v0, x.use_old_scheduling, x.use_old_hires_fix_width_height,
           x.hires_fix_use_firstpass_conds, x.use_downcasted_alpha_bar, x.use_old_emphasis_implementation,
           x.token_merging_ratio, x.token_merging_ratio_img2img, x.token_merging_ratio_hr,
           x.img2img_color_correction, x.sd_vae_decode_method);
}

} // namespace sdw
