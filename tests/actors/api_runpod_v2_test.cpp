#define BOOST_TEST_MODULE api_runpod_v2
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <chrono>
#include <string>

using sdw::test::member;

namespace {

sdw::test::http_reply call(const std::string& method, const std::string& path, const std::string& body = "") {
  auto& s = sdw::test::checked_shared_api_server({"--queue-size", "4"});
  return s.server.call(method, path, body);
}

std::string status_of(const sdw::test::http_reply& r) {
  const auto& s = member(r.json, "status");
  return s.is_string() ? s.as_string() : "";
}

std::string id_of(const sdw::test::http_reply& r) { return member(r.json, "id").as_string(); }

/// Polls until the job has `status` (or 60 s pass).
std::string wait_for(const std::string& id, const std::string& status) {
  std::string now;
  for (int i = 0; i < 600 && now != status; ++i) {
    now = status_of(call("GET", "/status/" + id));
    if (now != status) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return now;
}

const std::string small_job = R"({"input":{"prompt":"a tree","steps":2,"width":64,"height":64,"seed":3}})";
const std::string long_job = R"({"input":{"prompt":"slow","steps":150,"n_iter":100,"width":64,"height":64}})";

} // namespace

BOOST_AUTO_TEST_CASE(every_route_answers_under_v2_with_any_endpoint_id) {
  const auto sync = call("POST", "/v2/abc123/runsync?wait=60000", small_job);
  BOOST_TEST_REQUIRE(sync.status == 200, sync.body.substr(0, 300));
  BOOST_TEST(status_of(sync) == "COMPLETED");
  const auto png =
    sdw::decode_png(sdw::base64_decode(member(member(sync.json, "output"), "images").as_array().at(0).as_string()));
  BOOST_TEST(png.width == 64);
  const std::string id = id_of(sync);
  BOOST_TEST(id.rfind("sync-", 0) == 0);
  BOOST_TEST(status_of(call("GET", "/v2/other-endpoint/status/" + id)) == "COMPLETED");
  BOOST_TEST(status_of(call("POST", "/v2/x/status/" + id)) == "COMPLETED");
  const auto health = call("GET", "/v2/x/health");
  BOOST_TEST(health.status == 200);
  BOOST_TEST(member(member(health.json, "jobs"), "completed").as_int() >= 1);
}

BOOST_AUTO_TEST_CASE(status_sync_and_stream_long_poll_until_the_job_is_final) {
  const auto run = call("POST", "/v2/e/run", R"({"input":{"prompt":"p","steps":40,"width":64,"height":64}})");
  const std::string id = id_of(run);
  // A short wait that ends before the job: the current status.
  const auto early = call("GET", "/v2/e/status-sync/" + id + "?wait=1000");
  BOOST_TEST(early.status == 200);
  // Stream: never any chunks from this worker, always the status.
  std::string st;
  int polls = 0;
  do {
    const auto s = call("GET", "/v2/e/stream/" + id);
    BOOST_TEST_REQUIRE(s.status == 200);
    BOOST_TEST_REQUIRE(member(s.json, "stream").is_array());
    BOOST_TEST(member(s.json, "stream").as_array().empty());
    st = status_of(s);
    ++polls;
  } while (st != "COMPLETED" && polls < 200);
  BOOST_TEST(st == "COMPLETED");
  // Polls without pause are held while the job runs, so they are fewer than the job has steps
  // (unheld, a loop on loopback makes hundreds while a 40-step job runs).
  BOOST_TEST(polls < 40, polls << " polls");
  const auto done = call("GET", "/v2/e/status-sync/" + id + "?wait=5000");
  BOOST_TEST(status_of(done) == "COMPLETED");
  BOOST_TEST(member(done.json, "output").is_object());
  BOOST_TEST(status_of(call("POST", "/v2/e/stream/" + id)) == "COMPLETED");
}

BOOST_AUTO_TEST_CASE(retry_requeues_failed_and_cancelled_jobs_with_the_same_id) {
  // A job that fails (bad width) fails again on retry: same id, same input.
  const auto bad = call("POST", "/runsync", R"({"input":{"prompt":"x","steps":2,"width":65}})");
  BOOST_TEST_REQUIRE(status_of(bad) == "FAILED", bad.body);
  const std::string bad_id = id_of(bad);
  const auto retried = call("POST", "/v2/e/retry/" + bad_id);
  BOOST_TEST(retried.status == 200, retried.body);
  BOOST_TEST(status_of(retried) == "IN_QUEUE");
  BOOST_TEST(id_of(retried) == bad_id);
  BOOST_TEST(wait_for(bad_id, "FAILED") == "FAILED");
  BOOST_TEST(member(call("GET", "/status/" + bad_id).json, "error").as_string().find("width") != std::string::npos);

  // A cancelled job runs again and completes.
  const auto slow = call("POST", "/run", long_job);
  const auto small = call("POST", "/run", small_job);
  const std::string small_id = id_of(small);
  BOOST_TEST(status_of(call("POST", "/cancel/" + small_id)) == "CANCELLED");
  BOOST_TEST(status_of(call("POST", "/cancel/" + id_of(slow))) == "CANCELLED");
  BOOST_TEST(status_of(call("POST", "/retry/" + small_id)) == "IN_QUEUE");
  BOOST_TEST(wait_for(small_id, "COMPLETED") == "COMPLETED");

  BOOST_TEST(member(member(call("GET", "/health").json, "jobs"), "retried").as_int() == 2);

  // Only FAILED or CANCELLED jobs can be retried.
  const auto again = call("POST", "/retry/" + small_id);
  BOOST_TEST(again.status == 400);
  BOOST_TEST(again.body.find("cannot be retried") != std::string::npos, again.body);
}

BOOST_AUTO_TEST_CASE(purge_queue_removes_the_waiting_jobs_only) {
  const std::string running = id_of(call("POST", "/run", long_job));
  BOOST_TEST_REQUIRE(wait_for(running, "IN_PROGRESS") == "IN_PROGRESS");
  const std::string a = id_of(call("POST", "/run", small_job));
  const std::string b = id_of(call("POST", "/run", small_job));
  const auto purge = call("POST", "/v2/e/purge-queue", "{}");
  BOOST_TEST(purge.status == 200);
  BOOST_TEST(purge.body == R"({"removed":2,"status":"completed"})");
  BOOST_TEST(status_of(call("GET", "/status/" + a)) == "CANCELLED");
  BOOST_TEST(status_of(call("GET", "/status/" + b)) == "CANCELLED");
  BOOST_TEST(status_of(call("GET", "/status/" + running)) == "IN_PROGRESS");
  BOOST_TEST(status_of(call("POST", "/cancel/" + running)) == "CANCELLED");
  BOOST_TEST(call("POST", "/purge-queue").body == R"({"removed":0,"status":"completed"})");
}
