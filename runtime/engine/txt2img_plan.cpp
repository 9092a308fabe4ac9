#include "runtime/engine/txt2img_plan.hpp"

#include "runtime/formats/a1111_response.hpp"
#include "runtime/engine/cfg_denoiser.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/brownian_noise.hpp"
#include "runtime/engine/hires_fix.hpp"
#include "runtime/engine/img2img_init.hpp"
#include "runtime/engine/inpaint_conditioning.hpp"
#include "runtime/engine/inpaint_init.hpp"
#include "runtime/engine/lora_plan.hpp"
#include "runtime/formats/extra_networks.hpp"
#include "runtime/engine/seeds.hpp"
#include "runtime/image/color_correction.hpp"
#include "runtime/image/lab_color.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <tuple>

namespace sdw {
namespace {

const char* const kVersion = "sdworker " SDW_VERSION;

/// Extra-network tags (`<lora:name:1>`) are removed from positive prompts before encoding.
std::string strip_extra_networks(const std::string& prompt) { return parse_extra_networks(prompt).prompt; }

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

/// What img2img adds to a plan: the schedule for img2img_steps, the init latents, and the
/// extra_generation_params A1111 notes before sampling (Denoising strength, Noise multiplier) and
/// after the schedule's (Extra noise).
void plan_img2img(const sd_model& model, const txt2img_request& req, const options& opts, txt2img_plan& p) {
  p.img2img = true;
  const double strength = req.denoising_strength.value_or(0.75);
  const auto [total, t_enc] = img2img_steps(req.steps, strength, opts.img2img_fix_steps);
  p.t_enc = t_enc;
  p.sample_steps = t_enc + 1;
  p.sigmas = total > 0 ? make_sigmas(sampling_schedule(model, p.setup), p.setup.scheduler, total,
                                         p.setup.sigma_opts)
                           : at::Tensor();
  p.noise_multiplier = req.initial_noise_multiplier.value_or(opts.initial_noise_multiplier);
  p.extra_noise = opts.img2img_extra_noise;
  p.batch_size = img2img_batch_size(req);
  if (req.mask_image) p.inpaint = std::make_shared<inpaint_plan>(make_inpaint_mask(req, opts));
  const std::vector<image8> images = prepare_init_images(req, opts, p.inpaint.get());
  // setup_color_correction, of each image as the VAE gets it (resized, its masked area filled).
  if (opts.img2img_color_correction) {
    for (const image8& im : images) p.color_corrections.push_back(rgb_to_lab(im));
  }
  // A1111 draws the posterior noise of every encode in init from one global generator, in order.
  at::Generator posterior = default_torch_generator();
  p.init_latent = encode_init_images(model, req, opts, images, posterior);
  if (p.inpaint) finish_inpaint_latents(*p.inpaint, p.init_latent, p.all_seeds, p.source);
  if (p.inpaint && p.inpaint->fill == 2 && p.source != rng_source::nv) {
    // The latent-noise draw seeded torch's global generator with each of the first batch's seeds.
    const auto last = static_cast<uint64_t>(p.all_seeds.at(static_cast<size_t>(p.init_latent.size(0) - 1)));
    posterior = at::make_generator<at::CPUGeneratorImpl>(last);
  }
  if (is_inpainting(model.config())) {
    const int64_t lh = p.init_latent.size(2), lw = p.init_latent.size(3);
    if (images.front().width != lw * 8 || images.front().height != lh * 8) {
      throw error(errc::unsupported, "resize_mode",
                  "an inpainting model needs the init image at width x height; resize_mode 3 keeps it at " +
                    std::to_string(images.front().width) + "x" + std::to_string(images.front().height));
    }
    const at::Tensor cond = img2img_inpaint_conditioning(model, images, p.inpaint ? &p.inpaint->image_mask : nullptr,
                                                         req.mask_round, opts.inpainting_mask_weight, lh, lw, posterior);
    // Computed once in init: every n_iter batch is conditioned on it.
    p.image_cond = cond.repeat({req.n_iter, 1, 1, 1});
  }

  // init's keys, then (after LoRA activation puts its hashes here) sample()'s "Noise multiplier".
  json_object extra;
  extra.emplace_back("Denoising strength", json_value(strength));
  if (p.inpaint) extra.insert(extra.end(), p.inpaint->extra.begin(), p.inpaint->extra.end());
  if (p.noise_multiplier != 1.0) extra.emplace_back("Noise multiplier", json_value(p.noise_multiplier));
  bool noted = false;
  for (auto& [k, v] : p.setup.extra) {
    const bool schedule = k.rfind("Schedule", 0) == 0 || k == "Discard penultimate sigma";
    if (!schedule && !noted && p.extra_noise > 0) {
      extra.emplace_back("Extra noise", json_value(p.extra_noise));
      noted = true;
    }
    extra.emplace_back(k, v);
  }
  if (!noted && p.extra_noise > 0) extra.emplace_back("Extra noise", json_value(p.extra_noise));
  p.setup.extra = std::move(extra);
}

/// Sets "Lora hashes" to the first pass's joined with the second pass's, in place (a key the first
/// pass did not set comes last, as A1111 adds it during the hires pass).
void add_lora_hashes(txt2img_plan& p, const std::string& more) {
  if (more.empty()) return;
  auto it = std::find_if(p.setup.extra.begin(), p.setup.extra.end(), [](const auto& e) { return e.first == "Lora hashes"; });
  const std::string joined = joined_lora_hashes(it != p.setup.extra.end() ? it->second.as_string() : "", more);
  if (it != p.setup.extra.end()) {
    it->second = json_value(joined);
  } else {
    p.setup.extra.emplace_back("Lora hashes", json_value(joined));
  }
  auto shown = std::find_if(p.info_in.extra_params.begin(), p.info_in.extra_params.end(),
                            [](const auto& e) { return e.first == "Lora hashes"; });
  if (shown != p.info_in.extra_params.end()) {
    shown->second = joined;
  } else {
    p.info_in.extra_params.emplace_back("Lora hashes", joined);
  }
}

} // namespace

const discrete_schedule& sampling_schedule(const sd_model& model, const sampling_setup& setup) {
  return model.schedule_for(*setup.sampler, setup.noise_schedule, setup.downcast_alphas);
}

txt2img_plan make_txt2img_plan(const sd_model& model, const txt2img_request& req, const options& opts,
                               lora_library* loras, std::shared_ptr<const embedding_set> embeddings,
                               const std::string& hr_title) {
  txt2img_plan p;
  p.request = &req;
  p.setup = make_sampling_setup(req, opts);
  if (opts.sd_vae_decode_method != "Full")
    throw error(errc::unsupported, "sd_vae_decode_method",
                "\"" + opts.sd_vae_decode_method + "\" needs a TAESD model, which this worker does not have; use \"Full\"");
  const sampler_info& sampler = *p.setup.sampler;

  const int total = req.batch_size * req.n_iter;
  p.all_seeds = image_seeds(fix_seed(req.seed), total, req.subseed_strength);
  p.all_subseeds = image_subseeds(fix_seed(req.subseed), total);
  p.timestamp = job_timestamp_now();
  p.prompt = req.prompt;
  p.negative = req.negative_prompt;
  if (req.styles && !req.styles->empty()) {
    // No styles are defined here; A1111 still merges each listed style, which strips the text.
    p.prompt = python_strip(p.prompt);
    p.negative = python_strip(p.negative);
  }
  if (opts.enable_prompt_comments) {
    p.prompt = strip_prompt_comments(p.prompt);
    p.negative = strip_prompt_comments(p.negative);
  }
  p.batch_size = req.batch_size;
  p.sample_steps = req.steps;
  p.source = parse_rng_source(opts.randn_source);
  if (req.kind == request_kind::img2img) {
    plan_img2img(model, req, opts, p);
  } else {
    p.sigmas = make_sigmas(sampling_schedule(model, p.setup), p.setup.scheduler, req.steps,
                           p.setup.sigma_opts);
  }

  p.prompt_opts.clip_skip = opts.CLIP_stop_at_last_layers;
  p.prompt_opts.emphasis = parse_emphasis(opts.emphasis);
  p.prompt_opts.comma_padding_backtrack = opts.comma_padding_backtrack;
  p.prompt_opts.embeddings = std::move(embeddings);
  p.prompt_opts.use_old_scheduling = opts.use_old_scheduling;
  // A1111's old emphasis is the SD1 CLIP embedder's (its bracket tokens come from that vocabulary);
  // it returns before noting Emphasis or TI hashes.
  p.prompt_opts.old_emphasis = opts.use_old_emphasis_implementation;
  if (p.prompt_opts.old_emphasis && (is_sdxl(model.config()) || is_sd2(model.config())))
    throw error(errc::bad_request, "override_settings.use_old_emphasis_implementation",
                std::string("applies to SD1 checkpoints only; this one is ") + model_family(model.config()));
  if (!p.prompt_opts.old_emphasis && p.prompt_opts.emphasis != emphasis_mode::original &&
      p.prompt.find_first_of("([") != std::string::npos) {
    p.setup.extra.emplace_back("Emphasis", json_value(opts.emphasis));
  }
  // Prompt schedules count denoiser calls; second-order samplers make two per step.
  p.schedule_steps = sampler.second_order ? req.steps * 2 : req.steps;
  // Legacy hires requests name the first pass's size in firstphase_width/height, or (option
  // use_old_hires_fix_width_height) the final size in width/height.
  const bool hires = req.enable_hr && req.kind == request_kind::txt2img;
  int width = req.width, height = req.height;
  if (hires) std::tie(width, height) = requested_first_pass_size(req);
  if (hires && opts.use_old_hires_fix_width_height) {
    const auto [w, h] = old_hires_fix_first_pass_size(width, height);
    if (w > 2048 || h > 2048)
      throw error(errc::bad_request, w > 2048 ? "width" : "height",
                  "with the option use_old_hires_fix_width_height " + std::to_string(width) + "x" +
                    std::to_string(height) + " makes a first pass of " + std::to_string(w) + "x" + std::to_string(h) +
                    "; each side must be at most 2048");
    width = w;
    height = h;
  }
  // The latents have the UNet's output channels (an inpainting UNet takes 5 more as input).
  p.latent_shape = {model.config().unet.out_channels, height / 8, width / 8};
  p.sdxl_size.width = width;
  p.sdxl_size.height = height;
  p.sdxl_size.crop_top = opts.sdxl_crop_top;
  p.sdxl_size.crop_left = opts.sdxl_crop_left;
  if (is_inpainting(model.config()) && req.kind == request_kind::txt2img) {
    // txt2img_image_conditioning, drawn in each n_iter batch's sample() just after the batch's
    // noise, whose draw (A1111's rng.randn) re-seeds torch's global generator with each seed in turn;
    // the NV source leaves it alone.
    at::Generator posterior = default_torch_generator();
    std::vector<at::Tensor> parts;
    for (int iter = 0; iter < req.n_iter; ++iter) {
      const auto last = static_cast<uint64_t>(p.all_seeds.at(static_cast<size_t>((iter + 1) * req.batch_size - 1)));
      if (p.source != rng_source::nv) posterior = at::make_generator<at::CPUGeneratorImpl>(last);
      parts.push_back(txt2img_inpaint_conditioning(model, req.batch_size, width, height, posterior));
      p.global_after_conditioning.push_back(posterior.clone());
    }
    p.image_cond = at::cat(parts);
  }
  p.batch_cond_uncond = opts.batch_cond_uncond;
  p.eta_noise_seed_delta = opts.eta_noise_seed_delta;
  p.no_dpmpp_sde_batch_determinism = opts.no_dpmpp_sde_batch_determinism;

  infotext_input& info = p.info_in;
  info.negative_prompt = p.negative;
  info.steps = req.steps;
  info.sampler_name = sampler.name;
  info.schedule_type = p.setup.schedule_type;
  info.cfg_scale = req.cfg_scale;
  info.width = width;
  info.height = height;
  if (opts.add_model_hash_to_info) {
    info.model_hash = model.short_hash();
  }
  if (opts.add_model_name_to_info) {
    info.model_name = model.name();
  }
  // A1111 writes "VAE hash" and "VAE" only when a VAE file replaces the checkpoint's own.
  if (!model.vae_name().empty() && opts.add_vae_hash_to_info) {
    info.vae_hash = model.vae_short_hash();
  }
  if (!model.vae_name().empty() && opts.add_vae_name_to_info) {
    info.vae_name = model.vae_name();
  }
  if (is_inpainting(model.config())) info.conditional_mask_weight = opts.inpainting_mask_weight;
  info.clip_skip = p.prompt_opts.clip_skip;
  if (sampler.uses_ensd && p.setup.params.eta != 0.0 && opts.eta_noise_seed_delta != 0) {
    info.ensd = opts.eta_noise_seed_delta;
  }
  if (opts.randn_source != "GPU") {
    info.rng = opts.randn_source;
  }
  info.subseed_strength = req.subseed_strength;
  info.seed_resize_from_w = req.seed_resize_from_w;
  info.seed_resize_from_h = req.seed_resize_from_h;
  info.s_min_uncond = p.setup.s_min_uncond;
  if (p.setup.token_merging != 0) info.token_merging_ratio = p.setup.token_merging;
  const double hr_merging = token_merging_ratio(req, opts, true);
  if (req.enable_hr && req.kind == request_kind::txt2img && hr_merging != 0) info.token_merging_ratio_hr = hr_merging;
  // LoRA: A1111 activates the prompt's networks after img2img's init notes its keys and before
  // the sampler notes its own, so "Lora hashes" goes between them.
  // Then the conds are set up, which notes "TI hashes" (the embeddings the prompts used).
  // disable_extra_networks: the tags are still taken out of the prompts, none is activated.
  job_loras found = req.disable_extra_networks ? job_loras{} : resolve_job_loras(p.prompt, loras, model.config());
  p.loras = std::move(found.set);
  auto at = p.setup.extra.begin();
  const std::size_t init_keys = 1 + (p.inpaint ? p.inpaint->extra.size() : 0);
  if (p.img2img) at += static_cast<std::ptrdiff_t>(init_keys);
  if (!found.hashes.empty()) {
    at = p.setup.extra.insert(at, {"Lora hashes", json_value(found.hashes)}) + 1;
  }
  // get_conds_with_caching compares the two timelines before encoding.
  if (opts.use_old_scheduling &&
      old_timelines_differ({p.negative, strip_extra_networks(p.prompt)}, p.schedule_steps, p.prompt_opts)) {
    at = p.setup.extra.insert(at, {"Old prompt editing timelines", json_value(true)}) + 1;
  }
  if (opts.textual_inversion_add_hashes_to_infotext && !p.prompt_opts.old_emphasis) {
    const std::string used =
      ti_hashes(strip_extra_networks(p.prompt), p.negative, p.schedule_steps, p.prompt_opts);
    if (!used.empty()) at = p.setup.extra.insert(at, {"TI hashes", json_value(used)}) + 1;
  }
  // A1111 overrides the model's ᾱ just before sampling (apply_alpha_schedule_override), after the
  // conds and before the sampler notes its settings.
  if (p.setup.noise_schedule == noise_schedule_kind::zero_terminal_snr) {
    at = p.setup.extra.insert(at, {"Noise Schedule", json_value(opts.sd_noise_schedule)});
  }
  if (p.setup.downcast_alphas) p.setup.extra.insert(at, {"Downcast alphas_cumprod", json_value(true)});
  for (const auto& [k, v] : p.setup.extra) {
    if (k == "Denoising strength") {
      info.denoising_strength = v.as_double();
    } else if (k != "Schedule type" && !v.is_null()) {
      info.extra_params.emplace_back(k, python_str(v));
    }
  }
  if (opts.add_version_to_infotext) {
    info.version = kVersion;
  }
  info.prompt = p.prompt;
  info.tiling = req.tiling.value_or(opts.tiling);
  if (req.restore_faces.value_or(opts.face_restoration)) {
    // A1111 names the model in the infotext and, with none loaded, returns the image as it is.
    info.face_restoration = opts.face_restoration_model;
  }
  if (req.enable_hr && req.kind == request_kind::txt2img) {
    p.hires = std::make_shared<hires_plan>(make_hires_plan(model, req, opts, p, hr_title));
    if (p.hires->pass.prompt != p.prompt && !req.disable_extra_networks) {
      // The second pass activates its own prompt's networks (A1111's hr_extra_network_data).
      job_loras hr_found = resolve_job_loras(p.hires->pass.prompt, loras, model.config());
      p.hires->pass.loras = std::move(hr_found.set);
      add_lora_hashes(p, hr_found.hashes);
    }
  }
  return p;
}

void note_extra(txt2img_plan& plan, const std::string& key, const json_value& value) {
  for (const auto& [k, v] : plan.setup.extra) {
    if (k == key) return;
  }
  plan.setup.extra.emplace_back(key, value);
  if (!value.is_null()) plan.info_in.extra_params.emplace_back(key, python_str(value));
}

plan_batch encode_plan_batch(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_plan& plan,
                             int iter) {
  c10::InferenceMode guard;
  const int n = plan.batch_size;
  const prompt_encoder encoder =
    model.text2() ? prompt_encoder(model.text(), *model.text2(), tokenizer, plan.prompt_opts, plan.sdxl_size,
                                   model.placement().dtype)
                  : prompt_encoder(model.text(), tokenizer, plan.prompt_opts);
  plan_batch b;
  b.plan = &plan;
  b.iter = iter;
  b.conds = encoder.multi_schedules(std::vector<std::string>(n, strip_extra_networks(plan.prompt)), plan.schedule_steps);
  b.unconds = encoder.schedules(std::vector<std::string>(n, plan.negative), plan.schedule_steps, true);
  if (plan.setup.padding == cond_padding::empty_prompt) {
    // A1111's cond_stage_model_empty_prompt: "" through the text encoder(s), as a prompt.
    b.empty_cond = encoder.schedules({""}, 1).front().front().cond;
  }
  return b;
}

std::vector<std::pair<int64_t, int64_t>> cond_lengths(const plan_batch& batch) {
  c10::InferenceMode guard;
  // Past the last scheduled step every schedule keeps its final entry; one step beyond covers it.
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int step = 0; step <= batch.plan->schedule_steps + 1; ++step) {
    out.emplace_back(multi_cond_batch_at(batch.conds, step).tensor.size(1),
                     cond_batch_at(batch.unconds, step).size(1));
  }
  return out;
}

