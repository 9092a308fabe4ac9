#include "actors/sim_executor.hpp"

#include "runtime/errors.hpp"
#include "runtime/seeds.hpp"
#include "runtime/txt2img_request.hpp"

#include <chrono>
#include <exception>
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

} // namespace

generation_output sim_executor_state::run(const generation_job& job, const cancel_token& token,
                                          executor_actor::stateful_pointer<sim_executor_state> self) {
  const auto t0 = std::chrono::steady_clock::now();
  generation_output out;
  out.job = job;
  try {
    if (!has_model) {
      throw error(errc::internal, "", "the executor has no model");
    }
    const txt2img_request req = parse_txt2img_request(job.body);
    const job_shape shape{req.width, req.height, req.steps, req.batch_size, req.n_iter};
    const auto& costs = device.costs;
    auto sleep_ms = [&](double ms) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms * device.time_scale));
    };
    sleep_ms(costs.text_encode_ms / costs.speed);
    const int steps = shape.steps * shape.batches;
    const double megapixels = static_cast<double>(req.width) * req.height / 1e6;
    for (int step = 1; step <= steps; ++step) {
      if (token.flag->load()) {
        throw error(errc::cancelled, "", "the job was cancelled");
      }
      sleep_ms(step_ms(costs, req.width, req.height, req.batch_size));
      if (step % shape.steps == 0) {
        sleep_ms(costs.decode_ms_per_megapixel * megapixels * req.batch_size / costs.speed);
      }
      self->send(health, progress_atom::value, job_progress{job.id, step, steps});
    }
    const int total = req.batch_size * req.n_iter;
    out.all_seeds = image_seeds(fix_seed(req.seed), total, req.subseed_strength);
    out.all_subseeds = image_subseeds(fix_seed(req.subseed), total);
    for (int k = 0; k < total; ++k) {
      const std::string info = req.prompt + "\nSteps: " + std::to_string(req.steps) +
                               ", Seed: " + std::to_string(out.all_seeds[k]) + ", Size: " + std::to_string(req.width) +
                               "x" + std::to_string(req.height) + ", Model: simulated";
      out.images.push_back(flat_image(req.width, req.height, out.all_seeds[k], info));
    }
    out.info_json = "{\"simulated\":true}";
    out.ok = true;
  } catch (const error& e) {
    out.error = job_error{to_string(e.code()), e.where(), e.message()};
  } catch (const std::exception& e) {
    out.error = job_error{"internal", "", e.what()};
  }
  out.engine_us =
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

executor_actor::behavior_type sim_executor(executor_actor::stateful_pointer<sim_executor_state> self,
                                           health_actor health, sim_device device) {
  self->state.health = std::move(health);
  self->state.device = device;
  return {
    [=](model_atom, loaded_model&) { self->state.has_model = true; },
    [=](run_atom, const generation_job& job, const cancel_token& token) { return self->state.run(job, token, self); },
  };
}

} // namespace sdw
