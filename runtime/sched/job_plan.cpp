#include "runtime/sched/job_plan.hpp"

#include "runtime/base/json_writer.hpp"
#include "runtime/formats/extra_networks.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <algorithm>
#include <string_view>
#include <sstream>

namespace sdw {
namespace {

void put(std::ostringstream& out, const char* name, const std::optional<double>& v) {
  out << '|' << name << '=';
  if (v) {
    out << *v;
  }
}

/// Options each member of a batch keeps for itself: its noise (RNG source, ENSD), how its prompts
/// are encoded and how its images are written.
bool per_member_option(std::string_view key) {
  static const char* const keys[] = {"randn_source",             "eta_noise_seed_delta",
                                     "CLIP_stop_at_last_layers", "emphasis",        "comma_padding_backtrack",
                                     "enable_prompt_comments",   "sdxl_crop_top",   "sdxl_crop_left",   "samples_format",  "enable_pnginfo",
                                     "add_model_hash_to_info",   "add_model_name_to_info", "add_version_to_infotext",
                                     "add_vae_hash_to_info",     "add_vae_name_to_info",
                                     // The model and VAE count as resolved (`model`), not as named.
                                     "sd_model_checkpoint", "sd_vae", "sd_vae_overrides_per_model_preferences"};
  return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

} // namespace

std::optional<std::string> scheduler_batch_key(const txt2img_request& r, const options& settings,
                                               const std::string& model) {
  // Anything that changes the sampling loop itself (not just the prompt, CFG scale or seed, which
  // stay per image) keeps a job apart.
  if (r.refiner_checkpoint || r.script_name || !r.alwayson_scripts.empty() ||
      r.tiling.value_or(false) || r.restore_faces.value_or(false) || r.firstpass_image) {
    return std::nullopt;
  }
  std::ostringstream key;
  key.precision(17);
  key << "model=" << model << '|' << r.width << 'x' << r.height << "|steps=" << r.steps << "|sampler=" << r.effective_sampler_name()
      << "|scheduler=" << r.scheduler.value_or("Automatic");
  if (r.kind == request_kind::img2img) {
    key << "|img2img|denoising_strength=" << r.denoising_strength.value_or(0.75);
  }
  if (r.enable_hr && r.kind == request_kind::txt2img) {
    // Both passes are shared: every second-pass setting but its prompts keeps jobs apart.
    key << "|hires|hr_scale=" << r.hr_scale << "|hr_resize=" << r.hr_resize_x << 'x' << r.hr_resize_y
        << "|firstphase=" << r.firstphase_width << 'x' << r.firstphase_height
        << "|hr_upscaler=" << r.hr_upscaler.value_or("Latent") << "|hr_steps=" << r.hr_second_pass_steps
        << "|hr_sampler=" << r.hr_sampler_name.value_or("") << "|hr_scheduler=" << r.hr_scheduler.value_or("")
        << "|hr_checkpoint=" << r.hr_checkpoint_name.value_or("");
    put(key, "denoising_strength", r.denoising_strength);
  }
  put(key, "eta", r.eta);
  put(key, "s_min_uncond", r.s_min_uncond);
  put(key, "s_churn", r.s_churn);
  put(key, "s_tmax", r.s_tmax);
  put(key, "s_tmin", r.s_tmin);
  put(key, "s_noise", r.s_noise);
  // The LoRAs are merged into the weights every member of a batch runs with. The tags are read
  // from the prompt as sent (the executor's key reads them after comments and has the last word).
  key << "|loras=" << lora_key_text(lora_request_of(parse_extra_networks(r.prompt)));
  // Every option the engine reads, whether it came from the defaults, the stored options or the
  // request's overrides; options the engine does not read cannot tell jobs apart.
  for (std::string_view name : a1111_option_keys()) {
    const json_value value = option_value(settings, name);
    if (!value.is_null() && !per_member_option(name)) {
      key << '|' << name << '=' << to_json(value);
    }
  }
  return key.str();
}

job_plan plan_job(const txt2img_request& r, const options& settings, const std::string& model) {
  job_plan plan;
  plan.shape = job_shape{r.width, r.height, r.steps, r.batch_size, r.n_iter};
  plan.images = r.batch_size * r.n_iter;
  plan.key = scheduler_batch_key(r, settings, model);
  plan.model = model;
  return plan;
}

} // namespace sdw
