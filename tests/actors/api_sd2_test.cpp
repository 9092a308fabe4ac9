#define BOOST_TEST_MODULE api_sd2
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/catalog/file_hash.hpp"
#include "runtime/engine/make_model.hpp"
#include "tests/support/api_server.hpp"

#include <string>

using sdw::json_value;
using sdw::test::member;

namespace {

std::string infotext_of(const sdw::test::http_reply& r) {
  const auto png = sdw::decode_png(sdw::base64_decode(member(r.json, "images").as_array().at(0).as_string()));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.height == 64);
  return png.text.at("parameters");
}

} // namespace

// `sdworker api` serving an SD2 v-prediction model (the tiny preset with its yaml): txt2img answers
// with PNGs whose infotext is A1111's, and CLIP_stop_at_last_layers, which A1111 1.9.4 notes in the
// infotext but does not apply to SD2's OpenCLIP encoder, leaves the pixels as they are.
BOOST_AUTO_TEST_CASE(txt2img_works_with_an_sd2_model) {
  sdw::test::temp_dir dir;
  const std::string model = dir.file("sd2-tiny-v.safetensors");
  sdw::make_model(sdw::model_preset::sd2_tiny, sdw::st_dtype::f16, 3, model, false, true);
  sdw::test::api_server server(model);
  BOOST_TEST_REQUIRE(server.wait_until_up());
  BOOST_TEST_REQUIRE(server.wait_for_state("ready"));

  const std::string body = R"({"prompt":"a lighthouse","negative_prompt":"fog","steps":3,"width":64,"height":64,)"
                           R"("seed":5,"sampler_name":"Euler")";
  const auto plain = server.call("POST", "/sdapi/v1/txt2img", body + "}");
  BOOST_TEST_REQUIRE(plain.status == 200, plain.body.substr(0, 500));
  const auto skipped =
    server.call("POST", "/sdapi/v1/txt2img", body + R"(,"override_settings":{"CLIP_stop_at_last_layers":2}})");
  BOOST_TEST_REQUIRE(skipped.status == 200, skipped.body.substr(0, 500));

  const std::string hash = sdw::short_hash(sdw::file_sha256(model));
  const std::string info = infotext_of(plain);
  // The request names no scheduler, so (as in A1111 for the automatic one) there is no Schedule type.
  BOOST_TEST(info.rfind("a lighthouse\nNegative prompt: fog\nSteps: 3, Sampler: Euler, CFG scale: 7.0, Seed: 5, "
                        "Size: 64x64, Model hash: " + hash + ", Model: sd2-tiny-v, Version: ", 0) == 0,
             info);
  BOOST_TEST(info.find("Clip skip") == std::string::npos, info);
  const std::string info2 = infotext_of(skipped);
  BOOST_TEST(info2.find("Model: sd2-tiny-v, Clip skip: 2, ") != std::string::npos, info2);

  auto pixels = [](const sdw::test::http_reply& r) {
    return sdw::decode_png(sdw::base64_decode(member(r.json, "images").as_array().at(0).as_string())).pixels;
  };
  BOOST_TEST((pixels(plain) == pixels(skipped)));
  const json_value parsed = sdw::parse_json(member(plain.json, "info").as_string());
  BOOST_TEST(member(parsed, "sd_model_name").as_string() == "sd2-tiny-v");
  BOOST_TEST(member(parsed, "infotexts").as_array().at(0).as_string() == info);
}
