#include "actors/executor.hpp"

#include "runtime/clip_tokenizer.hpp"
#include "runtime/errors.hpp"
#include "runtime/json_value.hpp"
#include "runtime/options.hpp"
#include "runtime/runpod_worker.hpp"
#include "runtime/sd_model.hpp"
#include "runtime/txt2img.hpp"
#include "runtime/txt2img_request.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

namespace sdw {

generation_output executor_state::run(const generation_job& job, const cancel_token& token,
                                      executor_actor::stateful_pointer<executor_state> self) {
  const auto t0 = std::chrono::steady_clock::now();
  generation_output out;
  out.job = job;
  try {
    if (!model.model || !model.tokenizer) {
      throw error(errc::internal, "", "the executor has no model");
    }
    const txt2img_request request = parse_txt2img_request(job.body);
    options opts;
    if (!job.settings_json.empty()) {
      // Stored options were checked when they were posted.
      const json_value stored = parse_json(job.settings_json, "options");
      if (stored.is_object()) {
        apply_overrides(opts, stored.as_object());
      }
    }
    if (request.override_settings) {
      apply_overrides(opts, *request.override_settings);
    }
    txt2img_hooks hooks;
    hooks.cancel = token.flag.get();
    hooks.interrupt = token.interrupt.get();
    hooks.skip = token.skip.get();
    const int64_t started = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    self->send(health, progress_atom::value, job_progress{job.id, 0, request.steps * request.n_iter, request.n_iter, started});
    hooks.on_step = [&](int step, int steps) {
      self->send(health, progress_atom::value, job_progress{job.id, step, steps, request.n_iter, started});
    };
    txt2img_result result = run_txt2img(*model.model, *model.tokenizer, request, opts, hooks);
    for (auto& img : result.images) {
      out.images.push_back(image_frame{img.width, img.height, std::move(img.pixels), std::move(img.infotext)});
    }
    out.info_json = std::move(result.info_json);
    out.all_seeds = std::move(result.all_seeds);
    out.all_subseeds = std::move(result.all_subseeds);
    out.ok = true;
  } catch (const error& e) {
    out.error = job_error{to_string(e.code()), e.where(), e.message()};
  } catch (const std::exception& e) {
    // c10::Error (out of memory, shape mismatches) and anything else stays this job's problem,
    // except a broken device, which the intake must hear of: later jobs would fail too.
    out.error = job_error{is_device_fault(e.what()) ? "device_fault" : "internal", "", e.what()};
  }
  out.engine_us =
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  if (!out.ok) {
    spdlog::warn("job {} failed: {} {} {}", job.id, out.error.kind, out.error.field, out.error.message);
  }
  return out;
}

std::vector<generation_output> executor_state::run_batch(const std::vector<generation_job>& jobs,
                                                         const std::vector<cancel_token>& tokens,
                                                         executor_actor::stateful_pointer<executor_state> self) {
  std::vector<generation_output> outs;
  outs.reserve(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    outs.push_back(run(jobs[i], i < tokens.size() ? tokens[i] : cancel_token{}, self));
  }
  return outs;
}

executor_actor::behavior_type executor(executor_actor::stateful_pointer<executor_state> self, health_actor health) {
  self->state.health = std::move(health);
  return {
    [=](model_atom, loaded_model& m) { self->state.model = std::move(m); },
    [=](run_atom, const std::vector<generation_job>& jobs, const std::vector<cancel_token>& tokens) {
      return self->state.run_batch(jobs, tokens, self);
    },
  };
}

} // namespace sdw
