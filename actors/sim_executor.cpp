#include "actors/sim_executor.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/seeds.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <thread>

namespace sdw {
namespace {

/// A flat colour per seed, so images of different seeds differ and the same seed repeats.
image_frame flat_image(int width, int height, int64_t seed, const std::string& infotext) {
  image_frame f;
  f.width = width;
  f.height = height;
  const auto s = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull;
  const uint8_t rgb[3] = {static_cast<uint8_t>(s >> 56), static_cast<uint8_t>(s >> 48), static_cast<uint8_t>(s >> 40)};
  f.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < f.pixels.size(); ++i) {
    f.pixels[i] = rgb[i % 3];
  }
  f.infotext = infotext;
  return f;
}

void set_error(generation_output& out, const error& e) { out.error = job_error_of(e); }

} // namespace

void sim_executor_state::run_together(std::vector<generation_output*> outs, std::vector<const cancel_token*> tokens,
                                      executor_actor::stateful_pointer<sim_executor_state> self) {
  std::vector<txt2img_request> reqs;
  for (auto* out : outs) {
    reqs.push_back(out->job.request);
  }
  const txt2img_request& first = reqs.front();
  const auto& costs = device.costs;
  auto sleep_ms = [&](double ms) {
    simulated_us += ms * device.time_scale * 1000.0;
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms * device.time_scale));
  };
  std::vector<bool> active(outs.size(), true);
  auto active_images = [&] {
    int n = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      n += active[i] ? reqs[i].batch_size : 0;
    }
    return n;
  };
  sleep_ms(costs.text_encode_ms * static_cast<double>(outs.size()) / costs.speed);
  const int steps = first.steps * first.n_iter;
  const double megapixels = static_cast<double>(first.width) * first.height / 1e6;
  for (int step = 1; step <= steps; ++step) {
    for (size_t i = 0; i < outs.size(); ++i) {
      if (active[i] && tokens[i]->flag->load()) {
        // This member leaves the batch; the others go on, and the batch gets cheaper.
        active[i] = false;
        set_error(*outs[i], error(errc::cancelled, "", "the job was cancelled"));
      }
    }
    const int images = active_images();
    if (images == 0) {
      return;
    }
    sleep_ms(step_ms(costs, first.width, first.height, images));
    if (step % first.steps == 0) {
      sleep_ms(costs.decode_ms_per_megapixel * megapixels * images / costs.speed);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      if (active[i]) {
        self->send(health, progress_atom::value, job_progress{outs[i]->job.id, step, steps});
      }
    }
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!active[i]) {
      continue;
    }
    const txt2img_request& req = reqs[i];
    generation_output& out = *outs[i];
    const int total = req.batch_size * req.n_iter;
    out.all_seeds = image_seeds(fix_seed(req.seed), total, req.subseed_strength);
    out.all_subseeds = image_subseeds(fix_seed(req.subseed), total);
    for (int k = 0; k < total; ++k) {
      const std::string info = req.prompt + "\nSteps: " + std::to_string(req.steps) +
                               ", Seed: " + std::to_string(out.all_seeds[k]) + ", Size: " + std::to_string(req.width) +
                               "x" + std::to_string(req.height) + ", Model: simulated";
      out.images.push_back(flat_image(req.width, req.height, out.all_seeds[k], info));
    }
    out.info_json = "{\"simulated\":true,\"batch\":" + std::to_string(outs.size()) + "}";
    out.ok = true;
  }
}

std::vector<generation_output> sim_executor_state::run(const std::vector<generation_job>& jobs,
                                                       const std::vector<cancel_token>& tokens,
                                                       executor_actor::stateful_pointer<sim_executor_state> self) {
  simulated_us = 0;
  std::vector<generation_output> outs(jobs.size());
  const cancel_token none;
  std::vector<generation_output*> group;
  std::vector<const cancel_token*> group_tokens;
  std::optional<std::string> shape;  // width x height x steps of the group, when it may share calls
  bool shared = jobs.size() > 1;
  for (size_t i = 0; i < jobs.size(); ++i) {
    outs[i].job = jobs[i];
    try {
      if (!has_model) {
        throw error(errc::internal, "", "the executor has no model");
      }
      const txt2img_request& req = jobs[i].request;
      const std::string s = std::to_string(req.width) + "x" + std::to_string(req.height) + "x" + std::to_string(req.steps);
      shared = shared && req.n_iter == 1 && (!shape || *shape == s);
      shape = s;
      group.push_back(&outs[i]);
      group_tokens.push_back(i < tokens.size() ? &tokens[i] : &none);
    } catch (const error& e) {
      set_error(outs[i], e);
    } catch (const std::exception& e) {
      outs[i].error = job_error{errc::internal, "", e.what()};
    }
  }
  auto run_group = [&](std::vector<generation_output*> g, std::vector<const cancel_token*> t) {
    try {
      run_together(g, t, self);
    } catch (const error& e) {
      for (auto* o : g) {
        set_error(*o, e);
      }
    } catch (const std::exception& e) {
      for (auto* o : g) {
        o->error = job_error{errc::internal, "", e.what()};
      }
    }
  };
  if (shared || group.size() <= 1) {
    if (!group.empty()) {
      run_group(group, group_tokens);
    }
  } else {
    for (size_t i = 0; i < group.size(); ++i) {
      run_group({group[i]}, {group_tokens[i]});
    }
  }
  for (auto& o : outs) {
    o.engine_us = static_cast<int64_t>(simulated_us);
  }
  return outs;
}

executor_actor::behavior_type sim_executor(executor_actor::stateful_pointer<sim_executor_state> self,
                                           health_actor health, sim_device device) {
  self->state.health = std::move(health);
  self->state.device = device;
  return {
    [=](model_atom, loaded_model&) {
      self->state.has_model = true;
      return std::string();
    },
    [=](run_atom, const std::vector<generation_job>& jobs, const std::vector<cancel_token>& tokens) {
      return self->state.run(jobs, tokens, self);
    },
    // No weights: nothing to let go or load.
    [=](unload_atom) { return std::make_tuple(int64_t{0}, std::vector<std::string>{}); },
    [=](reload_atom) { return std::make_tuple(int64_t{0}, std::vector<std::string>{}); },
  };
}

} // namespace sdw
