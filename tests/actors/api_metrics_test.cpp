#define BOOST_TEST_MODULE api_metrics
#include <boost/test/unit_test.hpp>
// GET /metrics: Prometheus' text format with the jobs, queue, latency histograms and devices a
// scraper needs, counting what the worker really did; credentials as /health asks for them.

#define _TURN_OFF_PLATFORM_STRING
#include "tests/support/api_server.hpp"

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using sdw::test::member;

namespace {

/// The samples of an exposition, by name with labels as written ("a{b=\"c\"}") → value; the
/// TYPE of each family. Fails the test on a line the format does not allow.
struct exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::vector<std::string> order;  ///< sample keys as they came

  explicit exposition(const std::string& text) {
    static const std::regex sample_line(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (\S+)$)");
    static const std::regex type_line(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (line.rfind("# HELP ", 0) == 0) {
        continue;
      }
      if (std::regex_match(line, m, type_line)) {
        types[m[1]] = m[2];
        continue;
      }
      BOOST_TEST_REQUIRE(std::regex_match(line, m, sample_line), "not a sample line: " << line);
      const std::string name = m[1];
      // Every sample belongs to a family whose TYPE came before it.
      const std::string family = std::regex_replace(name, std::regex("_(bucket|sum|count)$"), "");
      BOOST_TEST((types.count(name) == 1 || types.count(family) == 1), "no TYPE before " << name);
      const std::string key = line.substr(0, line.rfind(' '));
      samples[key] = m[5] == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(m[5]);
      order.push_back(key);
    }
  }

  double at(const std::string& key) const {
    auto it = samples.find(key);
    BOOST_TEST_REQUIRE((it != samples.end()), "no sample " << key);
    return it->second;
  }
};

/// The histogram's buckets are cumulative, end in +Inf and that bucket equals _count.
void check_histogram(const exposition& e, const std::string& name, double expected_count) {
  BOOST_TEST(e.types.at(name) == "histogram");
  double last = 0;
  int buckets = 0;
  for (const auto& key : e.order) {
    if (key.rfind(name + "_bucket{", 0) == 0) {
      BOOST_TEST(e.at(key) >= last, key);
      last = e.at(key);
      ++buckets;
    }
  }
  BOOST_TEST(buckets > 5);
  BOOST_TEST(e.at(name + "_bucket{le=\"+Inf\"}") == e.at(name + "_count"));
  BOOST_TEST(e.at(name + "_count") == expected_count, name);
}

std::string content_type_of(int port, const std::string& path) {
  web::http::client::http_client client("http://127.0.0.1:" + std::to_string(port));
  auto response = client.request(web::http::methods::GET, path).get();
  return response.headers().content_type();
}

const std::string job = R"({"prompt":"a lighthouse","steps":2,"width":64,"height":64,"sampler_name":"Euler","seed":3})";

} // namespace

BOOST_AUTO_TEST_CASE(metrics_count_the_jobs_the_worker_ran) {
  auto& s = sdw::test::checked_shared_api_server({});
  const auto before = exposition(s.server.call("GET", "/metrics").body);
  BOOST_TEST(before.at("sdworker_jobs_total{status=\"completed\"}") == 0);
  BOOST_TEST(before.at("sdworker_model_load_seconds") > 0);

  BOOST_TEST_REQUIRE(s.server.call("POST", "/sdapi/v1/txt2img", job).status == 200);
  BOOST_TEST_REQUIRE(s.server.call("POST", "/sdapi/v1/txt2img", job).status == 200);
  const auto run = s.server.call("POST", "/runsync", R"({"input":)" + job + "}");
  BOOST_TEST_REQUIRE(member(run.json, "status").as_string() == "COMPLETED", run.body.substr(0, 300));

  const auto r = s.server.call("GET", "/metrics");
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(content_type_of(s.server.port(), "/metrics").rfind("text/plain; version=0.0.4", 0) == 0u);
  const exposition e(r.body);
  BOOST_TEST(e.types.at("sdworker_jobs_total") == "counter");
  BOOST_TEST(e.at("sdworker_jobs_total{status=\"completed\"}") == 3);
  BOOST_TEST(e.at("sdworker_jobs_total{status=\"failed\"}") == 0);
  BOOST_TEST(e.at("sdworker_queue_jobs{state=\"queued\"}") == 0);
  BOOST_TEST(e.at("sdworker_queue_jobs{state=\"running\"}") == 0);
  check_histogram(e, "sdworker_job_seconds", 3);
  check_histogram(e, "sdworker_job_execution_seconds", 3);
  check_histogram(e, "sdworker_job_queue_seconds", 3);
  BOOST_TEST(e.at("sdworker_job_execution_seconds_sum") > 0);
  BOOST_TEST(e.at("sdworker_job_seconds_sum") >= e.at("sdworker_job_execution_seconds_sum"));
  BOOST_TEST(e.at("sdworker_images_total") == 3);
  BOOST_TEST(e.types.at("sdworker_sampling_steps_total") == "counter");
  BOOST_TEST(e.at("sdworker_sampling_steps_total") - before.at("sdworker_sampling_steps_total") == 3 * 2);
  // The device as /health names it.
  const auto health = s.server.call("GET", "/health");
  const std::string device = member(member(health.json, "devices").as_array().at(0), "name").as_string();
  const std::string label = "{device=\"" + device + "\"}";
  BOOST_TEST(e.at("sdworker_device_up" + label) == 1);
  BOOST_TEST(e.at("sdworker_device_images_total" + label) == 3);
  BOOST_TEST(e.at("sdworker_device_jobs_total" + label) == 3);
  const double busy = e.at("sdworker_device_busy_fraction" + label);
  BOOST_TEST((busy > 0 && busy <= 1), busy);
  BOOST_TEST(e.at("sdworker_process_resident_bytes") > 1e6);
  // The tiny model's weights (a few MB) in the device's model cache; no CUDA figures on the CPU.
  BOOST_TEST(e.at("sdworker_device_model_bytes" + label) > 1e5);
  BOOST_TEST(e.types.at("sdworker_device_memory_bytes") == "gauge");
  BOOST_TEST(e.samples.count("sdworker_device_memory_bytes{device=\"" + device + "\",kind=\"allocated\"}") == 0u);
  bool ready = false;
  for (const auto& [key, value] : e.samples) {
    if (key.rfind("sdworker_model_state{state=\"ready\"", 0) == 0) ready = value == 1;
  }
  BOOST_TEST(ready);
}

BOOST_AUTO_TEST_CASE(metrics_ask_for_credentials_as_health_does) {
  sdw::test::temp_dir models;
  sdw::test::api_server server(sdw::test::tiny_model(models), {"--api-auth", "ops:secret", "--health-access", "auth"});
  const sdw::test::header_list credentials{{"Authorization", "Basic b3BzOnNlY3JldA=="}};  // ops:secret
  BOOST_TEST_REQUIRE(server.wait_until_up_with(credentials), server.log());
  BOOST_TEST(server.call("GET", "/metrics").status == 401);
  BOOST_TEST(server.call("GET", "/metrics", "", credentials).status == 200);
  BOOST_TEST(server.call("POST", "/metrics", "{}", credentials).status == 405);
}