rgb_image decode_plan_image(const sd_model& model, const txt2img_plan& plan, const at::Tensor& latent, size_t k,
                            std::vector<rgb_image>* mask_images) {
  c10::InferenceMode guard;
  const at::Tensor decoded = model.vae().decode(latent)[0];
  // Decoded [3, H, W] in [-1, 1] → 8-bit RGB exactly as A1111 (float32, truncation), converted
  // where it was decoded: a GPU sends a quarter of the bytes back.
  auto x = at::clamp((decoded.to(at::kFloat) + 1.0) / 2.0, 0.0, 1.0);
  auto hwc = (255.0 * x.permute({1, 2, 0})).contiguous().to(at::kByte).to(at::kCPU);
  image8 generated(static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(0)), 3);
  generated.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  const auto row = k % static_cast<size_t>(plan.batch_size);
  if (row < plan.color_corrections.size()) {
    generated = apply_color_correction(plan.color_corrections[row], generated);
  }
  image8 answer = std::move(generated);
  if (plan.inpaint) {
    // The original goes back over everything outside the mask (and, for only-masked inpainting,
    // the processed region back into the whole picture).
    const image8 result = std::move(answer);
    answer = overlay_result(*plan.inpaint, result, static_cast<int>(row));
    if (mask_images) {
      // No infotext: A1111 gives these images none.
      for (image8& im : returned_mask_images(*plan.inpaint, result)) {
        mask_images->push_back(rgb_image{im.width, im.height, std::move(im.pixels), ""});
      }
    }
  }
  rgb_image img{answer.width, answer.height, std::move(answer.pixels), ""};
  infotext_input info = plan.info_in;
  info.seed = plan.all_seeds.at(k);
  info.subseed = plan.all_subseeds.at(k);
  img.infotext = create_infotext(info);
  return img;
}

