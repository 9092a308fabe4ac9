#define BOOST_TEST_MODULE api_protocol
#include <boost/test/unit_test.hpp>

#include "runtime/formats/a1111_api.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/runpod/runpod_api.hpp"
#include "runtime/formats/a1111_samplers.hpp"

#include <set>

using namespace sdw;

namespace {

/// The error a call throws, or an empty optional.
template <class F>
std::optional<error> thrown(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e;
  }
  return std::nullopt;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_bad_field_is_a1111s_422_body) {
  const auto a = a1111_error_answer(errc::bad_request, "steps", "value is not a valid integer");
  BOOST_TEST(a.status == 422);
  BOOST_TEST(a.body ==
             R"({"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]})");
}

BOOST_AUTO_TEST_CASE(a_nested_field_gets_a_nested_loc) {
  const auto a = a1111_error_answer(errc::bad_request, "override_settings.eta_ddim", "value is not a valid float");
  BOOST_TEST(a.body.find(R"("loc":["body","override_settings","eta_ddim"])") != std::string::npos);
  BOOST_TEST(a.body.find(R"("type":"type_error.float")") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_json_syntax_error_is_located_by_character) {
  const auto e = thrown([] { check_generation_body("{\"steps\": }", request_kind::txt2img); });
  BOOST_TEST_REQUIRE(e.has_value());
  const auto a = a1111_error_answer(e->code(), e->where(), e->message());
  BOOST_TEST(a.status == 422);
  BOOST_TEST(a.body.find(R"("loc":["body",10])") != std::string::npos, a.body);
  BOOST_TEST(a.body.find(R"("type":"value_error.jsondecode")") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_unknown_sampler_is_found_before_queueing_and_is_404) {
  const auto e = thrown([] { check_generation_body(R"({"sampler_name":"Nope"})", request_kind::txt2img); });
  BOOST_TEST_REQUIRE(e.has_value());
  BOOST_TEST(e->code() == errc::not_found);
  BOOST_TEST(e->where() == "sampler_name");
  const auto a = a1111_error_answer(errc::not_found, e->where(), e->message());
  BOOST_TEST(a.status == 404);
  BOOST_TEST(a.body == R"({"error":"HTTPException","detail":"Sampler not found","body":"","errors":""})");
}

BOOST_AUTO_TEST_CASE(a_bad_override_is_found_before_queueing) {
  const auto e = thrown([] { check_generation_body(R"({"override_settings":{"CLIP_stop_at_last_layers":"x"}})", request_kind::txt2img); });
  BOOST_TEST_REQUIRE(e.has_value());
  BOOST_TEST(e->where() == "override_settings.CLIP_stop_at_last_layers");
  BOOST_TEST(check_generation_body(R"({"steps":"20","sampler_name":"Euler a"})", request_kind::txt2img).steps == 20);
}

BOOST_AUTO_TEST_CASE(runtime_failures_are_500_with_the_message) {
  const auto a = a1111_error_answer(errc::internal, "", "out of memory");
  BOOST_TEST(a.status == 500);
  BOOST_TEST(a.body == R"({"error":"RuntimeError","detail":"","body":"","errors":"out of memory"})");
  BOOST_TEST(a1111_error_answer(errc::queue_full, "", "full").status == 503);
}

BOOST_AUTO_TEST_CASE(samplers_json_lists_every_sampler_with_aliases) {
  const json_value list = parse_json(samplers_json());
  BOOST_TEST_REQUIRE(list.as_array().size() == all_samplers().size());
  const auto& first = list.as_array()[0];
  BOOST_TEST(first.find("name")->as_string() == all_samplers()[0].name);
  BOOST_TEST(first.find("aliases")->as_array().size() == all_samplers()[0].aliases.size());
  BOOST_TEST(first.find("options")->is_object());
}

BOOST_AUTO_TEST_CASE(sd_models_shows_the_short_hash_in_the_title) {
  const std::string sha(64, 'a');
  checkpoint_info hashed;
  hashed.path = "/m/deliberate_v6.safetensors";
  hashed.name = "deliberate_v6.safetensors";
  hashed.model_name = "deliberate_v6";
  hashed.sha256 = sha;
  const json_value list = parse_json(sd_models_json({hashed}));
  const auto& m = list.as_array().at(0);
  BOOST_TEST(m.find("title")->as_string() == "deliberate_v6.safetensors [aaaaaaaaaa]");
  BOOST_TEST(m.find("model_name")->as_string() == "deliberate_v6");
  BOOST_TEST(m.find("hash")->as_string() == "aaaaaaaaaa");
  BOOST_TEST(m.find("filename")->as_string() == "/m/deliberate_v6.safetensors");
  BOOST_TEST(m.find("config")->is_null());
  checkpoint_info x;
  x.path = "/m/x.safetensors";
  x.name = "x.safetensors";
  x.config = "/m/x.yaml";
  const json_value unhashed = parse_json(sd_models_json({x}));
  BOOST_TEST(unhashed.as_array()[0].find("title")->as_string() == "x.safetensors");
  BOOST_TEST(unhashed.as_array()[0].find("sha256")->is_null());
  BOOST_TEST(unhashed.as_array()[0].find("config")->as_string() == "/m/x.yaml");
}

BOOST_AUTO_TEST_CASE(job_ids_are_distinct_uuid4s) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string id = new_job_id();
    BOOST_TEST_REQUIRE(id.size() == 36u);
    BOOST_TEST(id[14] == '4');
    BOOST_TEST(std::string("89ab").find(id[19]) != std::string::npos);
    ids.insert(id);
  }
  BOOST_TEST(ids.size() == 100u);
  BOOST_TEST(new_job_id("sync").rfind("sync-", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(runpod_bodies_need_an_input_object) {
  BOOST_TEST(!thrown([] { check_runpod_body(R"({"input":{"prompt":"x"}})"); }).has_value());
  BOOST_TEST(thrown([] { check_runpod_body(R"({"prompt":"x"})"); })->message() == "field required");
  BOOST_TEST(thrown([] { check_runpod_body(R"({"input":[1]})"); })->where() == "input");
  BOOST_TEST(thrown([] { check_runpod_body(R"([])"); })->where() == "body");
  BOOST_TEST(thrown([] { check_runpod_body("{"); }).has_value());
}

BOOST_AUTO_TEST_CASE(runpod_job_json_has_runpods_keys_and_splices_output) {
  BOOST_TEST(runpod_job_json({"j1", "IN_QUEUE"}) == R"({"id":"j1","status":"IN_QUEUE"})");
  BOOST_TEST(runpod_job_json({"j2", "COMPLETED", R"({"images":[]})", "", 5, 120}) ==
             R"({"id":"j2","status":"COMPLETED","delayTime":5,"executionTime":120,"output":{"images":[]}})");
  const std::string err = runpod_error_text(errc::bad_request, "steps", "value is not a valid integer");
  BOOST_TEST(err == R"({"error_type":"bad_request","error_message":"steps: value is not a valid integer","field":"steps"})");
  const json_value failed = parse_json(runpod_job_json({"j3", "FAILED", "", err}));
  BOOST_TEST(failed.find("error")->as_string() == err);
}

BOOST_AUTO_TEST_CASE(runsync_waits_90_seconds_unless_told) {
  BOOST_TEST(runsync_wait_ms(std::nullopt) == 90000);
  BOOST_TEST(runsync_wait_ms(std::string("5000")) == 5000);
  BOOST_TEST(runsync_wait_ms(std::string("10")) == 1000);
  BOOST_TEST(runsync_wait_ms(std::string("999999")) == 300000);
  BOOST_TEST(runsync_wait_ms(std::string("soon")) == 90000);
}

BOOST_AUTO_TEST_CASE(health_json_shows_state_and_runpod_counters) {
  service_health h;
  h.state = "ready";
  h.model_name = "tiny";
  h.completed = 3;
  h.in_queue = 1;
  h.in_progress = 1;
  const json_value j = parse_json(health_json(h));
  BOOST_TEST(j.find("status")->as_string() == "ready");
  BOOST_TEST(j.find("jobs")->find("completed")->as_int() == 3);
  BOOST_TEST(j.find("jobs")->find("inQueue")->as_int() == 1);
  BOOST_TEST(j.find("workers")->find("running")->as_int() == 1);
  BOOST_TEST(j.find("model")->find("name")->as_string() == "tiny");
}

BOOST_AUTO_TEST_CASE(health_json_shows_each_device_configured_and_learned_speed) {
  service_health h;
  h.state = "ready";
  device_health d;
  d.name = "cuda:1";
  d.state = "idle";
  d.speed = 1;
  d.calibrated_speed = 0.25;
  d.jobs = 7;
  h.devices.push_back(d);
  const json_value j = parse_json(health_json(h));
  const json_value& dev = j.find("devices")->as_array().at(0);
  BOOST_TEST(dev.find("name")->as_string() == "cuda:1");
  BOOST_TEST(dev.find("speed")->as_number() == 1.0);
  BOOST_TEST(dev.find("calibratedSpeed")->as_number() == 0.25);
  BOOST_TEST(dev.find("jobs")->as_int() == 7);
}

BOOST_AUTO_TEST_CASE(runpod_routes_take_the_key_or_a_basic_auth_user) {
  const std::vector<api_credential> users = {{"alice", "secret"}};
  const std::string key = "rp-key";
  auto ok = [&](std::optional<std::string> header, const std::vector<api_credential>& u, const std::string& k) {
    return runpod_authorized(u, k, header);
  };
  BOOST_TEST(ok(std::string("Bearer rp-key"), users, key));
  BOOST_TEST(ok(std::string("bearer rp-key"), users, key));
  BOOST_TEST(ok(std::string("rp-key"), users, key));  // the bare key, as RunPod takes it
  BOOST_TEST(ok(std::string("Basic YWxpY2U6c2VjcmV0"), users, key));  // alice:secret
  BOOST_TEST(ok(std::string("Basic YWxpY2U6c2VjcmV0"), users, ""));
  BOOST_TEST(!ok(std::nullopt, users, key));
  BOOST_TEST(!ok(std::string(""), users, key));
  BOOST_TEST(!ok(std::string("Bearer rp-ke"), users, key));
  BOOST_TEST(!ok(std::string("Bearer rp-key2"), users, key));
  BOOST_TEST(!ok(std::string("Bearer "), users, key));
  BOOST_TEST(!ok(std::string("Basic YWxpY2U6d3Jvbmc="), users, key));  // alice:wrong
  // Without a key, no bearer token passes; without users, no basic credentials do.
  BOOST_TEST(!ok(std::string("Bearer "), users, ""));
  BOOST_TEST(!ok(std::string(""), users, ""));
  BOOST_TEST(!ok(std::string("Basic YWxpY2U6c2VjcmV0"), {}, key));
  BOOST_TEST(runpod_unauthorized_json().find(R"({"error":"Unauthorized)") == 0u);
}
