#define BOOST_TEST_MODULE serve_delivery
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/fake_runpod.hpp"
#include "tests/support/serve_process.hpp"

using sdw::json_value;
using sdw::test::fake_request;
using sdw::test::fake_runpod;
using namespace std::chrono_literals;

namespace {

const std::string small_input = R"({"prompt":"a boat","steps":3,"width":64,"height":64,"seed":2})";

/// The statuses the fake answered the job's result posts with (0 = connection reset), in order.
std::vector<int> answers(const std::vector<fake_request>& posts) {
  std::vector<int> out;
  for (const auto& p : posts) {
    out.push_back(p.answered);
  }
  return out;
}

size_t images_in(const std::string& body) {
  const json_value doc = sdw::parse_json(body);
  const json_value* output = doc.find("output");
  return output != nullptr ? output->find("images")->as_array().size() : 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(results_are_retried_through_5xx_and_resets_and_delivered_once) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  sdw::test::serve_process worker(sdw::test::tiny_model(models), fake.env());

  fake.fail_next_done(fake_runpod::failure::http_500, 2);
  fake.add_job("job-500", small_input);
  const std::string first = fake.wait_for_result("job-500");
  BOOST_TEST_REQUIRE(!first.empty(), worker.log());
  BOOST_TEST(images_in(first) == 1u);
  const auto posts_500 = fake.results_for("job-500");
  BOOST_TEST((answers(posts_500) == std::vector<int>{500, 500, 200}));
  // Every attempt carries the same body (the waits between them are delivery_backoff's, tested
  // with plain calls in runpod_worker_test).
  for (const auto& p : posts_500) {
    BOOST_TEST(p.body == first);
  }

  fake.fail_next_done(fake_runpod::failure::reset, 2);
  fake.add_job("job-reset", small_input);
  const std::string second = fake.wait_for_result("job-reset");
  BOOST_TEST_REQUIRE(!second.empty(), worker.log());
  BOOST_TEST(images_in(second) == 1u);
  BOOST_TEST((answers(fake.results_for("job-reset")) == std::vector<int>{0, 0, 200}));

  // Nothing is posted again later.
  std::this_thread::sleep_for(1s);
  BOOST_TEST(fake.results_for("job-500").size() == 3u);
  BOOST_TEST(fake.results_for("job-reset").size() == 3u);
  BOOST_TEST(worker.alive(), worker.log());
}
