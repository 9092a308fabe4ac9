#include "runtime/txt2img.hpp"

#include "runtime/a1111_response.hpp"
#include "runtime/cfg_denoiser.hpp"
#include "runtime/clip_tokenizer.hpp"
#include "runtime/encoding.hpp"
#include "runtime/errors.hpp"
#include "runtime/infotext.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/png_codec.hpp"
#include "runtime/prompt_parser.hpp"
#include "runtime/rng.hpp"
#include "runtime/samplers.hpp"
#include "runtime/sd_model.hpp"
#include "runtime/seeds.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <regex>

namespace sdw {
namespace {

const char* const kVersion = "sdworker " SDW_VERSION;

/// Extra-network tags (`<lora:name:1>`) are removed from positive prompts before encoding.
std::string strip_extra_networks(const std::string& prompt) {
  static const std::regex tag(R"(<(\w+):([^>]+)>)");
  return std::regex_replace(prompt, tag, "");
}

emphasis_mode parse_emphasis(const std::string& name) {
  if (name == "None") {
    return emphasis_mode::none;
  }
  if (name == "Ignore") {
    return emphasis_mode::ignore;
  }
  if (name == "No norm") {
    return emphasis_mode::no_norm;
  }
  return emphasis_mode::original;
}

bool sampler_takes_eta(const sampler_info& s) {
  static const char* const names[] = {"Euler a", "DPM2 a", "DPM++ 2S a", "DPM++ SDE", "DPM++ 2M SDE",
                                      "DPM++ 2M SDE Heun", "DPM++ 3M SDE", "DDIM", "DPM fast", "DPM adaptive"};
  for (const char* n : names) {
    if (s.name == n) {
      return true;
    }
  }
  return false;
}

/// Decoded image tensor [3, H, W] in [-1, 1] → 8-bit RGB exactly as A1111 (float32, truncation).
rgb_image to_rgb(const at::Tensor& decoded) {
  auto x = at::clamp((decoded.to(at::kFloat) + 1.0) / 2.0, 0.0, 1.0);
  auto hwc = (255.0 * x.permute({1, 2, 0})).contiguous().to(at::kCPU).to(at::kByte);
  rgb_image img;
  img.height = static_cast<int>(hwc.size(0));
  img.width = static_cast<int>(hwc.size(1));
  img.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return img;
}

} // namespace

txt2img_result run_txt2img(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_request& req,
                           const options& opts, const txt2img_hooks& hooks) {
  c10::InferenceMode guard;
  const std::string& sampler_name = req.effective_sampler_name();
  const sampler_info* sampler = find_sampler(sampler_name);
  if (sampler == nullptr) {
    throw error(errc::not_found, "sampler_name", "Sampler not found: '" + sampler_name + "'");
  }
  if (!implemented(*sampler)) {
    throw error(errc::unsupported, "sampler_name", "sampler '" + sampler_name + "' is not supported yet");
  }

  // -- seeds and prompts, for the whole job --
  const int total = req.batch_size * req.n_iter;
  const int64_t seed = fix_seed(req.seed);
  const int64_t subseed = fix_seed(req.subseed);
  const auto all_seeds = image_seeds(seed, total, req.subseed_strength);
  const auto all_subseeds = image_subseeds(subseed, total);
  std::string prompt = req.prompt, negative = req.negative_prompt;
  if (opts.enable_prompt_comments) {
    prompt = strip_prompt_comments(prompt);
    negative = strip_prompt_comments(negative);
  }

  // -- sampling settings, as the infotext reports them --
  const scheduler_kind requested_scheduler = parse_scheduler(req.scheduler);
  const scheduler_kind scheduler = effective_scheduler(*sampler, requested_scheduler);
  std::optional<std::string> schedule_type = req.scheduler;
  if (scheduler != scheduler_kind::automatic) {
    schedule_type = scheduler_label(scheduler);
  }
  sigma_options sigma_opts;
  sigma_opts.sigma_min = opts.sigma_min;
  sigma_opts.sigma_max = opts.sigma_max;
  sigma_opts.rho = opts.rho;
  sigma_opts.discard_next_to_last_sigma = sampler->discard_next_to_last_sigma || opts.always_discard_next_to_last_sigma;
  sigma_opts.use_old_karras = opts.use_old_karras_scheduler_sigmas;
  const at::Tensor sigmas = make_sigmas(model.schedule(), scheduler, req.steps, sigma_opts);

  sampler_params params;
  // The option value is used when the request has none; the infotext notes an eta that
  // differs from the sampler's own default.
  const double option_eta = sampler->timestep_based ? opts.eta_ddim : opts.eta_ancestral;
  params.eta = req.eta.value_or(option_eta);
  params.s_churn = req.s_churn.value_or(opts.s_churn);
  params.s_tmin = req.s_tmin.value_or(opts.s_tmin);
  const double s_tmax = req.s_tmax.value_or(opts.s_tmax);
  params.s_tmax = s_tmax == 0.0 ? INFINITY : s_tmax;
  params.s_noise = req.s_noise.value_or(opts.s_noise);

  const rng_source source = parse_rng_source(opts.randn_source);
  prompt_settings ps;
  ps.clip_skip = opts.CLIP_stop_at_last_layers;
  ps.emphasis = parse_emphasis(opts.emphasis);
  ps.comma_padding_backtrack = opts.comma_padding_backtrack;
  prompt_encoder encoder(model.text(), tokenizer, ps);
  // Prompt schedules count denoiser calls; second-order samplers make two per step.
  const int schedule_steps = sampler->second_order ? req.steps * 2 : req.steps;

  const int64_t latent_h = req.height / 8, latent_w = req.width / 8;
  const int64_t latent_c = model.config().unet.in_channels;
  const int job_steps = req.steps * req.n_iter;

  txt2img_result result;
  result.all_seeds = all_seeds;
  result.all_subseeds = all_subseeds;
  std::vector<std::string> infotexts;

  infotext_input info_in;
  info_in.negative_prompt = negative;
  info_in.steps = req.steps;
  info_in.sampler_name = sampler->name;
  info_in.schedule_type = schedule_type;
  info_in.cfg_scale = req.cfg_scale;
  info_in.width = req.width;
  info_in.height = req.height;
  if (opts.add_model_hash_to_info) {
    info_in.model_hash = model.short_hash();
  }
  if (opts.add_model_name_to_info) {
    info_in.model_name = model.name();
  }
  info_in.clip_skip = ps.clip_skip;
  if (sampler->uses_ensd && params.eta != 0.0 && opts.eta_noise_seed_delta != 0) {
    info_in.ensd = opts.eta_noise_seed_delta;
  }
  if (opts.randn_source != "GPU") {
    info_in.rng = opts.randn_source;
  }
  info_in.subseed_strength = req.subseed_strength;
  info_in.seed_resize_from_w = req.seed_resize_from_w;
  info_in.seed_resize_from_h = req.seed_resize_from_h;
  if (sampler_takes_eta(*sampler) && params.eta != default_eta(*sampler)) {
    info_in.extra_params.emplace_back(sampler->timestep_based ? "Eta DDIM" : "Eta", python_float_repr(params.eta));
  }
  if (opts.add_version_to_infotext) {
    info_in.version = kVersion;
  }

  for (int iter = 0; iter < req.n_iter; ++iter) {
    const auto first = static_cast<size_t>(iter * req.batch_size);
    std::vector<int64_t> seeds(all_seeds.begin() + first, all_seeds.begin() + first + req.batch_size);
    std::vector<int64_t> subseeds(all_subseeds.begin() + first, all_subseeds.begin() + first + req.batch_size);
    std::vector<std::string> positives(req.batch_size, strip_extra_networks(prompt));
    std::vector<std::string> negatives(req.batch_size, negative);

    cfg_denoiser denoiser(model.unet(), model.schedule(), encoder.multi_schedules(positives, schedule_steps),
                          encoder.schedules(negatives, schedule_steps), req.cfg_scale, opts.batch_cond_uncond);
    image_rng rng(source, seeds, subseeds, req.subseed_strength, {latent_c, latent_h, latent_w},
                  req.seed_resize_from_h, req.seed_resize_from_w, opts.eta_noise_seed_delta,
                  model.placement().device);
    sampling_model sm;
    sm.denoise = [&](const at::Tensor& x, const at::Tensor& s) { return denoiser.denoise(x, s); };
    sm.eps = [&](const at::Tensor& x, const at::Tensor& t) { return denoiser.eps(x, t); };
    sm.randn_like = [&] { return rng.next(); };
    sm.on_step = [&](int step, int) {
      if (hooks.cancel != nullptr && hooks.cancel->load()) {
        throw error(errc::cancelled, "", "the job was interrupted");
      }
      if (hooks.on_step) {
        hooks.on_step(iter * req.steps + step, job_steps);
      }
    };
    at::Tensor noise = rng.first();
    at::Tensor samples = sample(*sampler, sm, noise, model.schedule(), sigmas, params);

    for (int64_t i = 0; i < samples.size(0); ++i) {
      auto latent = samples.narrow(0, i, 1);
      if (hooks.on_latent) {
        auto cpu = latent.to(at::kCPU, at::kFloat).contiguous();
        hooks.on_latent(std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel()),
                        cpu.sizes().vec());
      }
      rgb_image img = to_rgb(model.vae().decode(latent)[0]);
      const size_t k = first + static_cast<size_t>(i);
      info_in.prompt = prompt;
      info_in.seed = all_seeds[k];
      info_in.subseed = all_subseeds[k];
      img.infotext = create_infotext(info_in);
      infotexts.push_back(img.infotext);
      result.images.push_back(std::move(img));
    }
  }

