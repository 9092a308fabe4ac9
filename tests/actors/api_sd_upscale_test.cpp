#define BOOST_TEST_MODULE api_sd_upscale
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"

using sdw::json_value;
using sdw::test::member;

namespace {

sdw::test::shared_server& start_server() { return sdw::test::checked_shared_api_server({}); }

sdw::test::http_reply img2img(const std::string& body) {
  return start_server().server.call("POST", "/sdapi/v1/img2img", body);
}

/// A 64×64 PNG with a pattern, base64.
std::string init_png() {
  std::vector<std::uint8_t> rgb(64 * 64 * 3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) rgb[(y * 64 + x) * 3 + c] = static_cast<std::uint8_t>((x * 7 + y * 4 + c * 60) % 256);
  return sdw::base64_encode(sdw::encode_png(rgb.data(), 64, 64, {}));
}

/// A1111's test/test_img2img.py simple_img2img_request with its test_img2img_sd_upscale_performed
/// script fields, `script_args` replaced by `args` when given.
std::string a1111_test_request(const std::string& script = "sd upscale", const std::string& args = R"(["", 8, "Lanczos", 2.0])",
                               const std::string& extra = "") {
  return R"({"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0.75, "eta": 0, "height": 64,)"
         R"( "include_init_images": false, "init_images": [")" + init_png() + R"("], "inpaint_full_res": false,)"
         R"( "inpaint_full_res_padding": 0, "inpainting_fill": 0, "inpainting_mask_invert": false, "mask": null,)"
         R"( "mask_blur": 4, "n_iter": 1, "negative_prompt": "", "override_settings": {}, "prompt": "example prompt",)"
         R"( "resize_mode": 0, "restore_faces": false, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,)"
         R"( "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,)"
         R"( "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": false, "width": 64, "script_name": ")" +
         script + R"(", "script_args": )" + args + extra + "}";
}

} // namespace

// A1111's own API test of the script: 200, and (Lanczos ×2 of 64×64, tiles of 64 overlapping by 8)
// one 128×128 image, made of nine tiles run one per batch with seeds following one another.
BOOST_AUTO_TEST_CASE(the_a1111_test_request_returns_one_128_pixel_image) {
  const auto r = img2img(a1111_test_request());
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto images = sdw::test::images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 1u);
  BOOST_TEST(images[0].width == 128);
  BOOST_TEST(images[0].height == 128);
  // The combined image is a new one: A1111 writes no infotext into it.
  BOOST_TEST(images[0].text.count("parameters") == 0u);

  const json_value info = sdw::parse_json(member(r.json, "info").as_string());
  const auto seed = member(info, "seed").as_int();
  BOOST_TEST(seed >= 0);
  BOOST_TEST(member(info, "subseed").as_int() == -1);
  // The last batch's seeds: the ninth tile's.
  BOOST_TEST(member(info, "all_seeds").as_array().at(0).as_int() == seed + 8);
  BOOST_TEST(member(info, "width").as_int() == 64);
  BOOST_TEST(member(info, "height").as_int() == 64);
  const auto& extra = member(info, "extra_generation_params");
  BOOST_TEST(member(extra, "SD upscale overlap").as_int() == 8);
  BOOST_TEST(member(extra, "SD upscale upscaler").as_string() == "Lanczos");
  BOOST_TEST(extra.as_object().front().first == "SD upscale overlap");
  const auto& infotexts = member(info, "infotexts").as_array();
  BOOST_TEST_REQUIRE(infotexts.size() == 1u);
  const std::string text = infotexts[0].as_string();
  // The first tile's infotext: its own seed and the tile size.
  BOOST_TEST(text.find("Seed: " + std::to_string(seed) + ",") != std::string::npos, text);
  BOOST_TEST(text.find("Size: 64x64") != std::string::npos, text);
  BOOST_TEST(text.find("SD upscale overlap: 8, SD upscale upscaler: Lanczos") != std::string::npos, text);
  const auto& params = member(r.json, "parameters");
  BOOST_TEST(member(params, "script_name").as_string() == "sd upscale");
  BOOST_TEST(member(params, "script_args").as_array().size() == 4u);
}

