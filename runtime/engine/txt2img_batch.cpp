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
  key += ";noise_schedule=" + std::to_string(static_cast<int>(s.noise_schedule));
  key += ";downcast_alphas=" + std::to_string(s.downcast_alphas);
  key += ";token_merging=" + exact(s.token_merging);
  key += ";cond_padding=" + std::to_string(static_cast<int>(s.padding));
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
           ";old_hires_size=" + std::to_string(opts.use_old_hires_fix_width_height) +
           ";hr_token_merging=" + exact(token_merging_ratio(req, opts, true)) +
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

/// One call of run_txt2img_batch: the members' plans, their sampling runs (first passes, then hires
/// fix's second passes grouped again), their answers, and the members that run alone.
class batch_runner {
public:
  batch_runner(const sd_model& model, const clip_tokenizer& tokenizer, const std::vector<batch_member>& members,
               const batch_hooks& hooks, int max_images, lora_library* loras,
               std::shared_ptr<const embedding_set> embeddings)
    : model_(model), tokenizer_(tokenizer), members_(members), hooks_(hooks), max_images_(max_images), loras_(loras),
      embeddings_(std::move(embeddings)), patched_(model), out_(members.size()), key_of_(members.size()) {}

  std::vector<batch_outcome> run() {
    plan_members();
    const std::vector<std::vector<unit*>> runs = make_runs(first_keyed_, max_images_);
    count_expected_steps(runs);
    for (const auto& r : runs) sample_run(r, true);
    if (!second_keyed_.empty()) {
      const auto second_runs = make_runs(second_keyed_, max_images_);
      // The second passes grouped as the first ones did unless some members stopped early.
      int remaining = alone_steps();
      for (const auto& r : second_runs) remaining += r.front()->plan().sample_steps;
      total_steps_ = std::max(total_steps_, done_steps_ + remaining);
      for (const auto& r : second_runs) sample_run(r, false);
    }
    assemble_answers();
    run_alone_members();
    return std::move(out_);
  }

private:
  const std::atomic<bool>* cancel_of(size_t i) const { return i < hooks_.cancel.size() ? hooks_.cancel[i] : nullptr; }
  const std::atomic<bool>* interrupt_of(size_t i) const {
    return i < hooks_.interrupt.size() ? hooks_.interrupt[i] : nullptr;
  }
  std::atomic<bool>* skip_of(size_t i) const { return i < hooks_.skip.size() ? hooks_.skip[i] : nullptr; }

  int alone_steps() const {
    int steps = 0;
    for (size_t i : alone_) steps += members_[i].request.steps * members_[i].request.n_iter;
    return steps;
  }

  /// Plans every batchable member and encodes each of its n_iter batches.
  void plan_members() {
    for (size_t i = 0; i < members_.size(); ++i) {
      const auto key = batch_key(members_[i].request, members_[i].opts);
      if (!key) {
        alone_.push_back(i);
        continue;
      }
      key_of_[i] = *key;
      try {
        auto p = std::make_unique<planned>(
          planned{i, make_txt2img_plan(model_, members_[i].request, members_[i].opts, loras_, embeddings_), {}});
        patched_.apply(p->plan.loras, lora_part::text);
        std::vector<std::unique_ptr<unit>> mine;
        for (int iter = 0; iter < members_[i].request.n_iter; ++iter) {
          mine.push_back(std::make_unique<unit>(unit{p.get(), nullptr, encode_plan_batch(model_, tokenizer_, p->plan, iter)}));
        }
        for (auto& u : mine) {
          first_keyed_.emplace_back(*key, u.get());
          units_.push_back(std::move(u));
        }
        plans_.push_back(std::move(p));
      } catch (const error& e) {
        out_[i].failure = e;
      }
    }
  }

  /// Progress counts both passes of hires fix; the second passes are expected to run as the first
  /// ones grouped (their keys hold every second-pass setting).
  void count_expected_steps(const std::vector<std::vector<unit*>>& runs) {
    total_steps_ = alone_steps();
    for (const auto& r : runs) {
      const txt2img_plan& first = r.front()->member->plan;
      total_steps_ += first.sample_steps + (first.hires ? first.hires->pass.sample_steps : 0);
    }
  }

  /// A unit's final latents, decoded into its member's images.
  void decode(unit* u, const at::Tensor& latents) {
    planned* p = u->member;
    try {
      const int n = u->rows();
      const auto first = static_cast<size_t>(u->batch.iter * n);
      std::vector<rgb_image>& images = p->images[u->batch.iter];
      for (int i = 0; i < n; ++i) {
        std::vector<rgb_image> masks;
        images.push_back(decode_plan_image(model_, p->plan, latents.narrow(0, i, 1), first + static_cast<size_t>(i), &masks));
        for (auto& m : masks) images.push_back(std::move(m));
      }
    } catch (const error& e) {
      out_[p->index].failure = e;
    }
  }

