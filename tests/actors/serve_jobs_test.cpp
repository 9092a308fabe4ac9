#define BOOST_TEST_MODULE serve_jobs
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/fake_runpod.hpp"
#include "tests/support/serve_process.hpp"

#include <memory>
#include <sstream>

using sdw::json_value;
using sdw::test::fake_request;
using namespace std::chrono_literals;

namespace {

/// One fake control plane and one worker process for the whole file (starting one costs seconds).
struct world {
  world()
    : model(sdw::test::tiny_model(models)),
      worker(model, [&] {
        auto env = fake.env();
        env.emplace_back("RUNPOD_ENDPOINT_ID", "ep-test");
        return env;
      }()) {}
  sdw::test::fake_runpod fake;
  sdw::test::temp_dir models;
  std::string model;
  sdw::test::serve_process worker;
};

world& the_world() {
  static std::unique_ptr<world> w = std::make_unique<world>();
  BOOST_TEST_REQUIRE(w->worker.alive(), w->worker.log());
  return *w;
}

const json_value& member(const json_value& v, const std::string& key) {
  static const json_value null;
  const json_value* m = v.find(key);
  return m != nullptr ? *m : null;
}

/// The parsed `error` of a job-done body: RunPod clients parse this string as JSON.
json_value error_object(const std::string& body) {
  const json_value doc = sdw::parse_json(body);
  BOOST_TEST_REQUIRE(member(doc, "error").is_string(), body);
  BOOST_TEST(doc.find("output") == nullptr, body);
  return sdw::parse_json(member(doc, "error").as_string());
}

const std::string small_input = R"({"prompt":"a red tree","steps":3,"width":64,"height":64,"seed":11})";

} // namespace

BOOST_AUTO_TEST_CASE(a_taken_job_gets_its_images_posted_once) {
  auto& w = the_world();
  w.fake.add_job("job-ok", small_input);
  const std::string body = w.fake.wait_for_result("job-ok");
  BOOST_TEST_REQUIRE(!body.empty(), w.worker.log());
  const json_value doc = sdw::parse_json(body);
  BOOST_TEST(doc.find("error") == nullptr, body.substr(0, 400));
  const json_value& output = member(doc, "output");
  const auto& images = member(output, "images").as_array();
  BOOST_TEST_REQUIRE(images.size() == 1u);
  const auto png = sdw::decode_png(sdw::base64_decode(images[0].as_string()));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.height == 64);
  const std::string infotext = png.text.count("parameters") ? png.text.at("parameters") : "";
  BOOST_TEST(infotext.find("a red tree") == 0u, infotext);
  BOOST_TEST(infotext.find("Steps: 3,") != std::string::npos, infotext);
  BOOST_TEST(infotext.find("Seed: 11,") != std::string::npos, infotext);
  BOOST_TEST(member(member(output, "parameters"), "steps").as_int() == 3);
  BOOST_TEST(member(output, "info").is_string());

  // Exactly one result, at the templated URL, with the raw key.
  const auto results = w.fake.results_for("job-ok");
  BOOST_TEST_REQUIRE(results.size() == 1u);
  BOOST_TEST(results[0].path == "/v2/ep/job-done/pod-1/job-ok");
  // The template's query, isStream, then how the job ran (for a control plane that reports it).
  BOOST_TEST(results[0].query.rfind("gpu=cpu&isStream=false&device=", 0) == 0u, results[0].query);
  BOOST_TEST(!results[0].param("device").empty());
  BOOST_TEST(results[0].param("batch_jobs") == "1");
  BOOST_TEST(results[0].headers.at("authorization") == "rp-test-key");
  // As RunPod's SDK posts it: labelled form-urlencoded, with a literal charset header.
  BOOST_TEST(results[0].headers.at("content-type") == "application/x-www-form-urlencoded");
  BOOST_TEST(results[0].headers.at("charset") == "utf-8");

  const auto takes = w.fake.takes();
  BOOST_TEST_REQUIRE(!takes.empty());
  BOOST_TEST(takes[0].path == "/v2/ep/job-take/pod-1");
  BOOST_TEST(takes[0].param("job_in_progress") == "0");
  BOOST_TEST(takes[0].headers.at("authorization") == "rp-test-key");
}

