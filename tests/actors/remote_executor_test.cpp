#define BOOST_TEST_MODULE remote_executor
#include <boost/test/unit_test.hpp>

// Processes on loopback: `sdworker executor-host` runs the model, `sdworker api --devices none
// --remote-executors ...` takes the requests and places its jobs on the hosts through CAF's
// network layer. The images are those a local worker makes; progress and cancel cross over; a host that
// dies gives its running job back to the scheduler, which runs it on another host or on the same
// one once it is back; no job is lost.

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"
#include "tests/support/serve_process.hpp"

#include <chrono>
#include <memory>
#include <thread>

using sdw::test::member;
using clock_type = std::chrono::steady_clock;

namespace {

/// `sdworker executor-host` on `port`, with the model loaded and listening.
std::unique_ptr<sdw::test::serve_process> start_host(const std::string& model, int port) {
  auto host = std::make_unique<sdw::test::serve_process>(
    model, std::vector<std::pair<std::string, std::string>>{}, std::vector<std::string>{"--port", std::to_string(port)},
    std::vector<std::string>{}, std::vector<std::pair<std::string, std::string>>{}, "executor-host");
  const auto end = clock_type::now() + std::chrono::seconds(60);
  auto listening = [&] { return (host->out() + host->log()).find("executor host listening") != std::string::npos; };
  while (clock_type::now() < end && host->alive() && !listening()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST_REQUIRE(listening(), host->out() + host->log());
  return host;
}

std::string job_status(sdw::test::api_server& s, const std::string& id) {
  return member(s.call("GET", "/status/" + id).json, "status").as_string();
}

std::string final_status(sdw::test::api_server& s, const std::string& id, std::chrono::seconds limit) {
  const auto end = clock_type::now() + limit;
  std::string status;
  while (clock_type::now() < end) {
    status = job_status(s, id);
    if (status != "IN_QUEUE" && status != "IN_PROGRESS") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status;
}

/// The device entries of /health: name → state, and the index of the one running a job (-1: none).
struct device_view {
  std::vector<std::string> names, states;
  int running = -1;
  std::string status;
};

device_view devices(sdw::test::api_server& s) {
  const auto health = s.call("GET", "/health");
  device_view v;
  v.status = member(health.json, "status").as_string();
  const auto& list = member(health.json, "devices").as_array();
  for (size_t i = 0; i < list.size(); ++i) {
    v.names.push_back(member(list[i], "name").as_string());
    v.states.push_back(member(list[i], "state").as_string());
    if (member(list[i], "running").as_number() > 0) {
      v.running = static_cast<int>(i);
    }
  }
  return v;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit) {
  const auto end = clock_type::now() + limit;
  while (clock_type::now() < end) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

std::string run_id(sdw::test::api_server& s, const std::string& body) {
  const auto run = s.call("POST", "/run", body);
  BOOST_TEST_REQUIRE(run.status == 200, run.body);
  return member(run.json, "id").as_string();
}

/// Sampling steps the worker has seen run, from its /metrics.
double steps_run(sdw::test::api_server& worker) {
  const std::string text = worker.call("GET", "/metrics").body;
  const std::string name = "\nsdworker_sampling_steps_total ";
  const size_t at = text.find(name);
  BOOST_TEST_REQUIRE(at != std::string::npos, text.substr(0, 300));
  return std::stod(text.substr(at + name.size()));
}

} // namespace

BOOST_AUTO_TEST_CASE(jobs_run_on_an_executor_host_in_another_process) {
  sdw::test::temp_dir models;
  const std::string model = sdw::test::tiny_model(models);
  const int port = sdw::test::free_port();
  auto host = start_host(model, port);
  const std::string address = "127.0.0.1:" + std::to_string(port);

  sdw::test::api_server worker(model, {"--devices", "none", "--remote-executors", address});
  BOOST_TEST_REQUIRE(worker.wait_until_up(), worker.log());
  BOOST_TEST_REQUIRE(worker.wait_for_state("ready"), worker.log());
  const device_view v = devices(worker);
  BOOST_TEST_REQUIRE(v.names.size() == 1u);
  BOOST_TEST(v.names[0] == "remote:" + address);

  const std::string body = R"({"prompt":"a red cube","steps":3,"width":64,"height":64,"seed":5})";
  const auto remote = worker.call("POST", "/sdapi/v1/txt2img", body);
  BOOST_TEST_REQUIRE(remote.status == 200, remote.body);
  const sdw::decoded_png remote_png = sdw::test::images_of(remote).at(0);
  BOOST_TEST(remote_png.width == 64);
  BOOST_TEST(remote_png.text.at("parameters").find("Seed: 5") != std::string::npos);

  // The same request on a worker with its own local executor gives the same pixels.
  {
    sdw::test::api_server local(model);
    BOOST_TEST_REQUIRE(local.wait_until_up(), local.log());
    const auto here = local.call("POST", "/sdapi/v1/txt2img", body);
    BOOST_TEST_REQUIRE(here.status == 200, here.body);
    BOOST_TEST((sdw::test::images_of(here).at(0).pixels == remote_png.pixels));
  }

  // Cancel reaches the host and stops the sampling loop there (a full run: many seconds).
  const std::string id = run_id(worker, R"({"input":{"steps":150,"width":512,"height":512,"seed":1}})");
  BOOST_TEST_REQUIRE(eventually([&] { return job_status(worker, id) == "IN_PROGRESS"; }, std::chrono::seconds(30)),
                     worker.log());
  // Its progress on the host shows here, through the heartbeat.
  BOOST_TEST(eventually([&] { return member(worker.call("GET", "/sdapi/v1/progress").json, "progress").as_number() > 0; },
                        std::chrono::seconds(20)));
  const double steps_before = steps_run(worker);
  worker.call("POST", "/cancel/" + id);
  BOOST_TEST(final_status(worker, id, std::chrono::seconds(60)) == "CANCELLED");
  // The host is free again: the next job runs after the cancelled one stopped, which got to a
  // small part of its 150 steps (counted from the progress the host reports, not timed).
  BOOST_TEST(worker.call("POST", "/sdapi/v1/txt2img", body).status == 200);
  const double ran = steps_run(worker) - steps_before;
  BOOST_TEST(ran < 75, ran << " steps ran after the cancel");
  BOOST_TEST(worker.stop() == 0);
}

BOOST_AUTO_TEST_CASE(a_job_whose_host_dies_runs_again_and_none_is_lost) {
  sdw::test::temp_dir models;
  const std::string model = sdw::test::tiny_model(models);
  const int port_a = sdw::test::free_port();
  const int port_b = sdw::test::free_port();
  std::unique_ptr<sdw::test::serve_process> hosts[2] = {start_host(model, port_a), start_host(model, port_b)};
  const int ports[2] = {port_a, port_b};

  sdw::test::api_server worker(model, {"--devices", "none", "--remote-executors",
                                       "127.0.0.1:" + std::to_string(port_a) + ",127.0.0.1:" + std::to_string(port_b)});
  BOOST_TEST_REQUIRE(worker.wait_until_up(), worker.log());
  BOOST_TEST_REQUIRE(eventually([&] { return devices(worker).states == std::vector<std::string>{"idle", "idle"}; },
                                std::chrono::seconds(60)),
                     worker.log());

  // Kill the host that runs the job: the job runs again on the other one and completes.
  const std::string job = R"({"input":{"steps":30,"width":256,"height":256,"seed":7}})";
  const std::string first = run_id(worker, job);
  int running = -1;
  BOOST_TEST_REQUIRE(eventually([&] { return (running = devices(worker).running) >= 0; }, std::chrono::seconds(30)));
  hosts[running]->signal(SIGKILL);
  BOOST_TEST(hosts[running]->wait_exit(std::chrono::seconds(10)) == -1);
  BOOST_TEST(final_status(worker, first, std::chrono::seconds(120)) == "COMPLETED", worker.log());
  device_view v = devices(worker);
  BOOST_TEST(v.states[running] == "offline");
  BOOST_TEST(v.states[1 - running] == "idle");
  BOOST_TEST(v.status == "ready");
  BOOST_TEST(worker.log().find("queued again") != std::string::npos, worker.log());

  // Both hosts gone: /health says so, and a job waits in the queue instead of failing.
  const int other = 1 - running;
  hosts[other]->signal(SIGKILL);
  hosts[other]->wait_exit(std::chrono::seconds(10));
  BOOST_TEST(eventually([&] { return devices(worker).states[other] == "offline"; }, std::chrono::seconds(10)));
  BOOST_TEST(devices(worker).status == "loading");
  const std::string waiting = run_id(worker, R"({"input":{"steps":2,"width":64,"height":64,"seed":3}})");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  BOOST_TEST(job_status(worker, waiting) == "IN_QUEUE");

  // A host back on its port is found again and the waiting job completes there.
  hosts[other] = start_host(model, ports[other]);
  BOOST_TEST(final_status(worker, waiting, std::chrono::seconds(60)) == "COMPLETED", worker.log());
  BOOST_TEST(devices(worker).states[other] == "idle");
  BOOST_TEST(devices(worker).status == "ready");
  BOOST_TEST(worker.stop() == 0);
}