  /// A first pass ended: decoded, or (hires fix) made into its second pass's unit.
  void first_pass_done(unit* u, const at::Tensor& latents, bool skipped) {
    planned* p = u->member;
    // An interrupt ends the job with the first pass's images, as run_txt2img does.
    if (!p->plan.hires || is_set(interrupt_of(p->index))) {
      return decode(u, latents);
    }
    try {
      auto pass = std::make_unique<txt2img_plan>(p->plan.hires->pass);
      hires_start start = hires_init(model_, model_, *p->plan.hires, p->plan, latents, u->batch.iter);
      pass->init_latent = std::move(start.latent);
      pass->image_cond = std::move(start.image_cond);
      // The second pass's prompts are encoded with its own networks (with the first pass's, as
      // A1111 encodes them before the first pass, under hires_fix_use_firstpass_conds).
      patched_.apply(p->plan.hires->firstpass_conds ? p->plan.loras : pass->loras, lora_part::text);
      plan_batch batch = encode_plan_batch(model_, tokenizer_, *pass, u->batch.iter);
      auto second = std::make_unique<unit>(unit{p, std::move(pass), std::move(batch), skipped});
      second->batch.plan = second->hires_pass.get();
      second_keyed_.emplace_back(key_of_[p->index], second.get());
      units_.push_back(std::move(second));
    } catch (const error& e) {
      out_[p->index].failure = e;
    }
  }

  /// The units of a run that still sample: what run_txt2img does at the start of an n_iter batch
  /// (an earlier skip is dropped, an interrupt ends the job with the images made so far); a second
  /// pass keeps a skip still set.
  std::vector<unit*> active_units(const std::vector<unit*>& run, bool first_pass) {
    if (first_pass) {
      for (unit* u : run) {
        if (std::atomic<bool>* skip = skip_of(u->member->index)) skip->store(false);
      }
    }
    std::vector<unit*> active;
    for (unit* u : run) {
      planned* p = u->member;
      if (out_[p->index].failure) {
        continue;
      }
      if (is_set(cancel_of(p->index))) {
        out_[p->index].failure = cancelled_error();
      } else if (first_pass && (p->stopped || is_set(interrupt_of(p->index)))) {
        p->stopped = true;
      } else {
        active.push_back(u);
      }
    }
    return active;
  }

  /// One sampling run of a pass; each unit that finishes goes on (first pass) or is decoded.
  void sample_run(const std::vector<unit*>& run, bool first_pass) {
    const int steps = run.front()->plan().sample_steps;
    const std::vector<unit*> active = active_units(run, first_pass);
    if (active.empty()) {
      done_steps_ += steps;
      return;
    }
    std::vector<const plan_batch*> batches;
    for (unit* u : active) {
      batches.push_back(&u->batch);
    }
    patched_.apply(active.front()->plan().loras, lora_part::unet);
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
      if (hooks_.on_step) {
        hooks_.on_step(done_steps_ + step + 1, total_steps_);
      }
    };
    // The run's notes go into every member's infotext (its job's, for a second pass).
    sh.note = [&active](const std::string& key, const json_value& value) {
      for (unit* u : active) note_extra(u->member->plan, key, value);
    };
    at::Tensor samples;
    try {
      samples = sample_plan_batches(model_, batches, sh);
    } catch (const error& e) {
      for (unit* u : active) {
        out_[u->member->index].failure = e.code() == errc::cancelled ? cancelled_error() : e;
      }
      done_steps_ += steps;
      return;
    }
    done_steps_ += steps;

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
        out_[p->index].failure = cancelled_error();
        continue;
      }
      if (first_pass) {
        first_pass_done(u, latents, skipped[a]);
      } else {
        decode(u, latents);
      }
    }
  }

  /// Each member's answer: its images in n_iter order, as run_txt2img assembles them.
  void assemble_answers() {
    for (const auto& p : plans_) {
      batch_outcome& o = out_[p->index];
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
        r.info_json = plan_info_json(model_, p->plan, infotexts);
        o.result = std::move(r);
      } catch (const error& e) {
        o.failure = e;
      }
    }
  }

  /// Members that run alone merge their own LoRAs into the original weights.
  void run_alone_members() {
    patched_.restore();
    for (size_t i : alone_) {
      const int offset = done_steps_;
      txt2img_hooks h;
      h.cancel = cancel_of(i);
      h.interrupt = interrupt_of(i);
      h.skip = skip_of(i);
      if (hooks_.on_step) {
        h.on_step = [this, offset](int step, int) { hooks_.on_step(offset + step, total_steps_); };
      }
      try {
        if (is_set(h.cancel)) {
          throw cancelled_error();
        }
        out_[i].result = run_txt2img(model_, tokenizer_, members_[i].request, members_[i].opts, h, loras_, embeddings_);
      } catch (const error& e) {
        out_[i].failure = e;
      }
      done_steps_ += members_[i].request.steps * members_[i].request.n_iter;
    }
  }

  const sd_model& model_;
  const clip_tokenizer& tokenizer_;
  const std::vector<batch_member>& members_;
  const batch_hooks& hooks_;
  const int max_images_;
  lora_library* const loras_;
  const std::shared_ptr<const embedding_set> embeddings_;
  lora_patcher patched_;
  std::vector<batch_outcome> out_;
  std::vector<std::string> key_of_;
  std::vector<size_t> alone_;
  std::vector<std::unique_ptr<planned>> plans_;
  std::vector<std::unique_ptr<unit>> units_;
  std::vector<std::pair<std::string, unit*>> first_keyed_;
  std::vector<std::pair<std::string, unit*>> second_keyed_;  ///< made as the first passes end
  int total_steps_ = 0;
  int done_steps_ = 0;
};

} // namespace

std::vector<batch_outcome> run_txt2img_batch(const sd_model& model, const clip_tokenizer& tokenizer,
                                             const std::vector<batch_member>& members, const batch_hooks& hooks,
                                             int max_images, lora_library* loras,
                                             std::shared_ptr<const embedding_set> embeddings) {
  c10::InferenceMode guard;
  return batch_runner(model, tokenizer, members, hooks, max_images, loras, std::move(embeddings)).run();
}

} // namespace sdw
