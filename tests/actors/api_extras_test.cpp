#define BOOST_TEST_MODULE api_extras
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

#include <future>
#include <string>
#include <vector>

using sdw::json_value;
using sdw::test::member;

namespace {

sdw::test::api_server& server() { return sdw::test::checked_shared_api_server({}).server; }

sdw::test::http_reply post(const std::string& path, const std::string& body) { return server().call("POST", path, body); }

/// A w×h RGB PNG with a gradient, and a `parameters` chunk as txt2img writes one.
std::string png_b64(int w, int h, const std::string& parameters = "") {
  std::vector<std::uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) {
    rgb[i] = static_cast<std::uint8_t>((i * 7) % 251);
  }
  std::vector<std::pair<std::string, std::string>> text;
  if (!parameters.empty()) {
    text.emplace_back("parameters", parameters);
  }
  return sdw::base64_encode(sdw::encode_png(rgb.data(), w, h, text));
}

sdw::decoded_png decoded(const json_value& image) { return sdw::decode_png(sdw::base64_decode(image.as_string())); }

std::string with_image(const std::string& fields, const std::string& image) {
  return "{" + fields + (fields.empty() ? "" : ",") + "\"image\":\"" + image + "\"}";
}

/// A RunPod job naming an A1111 call.
std::string call_job(const std::string& method, const std::string& endpoint, const std::string& payload = "{}") {
  return R"({"input":{"api":{"method":")" + method + R"(","endpoint":")" + endpoint + R"("},"payload":)" + payload +
         "}}";
}

sdw::test::http_reply runsync(const std::string& job) { return post("/runsync", job); }

std::string status_of(const sdw::test::http_reply& r) {
  const json_value* s = r.json.find("status");
  return s != nullptr && s->is_string() ? s->as_string() : "";
}

} // namespace

BOOST_AUTO_TEST_CASE(extra_single_image_upscales_with_the_builtin_upscalers) {
  const std::string image = png_b64(53, 37, "a cat\nSteps: 3, Seed: 1, Size: 53x37");
  auto r = post("/sdapi/v1/extra-single-image", with_image(R"("upscaler_1":"Lanczos","upscaling_resize":2.5)", image));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  BOOST_TEST(member(r.json, "html_info").as_string() == "<p>Postprocess upscale by: 2.5, Postprocess upscaler: Lanczos</p>");
  auto png = decoded(member(r.json, "image"));
  // Upscaler.upscale rounds each side of 53x37 × 2.5 down to a multiple of 8.
  BOOST_TEST(png.width == 128);
  BOOST_TEST(png.height == 88);
  BOOST_TEST(png.text.at("parameters") == "a cat\nSteps: 3, Seed: 1, Size: 53x37");
  BOOST_TEST(png.text.at("postprocessing") == "Postprocess upscale by: 2.5, Postprocess upscaler: Lanczos");

  // To a size, cropped to it, with a second upscaler blended in.
  r = post("/sdapi/v1/extra-single-image",
           with_image(R"("resize_mode":1,"upscaling_resize_w":200,"upscaling_resize_h":120,"upscaler_1":"Nearest",)"
                      R"("upscaler_2":"Lanczos","extras_upscaler_2_visibility":0.4)",
                      "data:image/png;base64," + image));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  png = decoded(member(r.json, "image"));
  BOOST_TEST(png.width == 200);
  BOOST_TEST(png.height == 120);
  BOOST_TEST(png.text.at("postprocessing") ==
             "Postprocess upscale to: 200x120, Postprocess crop to: 200x120, Postprocess upscaler: Nearest, "
             "Postprocess upscaler 2: Lanczos");

  // Without an upscaler the image comes back as it was.
  r = post("/sdapi/v1/extra-single-image", with_image(R"("gfpgan_visibility":0.5,"codeformer_visibility":1)", image));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  BOOST_TEST(member(r.json, "html_info").as_string() == "<p></p>");
  png = decoded(member(r.json, "image"));
  BOOST_TEST(png.width == 53);
  BOOST_TEST(png.height == 37);
}

BOOST_AUTO_TEST_CASE(extra_batch_images_answers_every_image) {
  const std::string body = R"({"upscaler_1":"Lanczos","upscaling_resize":1.5,"imageList":[{"data":")" + png_b64(40, 40) +
                           R"(","name":"a.png"},{"data":")" + png_b64(30, 64) + R"(","name":"b.png"}]})";
  const auto r = post("/sdapi/v1/extra-batch-images", body);
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  const auto& images = member(r.json, "images").as_array();
  BOOST_TEST_REQUIRE(images.size() == 2u);
  BOOST_TEST(decoded(images[0]).width == 56);
  BOOST_TEST(decoded(images[0]).height == 56);
  BOOST_TEST(decoded(images[1]).width == 40);
  BOOST_TEST(decoded(images[1]).height == 96);
  BOOST_TEST(member(r.json, "html_info").as_string() == "<p>Postprocess upscale by: 1.5, Postprocess upscaler: Lanczos</p>");
}