BOOST_AUTO_TEST_CASE(heartbeats_name_the_running_job_and_progress_is_throttled) {
  auto& w = the_world();
  // Long enough (several hundred steps) for pings every 300 ms to see it running.
  w.fake.add_job("job-long", R"({"prompt":"slow","steps":150,"n_iter":3,"width":64,"height":64,"seed":5})");
  const bool seen = w.fake.wait_until(
    [&] {
      for (const auto& p : w.fake.pings()) {
        if (p.param("job_id") == "job-long") {
          return true;
        }
      }
      return false;
    },
    60s);
  BOOST_TEST(seen, w.worker.log());
  BOOST_TEST_REQUIRE(!w.fake.wait_for_result("job-long", 120s).empty(), w.worker.log());

  const auto pings = w.fake.pings();
  BOOST_TEST_REQUIRE(pings.size() >= 2u);
  for (const auto& p : pings) {
    BOOST_TEST(p.path == "/v2/ep/ping/pod-1");
    BOOST_TEST(p.param("runpod_version") == "sdworker-0.1");
    BOOST_TEST(p.headers.at("authorization") == "rp-test-key");
  }
  // 450 sampler steps, yet far fewer updates: the first, then at most one a second (the rule
  // itself is progress_throttle's, tested with plain time points in runpod_worker_test).
  const auto progress = w.fake.progress_for("job-long");
  BOOST_TEST(progress.size() >= 1u);
  BOOST_TEST(progress.size() < 45u, progress.size() << " updates for 450 steps");
  if (!progress.empty()) {
    const json_value first = sdw::parse_json(progress.front().body);
    BOOST_TEST(member(first, "status").as_string() == "IN_PROGRESS");
    BOOST_TEST(member(member(first, "output"), "steps").as_int() > 0);
    BOOST_TEST(progress.front().query == "gpu=cpu&isStream=false");
  }
  // The result came after every progress update.
  const auto result = w.fake.results_for("job-long");
  BOOST_TEST_REQUIRE(result.size() == 1u);
  for (const auto& p : progress) {
    BOOST_TEST((p.at <= result[0].at));
  }
}

BOOST_AUTO_TEST_CASE(malformed_input_gets_an_error_and_the_worker_keeps_serving) {
  auto& w = the_world();
  w.fake.add_job("job-bad", R"({"steps":"many","width":64,"height":64})");
  w.fake.add_raw_job("job-noinput", R"({"id":"job-noinput"})");
  w.fake.add_job("job-api", R"({"api":{"method":"GET","endpoint":"/sdapi/v1/sd-models"},"payload":{}})");
  w.fake.add_job("job-after", small_input);

  const json_value bad = error_object(w.fake.wait_for_result("job-bad"));
  BOOST_TEST(member(bad, "field").as_string() == "steps");
  BOOST_TEST(member(bad, "error_message").as_string().find("steps: value is not a valid integer") == 0u);

  const json_value no_input = error_object(w.fake.wait_for_result("job-noinput"));
  BOOST_TEST(member(no_input, "field").as_string() == "input");

  // Another A1111 call runs as the route does: its answer is the output.
  const std::string api = w.fake.wait_for_result("job-api");
  const json_value api_doc = sdw::parse_json(api);
  const json_value& models = member(api_doc, "output");
  BOOST_TEST_REQUIRE(models.is_array(), api);
  BOOST_TEST(member(models.as_array().at(0), "model_name").as_string() == "tiny", api);

  const std::string after = w.fake.wait_for_result("job-after");
  BOOST_TEST_REQUIRE(!after.empty(), w.worker.log());
  BOOST_TEST(member(member(sdw::parse_json(after), "output"), "images").as_array().size() == 1u);
  for (const char* id : {"job-bad", "job-noinput", "job-api", "job-after"}) {
    BOOST_TEST(w.fake.results_for(id).size() == 1u, id);
  }
}

// Every A1111 route in its RunPod form: the output is the route's answer; a validation error
// completes with its detail and an A1111 exception fails, as worker-a1111's handler and the SDK make them.
BOOST_AUTO_TEST_CASE(jobs_naming_a1111_calls_get_the_routes_answers) {
  auto& w = the_world();
  std::vector<std::uint8_t> rgb(24 * 16 * 3, 120);
  const std::string image =
    sdw::base64_encode(sdw::encode_png(rgb.data(), 24, 16, {{"parameters", "a fox\nSteps: 4, Seed: 5, Size: 24x16"}}));
  const auto call = [](const std::string& method, const std::string& endpoint, const std::string& payload) {
    return R"({"api":{"method":")" + method + R"(","endpoint":")" + endpoint + R"("},"payload":)" + payload + "}";
  };
  w.fake.add_job("job-options", call("GET", "sdapi/v1/options", "{}"));
  w.fake.add_job("job-png-info", call("POST", "/sdapi/v1/png-info", R"({"image":")" + image + R"("})"));
  w.fake.add_job("job-extras",
                 call("POST", "extra-single-image", R"({"upscaler_1":"Lanczos","upscaling_resize":3,"image":")" + image + R"("})"));
  w.fake.add_job("job-422", call("POST", "/sdapi/v1/png-info", "{}"));
  w.fake.add_job("job-500", call("POST", "/sdapi/v1/png-info", R"({"image":"bm90IGFuIGltYWdl"})"));

  const std::string options = w.fake.wait_for_result("job-options");
  BOOST_TEST(member(member(sdw::parse_json(options), "output"), "CLIP_stop_at_last_layers").as_int() == 1, options.substr(0, 300));

  const std::string info = w.fake.wait_for_result("job-png-info");
  BOOST_TEST(member(member(member(sdw::parse_json(info), "output"), "parameters"), "Prompt").as_string() == "a fox", info);

  const std::string extras = w.fake.wait_for_result("job-extras");
  const json_value extras_doc = sdw::parse_json(extras);
  const json_value& out = member(extras_doc, "output");
  BOOST_TEST(member(out, "html_info").as_string() == "<p>Postprocess upscale by: 3.0, Postprocess upscaler: Lanczos</p>",
             extras.substr(0, 300));
  const auto png = sdw::decode_png(sdw::base64_decode(member(out, "image").as_string()));
  BOOST_TEST(png.width == 72);
  BOOST_TEST(png.height == 48);

  const json_value invalid = sdw::parse_json(w.fake.wait_for_result("job-422"));
  BOOST_TEST(invalid.find("error") == nullptr);
  BOOST_TEST(member(member(invalid, "output"), "detail").is_array());

  const json_value failed = sdw::parse_json(w.fake.wait_for_result("job-500"));
  BOOST_TEST(member(failed, "error").as_string() == "HTTPException");
  BOOST_TEST(member(member(failed, "output"), "detail").as_string().find("Invalid encoded image") == 0u);
}

