#define BOOST_TEST_MODULE speed_calibration
#include <boost/test/unit_test.hpp>

// The learned speed factor of a device: it starts at the configured value, one batch alone does
// not move it, it follows the measured speed once batches agree, and one outlier does not move it.

#include "runtime/sched/speed_calibration.hpp"

using sdw::speed_calibration;

BOOST_AUTO_TEST_CASE(starts_at_the_configured_value_and_learns_the_measured_one) {
  speed_calibration c;
  BOOST_TEST(c.speed(1.5) == 1.5);
  BOOST_TEST(c.samples() == 0u);
  // A batch the cost model puts at 1000 ms (speed 1) took 4000 ms: speed 0.25.
  c.observe(1000, 4000);
  BOOST_TEST(c.speed(1.0) == 1.0);  // one batch is outvoted by the configured value
  c.observe(2000, 8000);
  BOOST_TEST(c.speed(1.0) == 0.25);
  c.observe(500, 2000);
  BOOST_TEST(c.speed(1.0) == 0.25);
  BOOST_TEST(c.samples() == 3u);
}

BOOST_AUTO_TEST_CASE(one_outlier_does_not_move_it) {
  speed_calibration c;
  for (int i = 0; i < 5; ++i) {
    c.observe(1000, 500);  // speed 2
  }
  c.observe(1000, 100000);  // a batch stalled behind something else
  BOOST_TEST(c.speed(1.0) == 2.0);
  c.observe(1000, 1);  // absurdly fast
  BOOST_TEST(c.speed(1.0) == 2.0);
}

BOOST_AUTO_TEST_CASE(it_follows_a_device_that_changes_speed_and_ignores_bad_samples) {
  speed_calibration c(5);
  for (int i = 0; i < 5; ++i) {
    c.observe(1000, 1000);
  }
  BOOST_TEST(c.speed(1.0) == 1.0);
  for (int i = 0; i < 3; ++i) {
    c.observe(1000, 2000);  // throttled to half speed
  }
  BOOST_TEST(c.speed(1.0) == 0.5);
  c.observe(0, 100);
  c.observe(100, 0);
  c.observe(-1, 100);
  BOOST_TEST(c.samples() == 8u);
  BOOST_TEST(c.speed(1.0) == 0.5);
}
