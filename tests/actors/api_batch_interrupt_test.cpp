#define BOOST_TEST_MODULE api_batch_interrupt
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <vector>

using sdw::json_value;
using sdw::test::images_of;
using sdw::test::member;

namespace {

sdw::test::shared_server& start_server() {
  auto& s = sdw::test::checked_shared_api_server({"--max-batch", "4"});
  return s;
}

sdw::test::http_reply call(const std::string& method, const std::string& path, const std::string& body = "") {
  return start_server().server.call(method, path, body);
}

/// Polls (every 10 ms, up to 60 s) until `done` holds for the answer of GET `path`; returns it.
json_value poll(const std::string& path, const std::function<bool(const json_value&)>& done) {
  json_value v;
  for (int i = 0; i < 6000; ++i) {
    v = call("GET", path).json;
    if (done(v)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return v;
}

const json_value& state_of(const json_value& progress) { return member(progress, "state"); }

/// A 150-step Euler job: compatible with the others of its kind, so they share a sampling run.
std::string long_job(int seed) {
  return R"({"prompt":"batch member )" + std::to_string(seed) + R"(","steps":150,"width":64,"height":64,"seed":)" +
         std::to_string(seed) + R"(,"sampler_name":"Euler"})";
}

} // namespace

BOOST_AUTO_TEST_CASE(interrupt_ends_every_member_of_a_running_batch_with_its_image) {
  start_server();  // on this thread, before any other uses it
  // A job alone (larger, so that it cannot end first) holds the executor while three compatible
  // jobs queue behind it.
  auto blocker = std::async(std::launch::async, [] {
    return call("POST", "/sdapi/v1/txt2img",
                R"({"prompt":"blocker","steps":150,"width":256,"height":256,"seed":100,"sampler_name":"Euler"})");
  });
  poll("/sdapi/v1/progress", [](const json_value& p) { return member(state_of(p), "sampling_step").as_int() >= 1; });
  std::vector<std::future<sdw::test::http_reply>> jobs;
  const std::vector<int> seeds = {101, 102, 103};
  for (int seed : seeds) {
    jobs.push_back(std::async(std::launch::async, [seed] { return call("POST", "/sdapi/v1/txt2img", long_job(seed)); }));
  }
  const auto queued = poll("/health", [](const json_value& h) { return member(member(h, "jobs"), "inQueue").as_int() == 3; });
  BOOST_TEST_REQUIRE(member(member(queued, "jobs"), "inQueue").as_int() == 3, sdw::to_json(queued));

  // Interrupting the lone job lets the three start, as one batch.
  BOOST_TEST_REQUIRE(call("POST", "/sdapi/v1/interrupt").status == 200);
  const auto first = blocker.get();
  BOOST_TEST_REQUIRE(first.status == 200, first.body.substr(0, 300));
  BOOST_TEST(images_of(first).size() == 1u);
  const auto batched = poll("/health", [](const json_value& h) {
    const auto& d = member(h, "devices");
    return d.is_array() && !d.as_array().empty() && member(d.as_array()[0], "running").as_int() == 3;
  });
  BOOST_TEST_REQUIRE(member(member(batched, "devices").as_array().at(0), "running").as_int() == 3,
                     sdw::to_json(batched));
  const auto sampling =
    poll("/sdapi/v1/progress", [](const json_value& p) { return member(state_of(p), "sampling_step").as_int() >= 1; });
  // The batch started after the interrupt: A1111 clears the flag when a job starts.
  BOOST_TEST(member(state_of(sampling), "interrupted").as_bool() == false, sdw::to_json(sampling));
  BOOST_TEST(member(state_of(sampling), "sampling_steps").as_int() == 150);

  const auto r = call("POST", "/sdapi/v1/interrupt");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "{}");
  const json_value p = call("GET", "/sdapi/v1/progress").json;
  BOOST_TEST(member(state_of(p), "interrupted").as_bool() == true, sdw::to_json(p));
  BOOST_TEST(member(state_of(p), "skipped").as_bool() == false, sdw::to_json(p));

  std::vector<sdw::decoded_png> interrupted;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto done = jobs[i].get();
    BOOST_TEST_REQUIRE(done.status == 200, done.body.substr(0, 300));
    const auto imgs = images_of(done);
    BOOST_TEST_REQUIRE(imgs.size() == 1u);
    BOOST_TEST(imgs[0].width == 64);
    const std::string seed = "Seed: " + std::to_string(seeds[i]) + ",";
    BOOST_TEST(imgs[0].text.at("parameters").find(seed) != std::string::npos, imgs[0].text.at("parameters"));
    interrupted.push_back(imgs[0]);
  }

  // The flag outlives the job it stopped, until the next job starts.
  const json_value after = call("GET", "/sdapi/v1/progress").json;
  BOOST_TEST(member(state_of(after), "interrupted").as_bool() == true, sdw::to_json(after));
  BOOST_TEST(member(after, "progress").as_number() == 0.0);
  BOOST_TEST(call("POST", "/sdapi/v1/txt2img", R"({"prompt":"x","steps":2,"width":64,"height":64})").status == 200);
  const json_value next = call("GET", "/sdapi/v1/progress").json;
  BOOST_TEST(member(state_of(next), "interrupted").as_bool() == false, sdw::to_json(next));

  // Each member stopped early: its image is not the one its request gives after all 150 steps.
  // (Compared by pixels, not by time: on a loaded machine fixed costs blur a time limit.)
  for (size_t i = 0; i < seeds.size(); ++i) {
    const auto full = images_of(call("POST", "/sdapi/v1/txt2img", long_job(seeds[i])));
    BOOST_TEST_REQUIRE(full.size() == 1u);
    BOOST_TEST((interrupted[i].pixels != full[0].pixels), "seed " << seeds[i]);
  }
}

BOOST_AUTO_TEST_CASE(skip_shows_in_progress_and_ends_a_lone_job_s_image) {
  auto job = std::async(std::launch::async, [] { return call("POST", "/sdapi/v1/txt2img", long_job(7)); });
  poll("/sdapi/v1/progress", [](const json_value& p) { return member(state_of(p), "sampling_step").as_int() >= 1; });
  const auto r = call("POST", "/sdapi/v1/skip");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "null");
  const json_value p = call("GET", "/sdapi/v1/progress").json;
  BOOST_TEST(member(state_of(p), "skipped").as_bool() == true, sdw::to_json(p));
  BOOST_TEST(member(state_of(p), "interrupted").as_bool() == false, sdw::to_json(p));
  const auto done = job.get();
  BOOST_TEST_REQUIRE(done.status == 200, done.body.substr(0, 300));
  BOOST_TEST(images_of(done).size() == 1u);
}
