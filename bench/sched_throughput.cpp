// sdw-bench-sched: what the scheduler gets out of several devices and out of batching, with
// simulated executors (the cost model's time, scaled) behind the real scheduler and encoder.
//   - scaling: the same number of jobs per device on 1, 2, 4, 8 devices, all queued at once;
//     throughput and its ratio to linear (N × one device);
//   - batching: one device, compatible 512² jobs queued at once, max-batch 1 against 4; the
//     measured gain and the one the cost model predicts.

#include "actors/encoder.hpp"
#include "actors/health.hpp"
#include "actors/scheduler.hpp"
#include "actors/sim_executor.hpp"
#include "runtime/cost_model.hpp"

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace sdw;
using clock_type = std::chrono::steady_clock;

namespace {

struct run_figures {
  double seconds = 0;
  int completed = 0;
  int64_t batches = 0;
};

/// Queues `jobs` copies of `body` (seeds differ) on `devices` simulated devices and waits for all.
run_figures run_once(caf::actor_system& system, int devices, double time_scale, int max_batch, int jobs,
                     const std::string& body_head) {
  caf::scoped_actor self{system};
  auto health_hdl = system.spawn(health);
  auto encoder_hdl = system.spawn(encoder);
  std::vector<scheduler_device> devs;
  std::vector<executor_actor> executors;
  for (int i = 0; i < devices; ++i) {
    sim_device dev;
    dev.time_scale = time_scale;
    auto hdl = system.spawn<caf::detached>(sim_executor, health_hdl, dev);
    self->send(hdl, model_atom::value, loaded_model{});
    executors.push_back(hdl);
    devs.push_back(scheduler_device{hdl, "sim:" + std::to_string(i), dev.costs});
  }
  auto sched = system.spawn(scheduler_for_devices, devs, encoder_hdl, health_hdl,
                            scheduler_limits{static_cast<size_t>(jobs), max_batch});
  self->send(sched, ready_atom::value, true, std::string());
  run_figures f;
  const auto t0 = clock_type::now();
  for (int i = 0; i < jobs; ++i) {
    const std::string body = body_head + ",\"seed\":" + std::to_string(i) + "}}";
    self->request(sched, std::chrono::seconds(60), submit_atom::value,
                  generation_job{"j" + std::to_string(i), body, job_options{true}, {}})
      .receive([](job_result&) {}, [](caf::error&) {});
  }
  for (int i = 0; i < jobs; ++i) {
    self->request(sched, std::chrono::seconds(600), wait_atom::value, "j" + std::to_string(i))
      .receive([&](job_result& r) { f.completed += r.status == job_status::completed ? 1 : 0; },
               [](caf::error&) {});
  }
  f.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  self->request(health_hdl, std::chrono::seconds(10), report_atom::value)
    .receive(
      [&](health_report& h) {
        for (const auto& d : h.queue.devices) {
          f.batches += d.batches;
        }
      },
      [](caf::error&) {});
  self->send_exit(sched, caf::exit_reason::user_shutdown);
  self->send_exit(encoder_hdl, caf::exit_reason::user_shutdown);
  for (auto& e : executors) {
    self->send_exit(e, caf::exit_reason::user_shutdown);
  }
  self->send_exit(health_hdl, caf::exit_reason::user_shutdown);
  return f;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"throughput of the scheduler over 1, 2, 4, 8 simulated devices, and the gain of batching"};
  int per_device = 24;
  int batch_jobs = 32;
  double scale = 0.2;
  double batch_scale = 0.02;
  app.add_option("--jobs-per-device", per_device, "scaling: jobs queued per device")->capture_default_str();
  app.add_option("--scale", scale, "scaling: simulated time per real time (64² 20-step jobs)")->capture_default_str();
  app.add_option("--batch-jobs", batch_jobs, "batching: jobs queued on one device")->capture_default_str();
  app.add_option("--batch-scale", batch_scale, "batching: simulated time per real time (512² jobs)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system system{cfg};

  // Small images keep PNG encoding (real work on this machine's CPUs) far below the simulated
  // GPU time, so the figures are the scheduler's, not the encoder's.
  const std::string small = R"({"input":{"prompt":"p","steps":20,"width":64,"height":64)";
  const double job_s = job_ms(cost_model{}, job_shape{64, 64, 20, 1, 1}) * scale / 1000.0;
  std::printf("scaling: %d jobs per device, each %.1f ms simulated-scaled, max-batch 1\n", per_device, job_s * 1000);
  std::printf("%8s %8s %10s %12s %10s\n", "devices", "jobs", "seconds", "jobs/s", "vs linear");
  double one = 0;
  for (int n : {1, 2, 4, 8}) {
    const run_figures f = run_once(system, n, scale, 1, per_device * n, small);
    const double rate = f.completed / f.seconds;
    if (n == 1) {
      one = rate;
    }
    std::printf("%8d %8d %10.3f %12.2f %10.3f\n", n, f.completed, f.seconds, rate, rate / (one * n));
  }

  const std::string large = R"({"input":{"prompt":"p","steps":20,"width":512,"height":512)";
  const run_figures singles = run_once(system, 1, batch_scale, 1, batch_jobs, large);
  const run_figures batched = run_once(system, 1, batch_scale, 4, batch_jobs, large);
  const double model_gain =
    4 * job_ms(cost_model{}, job_shape{512, 512, 20, 1, 1}) / job_ms(cost_model{}, job_shape{512, 512, 20, 4, 1});
  std::printf("\nbatching: %d compatible 512² 20-step jobs queued on one device\n", batch_jobs);
  std::printf("  max-batch 1: %.3f s, %lld executor runs, %.2f jobs/s\n", singles.seconds,
              static_cast<long long>(singles.batches), singles.completed / singles.seconds);
  std::printf("  max-batch 4: %.3f s, %lld executor runs, %.2f jobs/s\n", batched.seconds,
              static_cast<long long>(batched.batches), batched.completed / batched.seconds);
  std::printf("  gain %.3f× (cost model predicts %.3f× for full batches of 4)\n",
              (batched.completed / batched.seconds) / (singles.completed / singles.seconds), model_gain);
  return 0;
}
