#define BOOST_TEST_MODULE api_a1111
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/a1111_samplers.hpp"
#include "tests/support/api_server.hpp"

using sdw::json_value;
using sdw::test::member;

namespace {

/// The running server, shared by the file's tests; fails the calling test when it does not come up.
sdw::test::shared_server& start_server() {
  auto& s = sdw::test::checked_shared_api_server({});
  return s;
}

sdw::test::http_reply post(const std::string& path, const std::string& body) {
  return start_server().server.call("POST", path, body);
}

} // namespace

BOOST_AUTO_TEST_CASE(txt2img_returns_png_images_of_the_requested_size) {
  start_server();
  const auto r = post("/sdapi/v1/txt2img",
                      R"({"prompt":"a red cube","steps":3,"width":64,"height":96,"seed":11,"sampler_name":"Euler",)"
                      R"("batch_size":2})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto& images = member(r.json, "images");
  BOOST_TEST_REQUIRE(images.is_array());
  BOOST_TEST_REQUIRE(images.as_array().size() == 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto png = sdw::decode_png(sdw::base64_decode(images.as_array()[i].as_string()));
    BOOST_TEST(png.width == 64);
    BOOST_TEST(png.height == 96);
    BOOST_TEST(png.channels == 3);
    BOOST_TEST(png.text.count("parameters") == 1u);
    BOOST_TEST(png.text.at("parameters").find("Seed: " + std::to_string(11 + i) + ",") != std::string::npos);
  }
  BOOST_TEST(member(member(r.json, "parameters"), "steps").as_int() == 3);
  const json_value info = sdw::parse_json(member(r.json, "info").as_string());
  BOOST_TEST(member(info, "seed").as_int() == 11);
  BOOST_TEST(member(info, "all_seeds").as_array().size() == 2u);
}

BOOST_AUTO_TEST_CASE(hires_fix_returns_images_at_the_upscaled_size) {
  start_server();
  const auto r = post("/sdapi/v1/txt2img",
                      R"({"prompt":"a tower","steps":2,"width":64,"height":64,"seed":3,"enable_hr":true,)"
                      R"("hr_scale":1.5,"hr_upscaler":"Lanczos","denoising_strength":0.5,"hr_second_pass_steps":2})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto png = sdw::decode_png(sdw::base64_decode(member(r.json, "images").as_array().at(0).as_string()));
  BOOST_TEST(png.width == 96);
  BOOST_TEST(png.height == 96);
  BOOST_TEST(png.text.at("parameters").find("Hires upscaler: Lanczos") != std::string::npos);
  const json_value info = sdw::parse_json(member(r.json, "info").as_string());
  BOOST_TEST(member(info, "width").as_int() == 64);
  BOOST_TEST(member(info, "denoising_strength").as_double() == 0.5);
}

BOOST_AUTO_TEST_CASE(same_seed_gives_the_same_image_twice) {
  start_server();
  const std::string body = R"({"prompt":"x","steps":2,"width":64,"height":64,"seed":5,"sampler_name":"Euler a"})";
  const auto a = post("/sdapi/v1/txt2img", body);
  const auto b = post("/sdapi/v1/txt2img", body);
  BOOST_TEST_REQUIRE(a.status == 200);
  BOOST_TEST_REQUIRE(b.status == 200);
  const auto pa = sdw::decode_png(sdw::base64_decode(member(a.json, "images").as_array().at(0).as_string()));
  const auto pb = sdw::decode_png(sdw::base64_decode(member(b.json, "images").as_array().at(0).as_string()));
  BOOST_TEST((pa.pixels == pb.pixels));
}

BOOST_AUTO_TEST_CASE(a_field_of_the_wrong_type_is_422_naming_the_field) {
  start_server();
  const auto r = post("/sdapi/v1/txt2img", R"({"prompt":"x","steps":"many"})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body ==
             R"({"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]})");
}

