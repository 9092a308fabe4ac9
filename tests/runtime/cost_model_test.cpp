#define BOOST_TEST_MODULE cost_model
#include <boost/test/unit_test.hpp>

#include "runtime/sched/cost_model.hpp"
#include "runtime/base/errors.hpp"

using namespace sdw;

BOOST_AUTO_TEST_CASE(default_model_is_a_4090_class_gpu) {
  const cost_model m;
  // About 20 steps a second at 512x512 with one image (cond and uncond in one call).
  BOOST_TEST(step_ms(m, 512, 512, 1) == 50.0, boost::test_tools::tolerance(0.05));
  // A 20-step 512x512 image then takes a little over a second.
  const double one = job_ms(m, job_shape{512, 512, 20, 1, 1});
  BOOST_TEST(one > 1000.0);
  BOOST_TEST(one < 1100.0);
}

BOOST_AUTO_TEST_CASE(batching_shares_the_fixed_part_of_each_step) {
  const cost_model m;
  const double four_alone = 4 * job_ms(m, job_shape{512, 512, 20, 1, 1});
  const double four_batched = job_ms(m, job_shape{512, 512, 20, 4, 1});
  BOOST_TEST(four_batched < four_alone);
  // The saving is the fixed part of 3 of every 4 UNet calls plus 3 text encodings.
  BOOST_TEST(four_alone - four_batched == 3 * (20 * m.step_fixed_ms + m.text_encode_ms),
             boost::test_tools::tolerance(1e-9));
  // Small images gain more: the fixed part is a larger share of their steps.
  const double gain_256 = 4 * job_ms(m, job_shape{256, 256, 20, 1, 1}) / job_ms(m, job_shape{256, 256, 20, 4, 1});
  const double gain_512 = four_alone / four_batched;
  BOOST_TEST(gain_256 > gain_512);
}

BOOST_AUTO_TEST_CASE(speed_and_n_iter_scale_linearly) {
  cost_model fast;
  fast.speed = 2.0;
  const job_shape s{768, 512, 30, 2, 3};
  BOOST_TEST(job_ms(fast, s) * 2 == job_ms(cost_model{}, s), boost::test_tools::tolerance(1e-9));
  const job_shape once{768, 512, 30, 2, 1};
  const cost_model m;
  BOOST_TEST(job_ms(m, s) - m.text_encode_ms == 3 * (job_ms(m, once) - m.text_encode_ms),
             boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(parsed_from_json_with_errors_naming_the_key) {
  const cost_model m = parse_cost_model(R"({"speed": 0.5, "step_fixed_ms": 20})");
  BOOST_TEST(m.speed == 0.5);
  BOOST_TEST(m.step_fixed_ms == 20.0);
  BOOST_TEST(m.decode_ms_per_megapixel == cost_model{}.decode_ms_per_megapixel);
  auto message = [](const std::string& text) {
    try {
      parse_cost_model(text);
    } catch (const error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  BOOST_TEST(message(R"({"sped": 1})") == "cost model.sped: unknown key");
  BOOST_TEST(message(R"({"speed": 0})") == "cost model.speed: must be positive");
  BOOST_TEST(message(R"({"text_encode_ms": "x"})") == "cost model.text_encode_ms: must be a number");
  BOOST_TEST(message("[1]") == "cost model: must be a JSON object");
}
