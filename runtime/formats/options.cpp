#include "runtime/formats/options.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"

#include <cmath>
#include <limits>
#include <variant>

namespace sdw {
namespace {

using optional_string = std::optional<std::string>;

// One engine option: where it lives in `options`, and what values it takes.
struct option_field {
  const char* key;
  std::variant<std::string options::*, optional_string options::*, int options::*, std::int64_t options::*,
               double options::*, bool options::*>
      member;
  std::vector<const char*> choices = {};
  std::int64_t min = std::numeric_limits<std::int64_t>::min();
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  double high = std::numeric_limits<double>::infinity();  ///< a number option's largest value; its least is 0
};

const std::vector<option_field>& fields() {
  static const std::vector<option_field> table = {
      {"randn_source", &options::randn_source, {"GPU", "CPU", "NV"}},
      {"eta_noise_seed_delta", &options::eta_noise_seed_delta},
      {"CLIP_stop_at_last_layers", &options::CLIP_stop_at_last_layers, {}, 1, 12},
      {"emphasis", &options::emphasis, {"Original", "None", "Ignore", "No norm"}},
      {"comma_padding_backtrack", &options::comma_padding_backtrack, {}, 0, 74},
      {"enable_prompt_comments", &options::enable_prompt_comments},
      {"sdxl_crop_top", &options::sdxl_crop_top, {}, 0, 2048},
      {"sdxl_crop_left", &options::sdxl_crop_left, {}, 0, 2048},
      {"eta_ancestral", &options::eta_ancestral},
      {"eta_ddim", &options::eta_ddim},
      {"s_churn", &options::s_churn},
      {"s_tmin", &options::s_tmin},
      {"s_tmax", &options::s_tmax},
      {"s_noise", &options::s_noise},
      {"s_min_uncond", &options::s_min_uncond},
      {"sigma_min", &options::sigma_min},
      {"sigma_max", &options::sigma_max},
      {"rho", &options::rho},
      {"always_discard_next_to_last_sigma", &options::always_discard_next_to_last_sigma},
      {"use_old_karras_scheduler_sigmas", &options::use_old_karras_scheduler_sigmas},
      {"sgm_noise_multiplier", &options::sgm_noise_multiplier},
      {"batch_cond_uncond", &options::batch_cond_uncond},
      {"use_old_scheduling", &options::use_old_scheduling},
      {"use_old_emphasis_implementation", &options::use_old_emphasis_implementation},
      {"pad_cond_uncond", &options::pad_cond_uncond},
      {"pad_cond_uncond_v0", &options::pad_cond_uncond_v0},
      {"no_dpmpp_sde_batch_determinism", &options::no_dpmpp_sde_batch_determinism},
      {"sd_noise_schedule", &options::sd_noise_schedule, {"Default", "Zero Terminal SNR"}},
      {"use_downcasted_alpha_bar", &options::use_downcasted_alpha_bar},
      // A1111's sliders end at 0.9; tomesd merges at most 3 tokens of 4 whatever the ratio.
      {"token_merging_ratio", &options::token_merging_ratio, {}, 0, 0, 0.9},
      {"token_merging_ratio_img2img", &options::token_merging_ratio_img2img, {}, 0, 0, 0.9},
      {"token_merging_ratio_hr", &options::token_merging_ratio_hr, {}, 0, 0, 0.9},
      {"uni_pc_variant", &options::uni_pc_variant, {"bh1", "bh2", "vary_coeff"}},
      {"uni_pc_skip_type", &options::uni_pc_skip_type, {"time_uniform", "time_quadratic", "logSNR"}},
      {"uni_pc_order", &options::uni_pc_order, {}, 1, 50},
      {"uni_pc_lower_order_final", &options::uni_pc_lower_order_final},
      {"img2img_fix_steps", &options::img2img_fix_steps},
      {"initial_noise_multiplier", &options::initial_noise_multiplier},
      {"img2img_extra_noise", &options::img2img_extra_noise},
      {"img2img_background_color", &options::img2img_background_color},
      {"sd_vae_encode_method", &options::sd_vae_encode_method, {"Full", "TAESD"}},
      {"sd_vae_decode_method", &options::sd_vae_decode_method, {"Full", "TAESD"}},
      {"img2img_color_correction", &options::img2img_color_correction},
      {"inpainting_mask_weight", &options::inpainting_mask_weight},
      {"overlay_inpaint", &options::overlay_inpaint},
      {"return_mask", &options::return_mask},
      {"return_mask_composite", &options::return_mask_composite},
      {"ESRGAN_tile", &options::ESRGAN_tile, {}, 0, 512},
      {"ESRGAN_tile_overlap", &options::ESRGAN_tile_overlap, {}, 0, 48},
      {"upscaler_for_img2img", &options::upscaler_for_img2img},
      {"tiling", &options::tiling},
      {"face_restoration", &options::face_restoration},
      {"face_restoration_model", &options::face_restoration_model},
      {"sd_model_checkpoint", &options::sd_model_checkpoint},
      {"sd_vae", &options::sd_vae},
      {"sd_vae_overrides_per_model_preferences", &options::sd_vae_overrides_per_model_preferences},
      {"use_old_hires_fix_width_height", &options::use_old_hires_fix_width_height},
      {"hires_fix_use_firstpass_conds", &options::hires_fix_use_firstpass_conds},
      {"hires_fix_refiner_pass", &options::hires_fix_refiner_pass, {"first pass", "second pass", "both passes"}},
      {"refiner_switch_by_sample_steps", &options::refiner_switch_by_sample_steps},
      {"samples_format", &options::samples_format, {"png", "jpg", "jpeg", "webp"}},
      {"enable_pnginfo", &options::enable_pnginfo},
      {"add_model_hash_to_info", &options::add_model_hash_to_info},
      {"add_model_name_to_info", &options::add_model_name_to_info},
      {"add_vae_hash_to_info", &options::add_vae_hash_to_info},
      {"add_vae_name_to_info", &options::add_vae_name_to_info},
      {"add_version_to_infotext", &options::add_version_to_infotext},
      {"textual_inversion_add_hashes_to_infotext", &options::textual_inversion_add_hashes_to_infotext},
  };
  return table;
}

const option_field* find_field(std::string_view key) {
  for (const auto& f : fields()) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

[[noreturn]] void wrong(const std::string& key, const std::string& what, const json_value& got) {
  throw error(errc::bad_request, "override_settings." + key, what + ", got " + to_json(got));
}

std::string check_string(const option_field& f, const std::string& key, const json_value& v) {
  if (!v.is_string()) wrong(key, "expected a string", v);
  if (f.choices.size() == 0) return v.as_string();
  std::string list;
  for (const char* c : f.choices) {
    if (v.as_string() == c) return v.as_string();
    if (!list.empty()) list += ", ";
    list += c;
  }
  wrong(key, "expected one of " + list, v);
}

std::int64_t check_int(const option_field& f, const std::string& key, const json_value& v) {
  std::int64_t i = 0;
  if (v.is_int()) {
    i = v.as_int();
  } else if (v.is_double() && std::isfinite(v.as_double()) && std::floor(v.as_double()) == v.as_double() &&
             std::fabs(v.as_double()) < 9.0e15) {
    i = static_cast<std::int64_t>(v.as_double());
  } else {
    wrong(key, "expected an integer", v);
  }
  if (i < f.min || i > f.max)
    wrong(key, "expected an integer from " + std::to_string(f.min) + " to " + std::to_string(f.max), v);
  return i;
}

} // namespace

void apply_override(options& opts, const std::string& key, const json_value& value) {
  const option_field* f = find_field(key);
  if (!f) {
    if (is_a1111_option_key(key)) return;
    throw error(errc::bad_request, "override_settings." + key, "unknown option \"" + key + "\"");
  }
  std::visit(
      [&](auto member) {
        using T = std::decay_t<decltype(opts.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          opts.*member = check_string(*f, key, value);
        } else if constexpr (std::is_same_v<T, optional_string>) {
          if (value.is_null()) {
            opts.*member = std::nullopt;
          } else {
            opts.*member = check_string(*f, key, value);
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!value.is_bool()) wrong(key, "expected true or false", value);
          opts.*member = value.as_bool();
        } else if constexpr (std::is_same_v<T, double>) {
          if (!value.is_number() || !std::isfinite(value.as_number())) wrong(key, "expected a number", value);
          if (std::isfinite(f->high) && (value.as_number() < 0 || value.as_number() > f->high))
            wrong(key, "expected a number from 0 to " + to_json(json_value(f->high)), value);
          opts.*member = value.as_number();
        } else {
          opts.*member = static_cast<T>(check_int(*f, key, value));
        }
      },
      f->member);
}

void apply_overrides(options& opts, const json_object& overrides) {
  for (const auto& [key, value] : overrides) apply_override(opts, key, value);
}

options resolve_options(const json_object& stored, const std::optional<json_object>& overrides) {
  options opts;
  apply_overrides(opts, stored);
  if (overrides) {
    apply_overrides(opts, *overrides);
  }
  return opts;
}

json_value option_value(const options& opts, std::string_view key) {
  const option_field* f = find_field(key);
  if (!f) return json_value();
  return std::visit(
      [&](auto member) -> json_value {
        using T = std::decay_t<decltype(opts.*member)>;
        if constexpr (std::is_same_v<T, optional_string>) {
          return opts.*member ? json_value(*(opts.*member)) : json_value();
        } else if constexpr (std::is_same_v<T, int>) {
          return json_value(static_cast<long long>(opts.*member));
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return json_value(static_cast<long long>(opts.*member));
        } else {
          return json_value(opts.*member);
        }
      },
      f->member);
}

} // namespace sdw
