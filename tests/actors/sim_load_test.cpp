#define BOOST_TEST_MODULE sim_load
#include <boost/test/unit_test.hpp>

// A few hundred jobs through the emulator and four real workers: none lost, none duplicated,
// every worker used, the report files written; and the batch-size histogram with max-batch 4 and 1.

#include "runtime/sim/sim_session.hpp"
#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace {

sdw::sim_args small_run(const sdw::test::temp_dir& dir) {
  sdw::sim_args args;
  const char* binary = std::getenv("SDW_BINARY");
  BOOST_REQUIRE(binary != nullptr);
  args.binary = binary;
  args.time_scale = 0.01;
  args.ping_ms = 300;
  args.take_wait_ms = 200;
  args.timeout_s = 50;
  args.out = dir.file("report");
  return args;
}

using sdw::test::slurp;

} // namespace

BOOST_AUTO_TEST_CASE(three_hundred_jobs_closed_loop_none_lost_or_duplicated) {
  sdw::test::temp_dir dir;
  sdw::sim_args args = small_run(dir);
  args.workers = 4;
  args.jobs = 300;
  args.clients = 8;
  BOOST_TEST(sdw::run_sim(args) == 0);
  const std::string json = slurp(args.out + ".json");
  BOOST_TEST(json.find("\"jobs\":300,\"completed\":300,") != std::string::npos);
  BOOST_TEST(json.find("\"lost\":0,\"duplicated\":0,") != std::string::npos);
  const std::string html = slurp(args.out + ".html");
  BOOST_TEST(html.find("<svg") != std::string::npos);
  BOOST_TEST(html.find("worker-4") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(poisson_arrivals_with_every_fault_still_lose_nothing) {
  sdw::test::temp_dir dir;
  sdw::sim_args args = small_run(dir);
  args.workers = 3;
  args.jobs = 120;
  args.rate = 40;
  args.seed = 5;
  args.faults.seed = 5;
  args.faults.take_5xx = 0.05;
  args.faults.done_5xx = 0.05;
  args.faults.slow = 0.05;
  args.faults.slow_ms = 100;
  args.faults.drop = 0.03;
  args.faults.reset = 0.03;
  const sdw::sim_outcome outcome = sdw::run_sim_session(args);
  const auto& r = outcome.report;
  BOOST_TEST(r.jobs == 120);
  BOOST_TEST(r.completed == 120);
  BOOST_TEST(r.lost == 0);
  BOOST_TEST(r.duplicated == 0);
  BOOST_TEST(r.injected_faults > 0);
  BOOST_TEST(r.throughput_per_s > 0);
  BOOST_TEST(r.end_to_end.p50 <= r.end_to_end.p95);
  BOOST_TEST(r.end_to_end.p95 <= r.end_to_end.p99);
  BOOST_TEST(r.queue.p99 <= r.end_to_end.p99);
  int used = 0;
  for (const auto& w : r.workers) {
    used += w.jobs > 0;
    BOOST_TEST(w.utilisation <= 1.0);
  }
  BOOST_TEST(used == 3);
}

BOOST_AUTO_TEST_CASE(batch_size_histogram_under_load_with_max_batch_4_and_1) {
  // Two workers that each hold up to 4 jobs, eight closed-loop clients on the default mix (whose
  // most common request is a compatible 512² one): with max-batch 4 some runs share jobs; with
  // max-batch 1 none do. Either way every completed job is counted once, in the run it shared.
  for (const int max_batch : {4, 1}) {
    BOOST_TEST_CONTEXT("max-batch " << max_batch) {
      sdw::test::temp_dir dir;
      sdw::sim_args args = small_run(dir);
      args.time_scale = 0.05;  // runs of ~50 ms, so jobs queue up behind them
      args.workers = 2;
      args.jobs = 80;
      args.clients = 8;
      args.max_batch = max_batch;
      args.concurrency = 4;
      const sdw::sim_report r = sdw::run_sim_session(args).report;
      BOOST_TEST(r.completed == 80);
      BOOST_TEST(r.lost == 0);
      BOOST_TEST(r.batch_unreported == 0);
      int jobs = 0, largest = 0;
      for (const auto& b : r.batch_sizes) {
        BOOST_TEST_MESSAGE(b.batches << " runs of " << b.size);
        jobs += b.jobs;
        largest = std::max(largest, b.size);
        BOOST_TEST(b.size <= max_batch);
      }
      BOOST_TEST(jobs == r.completed);
      if (max_batch == 1) {
        BOOST_TEST(largest == 1);
      } else {
        BOOST_TEST(largest > 1);
      }
      BOOST_TEST(sdw::sim_report_json(r).find("\"batch_sizes\":[{\"size\":1,") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(every_fault_at_once_a_killed_worker_and_plane_restarts_lose_no_job) {
  // Results refused with 400 (the worker then posts an error result: the job ends FAILED with the
  // reason), the control plane restarting (connections refused for a while), a worker killed
  // while it holds a job, and every drawn fault besides: each job still ends exactly once as
  // clients see it.
  sdw::test::temp_dir dir;
  sdw::sim_args args = small_run(dir);
  args.workers = 4;
  args.jobs = 200;
  args.clients = 8;
  args.timeout_s = 120;
  args.seed = 11;
  args.faults.seed = 11;
  args.faults.take_5xx = 0.03;
  args.faults.done_5xx = 0.03;
  args.faults.done_4xx = 0.03;
  args.faults.slow = 0.03;
  args.faults.slow_ms = 100;
  args.faults.drop = 0.02;
  args.faults.reset = 0.02;
  args.faults.duplicate = 0.02;
  args.kill_after_s = 1;
  args.restart_every_s = 2;
  args.restart_down_ms = 300;
  const sdw::sim_outcome outcome = sdw::run_sim_session(args);
  const auto& r = outcome.report;
  BOOST_TEST(outcome.killed);
  BOOST_TEST(r.settings.find("control-plane restarts 0") == std::string::npos, r.settings);
  BOOST_TEST(r.jobs == 200);
  BOOST_TEST(r.lost == 0);
  BOOST_TEST(r.completed + r.failed == 200);
  BOOST_TEST(r.cancelled == 0);
  BOOST_TEST(r.injected_faults > 0);
}
