#define BOOST_TEST_MODULE sim_requeue
#include <boost/test/unit_test.hpp>

// A worker SIGKILLed while it holds a job: the emulator sees it stop pinging, requeues the job,
// and another worker completes it; nothing is lost or delivered twice.

#include "runtime/sim/sim_session.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdlib>

BOOST_AUTO_TEST_CASE(killed_worker_job_is_requeued_and_completed_by_another) {
  sdw::test::temp_dir dir;
  sdw::sim_args args;
  const char* binary = std::getenv("SDW_BINARY");
  BOOST_REQUIRE(binary != nullptr);
  args.binary = binary;
  args.workers = 2;
  args.jobs = 12;
  args.clients = 2;
  args.time_scale = 0.3;  // jobs of a few hundred ms, so the kill lands mid-job
  args.ping_ms = 200;
  args.lost_after_ms = 1000;
  args.take_wait_ms = 200;
  args.kill_after_s = 0.5;
  args.timeout_s = 60;
  args.out = dir.file("report");
  const sdw::sim_outcome outcome = sdw::run_sim_session(args);
  BOOST_TEST_REQUIRE(outcome.killed);
  const auto& r = outcome.report;
  BOOST_TEST(r.lost == 0);
  BOOST_TEST(r.completed == 12);
  BOOST_TEST(r.duplicated == 0);
  BOOST_TEST(r.requeued >= 1);
  // The survivor did the killed worker's job.
  const std::string survivor = outcome.killed_worker == "worker-1" ? "worker-2" : "worker-1";
  for (const auto& w : r.workers) {
    if (w.name == survivor) {
      BOOST_TEST(w.jobs >= 1);
    }
  }
}
