#include "runtime/engine/txt2img.hpp"

#include "runtime/formats/a1111_response.hpp"
#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/hires_fix.hpp"
#include "runtime/engine/lora_apply.hpp"
#include "runtime/engine/sd_upscale.hpp"
#include "runtime/formats/a1111_scripts.hpp"
#include "runtime/engine/txt2img_plan.hpp"

#include "runtime/engine/nn_ops.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <c10/core/InferenceMode.h>

#include <optional>

namespace sdw {
namespace {

bool is_set(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }

} // namespace

txt2img_result run_txt2img(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_request& req,
                           const options& opts, const txt2img_hooks& hooks, lora_library* loras,
                           std::shared_ptr<const embedding_set> embeddings, const hires_checkpoint* hires) {
  if (is_sd_upscale(req)) {
    return run_sd_upscale(model, tokenizer, req, opts, hooks, loras, embeddings);
  }
  c10::InferenceMode guard;
  const nn::circular_padding_scope tiling(req.tiling.value_or(opts.tiling));
  if (req.restore_faces.value_or(opts.face_restoration)) {
    spdlog::warn("restore_faces: no face restoration model is loaded ({}); the images are returned as they are, "
                 "as A1111 does without one", opts.face_restoration_model);
  }
  const txt2img_plan plan =
    make_txt2img_plan(model, req, opts, loras, embeddings, hires != nullptr ? hires->short_title : std::string());
  // The job's LoRAs are in the weights from here until the patcher goes out of scope (both
  // passes of hires fix run with them).
  lora_patcher patched(model);
  patched.apply(plan.loras, lora_part::text);
  patched.apply(plan.loras, lora_part::unet);
  // The model the job runs on now: a hires checkpoint takes over after the first pass, for the
  // rest of the job (A1111 does not switch back for later n_iter batches), LoRAs merged alike.
  const sd_model* current = &model;
  std::shared_ptr<const sd_model> switched;
  std::optional<lora_patcher> patched_hires;
  const auto switch_to_hires = [&] {
    if (hires == nullptr || !hires->load || switched) return;
    switched = hires->load();
    if (switched.get() == &model) return;
    check_hires_checkpoint(model, *switched);
    patched_hires.emplace(*switched);
    patched_hires->apply(plan.loras, lora_part::text);
    patched_hires->apply(plan.loras, lora_part::unet);
    current = switched.get();
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
    const plan_batch batch = encode_plan_batch(*current, tokenizer, plan, iter);
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
    at::Tensor samples = sample_plan_batches(*current, {&batch}, sh);
    // An interrupt ends the job with the first pass's images; a skip still set ends the second
    // pass at its first model call, as in A1111.
    if (plan.hires && !is_set(hooks.interrupt)) {
      sampling_hooks hr = sh;
      hr.on_step = [&](int step, int steps) { sh.on_step(plan.sample_steps + step, steps); };
      const sd_model* first_pass = current;
      switch_to_hires();
      samples = run_hires_pass(*first_pass, *current, tokenizer, *plan.hires, plan, samples, iter, hr);
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
