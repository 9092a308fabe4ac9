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
  sdw::test::serve_process worker(sdw::test::tiny_model(models), fake.env());
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
