#define BOOST_TEST_MODULE a1111_png_info
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/a1111_png_info.hpp"

#include <zlib.h>

#include <cstdint>
#include <vector>

using namespace sdw;

namespace {

const std::string infotext = "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 1, Size: 2x2, Version: v1.9.4";

std::string png(const std::vector<std::pair<std::string, std::string>>& chunks) {
  const std::vector<std::uint8_t> rgb(2 * 2 * 3, 128);
  return encode_png(rgb.data(), 2, 2, chunks);
}

std::string body_with(const std::string& image) {
  json_value body = json_value::object();
  body.set("image", image);
  return to_json(body);
}

json_value answer_json(const http_answer& a) {
  BOOST_TEST_REQUIRE(a.status == 200, a.body);
  return parse_json(a.body);
}

} // namespace

BOOST_AUTO_TEST_CASE(png_info_answers_info_items_and_parsed_parameters) {
  const std::string image = base64_encode(png({{"parameters", infotext}, {"Software", "test"}, {"dpi", "72"}}));
  const json_value a = answer_json(png_info_answer(body_with(image), {}));
  std::vector<std::string> keys;
  for (const auto& [k, v] : a.as_object()) {
    keys.push_back(k);
  }
  BOOST_TEST((keys == std::vector<std::string>{"info", "items", "parameters"}));
  BOOST_TEST(a.find("info")->as_string() == infotext);
  BOOST_TEST(to_json(*a.find("items")) == R"({"Software":"test"})");  // parameters and dpi are not items
  const json_value& p = *a.find("parameters");
  BOOST_TEST(p.find("Prompt")->as_string() == "a cat");
  BOOST_TEST(p.find("Sampler")->as_string() == "Euler");
  BOOST_TEST(p.find("Size-1")->as_string() == "2");
  BOOST_TEST(p.find("Clip skip")->as_string() == "1");
}

BOOST_AUTO_TEST_CASE(png_info_takes_data_urls_and_surrounding_space) {
  const std::string image = base64_encode(png({{"parameters", infotext}}));
  const json_value a = answer_json(png_info_answer(body_with("  data:image/png;base64," + image + "\n"), {}));
  BOOST_TEST(a.find("info")->as_string() == infotext);
}

BOOST_AUTO_TEST_CASE(an_image_without_text_has_empty_info_and_default_parameters) {
  const json_value a = answer_json(png_info_answer(body_with(base64_encode(png({}))), {}));
  BOOST_TEST(a.find("info")->as_string() == "");
  BOOST_TEST(to_json(*a.find("items")) == "{}");
  BOOST_TEST(a.find("parameters")->find("Prompt")->as_string() == "");
  BOOST_TEST(a.find("parameters")->find("RNG")->as_string() == "GPU");
}

BOOST_AUTO_TEST_CASE(a_comment_chunk_is_the_info_as_in_a1111) {
  const json_value a =
    answer_json(png_info_answer(body_with(base64_encode(png({{"parameters", "p"}, {"comment", infotext}}))), {}));
  BOOST_TEST(a.find("info")->as_string() == infotext);
  BOOST_TEST(to_json(*a.find("items")) == R"({"comment":")" + std::string("a cat\\nSteps: 20, Sampler: Euler, CFG "
                                                                         "scale: 7.0, Seed: 1, Size: 2x2, Version: "
                                                                         "v1.9.4") +
                                              R"("})");
}

BOOST_AUTO_TEST_CASE(novelai_images_become_an_infotext) {
  const auto info = read_image_text_info(
    {{"Software", "NovelAI"},
     {"Description", "1girl"},
     {"Comment", R"({"steps": 28, "sampler": "k_euler_ancestral", "scale": 11.0, "seed": 7, "uc": "lowres"})"}},
    512, 768);
  BOOST_TEST(info.info ==
             "1girl\nNegative prompt: lowres\nSteps: 28, Sampler: Euler a, CFG scale: 11.0, Seed: 7, Size: 512x768, "
             "Clip skip: 2, ENSD: 31337");
  BOOST_TEST(info.items.size() == 3u);
}

BOOST_AUTO_TEST_CASE(addnet_loras_join_the_prompt) {
  json_value p = json_value::object();
  p.set("AddNet Module 1", "LoRA");
  p.set("AddNet Model 1", "style_v2(5d4f3a2b1c0e)");
  p.set("AddNet Weight A 1", "0.7");
  p.set("AddNet Module 2", "LoRA");
  p.set("AddNet Model 2", "plain");
  p.set("AddNet Module 3", "Hypernetwork");
  p.set("AddNet Model 3", "other");
  p.set("Prompt", "a cat");
  apply_addnet_infotext(p);
  BOOST_TEST(p.find("Prompt")->as_string() == "a cat\n<lora:style_v2:0.7><lora:plain:1.0>");
}

