#define BOOST_TEST_MODULE runpod_python_sdk
#include <boost/test/unit_test.hpp>
// RunPod's Python SDK (`runpod`, what worker-a1111's handler is built on) on both sides of sdworker:
// its Endpoint client drives `sdworker api`, and its own serverless worker loop is the reference
// for what `sdworker serve` sends to the control plane.

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/child_process.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"
#include "tests/support/fake_runpod.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/serve_process.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

using sdw::json_value;
using sdw::test::fake_request;
using namespace std::chrono_literals;

namespace {

std::string script(const std::string& name) {
  const char* src = std::getenv("SDW_SOURCE_DIR");
  return std::string(src != nullptr ? src : ".") + "/tests/python/" + name;
}

/// The SDK comes with set-up's Python environment (deploy/requirements.txt).
struct sdk_installed {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result ok(sdw::test::run_command(sdw::test::python() + " -c 'import runpod'").first == 0);
    if (!ok) ok.message() << "the runpod package is not installed in " << sdw::test::python() << ": run deploy/setup.sh";
    return ok;
  }
};

/// What one worker sent for one job: its first job-take, its result post and a ping.
struct conversation {
  fake_request take, result, ping;
  std::vector<fake_request> progress;
};

conversation record(const sdw::test::fake_runpod& fake, const std::string& job_id,
                    const std::function<bool()>& alive, const std::function<std::string()>& log) {
  conversation c;
  BOOST_TEST_REQUIRE(!fake.wait_for_result(job_id, 60s).empty(), "no result for " << job_id << "\n" << log());
  BOOST_TEST_REQUIRE(fake.wait_until([&] { return !fake.pings().empty(); }, 10s), "no ping\n" << log());
  // The SDK posts progress from a background task, which may land after the job's result.
  fake.wait_until([&] { return !fake.progress_for(job_id).empty(); }, 10s);
  BOOST_TEST_REQUIRE(alive(), log());
  c.take = fake.takes().front();
  c.result = fake.results_for(job_id).front();
  c.ping = fake.pings().front();
  c.progress = fake.progress_for(job_id);
  return c;
}

/// The fake's variables with a job-take template that has a query already, as the platform's do:
/// the SDK substitutes only `$ID` there and appends `&job_in_progress=…` without looking for a `?`.
std::vector<std::pair<std::string, std::string>> platform_env(const sdw::test::fake_runpod& fake) {
  auto env = fake.env("rp-test-key", "pod-1", 1000);
  for (auto& [name, value] : env) {
    if (name == "RUNPOD_WEBHOOK_GET_JOB") value = fake.base() + "/v2/ep/job-take/$ID?gpu=cpu";
  }
  return env;
}

std::string header(const fake_request& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "<none>" : it->second;
}

} // namespace

BOOST_AUTO_TEST_CASE(runpods_python_client_works_unchanged, *boost::unit_test::precondition(sdk_installed())) {
  bool first = false;
  auto& s = sdw::test::shared_api_server({"--queue-size", "4"}, first);
  BOOST_TEST_REQUIRE(s.server.wait_until_up(), s.server.log());
  const std::string png_path = s.models.file("from_python.png");
  const auto [code, output] = sdw::test::run_command(sdw::test::python() + " " + script("runpod_client.py") + " " +
                                                     std::to_string(s.server.port()) + " " + png_path);
  BOOST_TEST(code == 0, output << "\n--- server log ---\n" << s.server.log());
  BOOST_TEST(output.find("all steps passed") != std::string::npos, output);
  std::ifstream in(png_path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST_REQUIRE(!bytes.empty());
  const auto png = sdw::decode_png(bytes);
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.height == 64);
  BOOST_TEST(png.text.count("parameters") == 1u);
}

