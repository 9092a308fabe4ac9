#define BOOST_TEST_MODULE api_lora
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/json_writer.hpp"
#include "runtime/engine/make_lora.hpp"
#include "tests/support/api_server.hpp"

#include <filesystem>

// <lora:…> tags over real HTTP: the server's Lora folder (--lora-dir) holds a LoRA made by make_lora.

using sdw::json_value;
using sdw::test::member;

namespace {

/// The Lora folder, made before the server starts.
const std::string& lora_dir() {
  static sdw::test::temp_dir dir;
  static const std::string path = [] {
    sdw::make_lora(sdw::model_preset::tiny, sdw::lora_kind::locon, 4, sdw::st_dtype::f16, 11, dir.file("detail.safetensors"));
    return dir.path;
  }();
  return path;
}

sdw::test::http_reply txt2img(const std::string& prompt) {
  auto& s = sdw::test::checked_shared_api_server({"--lora-dir", lora_dir()});
  return s.server.call("POST", "/sdapi/v1/txt2img",
                       R"({"prompt":")" + prompt + R"(","steps":3,"width":64,"height":64,"seed":4,"sampler_name":"Euler"})");
}

} // namespace

BOOST_AUTO_TEST_CASE(a_lora_tag_changes_the_image_and_is_noted_in_the_infotext) {
  const auto plain = txt2img("a lighthouse ");
  const auto with = txt2img("a lighthouse <lora:detail:0.9>");
  BOOST_TEST_REQUIRE(plain.status == 200, plain.body.substr(0, 400));
  BOOST_TEST_REQUIRE(with.status == 200, with.body.substr(0, 400));
  const auto a = sdw::test::images_of(plain), b = sdw::test::images_of(with);
  BOOST_TEST(a.at(0).pixels != b.at(0).pixels);
  const std::string& info = b.at(0).text.at("parameters");
  BOOST_TEST(info.rfind("a lighthouse <lora:detail:0.9>\n", 0) == 0, info);
  BOOST_TEST(info.find("Lora hashes: \"detail: ") != std::string::npos, info);
  const json_value extra = member(sdw::parse_json(member(with.json, "info").as_string()), "extra_generation_params");
  BOOST_TEST(member(extra, "Lora hashes").as_string().rfind("detail: ", 0) == 0);
  // Weights are back for the next job.
  BOOST_TEST(sdw::test::images_of(txt2img("a lighthouse ")).at(0).pixels == a.at(0).pixels);
}

BOOST_AUTO_TEST_CASE(an_unknown_lora_still_answers_200_with_the_plain_image) {
  const auto plain = txt2img("a lighthouse ");
  const auto unknown = txt2img("a lighthouse <lora:nosuch:1>");
  const auto escape = txt2img("a lighthouse <lora:../detail:1>");
  for (const auto* r : {&unknown, &escape}) {
    BOOST_TEST_REQUIRE(r->status == 200, r->body.substr(0, 400));
    BOOST_TEST(sdw::test::images_of(*r).at(0).pixels == sdw::test::images_of(plain).at(0).pixels);
    BOOST_TEST(sdw::test::images_of(*r).at(0).text.at("parameters").find("Lora hashes") == std::string::npos);
  }
}
