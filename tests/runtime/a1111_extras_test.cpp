#define BOOST_TEST_MODULE a1111_extras
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/formats/a1111_extras.hpp"
#include "runtime/image/extras_upscale.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <fstream>
#include <iterator>

namespace {

using sdw::test::slurp;

/// The answers extras_reference.py computed with Pillow as A1111 1.9.4 does.
struct reference {
  sdw::test::temp_dir dir;
  sdw::json_value manifest;
  reference() {
    const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/runtime/extras_reference.py";
    auto [rc, out] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + dir.path);
    BOOST_REQUIRE_MESSAGE(rc == 0, "extras_reference.py failed:\n" << out);
    manifest = sdw::parse_json(slurp(dir.file("manifest.json")), "manifest");
  }
};

reference& ref() {
  static reference r;
  return r;
}

const sdw::json_value& member(const sdw::json_value& v, const std::string& key) {
  const sdw::json_value* m = v.find(key);
  BOOST_REQUIRE_MESSAGE(m != nullptr, "no member " << key);
  return *m;
}

sdw::json_value answer_json(const sdw::http_answer& a) { return sdw::parse_json(a.body, "answer"); }

/// The `loc` of a 422 answer's first error, joined by dots, and its type.
std::pair<std::string, std::string> error_of(const sdw::http_answer& a) {
  BOOST_REQUIRE_EQUAL(a.status, 422);
  const sdw::json_value doc = answer_json(a);
  const auto& item = member(doc, "detail").as_array().at(0);
  std::string loc;
  for (const auto& part : member(item, "loc").as_array()) {
    loc += (loc.empty() ? "" : ".") + (part.is_string() ? part.as_string() : std::to_string(part.as_int()));
  }
  return {loc, member(item, "type").as_string()};
}

/// A small RGB PNG as base64.
std::string png_b64(int w, int h) {
  std::vector<std::uint8_t> rgb(static_cast<size_t>(w) * h * 3, 90);
  return sdw::base64_encode(sdw::encode_png(rgb.data(), w, h, {}));
}

} // namespace

