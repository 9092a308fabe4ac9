// sdw-bench-actors: the cost of the actor path itself. The real actors (health, scheduler,
// executor, encoder, loader) run in this process with the tiny model; each job's time from
// submission to its final answer is compared with the time the engine spent on it (generation
// and encoding, measured inside the executor and the encoder). The difference is what queuing,
// messaging and bookkeeping cost per job.

#include "actors/encoder.hpp"
#include "actors/executor.hpp"
#include "actors/health.hpp"
#include "actors/loader.hpp"
#include "actors/scheduler.hpp"
#include "runtime/generate_command.hpp"
#include "runtime/make_model.hpp"
#include "runtime/memory_tuning.hpp"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using namespace sdw;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto timeout = std::chrono::seconds(600);

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

} // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  CLI::App app{"time the actor path (job arrival to result, minus the engine's own time) with the tiny model"};
  int jobs = 200;
  std::string model_dir = "models", clip_vocab, json_out;
  app.add_option("--jobs", jobs, "timed jobs per mode")->capture_default_str();
  app.add_option("--model-dir", model_dir, "where the tiny demo model is kept")->capture_default_str();
  app.add_option("--clip-vocab", clip_vocab, "CLIP bpe_simple_vocab_16e6.txt.gz");
  app.add_option("--json", json_out, "also write the figures as JSON");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(1);
  spdlog::set_level(spdlog::level::warn);

  const std::string model = ensure_demo_model(model_dir);
  const std::string vocab = find_clip_vocab(clip_vocab, model_dir);

  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system system{cfg};
  caf::scoped_actor self{system};
  auto health_hdl = system.spawn(health);
  auto encoder_hdl = system.spawn(encoder);
  auto executor_hdl = system.spawn<caf::detached>(executor, health_hdl);
  auto scheduler_hdl = system.spawn(scheduler, executor_hdl, encoder_hdl, health_hdl, static_cast<size_t>(jobs + 8));
  system.spawn(loader, loader_config{model, model_dir, vocab, "cpu", "auto"}, executor_hdl, scheduler_hdl, health_hdl);

  const std::string body = R"({"input":{"prompt":"a red cube","steps":1,"width":64,"height":64,"seed":1}})";
  int next_id = 0;
  auto submit = [&](std::string& id) {
    id = "bench-" + std::to_string(next_id++);
    self->request(scheduler_hdl, timeout, submit_atom::value, generation_job{id, body, job_options{true}})
      .receive([](job_result&) {}, [&](caf::error& e) { throw std::runtime_error(system.render(e)); });
  };
  auto wait = [&](const std::string& id) {
    job_result out;
    self->request(scheduler_hdl, timeout, wait_atom::value, id)
      .receive([&](job_result& r) { out = std::move(r); },
               [&](caf::error& e) { throw std::runtime_error(system.render(e)); });
    if (out.status != job_status::completed) {
      throw std::runtime_error("job " + id + " " + out.status + ": " + out.error.message);
    }
    return out;
  };

  // Warm-up: the first jobs wait for the model and fill caches.
  for (int i = 0; i < 5; ++i) {
    std::string id;
    submit(id);
    wait(id);
  }

  // One job at a time: the latency the actor path adds to a job.
  std::vector<double> overhead_us, engine_ms;
  for (int i = 0; i < jobs; ++i) {
    std::string id;
    const auto t0 = clock_type::now();
    submit(id);
    const job_result r = wait(id);
    const double total_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
    overhead_us.push_back(total_us - static_cast<double>(r.engine_us));
    engine_ms.push_back(static_cast<double>(r.engine_us) / 1000.0);
  }

  // All jobs at once: the queue keeps the executor busy; per-job cost beyond the engine's time
  // (encoding overlaps the next job, so this can be below the sequential figure).
  std::vector<std::string> ids(static_cast<size_t>(jobs));
  const auto b0 = clock_type::now();
  for (auto& id : ids) {
    submit(id);
  }
  double executor_us = 0;
  for (const auto& id : ids) {
    const job_result r = wait(id);
    executor_us += static_cast<double>(r.engine_us);
  }
  const double burst_us = std::chrono::duration<double, std::micro>(clock_type::now() - b0).count();

  const double p50 = percentile(overhead_us, 0.5), p95 = percentile(overhead_us, 0.95),
               worst = percentile(overhead_us, 1.0);
  std::printf("actor path, %d jobs of 64x64, 1 step, tiny model (engine median %.2f ms per job)\n", jobs,
              percentile(engine_ms, 0.5));
  std::printf("  one at a time: overhead per job  median %.0f us  p95 %.0f us  max %.0f us\n", p50, p95, worst);
  std::printf("  all at once:   %d jobs in %.1f ms, engine %.1f ms in total; wall per job %.2f ms\n", jobs,
              burst_us / 1000.0, executor_us / 1000.0, burst_us / 1000.0 / jobs);
  if (!json_out.empty()) {
    std::ofstream(json_out) << "{\"jobs\":" << jobs << ",\"engine_median_ms\":" << percentile(engine_ms, 0.5)
                            << ",\"overhead_us\":{\"median\":" << p50 << ",\"p95\":" << p95 << ",\"max\":" << worst
                            << "},\"burst\":{\"wall_ms\":" << burst_us / 1000.0
                            << ",\"engine_ms\":" << executor_us / 1000.0 << "}}\n";
  }
  self->send_exit(scheduler_hdl, caf::exit_reason::user_shutdown);
  self->send_exit(encoder_hdl, caf::exit_reason::user_shutdown);
  self->send_exit(executor_hdl, caf::exit_reason::user_shutdown);
  self->send_exit(health_hdl, caf::exit_reason::user_shutdown);
  return 0;
}
