#include "runtime/engine/hires_fix.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/img2img_init.hpp"
#include "runtime/engine/inpaint_conditioning.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/upscaler_library.hpp"
#include "runtime/formats/extra_networks.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/image/model_upscalers.hpp"
#include "runtime/image/resample.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <tuple>

namespace sdw {
namespace {

/// shared.latent_upscale_modes: name → (interpolate mode, antialias).
std::optional<std::pair<std::string, bool>> latent_mode_of(const std::string& name) {
  static const struct {
    const char* name;
    const char* mode;
    bool antialias;
  } modes[] = {{"Latent", "bilinear", false},          {"Latent (antialiased)", "bilinear", true},
               {"Latent (bicubic)", "bicubic", false},  {"Latent (bicubic antialiased)", "bicubic", true},
               {"Latent (nearest)", "nearest", false},  {"Latent (nearest-exact)", "nearest-exact", false}};
  for (const auto& m : modes) {
    if (name == m.name) return std::make_pair(std::string(m.mode), m.antialias);
  }
  return std::nullopt;
}

at::Tensor interpolate(const at::Tensor& x, int64_t h, int64_t w, const std::string& mode, bool antialias) {
  if (mode == "bilinear") {
    return antialias ? at::_upsample_bilinear2d_aa(x, {h, w}, false) : at::upsample_bilinear2d(x, {h, w}, false);
  }
  if (mode == "bicubic") {
    return antialias ? at::_upsample_bicubic2d_aa(x, {h, w}, false) : at::upsample_bicubic2d(x, {h, w}, false);
  }
  if (mode == "nearest-exact") return at::_upsample_nearest_exact2d(x, {h, w});
  return at::upsample_nearest2d(x, {h, w});
}

/// torch's global generator as A1111's second pass of batch `iter` finds it: seeded with the
/// batch's last seed by the first pass's noise draw (the NV source leaves it alone), then advanced
/// by an inpainting model's first-pass image conditioning.
at::Generator global_generator_after_first_pass(const txt2img_plan& first, int iter, int64_t rows) {
  if (static_cast<size_t>(iter) < first.global_after_conditioning.size())
    return first.global_after_conditioning[static_cast<size_t>(iter)].clone();
  const bool global_seeded = first.source != rng_source::nv;
  const int64_t last_seed = first.all_seeds.at(static_cast<size_t>(iter * first.batch_size + rows - 1));
  return at::make_generator<at::CPUGeneratorImpl>(global_seeded ? static_cast<uint64_t>(last_seed) : torch_default_seed);
}

} // namespace

std::pair<int, int> requested_first_pass_size(const txt2img_request& req) {
  const bool firstphase = req.firstphase_width > 0 && req.firstphase_height > 0;
  return firstphase ? std::make_pair(req.firstphase_width, req.firstphase_height) : std::make_pair(req.width, req.height);
}

std::pair<int, int> old_hires_fix_first_pass_size(int width, int height) {
  const double scale = std::sqrt(512.0 * 512.0 / (static_cast<double>(width) * height));
  return {static_cast<int>(std::ceil(scale * width / 64)) * 64, static_cast<int>(std::ceil(scale * height / 64)) * 64};
}

hires_plan make_hires_plan(const sd_model& model, const txt2img_request& req, const options& opts, txt2img_plan& first,
                           const std::string& hr_title) {
  if (!req.denoising_strength)
    throw error(errc::bad_request, "denoising_strength", "is required with enable_hr (the second pass's strength)");
  hires_plan hr;
  hr.upscale.upscaler = req.hr_upscaler.value_or("Latent");
  if (const auto mode = latent_mode_of(hr.upscale.upscaler)) {
    hr.upscale.latent_mode = mode->first;
    hr.upscale.antialias = mode->second;
  } else {
    check_upscaler_name("hr_upscaler", hr.upscale.upscaler);
  }
  hr.upscale.tile = opts.ESRGAN_tile;
  hr.upscale.overlap = opts.ESRGAN_tile_overlap;
  hr.mask_weight = opts.inpainting_mask_weight;
  hr.firstpass_conds = opts.hires_fix_use_firstpass_conds && hr_title.empty();

  // calculate_target_resolution (first-pass width/height are the request's, or firstphase_*); with
  // use_old_hires_fix_width_height those are the final size (hr_resize) and the first pass is smaller.
  const int w = first.latent_shape[2] * 8, h = first.latent_shape[1] * 8;
  int resize_x = req.hr_resize_x, resize_y = req.hr_resize_y;
  if (opts.use_old_hires_fix_width_height) std::tie(resize_x, resize_y) = requested_first_pass_size(req);
  json_object hires_extra;
  hires_extra.emplace_back("Denoising strength", json_value(*req.denoising_strength));
  if (!hr_title.empty()) hires_extra.emplace_back("Hires checkpoint", json_value(hr_title));
  if (req.hr_sampler_name && *req.hr_sampler_name != req.effective_sampler_name())
    hires_extra.emplace_back("Hires sampler", json_value(*req.hr_sampler_name));
  hires_extra.emplace_back("Hires prompt", json_value());
  hires_extra.emplace_back("Hires negative prompt", json_value());
  hires_extra.emplace_back("Hires schedule type", json_value());
  if (resize_x == 0 && resize_y == 0) {
    hires_extra.emplace_back("Hires upscale", json_value(req.hr_scale));
    hr.target_width = static_cast<int>(w * req.hr_scale);
    hr.target_height = static_cast<int>(h * req.hr_scale);
  } else {
    hires_extra.emplace_back("Hires resize",
                             json_value(std::to_string(resize_x) + "x" + std::to_string(resize_y)));
    if (resize_y == 0) {
      hr.target_width = resize_x;
      hr.target_height = resize_x * h / w;
    } else if (resize_x == 0) {
      hr.target_width = resize_y * w / h;
      hr.target_height = resize_y;
    } else {
      if (static_cast<double>(w) / h < static_cast<double>(resize_x) / resize_y) {
        hr.target_width = resize_x;
        hr.target_height = resize_x * h / w;
      } else {
        hr.target_width = resize_y * w / h;
        hr.target_height = resize_y;
      }
      // Python's floor division of the (possibly negative) excess.
      const auto floordiv8 = [](int v) { return v >= 0 ? v / 8 : -((-v + 7) / 8); };
      hr.truncate_x = floordiv8(hr.target_width - resize_x);
      hr.truncate_y = floordiv8(hr.target_height - resize_y);
    }
  }
  if (hr.target_width < 64 || hr.target_height < 64 || hr.target_width > 4096 || hr.target_height > 4096)
    throw error(errc::bad_request, resize_x || resize_y ? "hr_resize_x" : "hr_scale",
                "gives a hires size of " + std::to_string(hr.target_width) + "x" + std::to_string(hr.target_height) +
                  "; it must be from 64 to 4096 on each side");
  const int hr_steps = req.hr_second_pass_steps > 0 ? req.hr_second_pass_steps : req.steps;
  if (req.hr_second_pass_steps > 0) hires_extra.emplace_back("Hires steps", json_value(req.hr_second_pass_steps));
  if (req.hr_upscaler) hires_extra.emplace_back("Hires upscaler", json_value(*req.hr_upscaler));

  // The pass: the hires sampler and scheduler, the hires prompts, img2img on the fixed-steps schedule.
  txt2img_request hr_req = req;
  hr_req.sampler_name = req.hr_sampler_name && !req.hr_sampler_name->empty() ? req.hr_sampler_name : req.sampler_name;
  if (hr_req.sampler_name && hr_req.sampler_name->empty()) hr_req.sampler_name.reset();
  if (req.hr_sampler_name && !req.hr_sampler_name->empty() && find_sampler(*req.hr_sampler_name) == nullptr)
    throw error(errc::not_found, "hr_sampler_name", "Sampler not found: '" + *req.hr_sampler_name + "'");
  hr_req.scheduler = req.hr_scheduler ? req.hr_scheduler : req.scheduler;
  hr_req.enable_hr = false;
  hr.pass = first;
  txt2img_plan& p = hr.pass;
  p.setup = make_sampling_setup(hr_req, opts);
  p.setup.token_merging = token_merging_ratio(req, opts, true);
  for (const auto& [k, v] : first.setup.extra) {
    if (k == "Schedule type") hr.first_pass_schedule_type = v.as_string();
  }
  for (auto& [k, v] : hires_extra) {
    if (k == "Hires schedule type") {
      for (const auto& [hk, hv] : p.setup.extra) {
        if (hk == "Schedule type" && hv.as_string() != hr.first_pass_schedule_type) v = hv;
      }
    }
  }
  // The hires prompts go through the styles and comment stripping the first pass's went through.
  const auto as_prompt = [&](std::string text) {
    if (req.styles && !req.styles->empty()) text = python_strip(text);
    if (opts.enable_prompt_comments) text = strip_prompt_comments(text);
    return text;
  };
  if (!req.hr_prompt.empty()) p.prompt = as_prompt(req.hr_prompt);
  if (!req.hr_negative_prompt.empty()) p.negative = as_prompt(req.hr_negative_prompt);
  // A1111's get_hr_prompt / get_hr_negative_prompt: the hires text only where it differs.
  for (auto& [k, v] : hires_extra) {
    if (k == "Hires prompt" && p.prompt != first.prompt) v = json_value(p.prompt);
    if (k == "Hires negative prompt" && p.negative != first.negative) v = json_value(p.negative);
  }
  const auto [total, t_enc] = img2img_steps(hr_steps, *req.denoising_strength, true);
  p.img2img = true;
  p.t_enc = t_enc;
  p.sigmas = total > 0 ? make_sigmas(sampling_schedule(model, p.setup), p.setup.scheduler, total,
                                         p.setup.sigma_opts)
                           : at::Tensor();
  p.sample_steps = hr_steps;
  p.schedule_steps = p.setup.sampler->second_order ? hr_steps * 2 : hr_steps;
  p.prompt_opts.first_pass_steps = first.schedule_steps;
  p.noise_multiplier = 1.0;
  p.extra_noise = opts.img2img_extra_noise;
  p.latent_shape = {first.latent_shape[0], hr.target_height / 8 - hr.truncate_y, hr.target_width / 8 - hr.truncate_x};
  // calculate_hr_conds: the hires prompts' SdConditioning carries hr_upscale_to_x/y.
  p.sdxl_size.width = hr.target_width;
  p.sdxl_size.height = hr.target_height;

  // The first pass's extra_generation_params: the Hires entries come first (set in init, before sampling).
  json_object merged = std::move(hires_extra);
  for (auto& e : first.setup.extra) merged.push_back(e);
  first.setup.extra = std::move(merged);
  // The hires conds are set up after the first pass; their timelines may differ where the first's did not.
  const bool noted = std::any_of(first.setup.extra.begin(), first.setup.extra.end(),
                                 [](const auto& e) { return e.first == "Old prompt editing timelines"; });
  if (opts.use_old_scheduling && !noted &&
      old_timelines_differ({p.negative, parse_extra_networks(p.prompt).prompt}, p.schedule_steps, p.prompt_opts)) {
    first.setup.extra.emplace_back("Old prompt editing timelines", json_value(true));
  }
  first.info_in.denoising_strength = *req.denoising_strength;
  first.info_in.extra_params.clear();
  for (const auto& [k, v] : first.setup.extra) {
    if (k == "Denoising strength" || k == "Schedule type" || v.is_null()) continue;
    first.info_in.extra_params.emplace_back(k, python_str(v));
  }
  return hr;
}

hires_start hires_init(const sd_model& first_model, const sd_model& model, const hires_plan& hr,
                       const txt2img_plan& first, const at::Tensor& low, int iter) {
  c10::InferenceMode guard;
  const int64_t th = hr.target_height / 8, tw = hr.target_width / 8;
  const bool inpainting = is_inpainting(model.config());
  at::Generator global = global_generator_after_first_pass(first, iter, low.size(0));
  hires_start start;
  at::Tensor up;
  if (hr.upscale.latent_mode) {
    up = interpolate(low, th, tw, *hr.upscale.latent_mode, hr.upscale.antialias);
    if (inpainting) {
      start.image_cond = hr.mask_weight < 1.0
                           ? unmasked_inpaint_conditioning(model, model.vae().decode(up), hr.mask_weight, global)
                           : txt2img_inpaint_conditioning(model, static_cast<int>(low.size(0)), hr.target_width,
                                                          hr.target_height, global);
    }
  } else {
    // Decoded to 8-bit pixels, upscaled, encoded again with posterior noise from torch's global generator.
    std::vector<image8> images;
    // A model upscaler runs on this model's device.
    const auto models = model_upscalers_on(model.placement().device, model.placement().dtype);
    const model_upscale_use use{models.get(), hr.upscale.tile, hr.upscale.overlap};
    const auto first_k = static_cast<size_t>(iter * first.batch_size);
    for (int64_t i = 0; i < low.size(0); ++i) {
      rgb_image px = decode_plan_image(first_model, first, low.narrow(0, i, 1), first_k + static_cast<size_t>(i));
      image8 im(px.width, px.height, 3);
      im.pixels = std::move(px.pixels);
      images.push_back(a1111_upscale_image(im, hr.target_width, hr.target_height, hr.upscale.upscaler, use));
    }
    up = encode_pixels(model, images, global);
    if (inpainting) start.image_cond = unmasked_inpaint_conditioning(model, unit_range_pixels(images), hr.mask_weight, global);
  }
  const auto truncated = [&](const at::Tensor& t) {
    return t.narrow(2, hr.truncate_y / 2, th - hr.truncate_y).narrow(3, hr.truncate_x / 2, tw - hr.truncate_x).contiguous();
  };
  start.latent = truncated(up);
  if (start.image_cond.defined()) start.image_cond = truncated(start.image_cond);
  return start;
}

at::Tensor run_hires_pass(const sd_model& first_model, const sd_model& model, const clip_tokenizer& tokenizer,
                          hires_plan& hr, const txt2img_plan& first, const at::Tensor& low, int iter,
                          const sampling_hooks& hooks, const plan_batch* encoded) {
  c10::InferenceMode guard;
  hires_start start = hires_init(first_model, model, hr, first, low, iter);
  hr.pass.init_latent = std::move(start.latent);
  hr.pass.image_cond = std::move(start.image_cond);
  if (encoded != nullptr) return sample_plan_batches(model, {encoded}, hooks);
  const plan_batch batch = encode_plan_batch(model, tokenizer, hr.pass, iter);
  return sample_plan_batches(model, {&batch}, hooks);
}

} // namespace sdw
