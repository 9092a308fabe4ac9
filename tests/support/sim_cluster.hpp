#pragma once
// The real scheduler, encoder and health actors over simulated executors, in this process: for
// placement and batching tests that look at which device ran each job and how jobs were grouped.

#include "actors/encoder.hpp"
#include "tests/support/typed_job.hpp"
#include "actors/health.hpp"
#include "actors/scheduler.hpp"
#include "actors/sim_executor.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace sdw::test {

/// N simulated devices of the given speeds behind one scheduler.
struct sim_cluster {
  sim_cluster(const std::vector<double>& speeds, double time_scale, scheduler_limits limits)
    : sim_cluster(speeds, speeds, time_scale, limits, true) {}
  /// With `ready` false the scheduler hears that the model is loaded only at make_ready(): jobs
  /// submitted before wait in the queue, and then start together, with no race against a clock.
  sim_cluster(const std::vector<double>& speeds, double time_scale, scheduler_limits limits, bool ready)
    : sim_cluster(speeds, speeds, time_scale, limits, true, ready) {}

  /// Devices that run at `true_speeds` while the scheduler is told `told_speeds` (a device whose
  /// speed is not known in advance); `calibrate` lets the scheduler learn the true ones.
  sim_cluster(const std::vector<double>& true_speeds, const std::vector<double>& told_speeds, double time_scale,
              scheduler_limits limits, bool calibrate, bool ready = true)
    : system(config()), self(system) {
    health_hdl = system.spawn(health);
    encoder_hdl = system.spawn(encoder);
    std::vector<scheduler_device> devices;
    for (size_t i = 0; i < true_speeds.size(); ++i) {
      sim_device dev;
      dev.costs.speed = true_speeds[i];
      dev.time_scale = time_scale;
      auto hdl = system.spawn<caf::detached>(sim_executor, health_hdl, dev);
      caf::anon_send(hdl, model_atom::value, loaded_model{});
      executors.push_back(hdl);
      cost_model told = dev.costs;
      told.speed = told_speeds.at(i);
      devices.push_back(scheduler_device{hdl, "sim:" + std::to_string(i), told, time_scale, calibrate});
    }
    scheduler_hdl = system.spawn(scheduler_for_devices, devices, encoder_hdl, health_hdl, limits);
    if (ready) {
      make_ready();
    }
  }

  /// Tells the scheduler the model is loaded on every device.
  void make_ready() { self->send(scheduler_hdl, ready_atom::value, true, std::string()); }

  ~sim_cluster() {
    self->send_exit(scheduler_hdl, caf::exit_reason::user_shutdown);
    self->send_exit(encoder_hdl, caf::exit_reason::user_shutdown);
    for (const auto& e : executors) {
      self->send_exit(e, caf::exit_reason::user_shutdown);
    }
    self->send_exit(health_hdl, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg;
    static bool once = (add_message_types(cfg), true);
    (void)once;
    return cfg;
  }

  /// Asks the scheduler; a CAF error fails the test.
  template <class... Ts>
  job_result ask(Ts&&... xs) {
    job_result out;
    self->request(scheduler_hdl, std::chrono::seconds(120), std::forward<Ts>(xs)...)
      .receive([&](job_result& r) { out = std::move(r); },
               [&](caf::error& e) { BOOST_FAIL("scheduler: " + system.render(e)); });
    return out;
  }

  /// Submits a RunPod-style job (kept for /status) and returns its first answer.
  job_result submit(const std::string& id, const std::string& body) {
    return ask(submit_atom::value, typed_job(id, body));
  }

  /// Waits for a job's final result.
  job_result wait(const std::string& id) { return ask(wait_atom::value, id); }

  /// The health report (each device's counters included).
  health_report report() {
    health_report out;
    self->request(health_hdl, std::chrono::seconds(10), report_atom::value)
      .receive([&](health_report& r) { out = std::move(r); },
               [&](caf::error& e) { BOOST_FAIL("health: " + system.render(e)); });
    return out;
  }

  caf::actor_system system;
  caf::scoped_actor self;
  health_actor health_hdl;
  encoder_actor encoder_hdl;
  std::vector<executor_actor> executors;
  scheduler_actor scheduler_hdl;
};

/// A RunPod job body: a txt2img input of the given size, steps and seed.
inline std::string sim_job(int width, int height, int steps, int seed, const std::string& extra = "") {
  return R"({"input":{"prompt":"job )" + std::to_string(seed) + R"(","width":)" + std::to_string(width) +
         R"(,"height":)" + std::to_string(height) + R"(,"steps":)" + std::to_string(steps) + R"(,"seed":)" +
         std::to_string(seed) + extra + "}}";
}

} // namespace sdw::test
