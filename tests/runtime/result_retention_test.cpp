#define BOOST_TEST_MODULE result_retention
#include <boost/test/unit_test.hpp>

#include "runtime/sched/result_retention.hpp"

using namespace std::chrono_literals;
using sdw::result_retention;
using sdw::retention_limits;
using strings = std::vector<std::string>;

namespace {
const result_retention::time_point t0{};
}

BOOST_AUTO_TEST_CASE(the_oldest_go_first_past_the_count) {
  result_retention kept(retention_limits{3, 1 << 20, 3600s});
  BOOST_TEST(kept.keep("a", 10, t0).empty());
  BOOST_TEST(kept.keep("b", 10, t0 + 1s).empty());
  BOOST_TEST(kept.keep("c", 10, t0 + 2s).empty());
  BOOST_TEST((kept.keep("d", 10, t0 + 3s) == strings{"a"}));
  BOOST_TEST(kept.size() == 3u);
  BOOST_TEST(kept.bytes() == 30u);
}

BOOST_AUTO_TEST_CASE(large_results_push_out_older_ones_past_the_byte_budget) {
  result_retention kept(retention_limits{100, 1000, 3600s});
  kept.keep("a", 400, t0);
  kept.keep("b", 400, t0);
  BOOST_TEST((kept.keep("c", 300, t0) == strings{"a"}));
  BOOST_TEST(kept.bytes() == 700u);
  // One result over the whole budget is still kept (its client has yet to read it), alone.
  BOOST_TEST((kept.keep("huge", 5000, t0) == strings{"b", "c"}));
  BOOST_TEST(kept.size() == 1u);
  BOOST_TEST(kept.bytes() == 5000u);
  // The next one pushes it out.
  BOOST_TEST((kept.keep("small", 10, t0) == strings{"huge"}));
  BOOST_TEST(kept.bytes() == 10u);
}

BOOST_AUTO_TEST_CASE(results_older_than_the_age_are_forgotten) {
  result_retention kept(retention_limits{100, 1 << 20, 1800s});
  kept.keep("a", 1, t0);
  kept.keep("b", 1, t0 + 600s);
  BOOST_TEST(kept.expire(t0 + 1800s).empty());  // exactly the age: still kept
  BOOST_TEST((kept.expire(t0 + 1801s) == strings{"a"}));
  BOOST_TEST((kept.keep("c", 1, t0 + 2401s) == strings{"b"}));
  BOOST_TEST(kept.size() == 1u);
}

BOOST_AUTO_TEST_CASE(dropped_and_kept_again_results_are_counted_once) {
  result_retention kept(retention_limits{2, 1 << 20, 3600s});
  kept.keep("a", 100, t0);
  kept.keep("b", 50, t0 + 1s);
  kept.drop("a");  // read by its only client
  BOOST_TEST(kept.size() == 1u);
  BOOST_TEST(kept.bytes() == 50u);
  kept.drop("nothing");
  // A retried job that finishes again is the newest, not a second entry.
  BOOST_TEST(kept.keep("b", 70, t0 + 2s).empty());
  BOOST_TEST(kept.size() == 1u);
  BOOST_TEST(kept.bytes() == 70u);
  BOOST_TEST(kept.keep("c", 1, t0 + 3s).empty());
  BOOST_TEST((kept.keep("d", 1, t0 + 4s) == strings{"b"}));
}
