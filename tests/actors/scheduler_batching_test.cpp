#define BOOST_TEST_MODULE scheduler_batching
#include <boost/test/unit_test.hpp>

// Batching across requests over a simulated device: compatible jobs queued while the model loads
// run as one executor message, each keeping its own result; an incompatible job runs apart; a
// batched member can be cancelled while queued (removed) or while running (it alone ends as
// CANCELLED). Fairness (no job overtaken forever) is placement_test's, with plain calls.

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/sim_cluster.hpp"

#include <chrono>
#include <string>
#include <thread>

using namespace sdw;

namespace {

/// The seed written in the infotext of a result's first image.
std::string first_image_text(const job_result& r) {
  const json_value out = parse_json(r.output_json);
  const auto& images = out.find("images")->as_array();
  return decode_png(base64_decode(images.at(0).as_string())).text.at("parameters");
}

/// Polls until the job has left the queue.
void wait_until_started(test::sim_cluster& c, const std::string& id) {
  while (c.ask(status_atom::value, id).status == job_status::in_queue) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(compatible_queued_jobs_run_as_one_batch_and_an_incompatible_one_apart) {
  // Every job is queued before the scheduler hears that the model is loaded.
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{16, 4}, false);
  c.submit("a1", test::sim_job(512, 512, 20, 11));
  c.submit("a2", test::sim_job(512, 512, 20, 12, R"(,"cfg_scale":4)"));
  c.submit("x", test::sim_job(512, 512, 10, 30));  // other step count: not compatible
  c.submit("a3", test::sim_job(512, 512, 20, 13));
  c.submit("a4", test::sim_job(512, 512, 20, 14));
  c.make_ready();
  for (const std::string id : {"a1", "a2", "a3", "a4"}) {
    const job_result r = c.wait(id);
    BOOST_TEST_CONTEXT(id) {
      BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
      BOOST_TEST(r.batch_jobs == 4);
      // Each job got its own images: its own seed.
      BOOST_TEST(first_image_text(r).find("Seed: " + std::to_string(10 + (id[1] - '0'))) != std::string::npos);
    }
  }
  const job_result x = c.wait("x");
  BOOST_TEST_REQUIRE(x.status == job_status::completed, x.error.message);
  BOOST_TEST(x.batch_jobs == 1);
  // The executor was sent two messages: the batch of four, and x.
  const health_report h = c.report();
  BOOST_TEST_REQUIRE(h.queue.devices.size() == 1u);
  BOOST_TEST(h.queue.devices[0].batches == 2);
  BOOST_TEST(h.queue.devices[0].jobs == 5);
  BOOST_TEST(h.queue.devices[0].images == 5);
}

BOOST_AUTO_TEST_CASE(max_batch_counts_images_and_batches_are_cheaper_than_singles) {
  // Jobs of 2 images each with max-batch 4: two jobs per batch.
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{16, 4}, false);
  for (int i = 0; i < 4; ++i) {
    c.submit("b" + std::to_string(i), test::sim_job(512, 512, 20, 20 + i, R"(,"batch_size":2)"));
  }
  c.make_ready();
  for (int i = 0; i < 4; ++i) {
    const job_result r = c.wait("b" + std::to_string(i));
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    BOOST_TEST(r.batch_jobs == 2);
    BOOST_TEST(parse_json(r.output_json).find("images")->as_array().size() == 2u);
  }
  BOOST_TEST(c.report().queue.devices[0].batches == 2);
}

BOOST_AUTO_TEST_CASE(a_queued_batch_member_cancelled_is_left_out) {
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{16, 4}, false);
  for (int i = 1; i <= 4; ++i) {
    c.submit("q" + std::to_string(i), test::sim_job(512, 512, 20, i));
  }
  BOOST_TEST(c.ask(cancel_atom::value, std::string("q3")).status == job_status::cancelled);
  c.make_ready();
  for (const std::string id : {"q1", "q2", "q4"}) {
    const job_result r = c.wait(id);
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    BOOST_TEST(r.batch_jobs == 3);
  }
  const job_result q3 = c.wait("q3");
  BOOST_TEST(q3.status == job_status::cancelled);
  BOOST_TEST(q3.batch_jobs == 0);  // it never ran
  BOOST_TEST(c.report().queue.devices[0].jobs == 3);
}

BOOST_AUTO_TEST_CASE(a_running_batch_member_cancelled_ends_alone) {
  // About 60 ms per step for four 512² images at this scale: a 40-step batch runs ~2.5 s.
  test::sim_cluster c({1.0}, 0.2, scheduler_limits{16, 4}, false);
  for (int i = 1; i <= 4; ++i) {
    c.submit("r" + std::to_string(i), test::sim_job(512, 512, 40, i));
  }
  c.make_ready();
  wait_until_started(c, "r1");
  // The four started as one batch: r2 runs too.
  BOOST_TEST(c.ask(status_atom::value, std::string("r2")).status == job_status::in_progress);
  c.ask(cancel_atom::value, std::string("r2"));
  const job_result r2 = c.wait("r2");
  BOOST_TEST(r2.status == job_status::cancelled);
  BOOST_TEST(r2.output_json.empty());
  for (const std::string id : {"r1", "r3", "r4"}) {
    const job_result r = c.wait(id);
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    BOOST_TEST(r.batch_jobs == 4);
    BOOST_TEST(parse_json(r.output_json).find("images")->as_array().size() == 1u);
  }
  const health_report h = c.report();
  BOOST_TEST(h.queue.cancelled == 1);
  BOOST_TEST(h.queue.completed == 3);
}