BOOST_AUTO_TEST_CASE(an_out_of_range_size_is_422_naming_the_field) {
  start_server();
  const auto r = post("/sdapi/v1/txt2img", R"({"width":65,"steps":2})");
  BOOST_TEST(r.status == 422);
  const auto& item = member(r.json, "detail").as_array().at(0);
  BOOST_TEST(sdw::to_json(member(item, "loc")) == R"(["body","width"])");
}

BOOST_AUTO_TEST_CASE(malformed_json_is_422_with_the_character_offset) {
  start_server();
  const auto r = post("/sdapi/v1/txt2img", "{\"steps\": ");
  BOOST_TEST(r.status == 422);
  const auto& item = member(r.json, "detail").as_array().at(0);
  BOOST_TEST(member(item, "type").as_string() == "value_error.jsondecode");
  BOOST_TEST(member(item, "loc").as_array().at(0).as_string() == "body");
}

BOOST_AUTO_TEST_CASE(an_unknown_sampler_is_404_as_a1111_answers_it) {
  start_server();
  const auto r = post("/sdapi/v1/txt2img", R"({"sampler_name":"No Such Sampler","steps":2})");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body == R"({"error":"HTTPException","detail":"Sampler not found","body":"","errors":""})");
}

BOOST_AUTO_TEST_CASE(the_server_keeps_answering_after_errors) {
  start_server();
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(post("/sdapi/v1/txt2img", "not json").status == 422);
  }
  const auto r = post("/sdapi/v1/txt2img", R"({"steps":2,"width":64,"height":64})");
  BOOST_TEST(r.status == 200);
}

BOOST_AUTO_TEST_CASE(samplers_lists_a1111_samplers_in_order) {
  start_server();
  const auto r = start_server().server.call("GET", "/sdapi/v1/samplers");
  BOOST_TEST_REQUIRE(r.status == 200);
  const auto& list = r.json.as_array();
  BOOST_TEST_REQUIRE(list.size() == sdw::all_samplers().size());
  BOOST_TEST(member(list.at(0), "name").as_string() == sdw::all_samplers().at(0).name);
  bool euler = false;
  for (const auto& s : list) {
    euler = euler || member(s, "name").as_string() == "Euler";
  }
  BOOST_TEST(euler);
}

BOOST_AUTO_TEST_CASE(sd_models_lists_the_loaded_checkpoint_with_its_hash) {
  start_server();
  const auto r = start_server().server.call("GET", "/sdapi/v1/sd-models");
  BOOST_TEST_REQUIRE(r.status == 200);
  const auto& m = r.json.as_array().at(0);
  BOOST_TEST(member(m, "model_name").as_string() == "tiny");
  // The hash is computed after load; it may take a moment to show.
  auto sha = member(m, "sha256");
  for (int i = 0; i < 50 && sha.is_null(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    sha = member(start_server().server.call("GET", "/sdapi/v1/sd-models").json.as_array().at(0), "sha256");
  }
  BOOST_TEST_REQUIRE(sha.is_string());
  BOOST_TEST(sha.as_string() == sdw::sha256_file_hex(start_server().model));
}

BOOST_AUTO_TEST_CASE(health_reports_ready_and_counts_jobs) {
  start_server();
  BOOST_TEST_REQUIRE(post("/sdapi/v1/txt2img", R"({"steps":2,"width":64,"height":64})").status == 200);
  const auto r = start_server().server.call("GET", "/health");
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(member(r.json, "status").as_string() == "ready");
  BOOST_TEST(member(member(r.json, "model"), "name").as_string() == "tiny");
  BOOST_TEST(member(member(r.json, "jobs"), "completed").as_int() >= 1);
  BOOST_TEST(member(member(r.json, "jobs"), "inQueue").as_int() == 0);
}

BOOST_AUTO_TEST_CASE(unknown_paths_are_404) {
  start_server();
  BOOST_TEST(start_server().server.call("GET", "/sdapi/v1/nothing-here").status == 404);
}