// Fixed seeds give the same image; the title's case does not matter (A1111 compares lower-cased);
// n_iter makes one image per upscale; an upscaler by index, and "None" keeps the image's size.
BOOST_AUTO_TEST_CASE(seeds_names_indexes_and_n_iter) {
  const std::string seeded = R"(, "seed": 5)";
  const auto a = img2img(a1111_test_request("sd upscale", R"(["", 8, "Lanczos", 2.0])", seeded));
  const auto b = img2img(a1111_test_request("SD Upscale", R"(["", 8, 1, 2])", seeded));
  BOOST_TEST_REQUIRE(a.status == 200, a.body.substr(0, 300));
  BOOST_TEST_REQUIRE(b.status == 200, b.body.substr(0, 300));
  BOOST_TEST((sdw::test::images_of(a)[0].pixels == sdw::test::images_of(b)[0].pixels));

  const auto two = img2img(a1111_test_request("sd upscale", R"(["", 16, "Nearest", 1.5])",
                                              R"(, "seed": 5, "n_iter": 2, "batch_size": 2)"));
  BOOST_TEST_REQUIRE(two.status == 200, two.body.substr(0, 300));
  const auto images = sdw::test::images_of(two);
  BOOST_TEST_REQUIRE(images.size() == 2u);
  BOOST_TEST(images[0].width == 96);
  BOOST_TEST((images[0].pixels != images[1].pixels));
  const json_value info = sdw::parse_json(member(two.json, "info").as_string());
  BOOST_TEST(member(info, "seed").as_int() == 5);
  // 96×96 in 64-pixel tiles overlapping by 16: 2×2 tiles, two batches of two per upscale. The
  // second upscale starts at 6, its second batch at 7: seeds 7 and 8.
  BOOST_TEST(member(info, "all_seeds").as_array().at(0).as_int() == 7);
  BOOST_TEST(member(info, "all_seeds").as_array().at(1).as_int() == 8);
  BOOST_TEST(member(info, "infotexts").as_array().size() == 2u);

  const auto none = img2img(a1111_test_request("sd upscale", R"(["", 8, "None", 2.0])", seeded));
  BOOST_TEST_REQUIRE(none.status == 200, none.body.substr(0, 300));
  BOOST_TEST(sdw::test::images_of(none)[0].width == 64);
}

BOOST_AUTO_TEST_CASE(bad_script_requests_are_refused_naming_the_field) {
  const auto model_file = img2img(a1111_test_request("sd upscale", R"(["", 8, "R-ESRGAN 4x+", 2.0])"));
  BOOST_TEST(model_file.status == 422);
  BOOST_TEST(model_file.body.find(R"("loc":["body","script_args","2"])") != std::string::npos, model_file.body);
  BOOST_TEST(model_file.body.find("needs its model file") != std::string::npos, model_file.body);
  BOOST_TEST(model_file.body.find("RealESRGAN/RealESRGAN_x4plus.pth") != std::string::npos, model_file.body);

  const auto index = img2img(a1111_test_request("sd upscale", R"(["", 8, 7, 2.0])"));
  BOOST_TEST(index.status == 422);
  BOOST_TEST(index.body.find(R"("loc":["body","script_args","2"])") != std::string::npos, index.body);

  const auto overlap = img2img(a1111_test_request("sd upscale", R"(["", 64, "Lanczos", 2.0])"));
  BOOST_TEST(overlap.status == 422);
  BOOST_TEST(overlap.body.find(R"("loc":["body","script_args","1"])") != std::string::npos, overlap.body);

  const auto loopback = img2img(a1111_test_request("Loopback", "[]"));
  BOOST_TEST(loopback.status == 422);
  BOOST_TEST(loopback.body.find("'Loopback' is not supported by sdworker") != std::string::npos, loopback.body);

  const auto unknown = img2img(a1111_test_request("sd downscale", "[]"));
  BOOST_TEST(unknown.status == 422);
  BOOST_TEST(unknown.body == R"({"error":"HTTPException","detail":"Script 'sd downscale' not found","body":"","errors":""})");

  const auto soft = img2img(a1111_test_request("", "[]", R"(, "alwayson_scripts": {"soft inpainting": {"args": [true]}})"));
  BOOST_TEST(soft.status == 422);
  BOOST_TEST(soft.body.find("Soft Inpainting is not supported by sdworker") != std::string::npos, soft.body);

  // The worker is still there.
  BOOST_TEST(start_server().server.alive());
}

// A1111's always-on Seed, Sampler and Refiner scripts only set up its UI: their API arguments
// change nothing, so the image is the one made without them.
BOOST_AUTO_TEST_CASE(always_on_scripts_without_effect_are_accepted) {
  const std::string plain = a1111_test_request("", "[]", R"(, "seed": 3, "steps": 2)");
  const std::string with = a1111_test_request(
      "", "[]", R"(, "seed": 3, "steps": 2, "alwayson_scripts": {"Seed": {"args": [99, false, -1, 0, 0, 0]},)"
                R"( "sampler": {"args": [30, "DPM++ 2M", "Karras"]}, "Soft Inpainting": {"args": [false]}})");
  const auto a = img2img(plain);
  const auto b = img2img(with);
  BOOST_TEST_REQUIRE(a.status == 200, a.body.substr(0, 300));
  BOOST_TEST_REQUIRE(b.status == 200, b.body.substr(0, 300));
  BOOST_TEST((sdw::test::images_of(a)[0].pixels == sdw::test::images_of(b)[0].pixels));
}
