#define BOOST_TEST_MODULE api_runpod
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

using sdw::json_value;
using sdw::test::member;

namespace {

/// The running server, shared by the file's tests; fails the calling test when it does not come up.
sdw::test::shared_server& start_server() {
  auto& s = sdw::test::checked_shared_api_server({"--queue-size", "2"}, false);
  return s;
}

sdw::test::http_reply call(const std::string& method, const std::string& path, const std::string& body = "") {
  return start_server().server.call(method, path, body);
}

std::string status_of(const sdw::test::http_reply& r) {
  const auto& s = member(r.json, "status");
  return s.is_string() ? s.as_string() : "";
}

/// Polls /status/{id} until the job has `status` (or 60 s pass); returns the last answer.
sdw::test::http_reply wait_for_status(const std::string& id, const std::string& status) {
  sdw::test::http_reply r;
  for (int i = 0; i < 600; ++i) {
    r = call("GET", "/status/" + id);
    if (status_of(r) == status) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

const std::string small_job = R"({"input":{"prompt":"a tree","steps":3,"width":64,"height":64,"seed":3}})";
/// About 60000 sampler steps: runs until cancelled.
const std::string long_job =
  R"({"input":{"prompt":"slow","steps":150,"n_iter":100,"batch_size":4,"width":64,"height":64}})";

} // namespace

// The first job goes in as soon as the server answers, possibly while the model still loads.
BOOST_AUTO_TEST_CASE(run_then_status_until_completed) {
  start_server();
  const auto r = call("POST", "/run", small_job);
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST(status_of(r) == "IN_QUEUE");
  const std::string id = member(r.json, "id").as_string();
  BOOST_TEST(id.size() == 36u);
  const auto done = wait_for_status(id, "COMPLETED");
  BOOST_TEST_REQUIRE(status_of(done) == "COMPLETED", done.body.substr(0, 500) + start_server().server.log());
  const auto& images = member(member(done.json, "output"), "images").as_array();
  BOOST_TEST_REQUIRE(images.size() == 1u);
  const auto png = sdw::decode_png(sdw::base64_decode(images[0].as_string()));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.height == 64);
  BOOST_TEST(member(done.json, "delayTime").as_int() >= 0);
  BOOST_TEST(member(done.json, "executionTime").as_int() >= 0);
  // A finished job stays visible.
  BOOST_TEST(status_of(call("POST", "/status/" + id)) == "COMPLETED");
}

BOOST_AUTO_TEST_CASE(runsync_returns_the_output) {
  start_server();
  const auto r = call("POST", "/runsync", small_job);
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(status_of(r) == "COMPLETED");
  BOOST_TEST(member(r.json, "id").as_string().rfind("sync-", 0) == 0u);
  const auto& out = member(r.json, "output");
  BOOST_TEST(member(out, "images").as_array().size() == 1u);
  BOOST_TEST(member(member(out, "parameters"), "seed").as_int() == 3);
}

BOOST_AUTO_TEST_CASE(runsync_with_a_bad_field_fails_naming_it) {
  start_server();
  const auto r = call("POST", "/runsync", R"({"input":{"steps":"x"}})");
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(status_of(r) == "FAILED");
  const json_value error = sdw::parse_json(member(r.json, "error").as_string());
  BOOST_TEST(member(error, "error_type").as_string() == "bad_request");
  BOOST_TEST(member(error, "field").as_string() == "steps");
  BOOST_TEST(member(error, "error_message").as_string() == "steps: value is not a valid integer");
}

BOOST_AUTO_TEST_CASE(a_body_without_input_is_422) {
  start_server();
  const auto r = call("POST", "/run", R"({"prompt":"x"})");
  BOOST_TEST(r.status == 422);
  const auto& item = member(r.json, "detail").as_array().at(0);
  BOOST_TEST(sdw::to_json(member(item, "loc")) == R"(["body","input"])");
}

BOOST_AUTO_TEST_CASE(status_of_an_unknown_job_is_404) {
  start_server();
  const auto r = call("GET", "/status/no-such-job");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(member(r.json, "error").as_string() == "Job ID not found");
  BOOST_TEST(call("POST", "/cancel/no-such-job").status == 404);
}

BOOST_AUTO_TEST_CASE(queued_and_running_jobs_cancel_and_a_full_queue_is_503) {
  start_server();
  const auto a = call("POST", "/run", long_job);
  const std::string id_a = member(a.json, "id").as_string();
  BOOST_TEST_REQUIRE(status_of(wait_for_status(id_a, "IN_PROGRESS")) == "IN_PROGRESS");
  const std::string id_b = member(call("POST", "/run", long_job).json, "id").as_string();
  const std::string id_c = member(call("POST", "/run", long_job).json, "id").as_string();
  BOOST_TEST(status_of(call("GET", "/status/" + id_b)) == "IN_QUEUE");

  const auto full = call("POST", "/run", long_job);
  BOOST_TEST(full.status == 503);
  BOOST_TEST(full.body.find("queue is full") != std::string::npos, full.body);

  const auto cb = call("POST", "/cancel/" + id_b);
  BOOST_TEST(cb.status == 200);
  BOOST_TEST(status_of(cb) == "CANCELLED");
  BOOST_TEST(status_of(call("GET", "/status/" + id_b)) == "CANCELLED");
  BOOST_TEST(status_of(call("POST", "/cancel/" + id_c)) == "CANCELLED");

  BOOST_TEST(status_of(call("POST", "/cancel/" + id_a)) == "CANCELLED");
  // The running job stops at its next sampler step and the executor takes new work.
  bool idle = false;
  for (int i = 0; i < 300 && !idle; ++i) {
    const auto h = call("GET", "/health");
    idle = member(member(h.json, "jobs"), "inProgress").as_int() == 0;
    if (!idle) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  BOOST_TEST_REQUIRE(idle);
  const auto h = call("GET", "/health");
  BOOST_TEST(member(member(h.json, "jobs"), "cancelled").as_int() == 3);
  BOOST_TEST(status_of(call("GET", "/status/" + id_a)) == "CANCELLED");
  BOOST_TEST(status_of(call("POST", "/runsync", small_job)) == "COMPLETED");
}

// Last: SIGTERM ends the server cleanly (listener closed, actors stopped, exit code 0).
BOOST_AUTO_TEST_CASE(the_server_stops_cleanly_on_sigterm) {
  auto& server = start_server().server;
  BOOST_TEST(server.stop() == 0, server.log());
}
