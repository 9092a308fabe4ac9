#define BOOST_TEST_MODULE seeds
#include <boost/test/unit_test.hpp>

#include "runtime/engine/seeds.hpp"

#include <set>

using namespace sdw;

BOOST_AUTO_TEST_CASE(fixed_seeds_pass_through) {
  BOOST_TEST(fix_seed(0) == 0);
  BOOST_TEST(fix_seed(1234) == 1234);
  BOOST_TEST(fix_seed(-2) == -2);
  BOOST_TEST(fix_seed(4294967295LL) == 4294967295LL);
}

BOOST_AUTO_TEST_CASE(minus_one_draws_in_range_and_varies) {
  std::set<std::int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    const auto s = fix_seed(-1);
    BOOST_TEST(s >= 0);
    BOOST_TEST(s <= 4294967293LL);
    seen.insert(s);
  }
  BOOST_TEST(seen.size() > 190u);
}

BOOST_AUTO_TEST_CASE(per_image_seeds_follow_subseed_strength) {
  BOOST_TEST((image_seeds(100, 4, 0.0) == std::vector<std::int64_t>{100, 101, 102, 103}));
  BOOST_TEST((image_seeds(100, 3, 0.5) == std::vector<std::int64_t>{100, 100, 100}));
  BOOST_TEST((image_subseeds(7, 3) == std::vector<std::int64_t>{7, 8, 9}));
  BOOST_TEST(image_seeds(1, 0, 0.0).empty());
}