BOOST_AUTO_TEST_CASE(a_bad_body_is_422_as_fastapi_answers) {
  auto a = png_info_answer("{}", {});
  BOOST_TEST(a.status == 422);
  BOOST_TEST(a.body == R"({"detail":[{"loc":["body","image"],"msg":"field required","type":"value_error.missing"}]})");
  a = png_info_answer(R"({"image":null})", {});
  BOOST_TEST(a.body == R"({"detail":[{"loc":["body","image"],"msg":"none is not an allowed value",)"
                       R"("type":"type_error.none.not_allowed"}]})");
  a = png_info_answer(R"({"image":[1]})", {});
  BOOST_TEST(a.body == R"({"detail":[{"loc":["body","image"],"msg":"str type expected","type":"type_error.str"}]})");
  a = png_info_answer("[]", {});
  BOOST_TEST(a.body == R"({"detail":[{"loc":["body"],"msg":"value is not a valid dict","type":"type_error.dict"}]})");
  a = png_info_answer("", {});
  BOOST_TEST(a.body == R"({"detail":[{"loc":["body"],"msg":"field required","type":"value_error.missing"}]})");
  a = png_info_answer("{\"image\": ", {});
  BOOST_TEST(a.status == 422);
  BOOST_TEST(a.body.find("value_error.jsondecode") != std::string::npos);
}

// A few bytes declaring 16384x16384 pixels: PIL's decompression-bomb error, from the header.
BOOST_AUTO_TEST_CASE(a_decompression_bomb_is_refused_from_its_header) {
  std::string bomb = png({});
  for (int at : {16, 20}) {  // IHDR's width and height, big-endian
    bomb[at] = 0;
    bomb[at + 1] = 0;
    bomb[at + 2] = 0x40;
    bomb[at + 3] = 0;
  }
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(bomb.data() + 12), 17);
  for (int i = 0; i < 4; ++i) bomb[29 + i] = static_cast<char>((crc >> (24 - 8 * i)) & 0xFF);
  const auto a = png_info_answer(body_with(base64_encode(bomb)), {});
  BOOST_TEST(a.status == 500);
  BOOST_TEST(a.body.find("Image size (268435456 pixels) exceeds limit of 178956970 pixels") != std::string::npos, a.body);
}

BOOST_AUTO_TEST_CASE(an_undecodable_image_is_a1111s_500_naming_image) {
  for (const std::string image : {"not base64 !", "", "aGVsbG8gd29ybGQ=", "42"}) {
    BOOST_TEST_CONTEXT(image) {
      const auto a = png_info_answer(body_with(image), {});
      BOOST_TEST(a.status == 500);
      const json_value b = parse_json(a.body);
      BOOST_TEST(b.find("error")->as_string() == "HTTPException");
      BOOST_TEST(b.find("detail")->as_string().rfind("Invalid encoded image (image: ", 0) == 0u);
    }
  }
  // A number is a str to pydantic: it reaches the decoder.
  BOOST_TEST(png_info_answer(R"({"image": 42})", {}).status == 500);
  // A truncated PNG.
  std::string cut = png({{"parameters", infotext}});
  cut.resize(cut.size() / 2);
  BOOST_TEST(png_info_answer(body_with(base64_encode(cut)), {}).status == 500);
}

BOOST_AUTO_TEST_CASE(urls_and_other_formats_are_refused_clearly) {
  auto a = png_info_answer(body_with("https://example.com/cat.png"), {});
  BOOST_TEST(a.status == 500);
  BOOST_TEST(a.body.find("Requests not allowed") != std::string::npos);
  a = png_info_answer(body_with(base64_encode("\xFF\xD8\xFF\xE0 jpeg bytes")), {});
  BOOST_TEST(a.status == 422);
  BOOST_TEST(a.body.find("image: JPEG images are not read yet") != std::string::npos, a.body);
}

BOOST_AUTO_TEST_CASE(interrogate_has_no_model) {
  auto a = interrogate_answer(R"({"image":"abc","model":"clip"})");
  BOOST_TEST(a.status == 404);
  const json_value b = parse_json(a.body);
  BOOST_TEST(b.find("error")->as_string() == "HTTPException");
  BOOST_TEST(b.find("detail")->as_string().rfind("Model not found", 0) == 0u);
  BOOST_TEST(interrogate_answer("{}").status == 404);  // both fields have defaults
  a = interrogate_answer(R"({"model":{}})");
  BOOST_TEST(a.body == R"({"detail":[{"loc":["body","model"],"msg":"str type expected","type":"type_error.str"}]})");
  BOOST_TEST(interrogate_answer("").status == 422);
}

BOOST_AUTO_TEST_CASE(the_stored_options_steer_the_parse) {
  auto o = png_info_options(
    R"({"samples_save":true,"infotext_styles":"Discard","infotext_skip_pasting":["Seed",3],"auto_backcompat":false,)"
    R"("use_old_hires_fix_width_height":true})");
  BOOST_TEST(o.infotext_styles == "Discard");
  BOOST_TEST((o.infotext_skip_pasting == std::vector<std::string>{"Seed"}));
  BOOST_TEST(!o.auto_backcompat);
  BOOST_TEST(o.use_old_hires_fix_width_height);
  o = png_info_options(R"({"infotext_styles":1})");
  BOOST_TEST(o.infotext_styles == "Apply if any");
  BOOST_TEST(o.auto_backcompat);
  BOOST_TEST(png_info_options("not json").infotext_skip_pasting.empty());
  // Skipped keys are gone from the answer.
  o = png_info_options(R"({"infotext_skip_pasting":["Seed"]})");
  const json_value a = answer_json(png_info_answer(body_with(base64_encode(png({{"parameters", infotext}}))), o));
  BOOST_TEST(a.find("parameters")->find("Seed") == nullptr);
  BOOST_TEST(a.find("parameters")->find("Steps")->as_string() == "20");
}
