#define BOOST_TEST_MODULE serve_delivery
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/fake_runpod.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/raw_http.hpp"
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
  auto env = fake.env();
  const int api_port = sdw::test::free_port();  // the local API, for /metrics
  env.emplace_back("SDWORKER_SERVE_API_PORT", std::to_string(api_port));
  sdw::test::serve_process worker(sdw::test::tiny_model(models), env);

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

  // The local API's /metrics counts the deliveries: two results, four retries, nothing lost.
  const auto metrics = sdw::test::raw_http(api_port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  BOOST_TEST_REQUIRE(metrics.status == 200, metrics.head << worker.log());
  for (const char* line : {"sdworker_delivery_results_total{outcome=\"delivered\"} 2\n",
                           "sdworker_delivery_results_total{outcome=\"given_up\"} 0\n",
                           "sdworker_delivery_retries_total{kind=\"result\"} 4\n",
                           "sdworker_jobs_total{status=\"completed\"} 2\n"}) {
    BOOST_TEST(metrics.body.find(line) != std::string::npos, line << " in\n" << metrics.body);
  }
}

namespace {

/// When the platform accepted `job`'s result.
std::chrono::steady_clock::time_point accepted_at(const fake_runpod& fake, const std::string& job) {
  for (const auto& p : fake.results_for(job)) {
    if (p.answered == 200) {
      return p.at;
    }
  }
  return std::chrono::steady_clock::time_point::max();
}

} // namespace

// Each job's result goes on its own: one in backoff (five 500s, 7.75 s of waits) does not hold
// the result of a job that finished after it.
BOOST_AUTO_TEST_CASE(a_result_in_backoff_does_not_hold_another_jobs_result) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  auto env = fake.env();
  env.emplace_back("SDWORKER_CONCURRENCY", "2");
  sdw::test::serve_process worker(sdw::test::tiny_model(models), env);
  fake.fail_next_done(fake_runpod::failure::http_500, 5, "job-slow");
  fake.add_job("job-slow", small_input);
  BOOST_TEST_REQUIRE(fake.wait_until([&] { return !fake.results_for("job-slow").empty(); }, 60s), worker.log());
  fake.add_job("job-next", small_input);
  BOOST_TEST_REQUIRE(!fake.wait_for_result("job-next").empty(), worker.log());
  BOOST_TEST_REQUIRE(!fake.wait_for_result("job-slow").empty(), worker.log());
  BOOST_TEST((answers(fake.results_for("job-slow")) == std::vector<int>{500, 500, 500, 500, 500, 200}));
  BOOST_TEST((accepted_at(fake, "job-next") < accepted_at(fake, "job-slow")));
  BOOST_TEST(answers(fake.results_for("job-next")).size() == 1u);
}

// A result the platform refuses with a 4xx is not dropped: a small error result saying why
// takes its place, so the job ends FAILED with the reason.
BOOST_AUTO_TEST_CASE(a_refused_result_is_replaced_by_an_error_result) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  sdw::test::serve_process worker(sdw::test::tiny_model(models), fake.env());
  fake.refuse_next_done(400, 1, "job-refused");
  fake.add_job("job-refused", small_input);
  const std::string accepted = fake.wait_for_result("job-refused");
  BOOST_TEST_REQUIRE(!accepted.empty(), worker.log());
  BOOST_TEST((answers(fake.results_for("job-refused")) == std::vector<int>{400, 200}));
  BOOST_TEST(images_in(fake.results_for("job-refused").front().body) == 1u);
  BOOST_TEST(sdw::test::result_error_text(accepted).find("the platform refused the result (HTTP 400") != std::string::npos, accepted);
  BOOST_TEST(worker.alive(), worker.log());
}

// A result over the payload limit is never posted: an error result says so instead.
BOOST_AUTO_TEST_CASE(a_result_over_the_payload_limit_becomes_an_error_result) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  auto env = fake.env();
  env.emplace_back("SDWORKER_MAX_RESULT_MB", "1");
  sdw::test::serve_process worker(sdw::test::tiny_model(models), env);
  fake.add_job("job-big", R"({"prompt":"big","steps":2,"width":512,"height":512,"batch_size":2,"seed":3})");
  const std::string accepted = fake.wait_for_result("job-big", 120s);
  BOOST_TEST_REQUIRE(!accepted.empty(), worker.log());
  BOOST_TEST(fake.results_for("job-big").size() == 1u);
  BOOST_TEST(accepted.size() < 10000u);
  BOOST_TEST(sdw::test::result_error_text(accepted).find("over the platform's limit of 1000000") != std::string::npos, accepted);
  // No storage is configured to upload the images to; the error says how to configure one.
  BOOST_TEST(sdw::test::result_error_text(accepted).find("(BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, "
                                                         "BUCKET_SECRET_ACCESS_KEY)") != std::string::npos, accepted);
  // A small job still goes through.
  fake.add_job("job-small", small_input);
  BOOST_TEST(images_in(fake.wait_for_result("job-small")) == 1u);
}
