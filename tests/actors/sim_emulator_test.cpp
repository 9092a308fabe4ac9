#define BOOST_TEST_MODULE sim_emulator
#include <boost/test/unit_test.hpp>

// The RunPod control-plane emulator against real `sdworker serve --simulate 1` processes:
// the client API over HTTP, and every fault kind the harness can inject.

#include "runtime/sim/sim_server.hpp"
#include "runtime/sim/sim_workers.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/sim/sim_control_plane.hpp"
#include "runtime/sim/sim_load.hpp"
#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <future>
#include <cstdlib>
#include <memory>
#include <thread>

using sdw::json_value;
using namespace std::chrono_literals;

namespace {

/// An emulator with `workers` worker processes and `faults`.
struct sim_world {
  explicit sim_world(int workers, sdw::sim_faults faults = {}, int take_wait_ms = 200,
                     std::vector<std::string> worker_args = {}) {
    sdw::sim_plane_config pc;
    pc.take_wait_ms = take_wait_ms;
    pc.lost_after_ms = 2000;
    pc.faults = faults;
    plane = std::make_unique<sdw::sim_control_plane>(pc);
    server = std::make_unique<sdw::sim_server>(*plane);
    const char* binary = std::getenv("SDW_BINARY");
    BOOST_REQUIRE(binary != nullptr);
    sdw::sim_worker_spec spec{binary, logs.path, 0.02, std::move(worker_args)};
    for (int w = 1; w <= workers; ++w) {
      const std::string name = "w" + std::to_string(w);
      procs.start(spec, name, server->worker_env(name, 200));
    }
  }
  ~sim_world() {
    procs_kill_all();
  }
  void procs_kill_all() {
    for (const auto& n : procs.names()) {
      procs.kill(n);
    }
  }
  sdw::sim_http_reply call(const std::string& method, const std::string& target, const std::string& body = "") {
    return sdw::sim_http_request(server->port(), method, target, body);
  }
  /// Submits `n` default-mix jobs and waits until all are final; false on timeout.
  bool run_jobs(int n, std::chrono::seconds limit = 60s) {
    sdw::sim_load_generator load(sdw::default_request_mix(), 7);
    for (int i = 0; i < n; ++i) {
      ids.push_back(plane->submit(load.next_input()));
    }
    const auto end = std::chrono::steady_clock::now() + limit;
    while (plane->unfinished() > 0 && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(20ms);
      plane->sweep();
    }
    return plane->unfinished() == 0;
  }
  int completed() const {
    int n = 0;
    for (const auto& r : plane->records()) {
      n += r.status == "COMPLETED";
    }
    return n;
  }

  sdw::test::temp_dir logs;
  std::unique_ptr<sdw::sim_control_plane> plane;
  std::unique_ptr<sdw::sim_server> server;
  sdw::sim_workers procs;
  std::vector<std::string> ids;
};

json_value parse(const std::string& body) {
  return sdw::parse_json(body);
}

} // namespace

BOOST_AUTO_TEST_CASE(happy_path_through_the_client_api) {
  sim_world world(1);
  const auto run = world.call("POST", "/v2/sim/run", R"({"input":{"prompt":"a red fox","steps":10,"seed":5}})");
  BOOST_TEST(run.status == 200);
  const json_value queued = parse(run.body);
  BOOST_TEST(queued.find("status")->as_string() == "IN_QUEUE");
  const std::string id = queued.find("id")->as_string();
  BOOST_TEST(id.size() == 36u + 3u);  // uuid4 + "-u1"

  const auto done = world.call("GET", "/v2/sim/status-sync/" + id + "?wait=60000");
  BOOST_TEST_REQUIRE(done.status == 200);
  const json_value status = parse(done.body);
  BOOST_TEST(status.find("status")->as_string() == "COMPLETED");
  BOOST_TEST(status.find("workerId")->as_string() == "w1");
  BOOST_TEST(status.find("delayTime")->as_number() >= 0);
  BOOST_TEST(status.find("executionTime")->as_number() >= 0);
  const json_value* images = status.find("output")->find("images");
  BOOST_TEST_REQUIRE(images != nullptr);
  BOOST_TEST(images->as_array().size() == 1u);
  BOOST_TEST(images->as_array()[0].as_string().rfind("iVBOR", 0) == 0u);  // base64 of a PNG signature

  const auto sync = world.call("POST", "/v2/sim/runsync?wait=60000", R"({"input":{"prompt":"x","steps":5}})");
  const json_value synced = parse(sync.body);
  BOOST_TEST(synced.find("id")->as_string().rfind("sync-", 0) == 0u);
  BOOST_TEST(synced.find("status")->as_string() == "COMPLETED");

  const auto stream = parse(world.call("GET", "/v2/sim/stream/" + id).body);
  BOOST_TEST(stream.find("status")->as_string() == "COMPLETED");
  BOOST_TEST(stream.find("stream")->as_array().empty());

  const auto health = parse(world.call("GET", "/v2/sim/health").body);
  BOOST_TEST(health.find("jobs")->find("completed")->as_int() == 2);
  BOOST_TEST(health.find("workers")->find("idle")->as_int() + health.find("workers")->find("running")->as_int() == 1);
  BOOST_TEST(world.plane->counters().duplicate_results == 0);
}

