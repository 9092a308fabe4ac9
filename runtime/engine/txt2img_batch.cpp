#include "runtime/engine/txt2img_batch.hpp"

#include "runtime/engine/hires_fix.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/lora_plan.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img_plan.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>

namespace sdw {
namespace {

bool is_set(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }

error cancelled_error() { return error(errc::cancelled, "", "the job was interrupted"); }

/// Doubles in the key are written exactly, so two keys are equal only for equal values.
std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// A member that shares sampling runs: its plan, and the images its n_iter batches gave so far.
struct planned {
  size_t index;
  txt2img_plan plan;
  std::map<int, std::vector<rgb_image>> images;  ///< by n_iter batch
  bool stopped = false;                         ///< interrupted: no later batch of it runs
};

/// One n_iter batch of a member, with its prompts encoded: the unit that shares UNet calls. A
/// hires member's batch comes back for its second pass as a unit of its own, with the pass's plan
/// starting from this batch's upscaled latents.
struct unit {
  planned* member;
  std::unique_ptr<txt2img_plan> hires_pass;  ///< the second pass's plan; null for a first pass
  plan_batch batch;
  bool skip_at_once = false;  ///< its first pass was skipped: the second ends at its first model call
  int rows() const { return member->plan.batch_size; }
  const txt2img_plan& plan() const { return hires_pass ? *hires_pass : member->plan; }
};

} // namespace

std::optional<std::string> batch_key(const txt2img_request& req, const options& opts) {
  sampling_setup s;
  try {
    s = make_sampling_setup(req, opts);
    parse_rng_source(opts.randn_source);
  } catch (const error&) {
    // The member fails on its own; it shares nothing.
    return std::nullopt;
  }
  // DPM adaptive accepts or rejects each step by an error norm over the whole batch.
  if (s.sampler->name == "DPM adaptive" || req.tiling.value_or(opts.tiling)) {
    return std::nullopt;
  }
  const sampler_params& p = s.params;
  const sigma_options& so = s.sigma_opts;
  std::string key = "size=" + std::to_string(req.width) + "x" + std::to_string(req.height);
  key += ";sampler=" + s.sampler->name;
  key += ";scheduler=" + std::to_string(static_cast<int>(s.scheduler));
  key += ";steps=" + std::to_string(req.steps);
  key += ";sigma_min=" + exact(so.sigma_min) + ";sigma_max=" + exact(so.sigma_max) + ";rho=" + exact(so.rho);
  key += ";discard=" + std::to_string(so.discard_next_to_last_sigma) + ";old_karras=" + std::to_string(so.use_old_karras);
  key += ";eta=" + exact(p.eta) + ";s_churn=" + exact(p.s_churn) + ";s_tmin=" + exact(p.s_tmin) +
         ";s_tmax=" + exact(p.s_tmax) + ";s_noise=" + exact(p.s_noise);
  key += ";uni_pc=" + p.uni_pc_variant + "/" + p.uni_pc_skip_type + "/" + std::to_string(p.uni_pc_order) + "/" +
         std::to_string(p.uni_pc_lower_order_final);
  key += ";sgm_noise=" + std::to_string(p.sgm_noise_multiplier);
  key += ";s_min_uncond=" + exact(s.s_min_uncond);
  key += ";batch_cond_uncond=" + std::to_string(opts.batch_cond_uncond);
  // Members of a run share the weights, so only jobs with the same LoRAs may join.
  key += ";loras=" + lora_batch_key(req, opts);
  if (req.kind == request_kind::img2img) {
    // img2img members run the same shortened schedule from their own init latents.
    const auto [total, t_enc] = img2img_steps(req.steps, req.denoising_strength.value_or(0.75), opts.img2img_fix_steps);
    key += ";img2img=" + std::to_string(total) + "/" + std::to_string(t_enc) + ";extra_noise=" +
           exact(opts.img2img_extra_noise);
  }
  if (req.enable_hr && req.kind == request_kind::txt2img) {
    // Hires members share both passes: the second pass's size, upscaler, steps, sampler, schedule
    // and strength are shared too (its prompts stay per member).
    key += ";hires=" + exact(req.hr_scale) + "/" + std::to_string(req.hr_resize_x) + "x" +
           std::to_string(req.hr_resize_y) + "/" + std::to_string(req.firstphase_width) + "x" +
           std::to_string(req.firstphase_height) + ";hr_upscaler=" + req.hr_upscaler.value_or("Latent") +
           ";hr_steps=" + std::to_string(req.hr_second_pass_steps) + ";hr_sampler=" +
           req.hr_sampler_name.value_or("") + ";hr_scheduler=" + req.hr_scheduler.value_or("") +
           ";hr_checkpoint=" + req.hr_checkpoint_name.value_or("") +
           ";denoising_strength=" + (req.denoising_strength ? exact(*req.denoising_strength) : "none");
  }
  // The RNG source and ENSD are not in the key: each member draws from its own generators.
  return key;
}

namespace {

/// Units with equal keys and per-step token lengths (what lets their conditioning be stacked
/// without padding), in sampling runs of at most max_images images (one n_iter batch always
/// fits), each unit in the first run with room: a member's batches keep their order.
std::vector<std::vector<unit*>> make_runs(const std::vector<std::pair<std::string, unit*>>& keyed, int max_images) {
  std::vector<std::vector<unit*>> groups;
  std::map<std::pair<std::string, std::vector<std::pair<int64_t, int64_t>>>, size_t> group_of;
  for (const auto& [key, u] : keyed) {
    auto [it, fresh] = group_of.try_emplace({key, cond_lengths(u->batch)}, groups.size());
    if (fresh) {
      groups.emplace_back();
    }
    groups[it->second].push_back(u);
  }
  std::vector<std::vector<unit*>> runs;
  for (const auto& group : groups) {
    const size_t first = runs.size();
    std::vector<int> images;  // per run of this group
    for (unit* u : group) {
      size_t r = 0;
      while (r < images.size() && images[r] + u->rows() > max_images) {
        ++r;
      }
      if (r == images.size()) {
        runs.emplace_back();
        images.push_back(0);
      }
      runs[first + r].push_back(u);
      images[r] += u->rows();
    }
  }
  return runs;
}

} // namespace

std::vector<batch_outcome> run_txt2img_batch(const sd_model& model, const clip_tokenizer& tokenizer,
                                             const std::vector<batch_member>& members, const batch_hooks& hooks,
                                             int max_images, lora_library* loras,
                                             std::shared_ptr<const embedding_set> embeddings) {
  c10::InferenceMode guard;
  lora_patcher patched(model);
  std::vector<batch_outcome> out(members.size());
  const auto cancel_of = [&](size_t i) { return i < hooks.cancel.size() ? hooks.cancel[i] : nullptr; };
  const auto interrupt_of = [&](size_t i) { return i < hooks.interrupt.size() ? hooks.interrupt[i] : nullptr; };
  const auto skip_of = [&](size_t i) { return i < hooks.skip.size() ? hooks.skip[i] : nullptr; };

  // Plan every batchable member and encode each of its n_iter batches.
  std::vector<size_t> alone;
  std::vector<std::string> key_of(members.size());
  std::vector<std::unique_ptr<planned>> plans;
  std::vector<std::unique_ptr<unit>> units;
  std::vector<std::pair<std::string, unit*>> keyed;
  for (size_t i = 0; i < members.size(); ++i) {
    const auto key = batch_key(members[i].request, members[i].opts);
    if (!key) {
      alone.push_back(i);
      continue;
    }
    key_of[i] = *key;
    try {
      auto p = std::make_unique<planned>(planned{i, make_txt2img_plan(model, members[i].request, members[i].opts, loras, embeddings), {}});
      patched.apply(p->plan.loras, lora_part::text);
      std::vector<std::unique_ptr<unit>> mine;
      for (int iter = 0; iter < members[i].request.n_iter; ++iter) {
        mine.push_back(std::make_unique<unit>(unit{p.get(), nullptr, encode_plan_batch(model, tokenizer, p->plan, iter)}));
      }
      for (auto& u : mine) {
        keyed.emplace_back(*key, u.get());
        units.push_back(std::move(u));
      }
      plans.push_back(std::move(p));
    } catch (const error& e) {
      out[i].failure = e;
    }
  }
  std::vector<std::vector<unit*>> runs = make_runs(keyed, max_images);

  // Progress counts both passes of hires fix; the second passes are expected to run as the
  // first ones grouped (their keys hold every second-pass setting).
  int total_steps = 0;
  for (const auto& run : runs) {
    const txt2img_plan& first = run.front()->member->plan;
    total_steps += first.sample_steps + (first.hires ? first.hires->pass.sample_steps : 0);
  }
  for (size_t i : alone) {
    total_steps += members[i].request.steps * members[i].request.n_iter;
  }
  int done_steps = 0;

  // A unit's final latents: decoded into its member's images.
  const auto decode = [&](unit* u, const at::Tensor& latents) {
    planned* p = u->member;
    try {
      const int n = u->rows();
      const auto first = static_cast<size_t>(u->batch.iter * n);
      std::vector<rgb_image>& images = p->images[u->batch.iter];
      for (int i = 0; i < n; ++i) {
        std::vector<rgb_image> masks;
        images.push_back(decode_plan_image(model, p->plan, latents.narrow(0, i, 1), first + static_cast<size_t>(i), &masks));
        for (auto& m : masks) images.push_back(std::move(m));
      }
    } catch (const error& e) {
      out[p->index].failure = e;
    }
  };

  // The second passes, made as the first passes end.
  std::vector<std::pair<std::string, unit*>> second_keyed;
  const auto first_pass_done = [&](unit* u, const at::Tensor& latents, bool skipped) {
    planned* p = u->member;
    // An interrupt ends the job with the first pass's images, as run_txt2img does.
    if (!p->plan.hires || is_set(interrupt_of(p->index))) {
      return decode(u, latents);
    }
    try {
      auto pass = std::make_unique<txt2img_plan>(p->plan.hires->pass);
      pass->init_latent = hires_init_latent(model, model, *p->plan.hires, p->plan, latents, u->batch.iter);
      patched.apply(p->plan.loras, lora_part::text);
      plan_batch batch = encode_plan_batch(model, tokenizer, *pass, u->batch.iter);
      auto second = std::make_unique<unit>(unit{p, std::move(pass), std::move(batch), skipped});
      second->batch.plan = second->hires_pass.get();
      second_keyed.emplace_back(key_of[p->index], second.get());
      units.push_back(std::move(second));
    } catch (const error& e) {
      out[p->index].failure = e;
    }
  };

  // Runs the sampling runs of one pass; each unit that finishes goes to `done`.
  const auto sample_runs = [&](const std::vector<std::vector<unit*>>& pass_runs, bool first_pass,
                               const std::function<void(unit*, const at::Tensor&, bool)>& done) {
    for (const auto& run : pass_runs) {
      const int steps = run.front()->plan().sample_steps;
      // What run_txt2img does at the start of an n_iter batch: an earlier skip is dropped, an
      // interrupt ends the job with the images made so far. A second pass keeps a skip still set.
      if (first_pass) {
        for (unit* u : run) {
          if (std::atomic<bool>* skip = skip_of(u->member->index)) {
            skip->store(false);
          }
        }
      }
      std::vector<unit*> active;
      for (unit* u : run) {
        planned* p = u->member;
        if (out[p->index].failure) {
          continue;
        }
        if (is_set(cancel_of(p->index))) {
          out[p->index].failure = cancelled_error();
        } else if (first_pass && (p->stopped || is_set(interrupt_of(p->index)))) {
          p->stopped = true;
        } else {
          active.push_back(u);
        }
      }
      if (active.empty()) {
        done_steps += steps;
        continue;
      }
      std::vector<const plan_batch*> batches;
      for (unit* u : active) {
        batches.push_back(&u->batch);
      }
      patched.apply(active.front()->member->plan.loras, lora_part::unet);
      // A stopped batch keeps riding along like a cancelled one; the latents it reached are kept
      // apart and decoded in place of the final ones. A member's batches stop as they would one
      // after another: a skip ends its earliest batch still sampling (the next ones go on); an
      // interrupt ends that one, and its later batches count as never run.
      std::vector<at::Tensor> reached(active.size());
      std::vector<bool> dropped(active.size(), false), skipped(active.size(), false);
      const auto finished = [&](size_t a) { return reached[a].defined() || dropped[a]; };
      sampling_hooks sh;
      sh.before_call = [&](const at::Tensor& now) {
        int64_t row = 0;
        std::vector<const planned*> interrupted;
        for (size_t a = 0; a < active.size(); ++a) {
          const planned* p = active[a]->member;
          const int n = active[a]->rows();
          if (!finished(a)) {
            if (std::find(interrupted.begin(), interrupted.end(), p) != interrupted.end()) {
              dropped[a] = true;
            } else if (is_set(interrupt_of(p->index))) {
              reached[a] = now.narrow(0, row, n).clone();
              interrupted.push_back(p);
            } else if (std::atomic<bool>* skip = skip_of(p->index); is_set(skip) || active[a]->skip_at_once) {
              reached[a] = now.narrow(0, row, n).clone();
              skipped[a] = true;
              if (skip != nullptr) {
                skip->store(false);
              }
            }
          }
          row += n;
        }
      };
      sh.stop = [&] {
        for (size_t a = 0; a < active.size(); ++a) {
          if (!finished(a) && !is_set(cancel_of(active[a]->member->index))) {
            return false;
          }
        }
        return true;
      };
      sh.on_step = [&](int step, int) {
        // A cancelled member still rides along (its rows cannot leave a sampler's history); only
        // when every member is cancelled does the run stop.
        bool any_left = false;
        for (unit* u : active) {
          any_left = any_left || !is_set(cancel_of(u->member->index));
        }
        if (!any_left) {
          throw cancelled_error();
        }
        if (hooks.on_step) {
          hooks.on_step(done_steps + step + 1, total_steps);
        }
      };
      at::Tensor samples;
      try {
        samples = sample_plan_batches(model, batches, sh);
      } catch (const error& e) {
        for (unit* u : active) {
          out[u->member->index].failure = e.code() == errc::cancelled ? cancelled_error() : e;
        }
        done_steps += steps;
        continue;
      }
      done_steps += steps;

      int64_t row = 0;
      for (size_t a = 0; a < active.size(); ++a) {
        unit* u = active[a];
        planned* p = u->member;
        const int n = u->rows();
        const at::Tensor latents = reached[a].defined() ? reached[a] : samples.narrow(0, row, n);
        row += n;
        if (dropped[a]) {
          p->stopped = true;
          continue;
        }
        if (is_set(cancel_of(p->index))) {
          out[p->index].failure = cancelled_error();
          continue;
        }
        done(u, latents, skipped[a]);
      }
    }
  };

  sample_runs(runs, true, first_pass_done);
  if (!second_keyed.empty()) {
    const auto second_runs = make_runs(second_keyed, max_images);
    // The second passes grouped as the first ones did unless some members stopped early.
    int remaining = 0;
    for (const auto& run : second_runs) remaining += run.front()->plan().sample_steps;
    for (size_t i : alone) remaining += members[i].request.steps * members[i].request.n_iter;
    total_steps = std::max(total_steps, done_steps + remaining);
    sample_runs(second_runs, false, [&](unit* u, const at::Tensor& latents, bool) { decode(u, latents); });
  }

  // Each member's answer: its images in n_iter order, as run_txt2img assembles them.
  for (const auto& p : plans) {
    batch_outcome& o = out[p->index];
    if (o.failure) {
      continue;
    }
    txt2img_result r;
    r.all_seeds = p->plan.all_seeds;
    r.all_subseeds = p->plan.all_subseeds;
    std::vector<std::string> infotexts;
    for (auto& [iter, images] : p->images) {
      for (auto& img : images) {
        // The mask images after an inpainted one carry no infotext and are not counted.
        if (!img.infotext.empty()) infotexts.push_back(img.infotext);
        r.images.push_back(std::move(img));
      }
    }
    try {
      r.info_json = plan_info_json(model, p->plan, infotexts);
      o.result = std::move(r);
    } catch (const error& e) {
      o.failure = e;
    }
  }

  // Members that run alone merge their own LoRAs into the original weights.
  patched.restore();
  for (size_t i : alone) {
    const int offset = done_steps;
    txt2img_hooks h;
    h.cancel = cancel_of(i);
    h.interrupt = interrupt_of(i);
    h.skip = skip_of(i);
    if (hooks.on_step) {
      h.on_step = [&, offset](int step, int) { hooks.on_step(offset + step, total_steps); };
    }
    try {
      if (is_set(h.cancel)) {
        throw cancelled_error();
      }
      out[i].result = run_txt2img(model, tokenizer, members[i].request, members[i].opts, h, loras, embeddings);
    } catch (const error& e) {
      out[i].failure = e;
    }
    done_steps += members[i].request.steps * members[i].request.n_iter;
  }
  return out;
}

} // namespace sdw
