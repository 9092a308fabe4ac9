#define BOOST_TEST_MODULE api_shutdown
#include <boost/test/unit_test.hpp>

// SIGTERM to `sdworker api`: no new work is taken, and every request in flight is answered
// before the process exits: a running txt2img with the images it reached (interrupted when the
// drain's time is up), a client parked on a queued job with its CANCELLED status.

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <signal.h>

#include <fstream>
#include <future>
#include <string>
#include <thread>

using sdw::test::member;

namespace {

bool eventually(const std::function<bool()>& pred, int tries = 600) {
  for (int i = 0; i < tries; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

} // namespace

BOOST_AUTO_TEST_CASE(sigterm_answers_every_request_in_flight_then_exits_0) {
  sdw::test::temp_dir dir;
  const std::string ini = dir.file("drain.ini");
  std::ofstream(ini) << "[queue]\ndrain-seconds=3\n";
  sdw::test::api_server server(sdw::test::tiny_model(dir), {"--config", ini});
  BOOST_TEST_REQUIRE(server.wait_until_up(), server.log());

  // Far longer than the drain: 3000 steps.
  auto running = std::async(std::launch::async, [&] {
    return server.call("POST", "/sdapi/v1/txt2img",
                       R"({"prompt":"long","steps":150,"n_iter":20,"width":64,"height":64,"seed":3})");
  });
  BOOST_TEST_REQUIRE(eventually([&] {
    return member(member(server.call("GET", "/sdapi/v1/progress").json, "state"), "sampling_step").as_int() >= 1;
  }), server.log());
  const auto queued = server.call("POST", "/run", R"({"input":{"prompt":"queued","steps":2,"width":64,"height":64}})");
  BOOST_TEST_REQUIRE(queued.status == 200);
  const std::string id = member(queued.json, "id").as_string();
  auto parked = std::async(std::launch::async, [&] { return server.call("GET", "/status-sync/" + id + "?wait=60000"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  server.signal(SIGTERM);
  BOOST_TEST_REQUIRE(eventually([&] { return server.log().find("request(s) in flight") != std::string::npos; }),
                     server.log());
  // Draining: new work is refused, the rest is served.
  const auto refused = server.call("POST", "/runsync", R"({"input":{"prompt":"late","steps":2,"width":64,"height":64}})");
  BOOST_TEST(refused.status == 503);
  BOOST_TEST(member(refused.json, "error").as_string() == "the worker is shutting down");
  BOOST_TEST(server.call("GET", "/health").status == 200);

  // The running job is interrupted once the drain's time is up: it answers with its images.
  const auto done = running.get();
  BOOST_TEST(done.status == 200, done.body.substr(0, 300));
  BOOST_TEST(sdw::test::images_of(done).size() >= 1u);
  // The queued job was cancelled, and its parked client told so.
  const auto status = parked.get();
  BOOST_TEST(status.status == 200, status.body.substr(0, 300));
  BOOST_TEST(member(status.json, "status").as_string() == "CANCELLED");
  BOOST_TEST(server.wait_exit(std::chrono::seconds(60)) == 0, server.log());
}
