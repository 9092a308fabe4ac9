#define BOOST_TEST_MODULE scheduler_calibration
#include <boost/test/unit_test.hpp>

// Per-device cost calibration through the scheduler actor: two simulated devices whose true
// speeds are 0.25 and 1 while the scheduler is told both are 1. The scheduler learns each speed
// from the batches it runs (shown in /health's device entries) and places jobs by it. The policy
// itself, with exact outcomes on a simulated clock, is calibration_policy_test's; here only what
// a busy machine cannot change: it can make a batch slower, never faster.

#include "tests/support/sim_cluster.hpp"

#include <map>
#include <string>
#include <vector>

using namespace sdw;

namespace {

// 512² 20-step jobs are about 1030 ms of model time: 62 ms on the fast device at this scale,
// 247 ms on the slow one, so a few ms of scheduling noise stay a few per cent.
constexpr double time_scale = 0.06;
const std::vector<double> true_speeds{0.25, 1.0};  // the slow device is listed first
const std::vector<double> told_speeds{1.0, 1.0};
// Overhead and a loaded machine only make a batch take longer, so a learned factor errs low.
constexpr double tolerance = 0.2;

/// Runs `n` jobs one after another (each submitted when the last is done) and counts them per device.
std::map<std::string, int> run_one_at_a_time(test::sim_cluster& c, int n, std::vector<std::string>* order = nullptr) {
  std::map<std::string, int> per_device;
  for (int i = 0; i < n; ++i) {
    const std::string id = "s" + std::to_string(i);
    c.submit(id, test::sim_job(512, 512, 20, i));
    const job_result r = c.wait(id);
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    ++per_device[r.device];
    if (order != nullptr) {
      order->push_back(r.device);
    }
  }
  return per_device;
}

} // namespace

BOOST_AUTO_TEST_CASE(one_job_at_a_time_moves_to_the_fast_device_once_the_speeds_are_learned) {
  const int n = 12;
  // Told nothing and not calibrating: the devices look equal, and an idle tie goes to the first
  // listed one, the slow device, every time.
  {
    test::sim_cluster c(true_speeds, told_speeds, time_scale, scheduler_limits{32, 1}, false);
    auto per_device = run_one_at_a_time(c, n);
    BOOST_TEST(per_device["sim:0"] == n);
    const health_report h = c.report();
    BOOST_TEST(h.queue.devices.at(0).calibrated_speed == 1.0);
  }
  // Calibrating: the slow device's first two batches teach the scheduler its speed (the first
  // estimate is the configured one, and one batch alone does not move it); every later job goes
  // to the fast device.
  test::sim_cluster c(true_speeds, told_speeds, time_scale, scheduler_limits{32, 1}, true);
  std::vector<std::string> order;
  auto per_device = run_one_at_a_time(c, n, &order);
  BOOST_TEST_MESSAGE("slow " << per_device["sim:0"] << ", fast " << per_device["sim:1"]);
  BOOST_TEST(per_device["sim:0"] <= 3);
  for (size_t i = 3; i < order.size(); ++i) {
    BOOST_TEST(order[i] == "sim:1", "job " << i << " ran on " << order[i]);
  }
  const health_report h = c.report();
  BOOST_TEST_REQUIRE(h.queue.devices.size() == 2u);
  const double slow = h.queue.devices[0].calibrated_speed, fast = h.queue.devices[1].calibrated_speed;
  BOOST_TEST_MESSAGE("learned speeds: slow " << slow << ", fast " << fast);
  BOOST_TEST(h.queue.devices[0].speed == 1.0);  // the configured value stays shown as it was
  BOOST_TEST(slow <= 0.25 * (1 + tolerance));
  BOOST_TEST(fast > slow);
}
