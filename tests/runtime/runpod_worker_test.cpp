#define BOOST_TEST_MODULE runpod_worker
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/runpod/runpod_worker.hpp"

#include <map>

using namespace sdw;

namespace {

runpod_settings from_map(const std::map<std::string, std::string>& env) {
  worker_config config;
  apply_environment(config, [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  return runpod_settings_from(config);
}

runpod_settings sls_local_server() {
  return from_map({{"RUNPOD_WEBHOOK_GET_JOB", "http://h/v2/ep/job-take/$RUNPOD_POD_ID"},
                   {"RUNPOD_WEBHOOK_POST_OUTPUT", "http://h/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=A100"},
                   {"RUNPOD_WEBHOOK_PING", "http://h/v2/ep/ping/$RUNPOD_POD_ID"},
                   {"RUNPOD_AI_API_KEY", "secret-key"},
                   {"RUNPOD_POD_ID", "pod7"}});
}

} // namespace

BOOST_AUTO_TEST_CASE(settings_take_the_sdk_defaults) {
  const auto s = from_map({});
  BOOST_TEST(!s.on_runpod());
  BOOST_TEST(s.post_output_url == "JOB_DONE_URL");
  BOOST_TEST(s.ping_interval_ms == 10000);
  BOOST_TEST(s.worker_id.size() == 36u);  // a random UUID
  BOOST_TEST(!s.pings());
  const auto full = sls_local_server();
  BOOST_TEST(full.on_runpod());
  BOOST_TEST(full.pings());
  // Pings need the key, as the SDK's heartbeat does.
  BOOST_TEST(!from_map({{"RUNPOD_WEBHOOK_PING", "http://h/ping"}, {"RUNPOD_POD_ID", "p"}}).pings());
  BOOST_TEST(!from_map({{"RUNPOD_WEBHOOK_PING", "PING_NOT_SET"}, {"RUNPOD_POD_ID", "p"}, {"RUNPOD_AI_API_KEY", "k"}})
                .pings());
}

BOOST_AUTO_TEST_CASE(a_bad_ping_interval_names_the_variable) {
  try {
    from_map({{"RUNPOD_PING_INTERVAL", "10s"}});
    BOOST_FAIL("no error");
  } catch (const error& e) {
    BOOST_TEST(e.where() == "RUNPOD_PING_INTERVAL");
  }
  BOOST_TEST(from_map({{"RUNPOD_PING_INTERVAL", "2500"}}).ping_interval_ms == 2500);
}

BOOST_AUTO_TEST_CASE(urls_substitute_both_placeholders_and_add_the_query) {
  const auto s = sls_local_server();
  BOOST_TEST(job_take_url(s, false) == "http://h/v2/ep/job-take/pod7?job_in_progress=0");
  BOOST_TEST(job_take_url(s, true) == "http://h/v2/ep/job-take/pod7?job_in_progress=1");
  // Several jobs at once: the SDK's batch form.
  BOOST_TEST(job_take_url(s, true, 3) == "http://h/v2/ep/job-take-batch/pod7?batch_size=3&job_in_progress=1");
  BOOST_TEST(job_done_url(s, "job-1") == "http://h/v2/ep/job-done/pod7/job-1?gpu=A100&isStream=false");
  BOOST_TEST(job_done_url(s, "job-1", true) == "http://h/v2/ep/job-done/pod7/job-1?gpu=A100&isStream=true");
  BOOST_TEST(job_done_url_for_run(s, "job-1", "cuda:1", 3) ==
             "http://h/v2/ep/job-done/pod7/job-1?gpu=A100&isStream=false&device=cuda%3A1&batch_jobs=3");
  BOOST_TEST(ping_url(s, {}) == std::string("http://h/v2/ep/ping/pod7?runpod_version=") + runpod_worker_version);
  BOOST_TEST(ping_url(s, {"a", "b"}) ==
             std::string("http://h/v2/ep/ping/pod7?job_id=a%2Cb&runpod_version=") + runpod_worker_version);

  // The waverless style: `$ID` is the worker in job-take, the job in job-done; templates ending in `?`.
  auto w = from_map({{"RUNPOD_WEBHOOK_GET_JOB", "http://h/v2/ep/job-take/$ID?"},
                     {"RUNPOD_WEBHOOK_POST_OUTPUT", "http://h/v2/ep/job-done/$RUNPOD_POD_ID/$ID?"},
                     {"RUNPOD_POD_ID", "w1"}});
  BOOST_TEST(job_take_url(w, true) == "http://h/v2/ep/job-take/w1?job_in_progress=1");
  BOOST_TEST(job_done_url(w, "j9") == "http://h/v2/ep/job-done/w1/j9?isStream=false");
}

BOOST_AUTO_TEST_CASE(logged_urls_lose_their_query) {
  BOOST_TEST(url_for_log("http://h/job-done/p/j?gpu=x&token=abc") == "http://h/job-done/p/j");
  BOOST_TEST(url_for_log("http://h/ping") == "http://h/ping");
}

BOOST_AUTO_TEST_CASE(job_take_answers_are_classified_as_the_sdk_does) {
  using k = take_outcome::kind;
  BOOST_TEST((classify_take(204, "", "").what == k::no_job));
  BOOST_TEST((classify_take(400, "application/json", R"({"id":"x","input":{}})").what == k::no_job));
  BOOST_TEST((classify_take(429, "", "").what == k::back_off));
  // What the worker waits before asking again: as the SDK, 5 s after a 429.
  BOOST_TEST(take_pause(k::back_off).count() == 5000);
  BOOST_TEST(take_pause(k::failed).count() == 1000);
  BOOST_TEST(take_pause(k::no_job).count() == 200);
  BOOST_TEST(take_pause(k::jobs).count() == 0);
  const auto failed = classify_take(502, "text/html", "bad gateway");
  BOOST_TEST((failed.what == k::failed));
  BOOST_TEST(failed.message.find("502") != std::string::npos);
  BOOST_TEST((classify_take(200, "text/plain", R"({"id":"x","input":{}})").what == k::no_job));
  BOOST_TEST((classify_take(200, "application/json", "").what == k::no_job));
  BOOST_TEST((classify_take(200, "application/json", "{not json").what == k::no_job));
  BOOST_TEST((classify_take(200, "application/json", "42").what == k::no_job));

  const auto one = classify_take(200, "application/json; charset=utf-8", R"({"id":"j1","input":{"steps":2}})");
  BOOST_TEST_REQUIRE((one.what == k::jobs));
  BOOST_TEST_REQUIRE(one.jobs.size() == 1u);
  BOOST_TEST(one.jobs[0].id == "j1");
  BOOST_TEST(parse_json(one.jobs[0].body).find("input")->find("steps")->as_int() == 2);

  const auto batch =
    classify_take(200, "application/json", R"([{"id":"a","input":{}},{"id":"b"},{"input":{}}])");
  BOOST_TEST_REQUIRE(batch.jobs.size() == 1u);
  BOOST_TEST(batch.jobs[0].id == "a");
  BOOST_TEST_REQUIRE(batch.rejected.size() == 1u);  // no input: still answered, with an error
  BOOST_TEST(batch.rejected[0].id == "b");
  BOOST_TEST(batch.message.find("without an id") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(job_input_is_checked_before_it_is_queued) {
  BOOST_CHECK_NO_THROW(check_job_input(R"({"id":"j","input":{"prompt":"x","steps":3}})"));
  BOOST_CHECK_NO_THROW(check_job_input(
    R"({"id":"j","input":{"api":{"method":"POST","endpoint":"/sdapi/v1/txt2img"},"payload":{"steps":3}}})"));
  auto where = [](const std::string& job) -> std::pair<std::string, std::string> {
    try {
      check_job_input(job);
    } catch (const error& e) {
      return {e.where(), e.message()};
    }
    return {"", ""};
  };
  BOOST_TEST(where(R"({"id":"j"})").first == "input");
  BOOST_TEST(where(R"({"id":"j","input":"draw"})").first == "input");
  BOOST_TEST(where(R"({"id":"j","input":{"steps":"many"}})").first == "steps");
  const auto other = where(R"({"id":"j","input":{"api":{"method":"GET","endpoint":"/sdapi/v1/sd-models"}}})");
  BOOST_TEST(other.first == "input.api.endpoint");
  BOOST_TEST(other.second.find("GET /sdapi/v1/sd-models is not supported yet") != std::string::npos, other.second);
}

BOOST_AUTO_TEST_CASE(job_done_bodies) {
  BOOST_TEST(done_output_body(R"({"images":["x"]})") == R"({"output":{"images":["x"]}})");
  BOOST_TEST(done_error_body("steps: bad", false) == R"({"error":"steps: bad"})");
  BOOST_TEST(done_error_body("CUDA error: \"x\"", true) == R"({"error":"CUDA error: \"x\"","stopPod":true})");
  const json_value p = parse_json(progress_body(5, 20));
  BOOST_TEST(p.find("status")->as_string() == "IN_PROGRESS");
  BOOST_TEST(p.find("output")->find("step")->as_int() == 5);
  BOOST_TEST(p.find("output")->find("steps")->as_int() == 20);
  BOOST_TEST(p.find("output")->find("progress")->as_double() == 0.25);
}

// worker-a1111's handler returns A1111's JSON whatever the status; the SDK fails a dict with `error`.
BOOST_AUTO_TEST_CASE(a1111_answers_become_results_as_the_handler_and_sdk_make_them) {
  handler_result r = handler_result_of(R"([{"name":"Euler"}])");
  BOOST_TEST(!r.failed);
  BOOST_TEST(r.output_json == R"([{"name":"Euler"}])");
  r = handler_result_of(R"({"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"}]})");
  BOOST_TEST(!r.failed);
  r = handler_result_of("null");
  BOOST_TEST(!r.failed);
  BOOST_TEST(r.output_json == "null");
  r = handler_result_of(R"({"error":"HTTPException","detail":"Invalid encoded image","body":"","errors":""})");
  BOOST_TEST(r.failed);
  BOOST_TEST(r.error_text == "HTTPException");
  BOOST_TEST(r.output_json == R"({"detail":"Invalid encoded image","body":"","errors":""})");
  BOOST_TEST(done_failed_body(r.output_json, r.error_text) ==
             R"({"output":{"detail":"Invalid encoded image","body":"","errors":""},"error":"HTTPException"})");
  // A falsy `error` is no error; nothing left after it is no output.
  BOOST_TEST(!handler_result_of(R"({"error":"","x":1})").failed);
  r = handler_result_of(R"({"error":{"code":3}})");
  BOOST_TEST(r.failed);
  BOOST_TEST(r.error_text == R"({"code":3})");
  BOOST_TEST(r.output_json.empty());
  BOOST_TEST(handler_result_of("<html>").failed);
}

BOOST_AUTO_TEST_CASE(job_calls_name_any_a1111_route) {
  const a1111_call plain = job_call(R"({"id":"j","input":{"prompt":"x"}})");
  BOOST_TEST(is_generation_call(plain));
  const a1111_call extras = job_call(R"({"id":"j","input":{"api":{"method":"post","endpoint":"extra-single-image"},"payload":{"image":""}}})");
  BOOST_TEST(!is_generation_call(extras));
  BOOST_TEST(extras.method == "POST");
  BOOST_TEST(extras.endpoint == "/sdapi/v1/extra-single-image");
  BOOST_TEST(extras.payload.find("image") != nullptr);
  BOOST_TEST(is_generation_call(job_call(R"({"input":{"api":{"method":"POST","endpoint":"img2img"}}})")));
  BOOST_TEST(!is_generation_call(job_call(R"({"input":{"api":{"method":"GET","endpoint":"txt2img"}}})")));
}

BOOST_AUTO_TEST_CASE(device_faults_are_told_from_ordinary_errors) {
  BOOST_TEST(is_device_fault("CUDA error: an illegal memory access was encountered"));
  BOOST_TEST(is_device_fault("CUDA error: device-side assert triggered"));
  BOOST_TEST(is_device_fault("cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"));
  BOOST_TEST(!is_device_fault("CUDA out of memory. Tried to allocate 2.00 GiB"));
  BOOST_TEST(!is_device_fault("steps: ensure this value is less than or equal to 150"));
}

BOOST_AUTO_TEST_CASE(delivery_backoff_doubles_up_to_a_cap) {
  using std::chrono::milliseconds;
  BOOST_TEST(delivery_backoff(1).count() == 250);
  BOOST_TEST(delivery_backoff(2).count() == 500);
  BOOST_TEST(delivery_backoff(4).count() == 2000);
  BOOST_TEST(delivery_backoff(6).count() == 8000);
  BOOST_TEST(delivery_backoff(60).count() == 8000);
}

BOOST_AUTO_TEST_CASE(json_log_lines) {
  BOOST_TEST(runpod_log_json("", "Started.", "INFO") == R"({"requestId":null,"message":"Started.","level":"INFO"})");
  BOOST_TEST(runpod_log_json("j1", "say \"hi\"", "ERROR") ==
             R"({"requestId":"j1","message":"say \"hi\"","level":"ERROR"})");
  const json_value long_line = parse_json(runpod_log_json("", std::string(10000, 'x'), "INFO"));
  BOOST_TEST(long_line.find("message")->as_string().size() == 4096u + 3u);
}

BOOST_AUTO_TEST_CASE(the_local_test_job) {
  const auto job = local_test_job(R"({"input":{"steps":2}})");
  BOOST_TEST(job.id == "local_test");
  BOOST_TEST(parse_json(job.body).find("input")->find("steps")->as_int() == 2);
  BOOST_TEST(local_test_job(R"({"id":"mine","input":{}})").id == "mine");
  BOOST_CHECK_THROW(local_test_job(R"({"prompt":"x"})"), error);
  BOOST_CHECK_THROW(local_test_job("[1]"), error);
  BOOST_CHECK_THROW(local_test_job("nope"), error);
}

BOOST_AUTO_TEST_CASE(progress_is_posted_at_once_then_at_most_once_a_second) {
  using namespace std::chrono_literals;
  progress_throttle throttle;
  const std::chrono::steady_clock::time_point t0{};
  BOOST_TEST(!throttle.should_post("a", 0, t0));  // a job that has not stepped yet
  BOOST_TEST(throttle.should_post("a", 1, t0));   // the first step at once
  BOOST_TEST(!throttle.should_post("a", 2, t0 + 300ms));
  BOOST_TEST(!throttle.should_post("a", 9, t0 + 999ms));
  BOOST_TEST(throttle.should_post("a", 10, t0 + 1000ms));
  BOOST_TEST(!throttle.should_post("a", 10, t0 + 5000ms));  // the same step twice: once
  BOOST_TEST(throttle.should_post("a", 11, t0 + 5000ms));
  // 450 steps over 4.5 s: the first and one a second after it.
  int posted = 0;
  for (int step = 1; step <= 450; ++step) {
    posted += throttle.should_post("b", step, t0 + 10s + step * 10ms) ? 1 : 0;
  }
  BOOST_TEST(posted == 5);
  // Another job starts afresh; a job that ended and starts again (a retry) too.
  BOOST_TEST(throttle.should_post("c", 1, t0 + 20s));
  throttle.forget("c");
  BOOST_TEST(throttle.should_post("c", 1, t0 + 20s + 1ms));
  throttle.forget("other");
  BOOST_TEST(!throttle.should_post("c", 2, t0 + 20s + 2ms));
}