// Options a job stores are what later generation jobs run with, as in A1111 behind worker-a1111.
BOOST_AUTO_TEST_CASE(options_posted_by_a_job_apply_to_later_jobs) {
  auto& w = the_world();
  w.fake.add_job("job-set", R"({"api":{"method":"POST","endpoint":"/sdapi/v1/options"},"payload":{"CLIP_stop_at_last_layers":2}})");
  BOOST_TEST(w.fake.wait_for_result("job-set") == R"({"output":null})");
  w.fake.add_job("job-clip2", small_input);
  const std::string body = w.fake.wait_for_result("job-clip2");
  const json_value doc = sdw::parse_json(body);
  const json_value& output = member(doc, "output");
  BOOST_TEST(member(output, "info").as_string().find("Clip skip: 2") != std::string::npos, body.substr(0, 600));
  w.fake.add_job("job-reset", R"({"api":{"method":"POST","endpoint":"options"},"payload":{"CLIP_stop_at_last_layers":1}})");
  BOOST_TEST(w.fake.wait_for_result("job-reset") == R"({"output":null})");
}

BOOST_AUTO_TEST_CASE(answers_400_mean_no_job_and_429_makes_the_worker_wait) {
  auto& w = the_world();
  w.fake.answer_next_takes(400, 2);
  w.fake.add_job("job-after-400", small_input);
  BOOST_TEST_REQUIRE(!w.fake.wait_for_result("job-after-400").empty(), w.worker.log());

  w.fake.answer_next_takes(429, 1);
  fake_request limited;
  BOOST_TEST_REQUIRE(w.fake.wait_until(
    [&] {
      for (const auto& t : w.fake.takes()) {
        if (t.answered == 429) {
          limited = t;
          return true;
        }
      }
      return false;
    },
    10s));
  fake_request next;
  BOOST_TEST_REQUIRE(w.fake.wait_until(
    [&] {
      for (const auto& t : w.fake.takes()) {
        if (t.at > limited.at) {
          next = t;
          return true;
        }
      }
      return false;
    },
    15s));
  // How long it waits is runpod_worker's take_pause (tested with plain calls); here, that it said so.
  BOOST_TEST(w.worker.log().find("job-take answered 429 (too many requests); waiting 5000 ms") != std::string::npos,
             w.worker.log());
  // The queue is empty now: the fake says 204 and the worker keeps asking.
  BOOST_TEST(next.answered == 204);
  const size_t takes_then = w.fake.takes().size();
  BOOST_TEST(w.fake.wait_until([&] { return w.fake.takes().size() > takes_then; }, 5s));
}

BOOST_AUTO_TEST_CASE(logs_are_json_lines_with_the_job_id_and_never_show_the_key) {
  auto& w = the_world();
  w.fake.add_job("job-logged", small_input);
  BOOST_TEST_REQUIRE(!w.fake.wait_for_result("job-logged").empty());
  std::this_thread::sleep_for(200ms);
  const std::string log = w.worker.log();
  BOOST_TEST(log.find("rp-test-key") == std::string::npos);
  std::istringstream lines(log);
  std::string line;
  int lines_seen = 0;
  bool started = false;
  while (std::getline(lines, line)) {
    if (line.empty()) {
      continue;
    }
    ++lines_seen;
    json_value doc;
    BOOST_CHECK_NO_THROW(doc = sdw::parse_json(line));
    BOOST_TEST(member(doc, "level").is_string(), line);
    BOOST_TEST(member(doc, "message").is_string(), line);
    BOOST_TEST((member(doc, "requestId").is_null() || member(doc, "requestId").is_string()), line);
    if (member(doc, "requestId").is_string() && member(doc, "requestId").as_string() == "job-logged" &&
        member(doc, "message").as_string() == "Started.") {
      started = true;
    }
  }
  BOOST_TEST(lines_seen > 3);
  BOOST_TEST(started, log);
}