BOOST_AUTO_TEST_CASE(serve_speaks_to_the_control_plane_as_the_sdks_worker_does,
                     *boost::unit_test::precondition(sdk_installed())) {
  // Enough steps that the worker posts progress while it samples.
  const std::string input = R"({"prompt":"a red tree","steps":150,"width":128,"height":128,"seed":11})";
  // The reference: the SDK's worker loop with an A1111-shaped handler.
  conversation sdk;
  {
    sdw::test::fake_runpod fake;
    fake.add_job("job-sdk", input);
    sdw::test::temp_dir dir;
    sdw::child_spec spec;
    spec.args = {sdw::test::python(), script("runpod_sdk_worker.py")};
    spec.env = platform_env(fake);
    spec.env.emplace_back("RUNPOD_SKIP_GPU_CHECK", "true");
    spec.env.emplace_back("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", "true");
    spec.stdout_path = spec.stderr_path = dir.file("log.txt");
    spec.cwd = dir.path;
    sdw::child_process worker(spec);
    const auto log = [&] {
      std::ifstream f(dir.file("log.txt"));
      return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    };
    sdk = record(fake, "job-sdk", [&] { return worker.alive(); }, log);
  }
  // sdworker's serverless worker against the same fake control plane.
  conversation ours;
  {
    sdw::test::fake_runpod fake;
    fake.add_job("job-ours", input);
    sdw::test::temp_dir models;
    sdw::test::serve_process worker(sdw::test::tiny_model(models), platform_env(fake));
    ours = record(fake, "job-ours", [&] { return worker.alive(); }, [&] { return worker.log(); });
  }

  // job-take: the same URL and query parameters.
  BOOST_TEST(ours.take.method == sdk.take.method);
  BOOST_TEST(ours.take.path == sdk.take.path);
  for (const char* p : {"gpu", "job_in_progress"}) {
    BOOST_TEST(sdk.take.has_param(p), p);
    BOOST_TEST(ours.take.param(p) == sdk.take.param(p), p);
  }
  BOOST_TEST(header(ours.take, "authorization") == header(sdk.take, "authorization"));

  // job-done: the same URL, query, headers and body shape.
  BOOST_TEST(ours.result.method == sdk.result.method);
  BOOST_TEST(ours.result.path.substr(0, ours.result.path.rfind('/')) == sdk.result.path.substr(0, sdk.result.path.rfind('/')));
  for (const char* p : {"gpu", "isStream"}) {
    BOOST_TEST(sdk.result.has_param(p), p);
    BOOST_TEST(ours.result.param(p) == sdk.result.param(p), p);
  }
  for (const char* h : {"content-type", "charset", "authorization"}) {
    BOOST_TEST(header(ours.result, h) == header(sdk.result, h), h);
  }
  BOOST_TEST(header(sdk.result, "x-request-id") == "job-sdk");
  BOOST_TEST(header(ours.result, "x-request-id") == "job-ours");
  const json_value sdk_body = sdw::parse_json(sdk.result.body), our_body = sdw::parse_json(ours.result.body);
  BOOST_TEST_REQUIRE(sdk_body.find("output") != nullptr, sdk.result.body);
  BOOST_TEST_REQUIRE(our_body.find("output") != nullptr, ours.result.body.substr(0, 300));
  for (const char* key : {"images", "parameters", "info"}) {
    BOOST_TEST(sdk_body.find("output")->find(key) != nullptr, key);
    BOOST_TEST(our_body.find("output")->find(key) != nullptr, key);
  }

  // Progress posts go to job-done as the SDK's progress_update sends them.
  BOOST_TEST_REQUIRE(!sdk.progress.empty());
  BOOST_TEST_REQUIRE(!ours.progress.empty());
  BOOST_TEST(header(ours.progress.front(), "content-type") == header(sdk.progress.front(), "content-type"));
  BOOST_TEST(ours.progress.front().param("isStream") == sdk.progress.front().param("isStream"));
  const json_value sdk_progress = sdw::parse_json(sdk.progress.front().body);
  const json_value our_progress = sdw::parse_json(ours.progress.front().body);
  BOOST_TEST(our_progress.find("status")->as_string() == sdk_progress.find("status")->as_string());
  BOOST_TEST(our_progress.find("output")->is_object());

  // ping: the same URL and parameters.
  BOOST_TEST(ours.ping.path == sdk.ping.path);
  BOOST_TEST(sdk.ping.has_param("runpod_version"));
  BOOST_TEST(ours.ping.has_param("runpod_version"));
  BOOST_TEST(header(ours.ping, "authorization") == header(sdk.ping, "authorization"));
}
