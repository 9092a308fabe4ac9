#include "actors/executor.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/cuda_devices.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/runpod/runpod_worker.hpp"
#include "runtime/engine/model_cache.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/engine/txt2img_batch.hpp"
#include "runtime/engine/warm_up.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <exception>

namespace sdw {
namespace {

void set_images(generation_output& out, txt2img_result& result) {
  for (auto& img : result.images) {
    out.images.push_back(image_frame{img.width, img.height, std::move(img.pixels), std::move(img.infotext)});
  }
  out.info_json = std::move(result.info_json);
  out.all_seeds = std::move(result.all_seeds);
  out.all_subseeds = std::move(result.all_subseeds);
  out.ok = true;
}

job_error failure_of(const std::exception& e) {
  if (const auto* err = dynamic_cast<const error*>(&e)) {
    return job_error_of(*err);
  }
  // c10::Error (out of memory, shape mismatches) and anything else stays this job's problem,
  // except a broken device, which the intake must hear of: later jobs would fail too. Its text
  // (with libtorch's stack trace) goes to the log; the client gets the first line and the id.
  const std::string id = new_error_id();
  spdlog::error("{}: {}", id, e.what());
  const errc kind = is_device_fault(e.what()) ? errc::device_fault : errc::internal;
  return job_error{kind, "", public_error_text(e.what(), id)};
}

/// Jobs that switch checkpoints partway (or note the refiner's option) run on their own.
bool runs_alone(const generation_job& job) {
  return job.hires.named() || job.refiner.named() || job.settings.refiner_switch_by_sample_steps;
}

} // namespace

std::shared_ptr<const sd_model> executor_state::startup_model() {
  if (!model.model && model.cache && !startup_path.empty()) {
    model.model = model.cache->get(startup_path, "");
  }
  if (!model.model || !model.tokenizer) {
    throw error(errc::internal, "", "the executor has no model");
  }
  return model.model;
}

std::tuple<int64_t, std::vector<std::string>> executor_state::holding() const {
  std::vector<std::string> held;
  if (model.cache) {
    for (const cached_model& m : model.cache->contents()) held.push_back(m.checkpoint);
  }
  return {model.cache ? static_cast<int64_t>(model.cache->bytes()) : 0, std::move(held)};
}

std::shared_ptr<const sd_model> executor_state::model_for(const generation_job& job) {
  if (!model.cache || (job.checkpoint.empty() && job.vae.empty()) || !model.tokenizer) {
    return startup_model();
  }
  // The startup model unless the job names another checkpoint; loading one here blocks only
  // this device's executor.
  return model.cache->get(job.checkpoint.empty() ? startup_path : job.checkpoint, job.vae);
}

generation_output executor_state::run(const generation_job& job, const cancel_token& token,
                                      executor_actor::stateful_pointer<executor_state> self) {
  const auto t0 = std::chrono::steady_clock::now();
  generation_output out;
  out.job = job;
  try {
    const std::shared_ptr<const sd_model> sd = model_for(job);
    const txt2img_request& request = job.request;
    txt2img_hooks hooks;
    hooks.cancel = token.flag.get();
    hooks.interrupt = token.interrupt.get();
    hooks.skip = token.skip.get();
    const int64_t started = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    const auto report = [&](int step, int steps) {
      self->send(health, progress_atom::value,
                 job_progress{job.id, step, steps, request.n_iter, started, token.interrupt->load(), token.skip->load()});
    };
    report(0, request.steps * request.n_iter);
    hooks.on_step = report;
    const auto hires = switch_to(job.hires, "hr_checkpoint_name", model.cache, *sd, job.vae, true);
    const auto refiner = switch_to(job.refiner, "refiner_checkpoint", model.cache, *sd, job.vae, false);
    txt2img_result result = run_txt2img(*sd, *model.tokenizer, request, job.settings, hooks, model.loras.get(),
                                         model.embeddings ? model.embeddings->current(embedding_kind_of(sd->config())) : nullptr,
                                         hires ? &*hires : nullptr, refiner ? &*refiner : nullptr);
    set_images(out, result);
  } catch (const std::exception& e) {
    out.error = failure_of(e);
  }
  out.engine_us =
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  if (!out.ok) {
    spdlog::warn("job {} failed: {} {} {}", job.id, to_string(out.error.kind), out.error.field, out.error.message);
  }
  return out;
}

void executor_state::note_memory(std::vector<generation_output>& outs, int cuda_index) const {
  const int64_t model_bytes = model.cache ? static_cast<int64_t>(model.cache->bytes()) : 0;
  std::vector<std::string> held;
  if (model.cache) {
    for (const cached_model& m : model.cache->contents()) held.push_back(m.checkpoint);
  }
  const auto memory = cuda_index >= 0 ? std::optional<cuda_memory>(cuda_memory_of(cuda_index)) : std::nullopt;
  for (auto& out : outs) {
    out.model_bytes = model_bytes;
    out.cached_models = held;
    if (memory) {
      out.device_allocated = memory->allocated;
      out.device_peak = memory->peak_allocated;
    }
  }
}

std::vector<generation_output> executor_state::run_batch(const std::vector<generation_job>& jobs,
                                                         const std::vector<cancel_token>& tokens,
                                                         executor_actor::stateful_pointer<executor_state> self) {
  // The CUDA allocator's peak is counted per batch, for /metrics.
  if (cuda_index >= 0) {
    reset_cuda_memory_peak(cuda_index);
  }
  if (jobs.size() == 1 && (jobs[0].request.n_iter == 1 || runs_alone(jobs[0]))) {
    // Alone, a job also honours A1111's interrupt and skip.
    std::vector<generation_output> outs{run(jobs[0], tokens.empty() ? cancel_token{} : tokens[0], self)};
    note_memory(outs, cuda_index);
    return outs;
  }
  if (std::any_of(jobs.begin(), jobs.end(), runs_alone)) {
    // A job that switches checkpoints partway runs on its own, the others together.
    std::vector<generation_output> outs(jobs.size());
    std::vector<generation_job> rest;
    std::vector<cancel_token> rest_tokens;
    std::vector<size_t> rest_at;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const cancel_token token = i < tokens.size() ? tokens[i] : cancel_token{};
      if (runs_alone(jobs[i])) {
        outs[i] = std::move(run_batch({jobs[i]}, {token}, self)[0]);
      } else {
        rest.push_back(jobs[i]);
        rest_tokens.push_back(token);
        rest_at.push_back(i);
      }
    }
    if (!rest.empty()) {
      std::vector<generation_output> done = run_batch(rest, rest_tokens, self);
      for (size_t k = 0; k < done.size(); ++k) outs[rest_at[k]] = std::move(done[k]);
    }
    return outs;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<generation_output> outs(jobs.size());
  std::vector<batch_member> members;
  std::vector<size_t> slot;  // member → job index
  batch_hooks hooks;
  // Members share a batch key, and so the model: the first one's serves all.
  std::shared_ptr<const sd_model> sd;
  for (size_t i = 0; i < jobs.size(); ++i) {
    outs[i].job = jobs[i];
    try {
      if (!sd) {
        sd = model_for(jobs[i]);
      }
      members.push_back(batch_member{jobs[i].request, jobs[i].settings});
      slot.push_back(i);
      hooks.cancel.push_back(i < tokens.size() ? tokens[i].flag.get() : nullptr);
      hooks.interrupt.push_back(i < tokens.size() ? tokens[i].interrupt.get() : nullptr);
      hooks.skip.push_back(i < tokens.size() ? tokens[i].skip.get() : nullptr);
    } catch (const std::exception& e) {
      outs[i].error = failure_of(e);
    }
  }
  if (!members.empty()) {
    const int64_t started = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    // Each job hears its share of the batch's progress in its own terms (its steps × n_iter), so
    // that /progress shows its n_iter batches and an ETA that holds while they run together.
    const auto report = [&](int step, int steps) {
      for (size_t k = 0; k < slot.size(); ++k) {
        const auto flag = [](const std::atomic<bool>* f) { return f != nullptr && f->load(); };
        const txt2img_request& r = members[k].request;
        // Hires fix counts both passes, as run_txt2img does.
        const int hires = r.enable_hr && r.kind == request_kind::txt2img
                            ? (r.hr_second_pass_steps > 0 ? r.hr_second_pass_steps : r.steps)
                            : 0;
        const int own = (r.steps + hires) * r.n_iter;
        const int done = steps > 0 ? static_cast<int>(static_cast<int64_t>(step) * own / steps) : 0;
        self->send(health, progress_atom::value, job_progress{jobs[slot[k]].id, done, own, r.n_iter, started,
                                                              flag(hooks.interrupt[k]), flag(hooks.skip[k])});
      }
    };
    report(0, 1);
    hooks.on_step = report;
    try {
      std::vector<batch_outcome> outcomes = run_txt2img_batch(*sd, *model.tokenizer, members, hooks, max_batch,
                                                                    model.loras.get(),
                                                                    model.embeddings ? model.embeddings->current(embedding_kind_of(sd->config())) : nullptr);
      for (size_t k = 0; k < outcomes.size() && k < slot.size(); ++k) {
        if (outcomes[k].ok()) {
          set_images(outs[slot[k]], *outcomes[k].result);
        } else if (outcomes[k].failure) {
          outs[slot[k]].error = failure_of(*outcomes[k].failure);
        }
      }
    } catch (const std::exception& e) {
      for (size_t m : slot) {
        outs[m].error = failure_of(e);
      }
    }
  }
  const auto engine_us =
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  note_memory(outs, cuda_index);
  for (auto& out : outs) {
    out.engine_us = engine_us;
    if (!out.ok) {
      spdlog::warn("job {} failed: {} {} {}", out.job.id, to_string(out.error.kind), out.error.field, out.error.message);
    }
  }
  return outs;
}

executor_actor::behavior_type executor(executor_actor::stateful_pointer<executor_state> self, health_actor health,
                                       int max_batch) {
  self->state.health = std::move(health);
  self->state.max_batch = max_batch;
  return {
    [=](model_atom, loaded_model& m) -> std::string {
      // Warmed up here, not by the loader: the first job then also finds this thread's own
      // state set up (cuBLAS and cuDNN handles, oneDNN's primitive caches).
      if (m.model && m.tokenizer) {
        try {
          const auto t0 = std::chrono::steady_clock::now();
          warm_up(*m.model, *m.tokenizer);
          spdlog::info("model {} warmed up in {:.2f} s", m.model->name(),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      }
      self->state.startup_path = m.model ? m.model->path() : std::string();
      self->state.cuda_index =
        m.model && m.model->placement().device.is_cuda() ? m.model->placement().device.index() : -1;
      self->state.model = std::move(m);
      return std::string();
    },
    [=](unload_atom) {
      // A1111 moves the weights off the device; here they are let go (jobs still holding a
      // model keep it until they end), and the next job loads the startup checkpoint again.
      auto& st = self->state;
      const int64_t before = st.model.cache ? static_cast<int64_t>(st.model.cache->bytes()) : 0;
      const bool cuda = st.cuda_index >= 0;
      if (st.model.cache) {
        st.model.cache->clear();
        st.model.model.reset();
      }
      if (cuda) {
        release_cuda_cache();
      }
      spdlog::info("unloaded the models: {} MiB of weights let go", before >> 20);
      return st.holding();
    },
    [=](reload_atom) -> caf::result<int64_t, std::vector<std::string>> {
      try {
        self->state.startup_model();
      } catch (const std::exception& e) {
        return caf::make_error(caf::sec::runtime_error, std::string(e.what()));
      }
      auto [bytes, held] = self->state.holding();
      return {bytes, std::move(held)};
    },
    [=](run_atom, const std::vector<generation_job>& jobs, const std::vector<cancel_token>& tokens) {
      return self->state.run_batch(jobs, tokens, self);
    },
  };
}

} // namespace sdw
