#include "runtime/engine/txt2img_batch.hpp"

#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img_plan.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
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

/// A member that shares a sampling run: its plan and its encoded prompts.
struct planned {
  size_t index;
  txt2img_plan plan;
  plan_batch batch;
};

} // namespace

std::optional<std::string> batch_key(const txt2img_request& req, const options& opts) {
  if (req.n_iter != 1) {
    return std::nullopt;
  }
  sampling_setup s;
  try {
    s = make_sampling_setup(req, opts);
    parse_rng_source(opts.randn_source);
  } catch (const error&) {
    // The member fails on its own; it shares nothing.
    return std::nullopt;
  }
  // DPM adaptive accepts or rejects each step by an error norm over the whole batch.
  if (s.sampler->name == "DPM adaptive") {
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
  // The RNG source and ENSD are not in the key: each member draws from its own generators.
  return key;
}

std::vector<batch_outcome> run_txt2img_batch(const sd_model& model, const clip_tokenizer& tokenizer,
                                             const std::vector<batch_member>& members, const batch_hooks& hooks) {
  c10::InferenceMode guard;
  std::vector<batch_outcome> out(members.size());
  const auto cancel_of = [&](size_t i) { return i < hooks.cancel.size() ? hooks.cancel[i] : nullptr; };
  const auto interrupt_of = [&](size_t i) { return i < hooks.interrupt.size() ? hooks.interrupt[i] : nullptr; };
  const auto skip_of = [&](size_t i) { return i < hooks.skip.size() ? hooks.skip[i] : nullptr; };
  // Whether member i's sampling is to end where it stands (A1111's interrupt or skip).
  const auto stopping = [&](size_t i) { return is_set(interrupt_of(i)) || is_set(skip_of(i)); };

  // Plan and encode every batchable member; group them by key and per-step token lengths, which
  // is what lets their conditioning be stacked without padding.
  std::vector<size_t> alone;
  std::vector<std::unique_ptr<planned>> plans;
  std::vector<std::vector<planned*>> groups;
  std::map<std::pair<std::string, std::vector<std::pair<int64_t, int64_t>>>, size_t> group_of;
  for (size_t i = 0; i < members.size(); ++i) {
    const auto key = batch_key(members[i].request, members[i].opts);
    if (!key) {
      alone.push_back(i);
      continue;
    }
    try {
      auto p = std::make_unique<planned>(planned{i, make_txt2img_plan(model, members[i].request, members[i].opts), {}});
      p->batch = encode_plan_batch(model, tokenizer, p->plan, 0);
      auto [it, fresh] = group_of.try_emplace({*key, cond_lengths(p->batch)}, groups.size());
      if (fresh) {
        groups.emplace_back();
      }
      groups[it->second].push_back(p.get());
      plans.push_back(std::move(p));
    } catch (const error& e) {
      out[i].failure = e;
    }
  }

  int total_steps = 0;
  for (const auto& g : groups) {
    total_steps += g.front()->plan.request->steps;
  }
  for (size_t i : alone) {
    total_steps += members[i].request.steps * members[i].request.n_iter;
  }
  int done_steps = 0;

  for (const auto& group : groups) {
    std::vector<planned*> active;
    for (planned* p : group) {
      // What run_txt2img does at the start of an n_iter batch: an earlier skip is dropped, an
      // interrupt ends the job with the images made so far (none).
      if (std::atomic<bool>* skip = skip_of(p->index)) {
        skip->store(false);
      }
      if (is_set(cancel_of(p->index))) {
        out[p->index].failure = cancelled_error();
      } else if (is_set(interrupt_of(p->index))) {
        txt2img_result r;
        r.all_seeds = p->plan.all_seeds;
        r.all_subseeds = p->plan.all_subseeds;
        r.info_json = plan_info_json(model, p->plan, {});
        out[p->index].result = std::move(r);
      } else {
        active.push_back(p);
      }
    }
    const int steps = group.front()->plan.request->steps;
    if (active.empty()) {
      done_steps += steps;
      continue;
    }
    std::vector<const plan_batch*> batches;
    for (planned* p : active) {
      batches.push_back(&p->batch);
    }
    // A stopped member keeps riding along like a cancelled one; the latents it reached are
    // kept apart and decoded in place of the final ones.
    std::vector<at::Tensor> reached(active.size());
    sampling_hooks sh;
    sh.before_call = [&](const at::Tensor& now) {
      int64_t row = 0;
      for (size_t a = 0; a < active.size(); ++a) {
        const int n = active[a]->plan.request->batch_size;
        if (!reached[a].defined() && stopping(active[a]->index)) {
          reached[a] = now.narrow(0, row, n).clone();
        }
        row += n;
      }
    };
    sh.stop = [&] {
      for (size_t a = 0; a < active.size(); ++a) {
        if (!reached[a].defined() && !is_set(cancel_of(active[a]->index))) {
          return false;
        }
      }
      return true;
    };
    sh.on_step = [&](int step, int) {
      // A cancelled member still rides along (its rows cannot leave a sampler's history); only
      // when every member is cancelled does the run stop.
      bool any_left = false;
      for (planned* p : active) {
        any_left = any_left || !is_set(cancel_of(p->index));
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
      for (planned* p : active) {
        out[p->index].failure = e.code() == errc::cancelled ? cancelled_error() : e;
      }
      done_steps += steps;
      continue;
    }
    done_steps += steps;

    int64_t row = 0;
    for (size_t a = 0; a < active.size(); ++a) {
      planned* p = active[a];
      const int n = p->plan.request->batch_size;
      const at::Tensor latents = reached[a].defined() ? reached[a] : samples.narrow(0, row, n);
      if (is_set(cancel_of(p->index))) {
        out[p->index].failure = cancelled_error();
        row += n;
        continue;
      }
      try {
        txt2img_result r;
        r.all_seeds = p->plan.all_seeds;
        r.all_subseeds = p->plan.all_subseeds;
        std::vector<std::string> infotexts;
        for (int i = 0; i < n; ++i) {
          rgb_image img = decode_plan_image(model, p->plan, latents.narrow(0, i, 1), static_cast<size_t>(i));
          infotexts.push_back(img.infotext);
          r.images.push_back(std::move(img));
        }
        r.info_json = plan_info_json(model, p->plan, infotexts);
        out[p->index].result = std::move(r);
      } catch (const error& e) {
        out[p->index].failure = e;
      }
      row += n;
    }
  }

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
      out[i].result = run_txt2img(model, tokenizer, members[i].request, members[i].opts, h);
    } catch (const error& e) {
      out[i].failure = e;
    }
    done_steps += members[i].request.steps * members[i].request.n_iter;
  }
  return out;
}

} // namespace sdw