BOOST_AUTO_TEST_CASE(cancel_retry_purge_and_unknown_jobs) {
  sdw::sim_control_plane plane({});
  sdw::sim_server server(plane);
  auto call = [&](const std::string& m, const std::string& t) { return sdw::sim_http_request(server.port(), m, t, "{}"); };
  const std::string a = plane.submit(R"({"prompt":"a"})");
  const std::string b = plane.submit(R"({"prompt":"b"})");
  plane.submit(R"({"prompt":"c"})");
  BOOST_TEST(parse(call("POST", "/v2/sim/cancel/" + a).body).find("status")->as_string() == "CANCELLED");
  BOOST_TEST(parse(call("GET", "/v2/sim/status/" + a).body).find("status")->as_string() == "CANCELLED");
  const auto retry = call("POST", "/v2/sim/retry/" + a);
  BOOST_TEST(retry.status == 400);
  BOOST_TEST(retry.body.find("only FAILED or TIMED_OUT") != std::string::npos);
  const auto purge = parse(call("POST", "/v2/sim/purge-queue").body);
  BOOST_TEST(purge.find("removed")->as_int() == 2);
  BOOST_TEST(parse(call("GET", "/v2/sim/status/" + b).body).find("status")->as_string() == "CANCELLED");
  BOOST_TEST(call("GET", "/v2/sim/status/nope").status == 404);
  BOOST_TEST(call("POST", "/v2/sim/run").status == 400);  // {} has no input
  // An empty queue: job-take answers 204 after its long poll.
  BOOST_TEST(call("GET", "/v2/sim/job-take/w9").status == 204);
}

BOOST_AUTO_TEST_CASE(a_waiting_job_take_gets_the_job_submitted_while_it_waits) {
  sdw::sim_plane_config config;
  config.take_wait_ms = 600000;  // longer than any test: only a job ends this poll
  sdw::sim_control_plane plane(config);
  sdw::sim_server server(plane);
  auto take = std::async(std::launch::async, [&] { return sdw::sim_http_request(server.port(), "GET", "/v2/sim/job-take/w1"); });
  // Still waiting (whether or not the request has reached the server yet).
  BOOST_TEST((take.wait_for(200ms) == std::future_status::timeout));
  const std::string id = plane.submit(R"({"prompt":"late"})");
  const auto got = take.get();
  BOOST_TEST_REQUIRE(got.status == 200);
  BOOST_TEST(parse(got.body).find("id")->as_string() == id);
}

BOOST_AUTO_TEST_CASE(job_take_and_job_done_5xx_are_retried_by_the_worker) {
  sdw::sim_faults f;
  f.take_5xx = 0.4;
  f.done_5xx = 0.4;
  sim_world world(1, f);
  BOOST_TEST_REQUIRE(world.run_jobs(10));
  BOOST_TEST(world.completed() == 10);
  BOOST_TEST(world.plane->counters().injected_faults > 0);
  BOOST_TEST(world.plane->counters().duplicate_results == 0);
}

BOOST_AUTO_TEST_CASE(slow_answers_only_delay) {
  sdw::sim_faults f;
  f.slow = 0.5;
  f.slow_ms = 150;
  sim_world world(1, f);
  BOOST_TEST_REQUIRE(world.run_jobs(8));
  BOOST_TEST(world.completed() == 8);
  BOOST_TEST(world.plane->counters().duplicate_results == 0);
}

BOOST_AUTO_TEST_CASE(dropped_answers_and_connection_resets) {
  for (const bool reset : {false, true}) {
    BOOST_TEST_CONTEXT((reset ? "reset" : "drop")) {
      sdw::sim_faults f;
      (reset ? f.reset : f.drop) = 0.3;
      f.seed = 11;
      sim_world world(1, f);
      BOOST_TEST_REQUIRE(world.run_jobs(8));
      BOOST_TEST(world.completed() == 8);
      BOOST_TEST(world.plane->counters().injected_faults > 0);
      BOOST_TEST(world.plane->counters().duplicate_results == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(duplicate_deliveries_are_detected_and_the_first_result_wins) {
  sdw::sim_faults f;
  f.duplicate = 0.5;
  f.seed = 3;
  sim_world world(2, f);
  BOOST_TEST_REQUIRE(world.run_jobs(12));
  BOOST_TEST(world.completed() == 12);
  const auto c = world.plane->counters();
  BOOST_TEST(c.injected_duplicates > 0);
  int extra = 0, doubled = 0;
  for (const auto& r : world.plane->records()) {
    extra += std::max(0, r.results - 1);
    doubled += r.takes > 1;
  }
  BOOST_TEST(doubled > 0);
  // Whether a doubled job also runs twice depends on which worker takes the second copy (a worker
  // ignores a job it already holds); every second result that does arrive is counted, and the
  // first result is the one kept (sim_control_plane_test checks that case directly).
  BOOST_TEST(c.duplicate_results == extra);
}

BOOST_AUTO_TEST_CASE(a_worker_with_concurrency_takes_several_jobs_at_once_and_batches_them) {
  // One simulated device, 4 jobs held at once, batches of up to 4 images across requests.
  sim_world world(1, {}, 200, {"--concurrency", "4", "--max-batch", "4"});
  const std::string input = R"({"prompt":"a lighthouse","steps":20,"width":512,"height":512})";
  for (int i = 0; i < 12; ++i) {
    world.ids.push_back(world.plane->submit(input));
  }
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (world.plane->unfinished() > 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(20ms);
    world.plane->sweep();
  }
  BOOST_TEST_REQUIRE(world.completed() == 12);
  BOOST_TEST(world.plane->counters().batch_takes > 0);
  BOOST_TEST(world.plane->counters().duplicate_results == 0);
  // Jobs that ran as one batch were taken together and finished together: the worker held
  // several at once, which a one-job-at-a-time worker never does.
  int most_held = 0;
  const auto records = world.plane->records();
  for (const auto& a : records) {
    int held = 0;
    for (const auto& b : records) {
      held += b.taken_ms <= a.taken_ms && a.taken_ms < b.done_ms;
    }
    most_held = std::max(most_held, held);
  }
  BOOST_TEST(most_held >= 2);
}
