#define BOOST_TEST_MODULE placement
#include <boost/test/unit_test.hpp>

// Placement, batch formation, fairness and the calibration dead band, with plain calls: made-up
// devices and queues, no actors and no clock.

#include "runtime/sched/placement.hpp"

#include <string>
#include <vector>

using namespace sdw;

namespace {

std::vector<placement_device> devices_of(const std::vector<double>& speeds) {
  std::vector<placement_device> out;
  for (double s : speeds) {
    placement_device d;
    d.costs.speed = s;
    out.push_back(d);
  }
  return out;
}

void make_busy(placement_device& d, double ms) {
  d.running = true;
  d.free_in_ms = ms;
}

job_plan plan(int size, int steps, std::optional<std::string> key = std::nullopt, int images = 1) {
  job_plan p;
  p.shape = job_shape{size, size, steps, images, 1};
  p.images = images;
  p.key = std::move(key);
  return p;
}

const job_shape shape_512{512, 512, 20, 1, 1};

} // namespace

BOOST_AUTO_TEST_CASE(an_idle_fast_device_wins_over_an_idle_slow_one) {
  BOOST_TEST(best_device(devices_of({1.0, 3.0}), shape_512) == 1);
}

BOOST_AUTO_TEST_CASE(a_job_waits_for_a_faster_busy_device_only_when_that_finishes_sooner) {
  const double slow_ms = job_ms(cost_model{}, shape_512);  // speed 1
  auto devices = devices_of({1.0, 3.0});
  make_busy(devices[1], slow_ms / 10);  // frees in a tenth of the slow device's time: wait for it
  BOOST_TEST(best_device(devices, shape_512) == 1);
  make_busy(devices[1], slow_ms);  // busy for the whole slow time: the idle slow one is sooner
  BOOST_TEST(best_device(devices, shape_512) == 0);
}

BOOST_AUTO_TEST_CASE(equal_devices_take_the_idle_one_and_unusable_ones_are_skipped) {
  auto devices = devices_of({1.0, 1.0, 1.0});
  BOOST_TEST(best_device(devices, shape_512) == 0);
  make_busy(devices[0], 1.0);
  BOOST_TEST(best_device(devices, shape_512) == 1);
  // A batch that overran its estimate (free in 0 ms, still running) loses a tie to an idle device.
  make_busy(devices[0], 0.0);
  devices[2].usable = false;
  BOOST_TEST(best_device(devices, shape_512) == 1);
  devices[1].usable = false;
  BOOST_TEST(best_device(devices, shape_512) == 0);  // the only usable one, though busy
  devices[0].usable = false;
  BOOST_TEST(best_device(devices, shape_512) == -1);
}

BOOST_AUTO_TEST_CASE(a_device_that_holds_the_model_is_preferred) {
  auto devices = devices_of({1.0, 1.0});
  devices[0].holds_model = false;
  BOOST_TEST(best_device(devices, shape_512) == 1);
  BOOST_TEST(finish_ms(devices[0], shape_512) == finish_ms(devices[1], shape_512) + model_switch_ms);
}

BOOST_AUTO_TEST_CASE(jobs_go_to_the_device_that_last_ran_their_checkpoint) {
  auto devices = devices_of({1.0, 1.0});
  devices[0].model = "a|";
  devices[1].model = "b|";
  BOOST_TEST(best_device(devices, shape_512, "b|") == 1);
  BOOST_TEST(best_device(devices, shape_512, "a|") == 0);
  BOOST_TEST(finish_ms(devices[0], shape_512, "b|") == finish_ms(devices[1], shape_512, "b|") + model_switch_ms);
  // Two idle devices, a queue alternating two checkpoints: each job starts where its model is.
  std::vector<job_plan> queue = {plan(512, 20, "ka"), plan(512, 20, "kb")};
  queue[0].model = "b|";
  queue[1].model = "a|";
  const auto starts = plan_dispatch(devices, queue, 4);
  BOOST_TEST_REQUIRE(starts.size() == 2u);
  BOOST_TEST(starts[0].device == 1u);
  BOOST_TEST(starts[1].device == 0u);
}

