#define BOOST_TEST_MODULE api_bad_input
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <string>
#include <vector>

using sdw::test::member;

namespace {

/// One bad request and what the server must answer: the status and a text the body must contain
/// (the field at fault, or the reason).
struct bad_case {
  std::string method;
  std::string path;
  std::string body;
  int status;
  std::string names;
};

const std::string huge_prompt = std::string(20001, 'a');

std::string txt2img_with(const std::string& field_json) {
  return R"({"prompt":"x","steps":2,"width":64,"height":64,)" + field_json + "}";
}

std::vector<bad_case> catalogue() {
  const std::string t2i = "/sdapi/v1/txt2img";
  return {
    // Wrong types, one field at a time: 422 with pydantic's loc naming the field.
    {"POST", t2i, txt2img_with(R"("steps":"many")"), 422, R"("loc":["body","steps"])"},
    {"POST", t2i, R"({"width":"wide"})", 422, R"("loc":["body","width"])"},
    {"POST", t2i, R"({"height":[64]})", 422, R"("loc":["body","height"])"},
    {"POST", t2i, R"({"cfg_scale":"high"})", 422, R"("loc":["body","cfg_scale"])"},
    {"POST", t2i, R"({"seed":"abc"})", 422, R"("loc":["body","seed"])"},
    {"POST", t2i, R"({"subseed":{}})", 422, R"("loc":["body","subseed"])"},
    {"POST", t2i, R"({"batch_size":{}})", 422, R"("loc":["body","batch_size"])"},
    {"POST", t2i, R"({"n_iter":"x"})", 422, R"("loc":["body","n_iter"])"},
    {"POST", t2i, R"({"prompt":["a"]})", 422, R"("loc":["body","prompt"])"},
    {"POST", t2i, R"({"negative_prompt":{}})", 422, R"("loc":["body","negative_prompt"])"},
    {"POST", t2i, R"({"restore_faces":"maybe"})", 422, R"("loc":["body","restore_faces"])"},
    {"POST", t2i, R"({"subseed_strength":"x"})", 422, R"("loc":["body","subseed_strength"])"},
    {"POST", t2i, R"({"eta":[]})", 422, R"("loc":["body","eta"])"},
    {"POST", t2i, R"({"styles":"x"})", 422, R"("loc":["body","styles"])"},
    {"POST", t2i, R"({"sampler_name":[7]})", 422, R"("loc":["body","sampler_name"])"},
    {"POST", t2i, R"({"scheduler":{}})", 422, R"("loc":["body","scheduler"])"},
    {"POST", t2i, R"({"send_images":"yes please"})", 422, R"("loc":["body","send_images"])"},
    {"POST", t2i, R"({"override_settings":"x"})", 422, R"("loc":["body","override_settings"])"},
    {"POST", t2i, R"({"override_settings":{"CLIP_stop_at_last_layers":"two"}})", 422,
     R"("loc":["body","override_settings","CLIP_stop_at_last_layers"])"},
    {"POST", t2i, R"({"override_settings":{"no_such_option":1}})", 422,
     R"("loc":["body","override_settings","no_such_option"])"},
    // Unknown sampler: A1111's 404.
    {"POST", t2i, txt2img_with(R"("sampler_name":"No Such Sampler")"), 404, "Sampler not found"},
    // Sizes, steps and batches out of range.
    {"POST", t2i, R"({"width":65})", 422, R"("loc":["body","width"])"},
    {"POST", t2i, R"({"height":100})", 422, R"("loc":["body","height"])"},
    {"POST", t2i, R"({"width":100000})", 422, R"("loc":["body","width"])"},
    {"POST", t2i, R"({"height":-64})", 422, R"("loc":["body","height"])"},
    {"POST", t2i, R"({"steps":0})", 422, R"("loc":["body","steps"])"},
    {"POST", t2i, R"({"steps":1000000000000})", 422, R"("loc":["body","steps"])"},
    {"POST", t2i, R"({"batch_size":100000})", 422, R"("loc":["body","batch_size"])"},
    {"POST", t2i, R"({"n_iter":0})", 422, R"("loc":["body","n_iter"])"},
    {"POST", t2i, R"({"prompt":")" + huge_prompt + R"("})", 422, R"("loc":["body","prompt"])"},
    // Malformed JSON: FastAPI's jsondecode 422 with the character offset.
    {"POST", t2i, R"({"prompt":"\x"})", 422, "value_error.jsondecode"},
    {"POST", t2i, R"({"prompt":"x" "y"})", 422, "value_error.jsondecode"},
    {"POST", t2i, "not json", 422, "value_error.jsondecode"},
    {"POST", t2i, R"({"prompt":"x",})", 422, "value_error.jsondecode"},
    {"POST", t2i, "", 422, R"({"detail":[{"loc":["body"],"msg":"field required","type":"value_error.missing"}]})"},
    {"POST", "/sdapi/v1/options", "", 422, "value_error.missing"},
    {"POST", t2i, "[1,2]", 422, "value is not a valid dict"},
    // Hires fix without its strength or with an upscaler this worker does not have: 422 naming it.
    {"POST", t2i, txt2img_with(R"("enable_hr":true)"), 422, R"("loc":["body","denoising_strength"])"},
    {"POST", t2i, txt2img_with(R"("enable_hr":true,"denoising_strength":0.5,"hr_upscaler":"R-ESRGAN 4x+")"), 422,
     R"("loc":["body","hr_upscaler"])"},
    // Scripts: A1111's 422 for a name it does not have on the route; a 422 naming the field for
    // one A1111 has and this worker does not run.
    {"POST", t2i, txt2img_with(R"("script_name":"x/y/z plot")"), 422, R"("loc":["body","script_name"])"},
    {"POST", t2i, txt2img_with(R"("script_name":"SD upscale")"), 422,
     R"({"error":"HTTPException","detail":"Script 'SD upscale' not found","body":"","errors":""})"},
    {"POST", t2i, txt2img_with(R"("script_name":"no such script")"), 422, R"("detail":"Script 'no such script' not found")"},
    {"POST", t2i, txt2img_with(R"("alwayson_scripts":{"nope":{"args":[]}})"), 422, R"("detail":"Script 'nope' not found")"},
    {"POST", t2i, txt2img_with(R"("alwayson_scripts":{"X/Y/Z plot":{"args":[]}})"), 422,
     R"("detail":"Cannot have a selectable script in the always on scripts params")"},
    // Options.
    {"POST", "/sdapi/v1/options", "not json", 422, "value_error.jsondecode"},
    {"POST", "/sdapi/v1/options", "[1]", 422, "value is not a valid dict"},
    {"POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"nope.safetensors"})", 500,
     R"("errors":"model 'nope.safetensors' not found")"},
    {"POST", "/sdapi/v1/options", R"({"no_such_key":1})", 500, R"("error":"KeyError")"},
    {"POST", "/sdapi/v1/options", R"({"CLIP_stop_at_last_layers":"two"})", 422,
     R"("loc":["body","CLIP_stop_at_last_layers"])"},
    {"POST", "/sdapi/v1/options", R"({"randn_source":"QPU"})", 422, R"("loc":["body","randn_source"])"},
    // RunPod bodies.
    {"POST", "/run", "not json", 422, "value_error.jsondecode"},
    {"POST", "/run", "", 422, "body"},
    {"POST", "/run", "{}", 422, R"("loc":["body","input"])"},
    {"POST", "/run", R"({"input":5})", 422, R"("loc":["body","input"])"},
    {"POST", "/v2/local/run", R"({"input":"x"})", 422, R"("loc":["body","input"])"},
    {"POST", "/runsync", "[]", 422, "value is not a valid dict"},
    // Bad wait values.
    {"POST", "/runsync?wait=abc", R"({"input":{}})", 400, "wait"},
    {"POST", "/runsync?wait=-5", R"({"input":{}})", 400, "wait"},
    {"GET", "/status-sync/whatever?wait=1.5", "", 400, "wait"},
    {"GET", "/v2/local/status-sync/whatever?wait=soon", "", 400, "wait"},
    // Unknown job ids.
    {"GET", "/status/no-such-job", "", 404, "Job ID not found"},
    {"POST", "/status/no-such-job", "", 404, "Job ID not found"},
    {"GET", "/status-sync/no-such-job?wait=1000", "", 404, "Job ID not found"},
    {"GET", "/stream/no-such-job", "", 404, "Job ID not found"},
    {"POST", "/cancel/no-such-job", "", 404, "Job ID not found"},
    {"POST", "/retry/no-such-job", "", 404, "Job ID not found"},
    {"POST", "/v2/local/cancel/no-such-job", "{}", 404, "Job ID not found"},
    // Unknown routes: 404; known routes with the wrong method: FastAPI's 405.
    {"GET", "/nope", "", 404, "Not Found"},
    {"GET", "/sdapi/v1/nope", "", 404, "Not Found"},
    {"GET", "/v2/local/nope", "", 404, "Not Found"},
    {"GET", "/status", "", 404, "Not Found"},
    {"GET", "/sdapi/v1/txt2img", "", 405, "Method Not Allowed"},
    {"POST", "/sdapi/v1/samplers", "{}", 405, "Method Not Allowed"},
    {"PUT", "/sdapi/v1/options", "{}", 405, "Method Not Allowed"},
    {"GET", "/sdapi/v1/interrupt", "", 405, "Method Not Allowed"},
    {"GET", "/run", "", 405, "Method Not Allowed"},
    {"POST", "/health", "{}", 405, "Method Not Allowed"},
    {"DELETE", "/status/abc", "", 405, "Method Not Allowed"},
    {"GET", "/v2/local/cancel/abc", "", 405, "Method Not Allowed"},
  };
}

sdw::test::shared_server& start_server() {
  auto& s = sdw::test::checked_shared_api_server({});
  return s;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_bad_input_gets_its_status_and_names_the_field) {
  auto& server = start_server().server;
  const auto cases = catalogue();
  BOOST_TEST(cases.size() >= 50u);
  for (const auto& c : cases) {
    const auto r = server.call(c.method, c.path, c.body);
    BOOST_TEST_CONTEXT(c.method << " " << c.path << " " << c.body.substr(0, 120)) {
      BOOST_TEST(r.status == c.status, r.body.substr(0, 300));
      BOOST_TEST(r.body.find(c.names) != std::string::npos, r.body.substr(0, 300));
      BOOST_TEST(!r.json.is_null(), "the answer is JSON: " << r.body.substr(0, 300));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_job_with_a_bad_field_fails_and_says_which_field) {
  auto& server = start_server().server;
  const auto r = server.call("POST", "/runsync", R"({"input":{"prompt":"x","steps":2,"width":65}})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST(member(r.json, "status").as_string() == "FAILED");
  BOOST_TEST(member(r.json, "error").as_string().find("width") != std::string::npos, r.body);
}

BOOST_AUTO_TEST_CASE(a_body_over_the_limit_is_413) {
  auto& server = start_server().server;
  const std::string body = R"({"prompt":")" + std::string((size_t{32} << 20) + 16, 'a') + R"("})";
  const auto r = server.call("POST", "/sdapi/v1/txt2img", body);
  BOOST_TEST(r.status == 413, r.body.substr(0, 300));
  BOOST_TEST(r.body.find("too large") != std::string::npos, r.body.substr(0, 300));
}

// Last: after the whole catalogue the server still makes images.
BOOST_AUTO_TEST_CASE(the_server_still_answers_a_good_request_with_a_png) {
  auto& server = start_server().server;
  BOOST_TEST_REQUIRE(server.alive(), server.log());
  const auto r = server.call("POST", "/sdapi/v1/txt2img",
                             R"({"prompt":"a good request","steps":2,"width":64,"height":64,"seed":1})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 300));
  const auto png = sdw::decode_png(sdw::base64_decode(member(r.json, "images").as_array().at(0).as_string()));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.height == 64);
}
