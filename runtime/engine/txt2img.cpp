#include "runtime/engine/txt2img.hpp"

#include "runtime/formats/a1111_response.hpp"
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/engine/hires_fix.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/sd_upscale.hpp"
#include "runtime/formats/a1111_scripts.hpp"
#include "runtime/engine/txt2img_plan.hpp"

#include "runtime/engine/nn_ops.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

namespace sdw {
namespace {

bool is_set(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }

/// The models a job runs on: its own, and those it switches to (hires checkpoint, refiner), each
/// loaded once and held, with the networks active now (A1111 activates each pass's LoRAs before
/// it) merged into its weights until the job ends.
class job_models {
public:
  job_models(const sd_model& own, const lora_set& loras) : own_(own), active_(&loras) { ready(own); }

  /// The networks the models run with from now on.
  void activate(const lora_set& loras) { active_ = &loras; }

  /// `model` with the active networks in its weights.
  const sd_model& ready(const sd_model& model) {
    auto it = std::find_if(patched_.begin(), patched_.end(), [&](const auto& p) { return p.first == &model; });
    if (it == patched_.end()) {
      patched_.emplace_back(&model, std::make_unique<lora_patcher>(model));
      it = std::prev(patched_.end());
    }
    it->second->apply(*active_, lora_part::text);
    it->second->apply(*active_, lora_part::unet);
    return model;
  }

