#pragma once
// Whole jobs on the shared tiny engine, as the engine tests compare them: the result with each
// image's final latents, and second tiny checkpoints to switch to.

#include "runtime/base/json_value.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sdw::test {

/// A job's answer, its final latents [images, C, H, W] and its last progress report.
struct job_run {
  txt2img_result result;
  at::Tensor latents;
  int last_step = 0, steps = 0;
};

/// Runs a txt2img body on `model` with `tokenizer` and the checkpoints it may switch to.
inline job_run run_job_on(const sd_model& model, const clip_tokenizer& tokenizer, const std::string& body,
                          const options& opts = {}, const checkpoint_switch* hires = nullptr,
                          const checkpoint_switch* refiner = nullptr) {
  const auto req = txt2img_request_from_json(parse_json(body));
  job_run r;
  std::vector<at::Tensor> latents;
  txt2img_hooks hooks;
  hooks.on_latent = [&](const std::vector<float>& v, const std::vector<int64_t>& shape) {
    latents.push_back(at::tensor(v).view(shape));
  };
  hooks.on_step = [&](int step, int steps) {
    r.last_step = step;
    r.steps = steps;
  };
  r.result = run_txt2img(model, tokenizer, req, opts, hooks, nullptr, nullptr, hires, refiner);
  r.latents = at::cat(latents);
  return r;
}

/// The same on `model` (the shared tiny one when null) with the shared engine's tokenizer.
inline job_run run_job(const std::string& body, const options& opts = {}, const sd_model* model = nullptr,
                       const checkpoint_switch* hires = nullptr, const checkpoint_switch* refiner = nullptr) {
  auto& e = shared_tiny_engine();
  return run_job_on(model != nullptr ? *model : *e.model, e.tokenizer, body, opts, hires, refiner);
}

/// A checkpoint of `preset` with other weights (`seed`) in the shared engine's folder, loaded once.
inline std::shared_ptr<const sd_model> other_tiny_model(model_preset preset, const std::string& name, uint64_t seed) {
  auto& e = shared_tiny_engine();
  const std::string path = e.dir.file(name);
  static std::map<std::string, std::shared_ptr<const sd_model>> loaded;
  auto& m = loaded[path];
  if (!m) {
    if (!std::filesystem::exists(path)) make_model(preset, st_dtype::f32, seed, path);
    m = sd_model::load(path, {"cpu", "f32"});
  }
  return m;
}

} // namespace sdw::test