BOOST_AUTO_TEST_CASE(extras_refuse_bad_input_naming_the_field) {
  const std::string image = png_b64(16, 16);
  auto r = post("/sdapi/v1/extra-single-image", with_image(R"("upscaler_1":"ESRGAN_4x")", image));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find(R"("loc":["body","upscaler_1"])") != std::string::npos, r.body);
  BOOST_TEST(r.body.find("needs its model file") != std::string::npos, r.body);
  r = post("/sdapi/v1/extra-single-image", with_image(R"("upscaler_1":"Latent")", image));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("could not find upscaler named Latent") != std::string::npos, r.body);
  r = post("/sdapi/v1/extra-single-image", with_image(R"("upscaler_1":"Lanczos","upscaling_resize":2000)", image));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("image too large") != std::string::npos, r.body);
  r = post("/sdapi/v1/extra-single-image", R"({"image":"bm90IGFuIGltYWdl"})");
  BOOST_TEST(r.status == 500);
  BOOST_TEST(member(r.json, "detail").as_string().find("Invalid encoded image (image: ") == 0u, r.body);
  r = post("/sdapi/v1/extra-batch-images", "{}");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body == R"({"detail":[{"loc":["body","imageList"],"msg":"field required","type":"value_error.missing"}]})");
  BOOST_TEST(server().call("GET", "/sdapi/v1/extra-single-image").status == 405);
  // The worker keeps serving.
  BOOST_TEST(server().call("GET", "/health").status == 200);
}

// -- the RunPod form of the A1111 routes (/runsync) --

BOOST_AUTO_TEST_CASE(runpod_jobs_naming_a1111_routes_answer_as_the_routes) {
  for (const std::string endpoint : {"/sdapi/v1/options", "sdapi/v1/options", "options"}) {
    const auto r = runsync(call_job("GET", endpoint));
    BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 300));
    BOOST_TEST(status_of(r) == "COMPLETED", endpoint << ": " << r.body.substr(0, 300));
    const auto& output = member(r.json, "output");
    BOOST_TEST(member(output, "sd_model_checkpoint").is_string(), r.body.substr(0, 300));
    BOOST_TEST(output.as_object().size() == server().call("GET", "/sdapi/v1/options").json.as_object().size());
  }

  auto r = runsync(call_job("GET", "sdapi/v1/sd-models"));
  BOOST_TEST(status_of(r) == "COMPLETED", r.body);
  const auto& models = member(r.json, "output").as_array();
  BOOST_TEST_REQUIRE(models.size() == 1u);
  BOOST_TEST(member(models[0], "model_name").as_string() == "tiny");

  const std::string made = png_b64(24, 24, "a dog\nSteps: 5, Sampler: Euler, Seed: 9, Size: 24x24");
  r = runsync(call_job("POST", "/sdapi/v1/png-info", R"({"image":")" + made + R"("})"));
  BOOST_TEST(status_of(r) == "COMPLETED", r.body);
  BOOST_TEST(member(member(member(r.json, "output"), "parameters"), "Prompt").as_string() == "a dog");

  r = runsync(call_job("POST", "extra-single-image", with_image(R"("upscaler_1":"Nearest","upscaling_resize":2)", made)));
  BOOST_TEST_REQUIRE(status_of(r) == "COMPLETED", r.body.substr(0, 300));
  const auto png = decoded(member(member(r.json, "output"), "image"));
  BOOST_TEST(png.width == 48);
  BOOST_TEST(png.height == 48);
  BOOST_TEST(member(r.json, "executionTime").is_int());

  // A route's own answers: a validation error completes with its detail (as worker-a1111's
  // handler returns it), an A1111 exception fails with the exception's name and the rest as output.
  r = runsync(call_job("POST", "/sdapi/v1/png-info", "{}"));
  BOOST_TEST(status_of(r) == "COMPLETED", r.body);
  BOOST_TEST(sdw::to_json(member(r.json, "output")) ==
             R"({"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"}]})");
  r = runsync(call_job("POST", "/sdapi/v1/png-info", R"({"image":"bm90IGFuIGltYWdl"})"));
  BOOST_TEST(status_of(r) == "FAILED", r.body);
  BOOST_TEST(member(r.json, "error").as_string() == "HTTPException");
  BOOST_TEST(member(member(r.json, "output"), "detail").as_string().find("Invalid encoded image") == 0u, r.body);
  r = runsync(call_job("GET", "/sdapi/v1/no-such-route"));
  BOOST_TEST(status_of(r) == "COMPLETED", r.body);
  BOOST_TEST(sdw::to_json(member(r.json, "output")) == R"({"detail":"Not Found"})");
  r = runsync(call_job("POST", "/sdapi/v1/samplers"));
  BOOST_TEST(sdw::to_json(member(r.json, "output")) == R"({"detail":"Method Not Allowed"})");
}

BOOST_AUTO_TEST_CASE(a_run_job_naming_a_call_is_kept_for_status) {
  const auto r = post("/run", call_job("GET", "/sdapi/v1/samplers"));
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST(status_of(r) == "IN_QUEUE");
  const std::string id = member(r.json, "id").as_string();
  const auto s = server().call("GET", "/status/" + id);
  BOOST_TEST(status_of(s) == "COMPLETED", s.body.substr(0, 300));
  BOOST_TEST(sdw::to_json(member(s.json, "output")) == server().call("GET", "/sdapi/v1/samplers").body);
}

// Extras run one at a time behind a line, as A1111 runs them: requests arriving together are all
// answered, each with its own size, and the worker answers /health meanwhile.
BOOST_AUTO_TEST_CASE(concurrent_extras_requests_are_all_answered_in_turn) {
  const std::string image = png_b64(96, 64);
  std::vector<std::future<sdw::test::http_reply>> pending;
  for (int k = 1; k <= 6; ++k) {
    const std::string body = with_image(R"("upscaler_1":"Lanczos","upscaling_resize":)" + std::to_string(k), image);
    pending.push_back(std::async(std::launch::async, [body] { return post("/sdapi/v1/extra-single-image", body); }));
  }
  BOOST_TEST(server().call("GET", "/health", "").status == 200);
  for (int k = 1; k <= 6; ++k) {
    const auto r = pending[static_cast<size_t>(k - 1)].get();
    BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 300));
    const auto png = decoded(member(r.json, "image"));
    BOOST_TEST(png.width == 96 * k);
    BOOST_TEST(png.height == 64 * k);
  }
}
