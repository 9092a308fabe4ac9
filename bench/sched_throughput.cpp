// sdw-bench-sched: what the scheduler gets out of several devices and out of batching, with
// simulated executors (the cost model's time, scaled) behind the real scheduler and encoder.
//   - scaling: the same number of jobs per device on 1, 2, 4, 8 devices, all queued at once;
//     throughput and its ratio to linear (N × one device);
//   - batching: one device, compatible 512² jobs queued at once, max-batch 1 against 4; the
//     measured gain and the one the cost model predicts.
//   - calibration: devices of true speeds 1, 1, 0.5, 0.25 while the scheduler is told they are
//     all 1: throughput without and with learning each device's speed, and when told the truth;
//     with every job queued at once and with closed-loop clients (fewer than the devices), and
//     with the devices listed fastest first and slowest first (an idle tie goes to the first).

#include "actors/encoder.hpp"
#include "tests/support/typed_job.hpp"
#include "actors/health.hpp"
#include "actors/scheduler.hpp"
#include "actors/sim_executor.hpp"
#include "runtime/sched/cost_model.hpp"

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace sdw;
using clock_type = std::chrono::steady_clock;

namespace {

struct run_figures {
  double seconds = 0;
  int completed = 0;
  int64_t batches = 0;
};

/// The devices of one run: how fast each really is, what the scheduler is told, and whether it learns.
struct device_setup {
  std::vector<double> true_speeds;
  std::vector<double> told_speeds;  ///< empty = told the truth
  bool calibrate = false;
};

device_setup equal_devices(int n) { return device_setup{std::vector<double>(static_cast<size_t>(n), 1.0), {}, false}; }

/// Queues `jobs` copies of `body` (seeds differ) on simulated devices and waits for all;
/// `clients` > 0 = that many closed-loop clients instead (each submits its next job when its
/// last is done), 0 = every job queued at once.
run_figures run_once(caf::actor_system& system, const device_setup& setup, double time_scale, int max_batch, int jobs,
                     const std::string& body_head, int clients = 0) {
  caf::scoped_actor self{system};
  auto health_hdl = system.spawn(health);
  auto encoder_hdl = system.spawn(encoder);
  std::vector<scheduler_device> devs;
  std::vector<executor_actor> executors;
  for (size_t i = 0; i < setup.true_speeds.size(); ++i) {
    sim_device dev;
    dev.costs.speed = setup.true_speeds[i];
    dev.time_scale = time_scale;
    auto hdl = system.spawn<caf::detached>(sim_executor, health_hdl, dev);
    self->send(hdl, model_atom::value, loaded_model{});
    executors.push_back(hdl);
    cost_model told = dev.costs;
    told.speed = setup.told_speeds.empty() ? setup.true_speeds[i] : setup.told_speeds.at(i);
    devs.push_back(scheduler_device{hdl, "sim:" + std::to_string(i), told, time_scale, setup.calibrate});
  }
  auto sched = system.spawn(scheduler_for_devices, devs, encoder_hdl, health_hdl,
                            scheduler_limits{static_cast<size_t>(jobs), max_batch});
  self->send(sched, ready_atom::value, true, std::string());
  run_figures f;
  auto body_of = [&](int i) { return body_head + ",\"seed\":" + std::to_string(i) + "}}"; };
  const auto t0 = clock_type::now();
  if (clients <= 0) {
    for (int i = 0; i < jobs; ++i) {
      self->request(sched, std::chrono::seconds(60), submit_atom::value,
                    test::typed_job("j" + std::to_string(i), body_of(i)))
        .receive([](job_result&) {}, [](caf::error&) {});
    }
    for (int i = 0; i < jobs; ++i) {
      self->request(sched, std::chrono::seconds(600), wait_atom::value, "j" + std::to_string(i))
        .receive([&](job_result& r) { f.completed += r.status == job_status::completed ? 1 : 0; },
                 [](caf::error&) {});
    }
  } else {
    std::vector<int> done(static_cast<size_t>(clients), 0);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        caf::scoped_actor client{system};
        for (int i = c; i < jobs; i += clients) {
          const std::string id = "j" + std::to_string(i);
          client->request(sched, std::chrono::seconds(60), submit_atom::value,
                          test::typed_job(id, body_of(i)))
            .receive([](job_result&) {}, [](caf::error&) {});
          client->request(sched, std::chrono::seconds(600), wait_atom::value, id)
            .receive([&](job_result& r) { done[static_cast<size_t>(c)] += r.status == job_status::completed ? 1 : 0; },
                     [](caf::error&) {});
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    for (int d : done) {
      f.completed += d;
    }
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
  CLI::App app{
    "throughput of the scheduler over 1, 2, 4, 8 simulated devices, the gain of batching and of speed calibration"};
  int per_device = 24;
  int batch_jobs = 32;
  int calib_jobs = 64;
  double scale = 0.2;
  double batch_scale = 0.02;
  app.add_option("--jobs-per-device", per_device, "scaling: jobs queued per device")->capture_default_str();
  app.add_option("--scale", scale, "scaling: simulated time per real time (64² 20-step jobs)")->capture_default_str();
  app.add_option("--batch-jobs", batch_jobs, "batching: jobs queued on one device")->capture_default_str();
  app.add_option("--batch-scale", batch_scale, "batching: simulated time per real time (512² jobs)")->capture_default_str();
  app.add_option("--calib-jobs", calib_jobs, "calibration: jobs per run (at --scale)")->capture_default_str();
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
    const run_figures f = run_once(system, equal_devices(n), scale, 1, per_device * n, small);
    const double rate = f.completed / f.seconds;
    if (n == 1) {
      one = rate;
    }
    std::printf("%8d %8d %10.3f %12.2f %10.3f\n", n, f.completed, f.seconds, rate, rate / (one * n));
  }

  const std::string large = R"({"input":{"prompt":"p","steps":20,"width":512,"height":512)";
  const run_figures singles = run_once(system, equal_devices(1), batch_scale, 1, batch_jobs, large);
  const run_figures batched = run_once(system, equal_devices(1), batch_scale, 4, batch_jobs, large);
  const double model_gain =
    4 * job_ms(cost_model{}, job_shape{512, 512, 20, 1, 1}) / job_ms(cost_model{}, job_shape{512, 512, 20, 4, 1});
  std::printf("\nbatching: %d compatible 512² 20-step jobs queued on one device\n", batch_jobs);
  std::printf("  max-batch 1: %.3f s, %lld executor runs, %.2f jobs/s\n", singles.seconds,
              static_cast<long long>(singles.batches), singles.completed / singles.seconds);
  std::printf("  max-batch 4: %.3f s, %lld executor runs, %.2f jobs/s\n", batched.seconds,
              static_cast<long long>(batched.batches), batched.completed / batched.seconds);
  std::printf("  gain %.3f× (cost model predicts %.3f× for full batches of 4)\n",
              (batched.completed / batched.seconds) / (singles.completed / singles.seconds), model_gain);

  // Calibration: the scheduler is told every device has speed 1; they are really 1, 1, 0.5, 0.25.
  std::printf("\ncalibration: %d jobs (64² 20-step), true speeds listed below, told all 1 unless 'truth'\n",
              calib_jobs);
  std::printf("%-24s %-10s %12s %12s %12s %10s %10s\n", "devices (true speeds)", "load", "told 1 j/s", "learned j/s",
              "truth j/s", "learn/1", "learn/truth");
  const std::vector<std::pair<std::string, std::vector<double>>> orders{{"1, 1, 0.5, 0.25", {1, 1, 0.5, 0.25}},
                                                                        {"0.25, 0.5, 1, 1", {0.25, 0.5, 1, 1}}};
  for (const auto& [label, speeds] : orders) {
    for (int clients : {0, 2}) {
      const std::vector<double> ones(speeds.size(), 1.0);
      auto run = [&](const device_setup& setup) {
        return run_once(system, setup, scale, 1, calib_jobs, small, clients);
      };
      const run_figures told = run(device_setup{speeds, ones, false});
      const run_figures learned = run(device_setup{speeds, ones, true});
      const run_figures truth = run(device_setup{speeds, {}, false});
      const double r_told = told.completed / told.seconds, r_learned = learned.completed / learned.seconds,
                   r_truth = truth.completed / truth.seconds;
      std::printf("%-24s %-10s %12.2f %12.2f %12.2f %10.3f %10.3f\n", label.c_str(),
                  clients == 0 ? "queued" : "2 clients", r_told, r_learned, r_truth, r_learned / r_told,
                  r_learned / r_truth);
    }
  }
  return 0;
}