std::string plan_info_json(const sd_model& model, const txt2img_plan& plan, const std::vector<std::string>& infotexts) {
  return make_info_json(plan_processed_info(model, plan, infotexts));
}

processed_info plan_processed_info(const sd_model& model, const txt2img_plan& plan,
                                   const std::vector<std::string>& infotexts) {
  const txt2img_request& req = *plan.request;
  const auto total = static_cast<size_t>(req.batch_size * req.n_iter);
  processed_info info;
  info.all_prompts.assign(total, plan.prompt);
  info.all_negative_prompts.assign(total, plan.negative);
  info.seed = plan.all_seeds.front();
  info.all_seeds = plan.all_seeds;
  info.subseed = plan.all_subseeds.front();
  info.all_subseeds = plan.all_subseeds;
  info.subseed_strength = req.is_set("subseed_strength") ? json_value(req.subseed_strength) : json_value(0);
  info.width = plan.info_in.width;
  info.height = plan.info_in.height;
  info.sampler_name = plan.setup.sampler->name;
  info.cfg_scale = req.cfg_scale;
  info.steps = req.steps;
  info.batch_size = plan.batch_size;
  info.sd_model_name = model.name();
  info.sd_model_hash = model.short_hash();
  if (!model.vae_name().empty()) {
    info.sd_vae_name = model.vae_name();
    info.sd_vae_hash = model.vae_short_hash();
  }
  info.seed_resize_from_w = req.seed_resize_from_w;
  info.seed_resize_from_h = req.seed_resize_from_h;
  info.extra_generation_params = plan.setup.extra;
  info.denoising_strength = plan.img2img ? std::optional<double>(req.denoising_strength.value_or(0.75))
                                         : req.denoising_strength;
  info.index_of_first_image = 0;
  info.infotexts = infotexts;
  info.styles = req.styles.value_or(std::vector<std::string>{});
  info.job_timestamp = plan.timestamp;
  info.clip_skip = plan.prompt_opts.clip_skip;
  info.version = kVersion;
  return info;
}

} // namespace sdw
