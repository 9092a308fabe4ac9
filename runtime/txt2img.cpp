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

/// The sigma schedule A1111's get_sigmas uses, and whether a named scheduler was applied
/// (which is what puts "Schedule type" into extra_generation_params).
struct scheduler_choice {
  scheduler_kind kind = scheduler_kind::uniform;
  bool applied = false;
};

scheduler_choice choose_scheduler(const sampler_info& sampler, const std::optional<std::string>& requested) {
  std::string name = requested.value_or("");
  if (name.empty() || name == "Automatic") {
    if (sampler.default_scheduler && *sampler.default_scheduler != scheduler_kind::automatic) {
      return {*sampler.default_scheduler, true};
    }
    return {};
  }
  for (auto kind : {scheduler_kind::uniform, scheduler_kind::karras, scheduler_kind::exponential,
                    scheduler_kind::polyexponential, scheduler_kind::sgm_uniform}) {
    if (name == scheduler_name(kind) || name == scheduler_label(kind)) {
      return {kind, true};
    }
  }
  // "automatic" by name, or an unknown string: the model's own (uniform) schedule, unlabelled.
  return {};
}

/// Thrown from the model callbacks when A1111's interrupt or skip flag is set.
struct sampling_stopped {};

bool is_set(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }

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

  // Features A1111 has and this engine does not do yet fail loudly rather than being ignored.
  if (req.enable_hr) {
    throw error(errc::unsupported, "enable_hr", "hires fix is not supported yet");
  }
  if (req.restore_faces.value_or(false)) {
    throw error(errc::unsupported, "restore_faces", "face restoration is not supported yet");
  }
  if (req.tiling.value_or(false)) {
    throw error(errc::unsupported, "tiling", "tiling is not supported yet");
  }
  if (req.script_name && !req.script_name->empty()) {
    throw error(errc::unsupported, "script_name", "scripts are not supported yet");
  }
  if (!req.alwayson_scripts.empty()) {
    throw error(errc::unsupported, "alwayson_scripts", "scripts are not supported yet");
  }

  // -- seeds and prompts, for the whole job --
  const int total = req.batch_size * req.n_iter;
  const int64_t seed = fix_seed(req.seed);
  const int64_t subseed = fix_seed(req.subseed);
  const auto all_seeds = image_seeds(seed, total, req.subseed_strength);
  const auto all_subseeds = image_subseeds(subseed, total);
  const std::string timestamp = job_timestamp_now();
  std::string prompt = req.prompt, negative = req.negative_prompt;
  if (req.styles && !req.styles->empty()) {
    // No styles are defined here; A1111 still merges each listed style, which strips the text.
    prompt = python_strip(prompt);
    negative = python_strip(negative);
  }
  if (opts.enable_prompt_comments) {
    prompt = strip_prompt_comments(prompt);
    negative = strip_prompt_comments(negative);
  }

  // -- sampling settings, as the infotext reports them --
  // The request's raw scheduler fills the infotext slot; A1111's get_sigmas overwrites it with
  // the label of a scheduler it actually applied.
  std::optional<std::string> schedule_type = req.scheduler;
  json_object extra;
  const scheduler_choice choice = choose_scheduler(*sampler, req.scheduler);
  if (choice.applied && !sampler->timestep_based) {
    schedule_type = scheduler_label(choice.kind);
    extra.emplace_back("Schedule type", json_value(*schedule_type));
  }
  sigma_options sigma_opts;
  sigma_opts.sigma_min = opts.sigma_min;
  sigma_opts.sigma_max = opts.sigma_max;
  sigma_opts.rho = opts.rho;
  sigma_opts.discard_next_to_last_sigma = sampler->discard_next_to_last_sigma || opts.always_discard_next_to_last_sigma;
  sigma_opts.use_old_karras = opts.use_old_karras_scheduler_sigmas;
  const at::Tensor sigmas = make_sigmas(model.schedule(), choice.kind, req.steps, sigma_opts);
  if (!sampler->timestep_based) {
    if (choice.applied && opts.sigma_min != 0) {
      extra.emplace_back("Schedule min sigma", json_value(opts.sigma_min));
    }
    if (choice.applied && opts.sigma_max != 0) {
      extra.emplace_back("Schedule max sigma", json_value(opts.sigma_max));
    }
    if (choice.applied && opts.rho != 0 &&
        (choice.kind == scheduler_kind::karras || choice.kind == scheduler_kind::polyexponential)) {
      extra.emplace_back("Schedule rho", json_value(opts.rho));
    }
  }
  if (opts.always_discard_next_to_last_sigma && !sampler->discard_next_to_last_sigma) {
    extra.emplace_back("Discard penultimate sigma", json_value(true));
  }

  sampler_params params;
  // Request value, else the option (A1111's __post_init__); a non-default option of the
  // s_* family wins over the request and is noted (Sampler.initialize).
  const double option_eta = sampler->timestep_based ? opts.eta_ddim : opts.eta_ancestral;
  params.eta = req.eta.value_or(option_eta);
  const sampler_takes takes = parameters_taken(*sampler);
  if (takes.eta && params.eta != default_eta(*sampler)) {
    extra.emplace_back(sampler->timestep_based ? "Eta DDIM" : "Eta", json_value(params.eta));
  }
  auto pick = [](const std::optional<double>& request, double option) {
    return request && *request != 0.0 ? *request : option;
  };
  params.s_churn = pick(req.s_churn, opts.s_churn);
  params.s_tmin = pick(req.s_tmin, opts.s_tmin);
  params.s_tmax = pick(req.s_tmax, opts.s_tmax);
  params.s_noise = pick(req.s_noise, opts.s_noise);
  const struct {
    double option, sampler_default;
    double sampler_params::*field;
    bool taken;
    const char* key;
  } overrides[] = {{opts.s_churn, 0.0, &sampler_params::s_churn, takes.churn, "Sigma churn"},
                   {opts.s_tmin, 0.0, &sampler_params::s_tmin, takes.churn, "Sigma tmin"},
                   {opts.s_tmax, 0.0, &sampler_params::s_tmax, takes.churn, "Sigma tmax"},
                   {opts.s_noise, 1.0, &sampler_params::s_noise, takes.s_noise, "Sigma noise"}};
  for (const auto& o : overrides) {
    if (o.taken && o.option != o.sampler_default) {
      params.*o.field = o.option;
      extra.emplace_back(o.key, json_value(o.option));
    }
  }
  if (params.s_tmax == 0.0) {
    params.s_tmax = INFINITY;
  }
  const double s_min_uncond = req.s_min_uncond.value_or(opts.s_min_uncond);

  const rng_source source = parse_rng_source(opts.randn_source);
  prompt_settings ps;
  ps.clip_skip = opts.CLIP_stop_at_last_layers;
  ps.emphasis = parse_emphasis(opts.emphasis);
  ps.comma_padding_backtrack = opts.comma_padding_backtrack;
  prompt_encoder encoder(model.text(), tokenizer, ps);
  if (ps.emphasis != emphasis_mode::original && prompt.find_first_of("([") != std::string::npos) {
    extra.emplace_back("Emphasis", json_value(opts.emphasis));
  }
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
  info_in.s_min_uncond = s_min_uncond;
  for (const auto& [k, v] : extra) {
    if (k != "Schedule type") {
      info_in.extra_params.emplace_back(k, python_str(v));
    }
  }
  if (opts.add_version_to_infotext) {
    info_in.version = kVersion;
  }

  for (int iter = 0; iter < req.n_iter; ++iter) {
    if (hooks.skip != nullptr) {
      hooks.skip->store(false);
    }
    if (is_set(hooks.interrupt)) {
      break;
    }
    const auto first = static_cast<size_t>(iter * req.batch_size);
    std::vector<int64_t> seeds(all_seeds.begin() + first, all_seeds.begin() + first + req.batch_size);
    std::vector<int64_t> subseeds(all_subseeds.begin() + first, all_subseeds.begin() + first + req.batch_size);
    std::vector<std::string> positives(req.batch_size, strip_extra_networks(prompt));
    std::vector<std::string> negatives(req.batch_size, negative);

    cfg_denoiser denoiser(model.unet(), model.schedule(), encoder.multi_schedules(positives, schedule_steps),
                          encoder.schedules(negatives, schedule_steps), {req.cfg_scale}, opts.batch_cond_uncond,
                          s_min_uncond);
    image_rng rng(source, seeds, subseeds, req.subseed_strength, {latent_c, latent_h, latent_w},
                  req.seed_resize_from_h, req.seed_resize_from_w, opts.eta_noise_seed_delta,
                  model.placement().device);
    sampling_model sm;
    // A1111 keeps the denoised prediction of the last model call: an interrupted or skipped batch
    // is decoded from it.
    at::Tensor last_denoised;
    const auto stop_check = [&] {
      if (is_set(hooks.interrupt) || is_set(hooks.skip)) {
        throw sampling_stopped{};
      }
    };
    sm.denoise = [&](const at::Tensor& x, const at::Tensor& s) {
      stop_check();
      last_denoised = denoiser.denoise(x, s);
      return last_denoised;
    };
    sm.eps = [&](const at::Tensor& x, const at::Tensor& t) {
      stop_check();
      at::Tensor e = denoiser.eps(x, t);
      // x0 = (x − √(1−ᾱ)·eps) / √ᾱ at the nearest discrete timestep.
      const auto ac = model.schedule().alphas_cumprod().to(at::kCPU, at::kFloat);
      const auto idx = t.to(at::kCPU, at::kFloat).round().clamp(0, ac.size(0) - 1).to(at::kLong);
      const auto a = ac.index_select(0, idx).to(x.device(), x.scalar_type()).view({-1, 1, 1, 1});
      last_denoised = (x - (1 - a).sqrt() * e) / a.sqrt();
      return e;
    };
    sm.randn_like = [&] { return rng.next(); };
    sm.on_step = [&](int step, int) {
      if (hooks.cancel != nullptr && hooks.cancel->load()) {
        throw error(errc::cancelled, "", "the job was interrupted");
      }
      if (hooks.on_step) {
        hooks.on_step(iter * req.steps + step + 1, job_steps);
      }
    };
    at::Tensor noise = rng.first();
    at::Tensor samples;
    try {
      samples = sample(*sampler, sm, noise, model.schedule(), sigmas, params);
    } catch (const sampling_stopped&) {
      samples = last_denoised.defined() ? last_denoised : noise * sigmas[0].item<double>();
    }

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
  info.extra_generation_params = extra;
  info.denoising_strength = req.denoising_strength;
  info.index_of_first_image = 0;
  info.infotexts = infotexts;
  info.styles = req.styles.value_or(std::vector<std::string>{});
  info.job_timestamp = timestamp;
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