  /// The model `target` names, ready; `field` names it in the error for a model of another kind.
  const sd_model& take(const checkpoint_switch& target, const std::string& field) {
    if (!target.load) return ready(own_);
    for (const auto& [which, model] : taken_) {
      if (which == &target) return ready(model.get() == &own_ ? own_ : *model);
    }
    std::shared_ptr<const sd_model> model = target.load();
    if (model.get() != &own_) check_switch_target(own_, *model, field);
    taken_.emplace_back(&target, model);
    return ready(model.get() == &own_ ? own_ : *model);
  }

private:
  const sd_model& own_;
  const lora_set* active_;
  std::vector<std::pair<const checkpoint_switch*, std::shared_ptr<const sd_model>>> taken_;
  // Declared after the models they patch: destroyed first, so weights are restored while held.
  std::vector<std::pair<const sd_model*, std::unique_ptr<lora_patcher>>> patched_;
};

} // namespace

txt2img_result run_txt2img(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_request& req,
                           const options& opts, const txt2img_hooks& hooks, lora_library* loras,
                           std::shared_ptr<const embedding_set> embeddings, const checkpoint_switch* hires,
                           const checkpoint_switch* refiner) {
  if (is_sd_upscale(req)) {
    return run_sd_upscale(model, tokenizer, req, opts, hooks, loras, embeddings);
  }
  c10::InferenceMode guard;
  const nn::circular_padding_scope tiling(req.tiling.value_or(opts.tiling));
  if (req.restore_faces.value_or(opts.face_restoration)) {
    spdlog::warn("restore_faces: no face restoration model is loaded ({}); the images are returned as they are, "
                 "as A1111 does without one", opts.face_restoration_model);
  }
  txt2img_plan plan =
    make_txt2img_plan(model, req, opts, loras, embeddings, hires != nullptr ? hires->short_title : std::string());
  // The job's LoRAs are in the weights of every model it runs on until it ends.
  job_models models(model, plan.loras);
  // The model the job runs on now. Each n_iter batch starts on the job's own (A1111 reloads it);
  // a refiner may take over while sampling, a hires checkpoint for the second pass.
  const sd_model* current = &model;
  // A1111's apply_refiner, asked before each model call of a pass.
  const auto refiner_switch = [&](bool hires_pass) -> std::function<const sd_model*(const sampling_point&)> {
    if (refiner == nullptr && !opts.refiner_switch_by_sample_steps) return {};
    return [&, hires_pass](const sampling_point& at) -> const sd_model* {
      const bool by_steps = opts.refiner_switch_by_sample_steps;
      if (by_steps) note_extra(plan, "Refiner switch by sampling steps", json_value(true));
      if (req.refiner_switch_at &&
          (by_steps ? at.by_steps < *req.refiner_switch_at : at.by_sigma < static_cast<float>(*req.refiner_switch_at))) {
        return nullptr;
      }
      if (refiner == nullptr || refiner->checkpoint == current->path()) return nullptr;
      if (plan.hires) {
        const std::string& pass = opts.hires_fix_refiner_pass;
        if ((pass == "first pass" && hires_pass) || (pass == "second pass" && !hires_pass)) return nullptr;
        if (pass != "second pass") note_extra(plan, "Hires refiner", json_value(pass));
      }
      const sd_model& next = models.take(*refiner, "refiner_checkpoint");
      note_extra(plan, "Refiner", json_value(refiner->short_title));
      note_extra(plan, "Refiner switch at", req.refiner_switch_at ? json_value(*req.refiner_switch_at) : json_value());
      current = &next;
      return current;
    };
  };
  // Progress counts both passes of hires fix, as A1111's job count does.
  const int iter_steps = plan.sample_steps + (plan.hires ? plan.hires->pass.sample_steps : 0);
  const int job_steps = iter_steps * req.n_iter;

  txt2img_result result;
  result.all_seeds = plan.all_seeds;
  result.all_subseeds = plan.all_subseeds;
  std::vector<std::string> infotexts;

  for (int iter = 0; iter < req.n_iter; ++iter) {
    if (hooks.skip != nullptr) {
      hooks.skip->store(false);
    }
    if (is_set(hooks.interrupt)) {
      break;
    }
    models.activate(plan.loras);
    current = &models.ready(model);
    const plan_batch batch = encode_plan_batch(model, tokenizer, plan, iter);
    // A1111's setup_conds with hires_fix_use_firstpass_conds: the hires conds now, with these LoRAs.
    std::optional<plan_batch> hires_batch;
    if (plan.hires && plan.hires->firstpass_conds) hires_batch = encode_plan_batch(model, tokenizer, plan.hires->pass, iter);
    sampling_hooks sh;
    sh.stop = [&] { return is_set(hooks.interrupt) || is_set(hooks.skip); };
    sh.on_step = [&](int step, int) {
      if (is_set(hooks.cancel)) {
        throw error(errc::cancelled, "", "the job was interrupted");
      }
      if (hooks.on_step) {
        hooks.on_step(iter * iter_steps + step + 1, job_steps);
      }
    };
    sh.switch_model = refiner_switch(false);
    sh.tokenizer = &tokenizer;
    sh.note = [&plan](const std::string& key, const json_value& value) { note_extra(plan, key, value); };
    at::Tensor samples = sample_plan_batches(model, {&batch}, sh);
    // An interrupt ends the job with the first pass's images; a skip still set ends the second
    // pass at its first model call, as in A1111.
    if (plan.hires && !is_set(hooks.interrupt)) {
      sampling_hooks hr = sh;
      hr.on_step = [&](int step, int steps) { sh.on_step(plan.sample_steps + step, steps); };
      hr.switch_model = refiner_switch(true);
      // The first pass is decoded (for a pixel upscaler) by the model it ended on; the second
      // starts on the hires checkpoint, or on the job's own model.
      const sd_model* first_pass = current;
      models.activate(plan.hires->pass.loras);
      current = hires != nullptr ? &models.take(*hires, "hr_checkpoint_name") : &models.ready(model);
      samples = run_hires_pass(*first_pass, *current, tokenizer, *plan.hires, plan, samples, iter, hr,
                               hires_batch ? &*hires_batch : nullptr);
    }

    const auto first = static_cast<size_t>(iter * plan.batch_size);
    for (int64_t i = 0; i < samples.size(0); ++i) {
      auto latent = samples.narrow(0, i, 1);
      if (hooks.on_latent) {
        auto cpu = latent.to(at::kCPU, at::kFloat).contiguous();
        hooks.on_latent(std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel()),
                        cpu.sizes().vec());
      }
      std::vector<rgb_image> masks;
      rgb_image img = decode_plan_image(*current, plan, latent, first + static_cast<size_t>(i), &masks);
      infotexts.push_back(img.infotext);
      result.images.push_back(std::move(img));
      for (auto& m : masks) result.images.push_back(std::move(m));
    }
  }
  result.info_json = plan_info_json(model, plan, infotexts);
  return result;
}

std::string encode_txt2img_response(const txt2img_result& result, const txt2img_request& request) {
  std::vector<std::string> images;
  if (request.send_images) {
    for (const auto& img : result.images) {
      // An image without infotext (a script's combined image) gets no text chunk, as in A1111.
      std::vector<std::pair<std::string, std::string>> text;
      if (!img.infotext.empty()) {
        text.emplace_back("parameters", img.infotext);
      }
      // The inpainting mask composite is RGBA; every other image RGB.
      const bool rgba = img.pixels.size() == static_cast<std::size_t>(img.width) * img.height * 4;
      images.push_back(base64_encode(encode_png(img.pixels.data(), img.width, img.height, text, rgba ? 4 : 3)));
    }
  }
  return make_txt2img_response(images, to_parameters_json(request), result.info_json);
}

} // namespace sdw
