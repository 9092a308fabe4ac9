#define BOOST_TEST_MODULE calibration_policy
#include <boost/test/unit_test.hpp>

// Per-device speed calibration and placement together, as the scheduler runs them, on a
// simulated clock: two devices whose true speeds are 0.25 and 1 while placement is told both are
// 1. Each batch's time is what the true speed makes of the cost model, so every outcome is exact.

#include "runtime/sched/placement.hpp"
#include "runtime/sched/speed_calibration.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

using namespace sdw;

namespace {

const std::vector<double> true_speeds{0.25, 1.0};  // the slow device is listed first
constexpr double told_speed = 1.0;

job_plan job_512() {
  job_plan p;
  p.shape = job_shape{512, 512, 20, 1, 1};
  return p;
}

/// The devices and their learned speeds on a simulated clock.
struct simulated_devices {
  bool calibrate = true;
  std::vector<speed_calibration> learned = std::vector<speed_calibration>(2);
  std::vector<double> ends_at{0.0, 0.0};
  std::vector<bool> running{false, false};
  std::vector<double> model_ms{0.0, 0.0};  ///< the running batch's cost at speed 1
  std::vector<int> jobs{0, 0};
  double now = 0.0;

  double speed(size_t d) const { return placement_speed(told_speed, learned[d].speed(told_speed), calibrate); }

  std::vector<placement_device> view() const {
    std::vector<placement_device> out(2);
    for (size_t d = 0; d < 2; ++d) {
      out[d].running = running[d];
      out[d].free_in_ms = running[d] ? std::max(0.0, ends_at[d] - now) : 0.0;
      out[d].costs.speed = speed(d);
    }
    return out;
  }

  /// Starts what placement starts now; returns the devices used.
  std::vector<size_t> dispatch(std::vector<job_plan>& queue) {
    std::vector<size_t> used;
    const auto starts = plan_dispatch(view(), queue, 1);
    std::vector<bool> started(queue.size(), false);
    for (const auto& s : starts) {
      const job_shape shape = batch_shape(queue, s.members);
      for (size_t i : s.members) started[i] = true;
      model_ms[s.device] = job_ms(cost_model{}, shape);
      ends_at[s.device] = now + model_ms[s.device] / true_speeds[s.device];
      running[s.device] = true;
      jobs[s.device] += static_cast<int>(s.members.size());
      used.push_back(s.device);
    }
    std::vector<job_plan> rest;
    for (size_t i = 0; i < queue.size(); ++i) {
      if (!started[i]) rest.push_back(queue[i]);
    }
    queue = std::move(rest);
    return used;
  }

  /// Moves the clock to the next batch end and lets that device learn from it; false when none runs.
  bool finish_next() {
    size_t next = 2;
    double at = std::numeric_limits<double>::infinity();
    for (size_t d = 0; d < 2; ++d) {
      if (running[d] && ends_at[d] < at) {
        at = ends_at[d];
        next = d;
      }
    }
    if (next == 2) return false;
    now = at;
    running[next] = false;
    learned[next].observe(model_ms[next], model_ms[next] / true_speeds[next]);
    return true;
  }
};

/// Runs `n` jobs one after another; the device of each, in order.
std::vector<size_t> one_at_a_time(simulated_devices& devices, int n) {
  std::vector<size_t> order;
  for (int i = 0; i < n; ++i) {
    std::vector<job_plan> queue{job_512()};
    const auto used = devices.dispatch(queue);
    BOOST_TEST_REQUIRE(used.size() == 1u);
    order.push_back(used.front());
    devices.finish_next();
  }
  return order;
}

} // namespace

BOOST_AUTO_TEST_CASE(without_learning_an_idle_tie_always_goes_to_the_slow_device_listed_first) {
  simulated_devices devices;
  devices.calibrate = false;
  const auto order = one_at_a_time(devices, 12);
  BOOST_TEST(std::count(order.begin(), order.end(), 0u) == 12);
}

BOOST_AUTO_TEST_CASE(learning_moves_jobs_to_the_fast_device_after_two_slow_batches) {
  simulated_devices devices;
  const auto order = one_at_a_time(devices, 12);
  // The first estimate is the configured one and one batch alone does not move the median; after
  // the second, the slow device is known to be slow and every later job goes to the fast one.
  BOOST_TEST(order[0] == 0u);
  BOOST_TEST(order[1] == 0u);
  for (size_t i = 2; i < order.size(); ++i) {
    BOOST_TEST(order[i] == 1u, "job " << i);
  }
  BOOST_TEST(devices.speed(0) == 0.25);
  BOOST_TEST(devices.speed(1) == 1.0);  // learned 1.0, the configured value
}

BOOST_AUTO_TEST_CASE(under_a_deep_queue_the_fast_device_runs_most_jobs_and_both_speeds_are_learned) {
  simulated_devices devices;
  std::vector<job_plan> queue(40, job_512());
  devices.dispatch(queue);
  while (devices.finish_next()) {
    devices.dispatch(queue);
  }
  BOOST_TEST(queue.empty());
  BOOST_TEST_MESSAGE("slow " << devices.jobs[0] << ", fast " << devices.jobs[1]);
  BOOST_TEST(devices.jobs[0] + devices.jobs[1] == 40);
  BOOST_TEST(devices.jobs[1] >= 3 * devices.jobs[0]);  // the ideal split is 4:1
  BOOST_TEST(devices.jobs[0] >= 2);                    // the slow device still helps, and learns
  BOOST_TEST(devices.speed(1) / devices.speed(0) == 4.0);
}