  processed_info info;
  info.all_prompts.assign(total, prompt);
  info.all_negative_prompts.assign(total, negative);
  info.seed = all_seeds.front();
  info.all_seeds = all_seeds;
  info.subseed = all_subseeds.front();
  info.all_subseeds = all_subseeds;
  info.subseed_strength = req.is_set("subseed_strength") ? json_value(req.subseed_strength) : json_value(0);
  info.width = req.width;
  info.height = req.height;
  info.sampler_name = sampler->name;
  info.cfg_scale = req.cfg_scale;
  info.steps = req.steps;
  info.batch_size = req.batch_size;
  info.sd_model_name = model.name();
  info.sd_model_hash = model.short_hash();
  info.seed_resize_from_w = req.seed_resize_from_w;
  info.seed_resize_from_h = req.seed_resize_from_h;
  if (schedule_type) {
    info.extra_generation_params.emplace_back("Schedule type", json_value(*schedule_type));
  }
  for (const auto& [k, v] : info_in.extra_params) {
    info.extra_generation_params.emplace_back(k, k.rfind("Eta", 0) == 0 ? json_value(params.eta) : json_value(v));
  }
  info.index_of_first_image = 0;
  info.infotexts = infotexts;
  info.styles = req.styles.value_or(std::vector<std::string>{});
  info.job_timestamp = job_timestamp_now();
  info.clip_skip = ps.clip_skip;
  info.version = kVersion;
  result.info_json = make_info_json(info);
  return result;
}

std::string encode_txt2img_response(const txt2img_result& result, const txt2img_request& request) {
  std::vector<std::string> images;
  if (request.send_images) {
    for (const auto& img : result.images) {
      images.push_back(base64_encode(encode_png(img.pixels.data(), img.width, img.height, {{"parameters", img.infotext}})));
    }
  }
  return make_txt2img_response(images, to_parameters_json(request), result.info_json);
}

} // namespace sdw
