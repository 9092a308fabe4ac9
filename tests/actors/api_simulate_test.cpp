#define BOOST_TEST_MODULE api_simulate
#include <boost/test/unit_test.hpp>

// The real `sdworker api --simulate 4` over HTTP: many /run jobs all complete, /health lists the
// four simulated devices, and the jobs were spread over them and batched.

#define _TURN_OFF_PLATFORM_STRING
#include "tests/support/api_server.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using sdw::json_value;
using sdw::test::member;

BOOST_AUTO_TEST_CASE(many_run_jobs_complete_on_four_simulated_devices) {
  sdw::test::api_server server("", {"--simulate", "4", "--simulate-time-scale", "0.02", "--queue-size", "100",
                                    "--max-batch", "4"});
  BOOST_TEST_REQUIRE(server.wait_until_up(), server.log());
  BOOST_TEST_REQUIRE(server.wait_for_state("ready"), server.log());

  const int n = 60;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    // Two shapes, so some jobs batch together and others cannot.
    const int steps = i % 3 == 0 ? 10 : 20;
    const std::string body = R"({"input":{"prompt":"job )" + std::to_string(i) + R"(","steps":)" +
                             std::to_string(steps) + R"(,"width":512,"height":512,"seed":)" + std::to_string(i) + "}}";
    const auto r = server.call("POST", "/run", body);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    ids.push_back(member(r.json, "id").as_string());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (const auto& id : ids) {
    std::string status;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto r = server.call("GET", "/status/" + id);
      status = member(r.json, "status").is_string() ? member(r.json, "status").as_string() : "";
      if (status == "COMPLETED" || status == "FAILED" || status == "CANCELLED") {
        if (status != "COMPLETED") {
          BOOST_TEST_MESSAGE(r.body);
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    BOOST_TEST(status == "COMPLETED", id);
  }

  const auto h = server.call("GET", "/health");
  BOOST_TEST_REQUIRE(h.status == 200);
  BOOST_TEST(member(member(h.json, "jobs"), "completed").as_number() == n);
  const json_value& devices = member(h.json, "devices");
  BOOST_TEST_REQUIRE(devices.is_array(), h.body);
  BOOST_TEST_REQUIRE(devices.as_array().size() == 4u, h.body);
  double jobs = 0, batches = 0;
  int used = 0;
  for (size_t i = 0; i < 4; ++i) {
    const json_value& d = devices.as_array()[i];
    BOOST_TEST(member(d, "name").as_string() == "sim:" + std::to_string(i));
    BOOST_TEST(member(d, "state").as_string() == "idle");
    jobs += member(d, "jobs").as_number();
    batches += member(d, "batches").as_number();
    used += member(d, "jobs").as_number() > 0 ? 1 : 0;
  }
  BOOST_TEST(jobs == n);
  BOOST_TEST(used >= 3, h.body);
  BOOST_TEST(batches < n, h.body);  // 60 jobs queued at once: some shared a batch
}
