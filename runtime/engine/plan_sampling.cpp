// The sampling stage of txt2img plans: several plan batches sampled as one (txt2img_plan.hpp).
#include "runtime/engine/txt2img_plan.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/brownian_noise.hpp"
#include "runtime/engine/cfg_denoiser.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/engine/inpaint_init.hpp"
#include "runtime/engine/sd_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace sdw {
namespace {

/// Thrown from the model callbacks when the stop hook asks for it.
struct sampling_stopped {};

/// The batches' conditioning rows, joined in batch order.
std::pair<std::vector<multi_cond>, std::vector<cond_schedule>> joined_conds(const std::vector<const plan_batch*>& batches) {
  std::pair<std::vector<multi_cond>, std::vector<cond_schedule>> out;
  for (const plan_batch* b : batches) {
    out.first.insert(out.first.end(), b->conds.begin(), b->conds.end());
    out.second.insert(out.second.end(), b->unconds.begin(), b->unconds.end());
  }
  return out;
}

} // namespace

at::Tensor sample_plan_batches(const sd_model& model, const std::vector<const plan_batch*>& batches,
                               const sampling_hooks& hooks) {
  c10::InferenceMode guard;
  if (batches.empty()) {
    throw error(errc::bad_request, "batch", "no images to sample");
  }
  // The shared settings come from the first batch; callers group batches whose settings are equal.
  const txt2img_plan& lead = *batches.front()->plan;
  std::vector<double> cfg_scales;
  std::vector<image_rng> rngs;
  std::vector<brownian_noise_sampler> trees;
  const at::Device device = model.placement().device;
  for (const plan_batch* b : batches) {
    const txt2img_plan& p = *b->plan;
    const auto first = static_cast<size_t>(b->iter * p.batch_size);
    const auto n = static_cast<size_t>(p.batch_size);
    cfg_scales.insert(cfg_scales.end(), n, p.request->cfg_scale);
    const std::vector<int64_t> seeds(p.all_seeds.begin() + first, p.all_seeds.begin() + first + n);
    rngs.emplace_back(p.source, seeds,
                      std::vector<int64_t>(p.all_subseeds.begin() + first, p.all_subseeds.begin() + first + n),
                      p.request->subseed_strength, p.latent_shape, p.request->seed_resize_from_h,
                      p.request->seed_resize_from_w, p.eta_noise_seed_delta, device);
    if (lead.setup.sampler->brownian_noise && lead.sigmas.defined()) {
      // A1111's per-image trees span the whole schedule; k-diffusion's own (the option) spans the
      // sigmas the sampler runs on, which img2img shortens.
      at::Tensor span = lead.sigmas;
      if (lead.img2img && p.no_dpmpp_sde_batch_determinism) {
        span = lead.sigmas.slice(0, lead.sigmas.size(0) - 2 - lead.t_enc);
      }
      trees.push_back(a1111_noise_sampler(span, seeds, p.latent_shape, p.source, device,
                                          p.no_dpmpp_sde_batch_determinism));
    }
  }
  auto [conds, unconds] = joined_conds(batches);
  const sampler_info& sampler = *lead.setup.sampler;
  const auto schedule_of = [&](const sd_model& m) -> const discrete_schedule& { return sampling_schedule(m, lead.setup); };
  cfg_denoiser denoiser(model.unet(), schedule_of(model), model.parameterization(), std::move(conds), std::move(unconds),
                        std::move(cfg_scales), lead.batch_cond_uncond, lead.setup.s_min_uncond);
  // The model sampling now: a refiner may take over partway.
  const sd_model* current = &model;
  // The model calls of the run (A1111's total_steps of the steps it launches the sampler with).
  const int calls = (lead.img2img ? lead.t_enc + 1 : lead.sample_steps) * (lead.setup.sampler->second_order ? 2 : 1);
  const auto maybe_switch = [&](float by_sigma) {
    if (!hooks.switch_model) return;
    const sd_model* next = hooks.switch_model({by_sigma, static_cast<double>(denoiser.step()) / calls});
    if (next == nullptr || next == current) return;
    std::vector<plan_batch> again;
    for (const plan_batch* b : batches) again.push_back(encode_plan_batch(*next, *hooks.tokenizer, *b->plan, b->iter));
    std::vector<const plan_batch*> order;
    for (const plan_batch& b : again) order.push_back(&b);
    auto [c, u] = joined_conds(order);
    denoiser.set_cond_padding(lead.setup.padding, again.front().empty_cond);
    denoiser.switch_model(next->unet(), schedule_of(*next), next->parameterization(), std::move(c),
                          std::move(u));
    current = next;
  };
  denoiser.set_cond_padding(lead.setup.padding, batches.front()->empty_cond);
  // A1111 patches the UNet once per pass; a refiner loaded into it keeps the patch.
  denoiser.set_token_merging(lead.setup.token_merging);
  // A1111's add_infotext once the sampler returns: whether its last model call padded.
  const auto noted = [&](at::Tensor out) {
    if (hooks.note && denoiser.padded()) {
      hooks.note(lead.setup.padding == cond_padding::last_vector ? "Pad conds v0" : "Pad conds", json_value(true));
    }
    return out;
  };
  if (lead.image_cond.defined()) {
    std::vector<at::Tensor> image_conds;
    for (const plan_batch* b : batches) {
      const txt2img_plan& p = *b->plan;
      const int64_t from = p.image_cond.size(0) == p.batch_size ? 0 : int64_t{b->iter} * p.batch_size;
      image_conds.push_back(p.image_cond.narrow(0, from, p.batch_size));
    }
    denoiser.set_image_cond(image_conds.size() == 1 ? image_conds.front() : at::cat(image_conds));
  }
  // Each request draws from its own generators, so its noise is what it gets alone.
  const auto draw = [&rngs](bool first) {
    std::vector<at::Tensor> parts;
    for (auto& r : rngs) {
      parts.push_back(first ? r.first() : r.next());
    }
    return parts.size() == 1 ? parts.front() : at::cat(parts);
  };

  sampling_model sm;
  // A1111 keeps the denoised prediction of the last model call: an interrupted or skipped batch
  // is decoded from it.
  at::Tensor last_denoised;
  at::Tensor noise;
  at::Tensor start;  // what sampling ends with when stopped before the first model call
  const auto stop_check = [&] {
    if (hooks.before_call) {
      hooks.before_call(last_denoised.defined() ? last_denoised : start);
    }
    if (hooks.stop && hooks.stop()) {
      throw sampling_stopped{};
    }
  };
  sm.denoise = [&](const at::Tensor& x, const at::Tensor& s) {
    stop_check();
    // A1111 measures against the σ table of the sampler's model wrapper (LCM's has 50 entries).
    if (hooks.switch_model) maybe_switch(completed_ratio_at_sigma(schedule_of(*current), s));
    last_denoised = denoiser.denoise(x, s);
    return last_denoised;
  };
  sm.eps = [&](const at::Tensor& x, const at::Tensor& t) {
    stop_check();
    if (hooks.switch_model) maybe_switch(completed_ratio_at_timestep(t));
    at::Tensor e = denoiser.eps(x, t);
    // x0 = (x − √(1−ᾱ)·eps) / √ᾱ at the nearest discrete timestep.
    const auto ac = schedule_of(*current).alphas_cumprod().to(at::kCPU, at::kFloat);
    const auto idx = t.to(at::kCPU, at::kFloat).round().clamp(0, ac.size(0) - 1).to(at::kLong);
    const auto a = ac.index_select(0, idx).to(x.device(), x.scalar_type()).view({-1, 1, 1, 1});
    last_denoised = (denoiser.blend(x) - (1 - a).sqrt() * e) / a.sqrt();
    return e;
  };
  sm.randn_like = [&] { return draw(false); };
  if (!trees.empty()) {
    // Each batch queries its own trees, so its noise is what it gets alone.
    sm.noise_sampler = [&trees](const at::Tensor& sigma, const at::Tensor& sigma_next) {
      std::vector<at::Tensor> parts;
      for (auto& t : trees) {
        parts.push_back(t(sigma, sigma_next));
      }
      return parts.size() == 1 ? parts.front() : at::cat(parts);
    };
  }
  sm.on_step = [&](int step, int steps) {
    if (hooks.on_step) {
      hooks.on_step(step, steps);
    }
  };
  noise = draw(true);
  if (!lead.img2img) {
    start = noise * lead.sigmas[0].item<double>();
    try {
      return noted(sample(sampler, sm, noise, schedule_of(model), lead.sigmas, lead.setup.params));
    } catch (const sampling_stopped&) {
      return noted(last_denoised.defined() ? last_denoised : start);
    }
  }
  // img2img: each batch starts from its own init latents and scales its own noise.
  std::vector<at::Tensor> inits, noises, masks, nmasks;
  bool inpainting = false;
  int64_t row = 0;
  for (const plan_batch* b : batches) {
    const txt2img_plan& p = *b->plan;
    const auto n = static_cast<int64_t>(p.batch_size);
    inits.push_back(p.init_latent);
    noises.push_back(noise.narrow(0, row, n) * p.noise_multiplier);
    // Rows without a mask keep nothing of their init latents (mask 0, nmask 1: the blend is exact).
    const auto shape = p.init_latent.sizes();
    masks.push_back(p.inpaint ? p.inpaint->mask.expand(shape) : at::zeros(shape, p.init_latent.options()));
    nmasks.push_back(p.inpaint ? p.inpaint->nmask.expand(shape) : at::ones(shape, p.init_latent.options()));
    inpainting = inpainting || p.inpaint != nullptr;
    row += n;
  }
  start = inits.size() == 1 ? inits.front() : at::cat(inits);
  const at::Tensor scaled = noises.size() == 1 ? noises.front() : at::cat(noises);
  if (!lead.sigmas.defined()) {
    return start;  // no schedule at all: nothing to sample
  }
  if (inpainting) denoiser.set_blend(start, at::cat(masks), at::cat(nmasks));
  at::Tensor samples;
  try {
    samples = sample_img2img(sampler, sm, start, scaled.to(start.scalar_type()), schedule_of(model),
                             lead.sigmas, lead.t_enc, lead.setup.params, lead.extra_noise);
  } catch (const sampling_stopped&) {
    samples = last_denoised.defined() ? last_denoised : start;
  }
  // A1111 blends once more after sampling, interrupted or not.
  return noted(denoiser.blend(samples));
}

} // namespace sdw
