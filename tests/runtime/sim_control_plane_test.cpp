#define BOOST_TEST_MODULE sim_control_plane
#include <boost/test/unit_test.hpp>

// The emulator's protocol logic with direct calls (no sockets, no worker): takes, results,
// duplicates, requeue after silence, progress updates, retry, and fault decisions.

#include "runtime/sim/sim_control_plane.hpp"

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

sdw::sim_plane_config quick(int lost_after_ms = 3000) {
  sdw::sim_plane_config c;
  c.take_wait_ms = 50;
  c.lost_after_ms = lost_after_ms;
  return c;
}

std::string status_of(const sdw::sim_control_plane& p, const std::string& id) {
  for (const auto& r : p.records()) {
    if (r.id == id) {
      return r.status;
    }
  }
  return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(take_then_result_and_a_second_result_is_a_duplicate) {
  sdw::sim_control_plane p(quick());
  const std::string id = p.submit(R"({"prompt":"a"})");
  const auto take = p.handle("GET", "/v2/ep/job-take/w1", "job_in_progress=0", "");
  BOOST_TEST(take.status == 200);
  BOOST_TEST(take.body == "{\"id\":\"" + id + "\",\"input\":{\"prompt\":\"a\"}}");
  BOOST_TEST(p.handle("GET", "/v2/ep/job-take/w2", "", "").status == 204);
  const auto progress = p.handle("POST", "/v2/ep/job-done/w1/" + id, "isStream=false",
                                 R"({"status":"IN_PROGRESS","output":{"step":3}})");
  BOOST_TEST(progress.status == 200);
  BOOST_TEST(status_of(p, id) == "IN_PROGRESS");
  BOOST_TEST(p.handle("GET", "/v2/ep/status/" + id, "", "").body.find("\"output\":{\"step\":3}") != std::string::npos);
  p.handle("POST", "/v2/ep/job-done/w1/" + id, "gpu=x&isStream=false", R"({"output":{"images":["first"]}})");
  p.handle("POST", "/v2/ep/job-done/w2/" + id, "gpu=x&isStream=false", R"({"output":{"images":["second"]}})");
  const auto records = p.records();
  BOOST_TEST(records[0].status == "COMPLETED");
  BOOST_TEST(records[0].output == R"({"images":["first"]})");
  BOOST_TEST(records[0].worker == "w1");
  BOOST_TEST(records[0].results == 2);
  BOOST_TEST(p.counters().duplicate_results == 1);
  BOOST_TEST(p.counters().completed == 1);
}

BOOST_AUTO_TEST_CASE(how_a_job_ran_is_read_from_the_kept_result_and_stays_out_of_its_output) {
  sdw::sim_control_plane p(quick());
  const std::string id = p.submit(R"({"prompt":"a"})");
  p.handle("GET", "/v2/ep/job-take/w1", "", "");
  p.handle("POST", "/v2/ep/job-done/w1/" + id, "gpu=x&isStream=false&device=cuda%3A1&batch_jobs=3",
           R"({"output":{"images":["first"]}})");
  // A later duplicate says something else; only the kept result counts.
  p.handle("POST", "/v2/ep/job-done/w2/" + id, "isStream=false&device=sim%3A0&batch_jobs=1", R"({"output":{}})");
  const auto records = p.records();
  BOOST_TEST(records[0].device == "cuda:1");
  BOOST_TEST(records[0].batch_jobs == 3);
  BOOST_TEST(records[0].output == R"({"images":["first"]})");
  // A worker that does not say leaves it unknown.
  const std::string quiet = p.submit(R"({"prompt":"b"})");
  p.handle("GET", "/v2/ep/job-take/w1", "", "");
  p.handle("POST", "/v2/ep/job-done/w1/" + quiet, "isStream=false&batch_jobs=x", R"({"output":{}})");
  BOOST_TEST(p.records()[1].batch_jobs == 0);
  BOOST_TEST(p.records()[1].device == "");
}

BOOST_AUTO_TEST_CASE(a_silent_worker_job_is_requeued_and_a_pinging_one_is_not) {
  sdw::sim_control_plane p(quick(600));
  const std::string quiet = p.submit("{}");
  const std::string busy = p.submit("{}");
  p.handle("GET", "/v2/ep/job-take/w1", "", "");
  p.handle("GET", "/v2/ep/job-take/w2", "", "");
  for (int i = 0; i < 16; ++i) {
    std::this_thread::sleep_for(50ms);
    p.handle("GET", "/v2/ep/ping/w2", "job_id=" + busy + "&runpod_version=1", "");
  }
  p.sweep();
  BOOST_TEST(status_of(p, quiet) == "IN_QUEUE");
  BOOST_TEST(status_of(p, busy) == "IN_PROGRESS");
  BOOST_TEST(p.counters().requeued == 1);
  const auto again = p.handle("GET", "/v2/ep/job-take/w3", "", "");
  BOOST_TEST(again.body.find(quiet) != std::string::npos);
  BOOST_TEST(p.records()[0].takes == 2);
}

BOOST_AUTO_TEST_CASE(an_error_result_fails_the_job_and_retry_requeues_it) {
  sdw::sim_control_plane p(quick());
  const std::string id = p.submit("{}");
  p.handle("GET", "/v2/ep/job-take/w1", "", "");
  p.handle("POST", "/v2/ep/job-done/w1/" + id, "isStream=false", R"({"error":"boom"})");
  const auto st = p.handle("GET", "/v2/ep/status/" + id, "", "");
  BOOST_TEST(st.body.find("\"status\":\"FAILED\"") != std::string::npos);
  BOOST_TEST(st.body.find("\"error\":\"boom\"") != std::string::npos);
  BOOST_TEST(p.handle("POST", "/v2/ep/retry/" + id, "", "{}").status == 200);
  BOOST_TEST(status_of(p, id) == "IN_QUEUE");
  BOOST_TEST(p.counters().retried == 1);
}

BOOST_AUTO_TEST_CASE(faults_are_played_at_their_rates) {
  {
    sdw::sim_plane_config c = quick();
    c.faults.take_5xx = 1;
    sdw::sim_control_plane p(c);
    p.submit("{}");
    BOOST_TEST(p.handle("GET", "/v2/ep/job-take/w1", "", "").status == 503);
    BOOST_TEST(p.records()[0].status == "IN_QUEUE");  // nothing was taken
  }
  {
    sdw::sim_plane_config c = quick();
    c.faults.reset = 1;
    sdw::sim_control_plane p(c);
    BOOST_TEST((p.handle("GET", "/v2/ep/job-take/w1", "", "").action == sdw::sim_answer::how::reset));
    BOOST_TEST((p.handle("GET", "/v2/ep/ping/w1", "", "").action == sdw::sim_answer::how::reply));
  }
  {
    sdw::sim_plane_config c = quick();
    c.faults.drop = 0.25;
    c.faults.seed = 9;
    sdw::sim_control_plane p(c);
    int dropped = 0;
    for (int i = 0; i < 400; ++i) {
      const std::string id = p.submit("{}");
      dropped += p.handle("POST", "/v2/ep/job-done/w1/" + id, "", R"({"output":1})").action == sdw::sim_answer::how::drop;
    }
    BOOST_TEST(dropped > 60);
    BOOST_TEST(dropped < 140);
    BOOST_TEST(p.counters().injected_faults == dropped);
  }
  {
    sdw::sim_plane_config c = quick();
    c.faults.duplicate = 1;
    sdw::sim_control_plane p(c);
    const std::string id = p.submit("{}");
    BOOST_TEST(p.handle("GET", "/v2/ep/job-take/w1", "", "").body.find(id) != std::string::npos);
    BOOST_TEST(p.handle("GET", "/v2/ep/job-take/w2", "", "").body.find(id) != std::string::npos);
    BOOST_TEST(p.counters().injected_duplicates >= 1);
  }
}
