#define BOOST_TEST_MODULE serve_lifecycle
#include <boost/test/unit_test.hpp>

#include "runtime/base/json_value.hpp"
#include "tests/support/fake_runpod.hpp"
#include "tests/support/serve_process.hpp"

#include <fstream>

using sdw::json_value;
using sdw::test::fake_runpod;
using namespace std::chrono_literals;

namespace {

/// Waits until the worker's heartbeat names `job` (it is running).
bool heartbeat_names(const fake_runpod& fake, const std::string& job) {
  return fake.wait_until(
    [&] {
      for (const auto& p : fake.pings()) {
        if (p.param("job_id") == job) {
          return true;
        }
      }
      return false;
    },
    60s);
}


const std::string small_input = R"({"prompt":"a boat","steps":3,"width":64,"height":64,"seed":2})";

size_t images_in(const std::string& body) {
  const json_value doc = sdw::parse_json(body);
  const json_value* output = doc.find("output");
  return output != nullptr ? output->find("images")->as_array().size() : 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(sigterm_while_a_job_runs_delivers_its_result_then_exits_0) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  // A drain long enough for the job, whatever the machine's speed.
  auto env = fake.env();
  env.emplace_back("SDWORKER_DRAIN_SECONDS", "600");
  sdw::test::serve_process worker(sdw::test::tiny_model(models), env);
  fake.add_job("job-term", R"({"prompt":"slow","steps":150,"n_iter":4,"width":64,"height":64,"seed":4})");
  fake.add_job("job-never", small_input);
  // Running: the heartbeat names it.
  BOOST_TEST_REQUIRE(fake.wait_until(
    [&] {
      for (const auto& p : fake.pings()) {
        if (p.param("job_id") == "job-term") {
          return true;
        }
      }
      return false;
    },
    60s), worker.log());
  BOOST_TEST_REQUIRE(fake.results_for("job-term").empty(), "the job ended before the signal: make it longer");
  const auto signalled = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  const int code = worker.wait_exit(120s);
  BOOST_TEST(code == 0, worker.log());

  const auto results = fake.results_for("job-term");
  BOOST_TEST_REQUIRE(results.size() == 1u, worker.log());
  BOOST_TEST(results[0].answered == 200);
  BOOST_TEST(images_in(results[0].body) == 4u);
  // No job was taken after the signal: the second one stays with the platform.
  for (const auto& t : fake.takes()) {
    BOOST_TEST((t.at < signalled));
  }
  BOOST_TEST(fake.results_for("job-never").empty());
}

// A model that cannot be loaded: heartbeats go out, no job is taken, the process ends with 1
// and says why (RunPod then restarts the worker).
BOOST_AUTO_TEST_CASE(a_model_that_fails_to_load_ends_the_worker_with_1_without_taking_jobs) {
  fake_runpod fake;
  sdw::test::temp_dir dir;
  const std::string broken = dir.file("broken.safetensors");
  std::ofstream(broken) << "this is not a safetensors file";
  fake.add_job("job-unserved", small_input);
  sdw::test::serve_process worker(broken, fake.env("rp-test-key", "pod-1", 100));
  BOOST_TEST(worker.wait_exit(60s) == 1, worker.log());
  BOOST_TEST(worker.log().find("the model failed to load") != std::string::npos, worker.log());
  BOOST_TEST(worker.log().find("broken.safetensors") != std::string::npos);
  BOOST_TEST(fake.takes().empty());
  BOOST_TEST(fake.done_posts().empty());
}

// Past queue.drain-seconds, the job still running ends with an error that is delivered, so the
// platform knows (and may run it again) instead of losing it with the process.
BOOST_AUTO_TEST_CASE(a_job_outlasting_the_drain_ends_with_a_delivered_error) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  auto env = fake.env();
  env.emplace_back("SDWORKER_DRAIN_SECONDS", "1");
  sdw::test::serve_process worker(sdw::test::tiny_model(models), env);
  fake.add_job("job-long", R"({"prompt":"long","steps":150,"n_iter":40,"width":64,"height":64,"seed":4})");
  BOOST_TEST_REQUIRE(heartbeat_names(fake, "job-long"), worker.log());
  worker.signal(SIGTERM);
  BOOST_TEST(worker.wait_exit(120s) == 0, worker.log());
  const auto results = fake.results_for("job-long");
  BOOST_TEST_REQUIRE(results.size() == 1u, worker.log());
  BOOST_TEST(results[0].answered == 200);
  BOOST_TEST(sdw::test::result_error_text(results[0].body).find("the worker was stopped (SIGTERM) before the job finished") !=
               std::string::npos,
             results[0].body);
}

// A second signal does not wait for the drain: the running job ends at once with its error.
BOOST_AUTO_TEST_CASE(a_second_sigterm_ends_the_running_job_with_a_delivered_error) {
  fake_runpod fake;
  sdw::test::temp_dir models;
  auto env = fake.env();
  env.emplace_back("SDWORKER_DRAIN_SECONDS", "3600");
  sdw::test::serve_process worker(sdw::test::tiny_model(models), env);
  fake.add_job("job-long", R"({"prompt":"long","steps":150,"n_iter":40,"width":64,"height":64,"seed":4})");
  BOOST_TEST_REQUIRE(heartbeat_names(fake, "job-long"), worker.log());
  worker.signal(SIGTERM);
  BOOST_TEST_REQUIRE(fake.wait_until([&] { return worker.log().find("finishing the jobs in flight") != std::string::npos; },
                                     30s),
                     worker.log());
  worker.signal(SIGTERM);
  BOOST_TEST(worker.wait_exit(120s) == 0, worker.log());
  const auto results = fake.results_for("job-long");
  BOOST_TEST_REQUIRE(results.size() == 1u, worker.log());
  BOOST_TEST(sdw::test::result_error_text(results[0].body).find("stopped (SIGTERM)") != std::string::npos, results[0].body);
}
