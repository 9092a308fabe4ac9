#define BOOST_TEST_MODULE scheduler_batching
#include <boost/test/unit_test.hpp>

// Batching across requests over a simulated device: compatible jobs queued behind a busy device
// run as one executor message, each keeping its own result; an incompatible job runs apart and
// is not overtaken forever by a stream of batchable ones; a batched member can be cancelled
// while queued (removed) or while running (it alone ends as CANCELLED).

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/sim_cluster.hpp"

#include <chrono>
#include <map>
#include <string>
#include <thread>

using namespace sdw;
using clock_type = std::chrono::steady_clock;

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
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{16, 4});
  // The blocker keeps the device busy while the others queue.
  c.submit("blocker", test::sim_job(256, 256, 20, 1));
  wait_until_started(c, "blocker");
  c.submit("a1", test::sim_job(512, 512, 20, 11));
  c.submit("a2", test::sim_job(512, 512, 20, 12, R"(,"cfg_scale":4)"));
  c.submit("x", test::sim_job(512, 512, 10, 30));  // other step count: not compatible
  c.submit("a3", test::sim_job(512, 512, 20, 13));
  c.submit("a4", test::sim_job(512, 512, 20, 14));
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
  BOOST_TEST(c.wait("blocker").batch_jobs == 1);
  // The executor was sent three messages: the blocker, the batch of four, and x.
  const health_report h = c.report();
  BOOST_TEST_REQUIRE(h.queue.devices.size() == 1u);
  BOOST_TEST(h.queue.devices[0].batches == 3);
  BOOST_TEST(h.queue.devices[0].jobs == 6);
  BOOST_TEST(h.queue.devices[0].images == 6);
}

BOOST_AUTO_TEST_CASE(max_batch_counts_images_and_batches_are_cheaper_than_singles) {
  // Jobs of 2 images each with max-batch 4: two jobs per batch.
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{16, 4});
  c.submit("blocker", test::sim_job(256, 256, 20, 1));
  wait_until_started(c, "blocker");
  for (int i = 0; i < 4; ++i) {
    c.submit("b" + std::to_string(i), test::sim_job(512, 512, 20, 20 + i, R"(,"batch_size":2)"));
  }
  for (int i = 0; i < 4; ++i) {
    const job_result r = c.wait("b" + std::to_string(i));
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    BOOST_TEST(r.batch_jobs == 2);
    BOOST_TEST(parse_json(r.output_json).find("images")->as_array().size() == 2u);
  }
  BOOST_TEST(c.report().queue.devices[0].batches == 3);
}

BOOST_AUTO_TEST_CASE(an_incompatible_head_is_not_overtaken_by_a_stream_of_batchable_jobs) {
  const int max_batch = 2;
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{64, max_batch});
  c.submit("blocker", test::sim_job(256, 256, 20, 1));
  wait_until_started(c, "blocker");
  std::map<std::string, clock_type::time_point> submitted;
  auto submit = [&](const std::string& id, const std::string& body) {
    submitted[id] = clock_type::now();
    c.submit(id, body);
  };
  submit("a0", test::sim_job(512, 512, 20, 100));
  submit("x", test::sim_job(512, 512, 10, 2));
  // Batchable jobs keep arriving until x has run.
  int n = 1;
  while (n < 40 && c.ask(status_atom::value, std::string("x")).status != job_status::completed) {
    submit("a" + std::to_string(n), test::sim_job(512, 512, 20, 100 + n));
    ++n;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  const job_result x = c.wait("x");
  BOOST_TEST_REQUIRE(x.status == job_status::completed, x.error.message);
  const auto x_start = submitted["x"] + std::chrono::milliseconds(x.delay_ms);
  // Batches here take 25 ms or more, far more than the millisecond the times are read to.
  int started_before_x = 0;
  for (int i = 0; i < n; ++i) {
    const std::string id = "a" + std::to_string(i);
    const job_result r = c.wait(id);
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    if (submitted[id] + std::chrono::milliseconds(r.delay_ms) < x_start - std::chrono::milliseconds(5)) {
      ++started_before_x;
    }
  }
  BOOST_TEST_MESSAGE(n << " batchable jobs, " << started_before_x << " started before x");
  // Only a0 (ahead of x) and what joined its batch went first, although more were waiting.
  BOOST_TEST(started_before_x <= max_batch);
  BOOST_TEST(started_before_x >= 1);
  BOOST_TEST(n > max_batch + 2);  // the stream was still coming when x ran
}

BOOST_AUTO_TEST_CASE(a_queued_batch_member_cancelled_is_left_out) {
  test::sim_cluster c({1.0}, 0.05, scheduler_limits{16, 4});
  c.submit("blocker", test::sim_job(256, 256, 20, 1));
  wait_until_started(c, "blocker");
  for (int i = 1; i <= 4; ++i) {
    c.submit("q" + std::to_string(i), test::sim_job(512, 512, 20, i));
  }
  BOOST_TEST(c.ask(cancel_atom::value, std::string("q3")).status == job_status::cancelled);
  for (const std::string id : {"q1", "q2", "q4"}) {
    const job_result r = c.wait(id);
    BOOST_TEST_REQUIRE(r.status == job_status::completed, r.error.message);
    BOOST_TEST(r.batch_jobs == 3);
  }
  const job_result q3 = c.wait("q3");
  BOOST_TEST(q3.status == job_status::cancelled);
  BOOST_TEST(q3.batch_jobs == 0);  // it never ran
  BOOST_TEST(c.report().queue.devices[0].jobs == 4);  // the blocker and three
}

BOOST_AUTO_TEST_CASE(a_running_batch_member_cancelled_ends_alone) {
  // About 60 ms per step for four 512² images at this scale: a 40-step batch runs ~2.5 s.
  test::sim_cluster c({1.0}, 0.2, scheduler_limits{16, 4});
  c.submit("blocker", test::sim_job(256, 256, 20, 1));  // ~90 ms: the four queue behind it
  for (int i = 1; i <= 4; ++i) {
    c.submit("r" + std::to_string(i), test::sim_job(512, 512, 40, i));
  }
  wait_until_started(c, "r1");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
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
  BOOST_TEST(h.queue.completed == 4);
}