// Every case the reference ran, compared pixel for pixel, with the html_info and the PNG text chunks.
BOOST_AUTO_TEST_CASE(answers_equal_a1111_with_pillow_pixel_for_pixel) {
  const auto& cases = ref().manifest.as_array();
  BOOST_REQUIRE_GE(cases.size(), 12u);
  for (const auto& c : cases) {
    const std::string name = member(c, "case").as_string();
    BOOST_TEST_CONTEXT("case " << name) {
      const bool batch = member(c, "batch").as_bool();
      sdw::extras_settings settings;
      settings.enable_pnginfo = member(c, "enable_pnginfo").as_bool();
      const sdw::http_answer a = sdw::extras_answer(slurp(ref().dir.file(name + ".json")), batch, settings);
      BOOST_REQUIRE_MESSAGE(a.status == 200, a.body.substr(0, 400));
      const sdw::json_value got = answer_json(a);
      BOOST_TEST(member(got, "html_info").as_string() == member(c, "html_info").as_string());
      std::vector<std::string> images;
      if (batch) {
        for (const auto& i : member(got, "images").as_array()) images.push_back(i.as_string());
      } else {
        images.push_back(member(got, "image").as_string());
      }
      const auto& want = member(c, "images").as_array();
      BOOST_REQUIRE_EQUAL(images.size(), want.size());
      for (size_t i = 0; i < images.size(); ++i) {
        const sdw::decoded_png png = sdw::decode_png(sdw::base64_decode(images[i]), "image");
        BOOST_TEST(png.width == member(want[i], "width").as_int());
        BOOST_TEST(png.height == member(want[i], "height").as_int());
        BOOST_TEST(png.channels == 3);
        const std::string raw = slurp(ref().dir.file(name + "." + std::to_string(i) + ".raw"));
        BOOST_TEST((raw == std::string(png.pixels.begin(), png.pixels.end())));
        std::map<std::string, std::string> text;
        for (const auto& [k, v] : member(want[i], "text").as_object()) text[k] = v.as_string();
        BOOST_TEST((png.text == text));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_plan_rounds_to_multiples_of_eight_and_crops_to_the_asked_size) {
  sdw::extras_upscale_params p;
  p.upscaler_1 = "Lanczos";
  p.upscale_by = 2.5;
  auto plan = sdw::plan_extras_upscale(53, 37, p);
  BOOST_TEST(plan.pass_width == 132);
  BOOST_TEST(plan.width == 128);
  BOOST_TEST(plan.height == 88);
  p.mode = 1;
  p.to_width = 300;
  p.to_height = 200;
  plan = sdw::plan_extras_upscale(53, 37, p);
  BOOST_TEST(plan.cropped);
  BOOST_TEST(plan.upscaled_width == 296);  // 53 · 300/53 = 299.99…, down to a multiple of 8
  BOOST_TEST(plan.width == 300);
  BOOST_TEST(plan.height == 200);
  p.upscaler_1 = "None";
  BOOST_TEST(!sdw::plan_extras_upscale(53, 37, p).runs);
}

BOOST_AUTO_TEST_CASE(bad_fields_are_pydantic_422s_naming_the_field) {
  const std::string img = "\"" + png_b64(8, 8) + "\"";
  const auto err = [](const std::string& body, bool batch = false) {
    return error_of(sdw::extras_answer(body, batch, {}));
  };
  BOOST_TEST((err(R"({"resize_mode": 2})") == std::pair<std::string, std::string>{"body.resize_mode", "value_error.const"}));
  BOOST_TEST((err(R"({"upscaling_resize": 0})") ==
              std::pair<std::string, std::string>{"body.upscaling_resize", "value_error.number.not_gt"}));
  BOOST_TEST((err(R"({"gfpgan_visibility": 1.5})") ==
              std::pair<std::string, std::string>{"body.gfpgan_visibility", "value_error.number.not_le"}));
  BOOST_TEST((err(R"({"codeformer_weight": "nan"})") ==
              std::pair<std::string, std::string>{"body.codeformer_weight", "value_error.number.not_finite_number"}));
  BOOST_TEST((err(R"({"upscaling_resize_w": 0})") ==
              std::pair<std::string, std::string>{"body.upscaling_resize_w", "value_error.number.not_ge"}));
  BOOST_TEST((err(R"({"upscaler_1": null})") ==
              std::pair<std::string, std::string>{"body.upscaler_1", "type_error.none.not_allowed"}));
  BOOST_TEST((err(R"({})", true) == std::pair<std::string, std::string>{"body.imageList", "value_error.missing"}));
  BOOST_TEST((err(R"({"imageList": [{"data": "x"}]})", true) ==
              std::pair<std::string, std::string>{"body.imageList.0.name", "value_error.missing"}));
  BOOST_TEST(err("").first == "body");
  // Upscalers: a model one names its missing file, an unknown one (a Latent mode too) is not found.
  const sdw::http_answer esrgan = sdw::extras_answer(R"({"image": )" + img + R"(, "upscaler_1": "R-ESRGAN 4x+"})", false, {});
  BOOST_TEST(error_of(esrgan).first == "body.upscaler_1");
  BOOST_TEST(esrgan.body.find("needs its model file") != std::string::npos);
  const sdw::http_answer latent =
    sdw::extras_answer(R"({"image": )" + img + R"(, "upscaler_1": "Lanczos", "upscaler_2": "Latent"})", false, {});
  BOOST_TEST(error_of(latent).first == "body.upscaler_2");
  BOOST_TEST(latent.body.find("could not find upscaler named Latent") != std::string::npos);
  // upscaler_2 is only looked at when upscaler_1 runs, as in A1111.
  BOOST_TEST(sdw::extras_answer(R"({"image": )" + img + R"(, "upscaler_2": "nope"})", false, {}).status == 200);
}

BOOST_AUTO_TEST_CASE(results_past_the_image_limits_or_without_pixels_are_refused) {
  const std::string img = "\"" + png_b64(64, 64) + "\"";
  const auto big = sdw::extras_answer(R"({"image": )" + img + R"(, "upscaler_1": "Lanczos", "upscaling_resize": 300})", false, {});
  BOOST_TEST(error_of(big).first == "body.upscaling_resize");
  BOOST_TEST(big.body.find("image too large") != std::string::npos);
  const auto tall = sdw::extras_answer(R"({"image": )" + img +
                                         R"(, "resize_mode": 1, "upscaler_1": "Nearest", "upscaling_resize_w": 64, "upscaling_resize_h": 20000})",
                                       false, {});
  BOOST_TEST(error_of(tall).first == "body.upscaling_resize_h");
  const auto tiny = sdw::extras_answer(R"({"image": )" + img + R"(, "upscaler_1": "Lanczos", "upscaling_resize": 0.1})", false, {});
  BOOST_TEST(error_of(tiny).first == "body.upscaling_resize");
  // Without an upscaler nothing is resized, so nothing is too large.
  BOOST_TEST(sdw::extras_answer(R"({"image": )" + img + R"(, "upscaling_resize": 300})", false, {}).status == 200);
}

BOOST_AUTO_TEST_CASE(images_that_do_not_decode_get_a1111s_500) {
  const auto empty = sdw::extras_answer(R"({})", false, {});
  BOOST_TEST(empty.status == 500);
  BOOST_TEST(empty.body.find("Invalid encoded image (image: no data)") != std::string::npos);
  const auto junk = sdw::extras_answer(R"({"imageList": [{"data": "aGVsbG8=", "name": "a"}]})", true, {});
  BOOST_TEST(junk.status == 500);
  BOOST_TEST(junk.body.find("imageList.0.data") != std::string::npos);
  const auto url = sdw::extras_answer(R"({"image": "https://example.com/a.png"})", false, {});
  BOOST_TEST(url.status == 500);
  BOOST_TEST(url.body.find("Requests not allowed") != std::string::npos);
  // An empty batch is no error: no images, an empty infotext.
  const auto none = sdw::extras_answer(R"({"imageList": []})", true, {});
  BOOST_TEST(none.status == 200);
  BOOST_TEST(none.body == R"({"html_info":"<p></p>","images":[]})");
}

BOOST_AUTO_TEST_CASE(infotext_html_escapes_and_breaks_lines) {
  BOOST_TEST(sdw::plaintext_to_html("a<b>\n\"c\" & 'd'") == "<p>a&lt;b&gt;<br>\n&quot;c&quot; &amp; &#x27;d&#x27;</p>");
  sdw::extras_request r;
  r.upscale.upscaler_1 = "Nearest";
  BOOST_TEST(sdw::extras_infotext(r) == "Postprocess upscale by: 2, Postprocess upscaler: Nearest");
  r.upscale_by_given = true;
  BOOST_TEST(sdw::extras_infotext(r) == "Postprocess upscale by: 2.0, Postprocess upscaler: Nearest");
}