BOOST_AUTO_TEST_CASE(batches_join_later_jobs_with_the_same_key_up_to_the_image_limit) {
  const std::vector<job_plan> queue = {plan(512, 20, "a"), plan(512, 20, "b"), plan(512, 20, "a", 2),
                                       plan(512, 20, "a"), plan(512, 20, "a"), plan(512, 20)};
  const std::vector<bool> open(queue.size(), true);
  // 1 + 2 + 1 images = 4: the fifth "a" would exceed max-batch 4; "b" and the keyless one stay.
  BOOST_TEST(batch_members(queue, open, 0, 4) == (std::vector<size_t>{0, 2, 3}));
  BOOST_TEST(batch_members(queue, open, 0, 1) == (std::vector<size_t>{0}));
  BOOST_TEST(batch_members(queue, open, 5, 4) == (std::vector<size_t>{5}));  // no key: alone
  std::vector<bool> taken = open;
  taken[2] = false;  // already started elsewhere
  BOOST_TEST(batch_members(queue, taken, 0, 4) == (std::vector<size_t>{0, 3, 4}));
  const job_shape s = batch_shape(queue, {0, 2, 3});
  BOOST_TEST(s.batch == 4);
  BOOST_TEST(s.steps == 20);
}

BOOST_AUTO_TEST_CASE(an_idle_device_starts_the_head_job_with_its_compatible_followers) {
  const std::vector<job_plan> queue = {plan(512, 20, "a"), plan(256, 20, "b"), plan(512, 20, "a"),
                                       plan(512, 20, "a")};
  const auto starts = plan_dispatch(devices_of({1.0}), queue, 4);
  BOOST_TEST_REQUIRE(starts.size() == 1u);
  BOOST_TEST(starts[0].device == 0u);
  BOOST_TEST(starts[0].members == (std::vector<size_t>{0, 2, 3}));
}

BOOST_AUTO_TEST_CASE(the_head_job_is_never_overtaken_on_its_device) {
  // One device, busy: nothing starts, however many batchable jobs wait behind a keyless head.
  auto devices = devices_of({1.0});
  make_busy(devices[0], 50.0);
  const std::vector<job_plan> queue = {plan(512, 20), plan(512, 20, "a"), plan(512, 20, "a")};
  BOOST_TEST(plan_dispatch(devices, queue, 4).empty());
  // Idle again: the head starts alone, the others wait for the next dispatch.
  devices[0].running = false;
  devices[0].free_in_ms = 0.0;
  const auto starts = plan_dispatch(devices, queue, 4);
  BOOST_TEST_REQUIRE(starts.size() == 1u);
  BOOST_TEST(starts[0].members == (std::vector<size_t>{0}));
}

BOOST_AUTO_TEST_CASE(jobs_behind_a_head_that_waits_for_a_busy_fast_device_start_on_a_free_slow_one) {
  // The fast device frees soon, so the head (a large job) waits for it; the small job behind it
  // finishes sooner on the idle slow device and starts there now.
  auto devices = devices_of({0.25, 4.0});
  make_busy(devices[1], 10.0);
  const std::vector<job_plan> queue = {plan(1024, 30), plan(256, 4)};
  const auto starts = plan_dispatch(devices, queue, 4);
  BOOST_TEST_REQUIRE(starts.size() == 1u);
  BOOST_TEST(starts[0].device == 0u);
  BOOST_TEST(starts[0].members == (std::vector<size_t>{1}));
}

BOOST_AUTO_TEST_CASE(queued_jobs_spread_over_idle_devices_in_queue_order) {
  const std::vector<job_plan> queue = {plan(512, 20), plan(512, 20), plan(512, 20), plan(512, 20)};
  const auto starts = plan_dispatch(devices_of({1.0, 1.0, 1.0}), queue, 4);
  BOOST_TEST_REQUIRE(starts.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(starts[i].device == i);
    BOOST_TEST(starts[i].members == (std::vector<size_t>{i}));
  }
}

BOOST_AUTO_TEST_CASE(a_learned_speed_counts_only_outside_the_dead_band) {
  BOOST_TEST(placement_speed(1.0, 0.95, true) == 1.0);   // within 10 %: the configured one
  BOOST_TEST(placement_speed(1.0, 1.09, true) == 1.0);
  BOOST_TEST(placement_speed(1.0, 0.5, true) == 0.5);    // clearly slower: learned
  BOOST_TEST(placement_speed(2.0, 3.0, true) == 3.0);
  BOOST_TEST(placement_speed(1.0, 0.5, false) == 1.0);   // calibration off
}
