#define BOOST_TEST_MODULE api_upscalers
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/base/encoding.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/png_codec.hpp"
#include "tests/support/api_server.hpp"
#include "tests/support/run_command.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

// Model upscalers over real HTTP: the server's ESRGAN folder (--esrgan-dir) and the RealESRGAN
// folder beside it hold the small random-weight networks tests/runtime/upscaler_reference.py writes,
// with the pixels A1111 makes with them.

using sdw::json_value;
using sdw::test::member;

namespace {

/// The models folders and the reference pixels, made before the server starts.
const sdw::test::temp_dir& folder() {
  static sdw::test::temp_dir dir;
  static const bool made = [] {
    const char* source = std::getenv("SDW_SOURCE_DIR");
    const std::string cmd = sdw::test::python() + " '" + std::string(source ? source : ".") +
                            "/tests/runtime/upscaler_reference.py' '" + dir.path + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("reference script failed: " + cmd);
    // A damaged file beside the good ones.
    std::ofstream(dir.file("ESRGAN/broken.safetensors"), std::ios::binary) << "this is not a model";
    return true;
  }();
  (void)made;
  return dir;
}

sdw::test::api_server& server() {
  return sdw::test::checked_shared_api_server({"--esrgan-dir", folder().file("ESRGAN")}).server;
}

sdw::test::http_reply post(const std::string& path, const std::string& body) { return server().call("POST", path, body); }

/// The reference's 43×29 input as a base64 PNG.
std::string input_png() {
  const std::string raw = sdw::test::slurp(folder().file("in.raw"));
  return sdw::base64_encode(sdw::encode_png(reinterpret_cast<const std::uint8_t*>(raw.data()), 43, 29, {}));
}

std::string extras(const std::string& upscaler, double by) {
  return R"({"image":")" + input_png() + R"(","upscaler_1":")" + upscaler +
         R"(","upscaling_resize":)" + sdw::python_float_repr(by) + "}";
}

/// The largest difference between the answer's image and the reference's pixels.
int difference(const json_value& image, const std::string& raw_file, int width, int height) {
  const sdw::decoded_png png = sdw::decode_png(sdw::base64_decode(image.as_string()));
  BOOST_TEST_REQUIRE(png.width == width);
  BOOST_TEST_REQUIRE(png.height == height);
  const std::string want = sdw::test::slurp(folder().file(raw_file));
  BOOST_TEST_REQUIRE(png.pixels.size() == want.size());
  int worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::abs(int(png.pixels[i]) - int(static_cast<std::uint8_t>(want[i]))));
  }
  return worst;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_listings_show_the_models_present) {
  auto r = server().call("GET", "/sdapi/v1/upscalers");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  const auto& list = r.json.as_array();
  std::vector<std::string> names;
  for (const auto& u : list) names.push_back(member(u, "name").as_string());
  const std::vector<std::string> want = {"None",        "Lanczos",     "Nearest",     "broken", "R-ESRGAN 2x+",
                                         "R-ESRGAN General 4xV3", "tiny-new-x2", "tiny-old-x4"};
  BOOST_TEST(names == want, boost::test_tools::per_element());
  const json_value& old4 = list.at(7);
  BOOST_TEST(member(old4, "model_name").as_string() == "ESRGAN_4x");
  BOOST_TEST(member(old4, "model_path").as_string() == folder().file("ESRGAN/tiny-old-x4.safetensors"));
  BOOST_TEST(member(old4, "model_url").is_null());
  BOOST_TEST(sdw::to_json(member(old4, "scale")) == "4.0");
  const json_value& x2 = list.at(4);
  BOOST_TEST(member(x2, "model_name").is_null());
  BOOST_TEST(sdw::to_json(member(x2, "scale")) == "2.0");

  r = server().call("GET", "/sdapi/v1/realesrgan-models");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  // get_realesrgan_models' order.
  BOOST_TEST(r.body == R"([{"name":"R-ESRGAN General 4xV3","path":")" +
                         folder().file("RealESRGAN/realesr-general-x4v3.safetensors") +
                         R"(","scale":4},{"name":"R-ESRGAN 2x+","path":")" +
                         folder().file("RealESRGAN/RealESRGAN_x2plus.safetensors") + R"(","scale":2}])");
}

BOOST_AUTO_TEST_CASE(extras_upscale_with_a_model_as_a1111) {
  // The reference tiles by 24 with an overlap of 6.
  auto r = post("/sdapi/v1/options", R"({"ESRGAN_tile":24,"ESRGAN_tile_overlap":6})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  r = post("/sdapi/v1/extra-single-image", extras("tiny-old-x4", 3.0));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  BOOST_TEST(member(r.json, "html_info").as_string() == "<p>Postprocess upscale by: 3.0, Postprocess upscaler: tiny-old-x4</p>");
  BOOST_TEST(difference(member(r.json, "image"), "tiny-old-x4-upscale.raw", 128, 80) <= 1);
  r = post("/sdapi/v1/extra-single-image", extras("R-ESRGAN 2x+", 2.5));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  BOOST_TEST(difference(member(r.json, "image"), "RealESRGAN_x2plus-upscale.raw", 104, 72) <= 1);
  r = post("/sdapi/v1/extra-single-image", extras("R-ESRGAN General 4xV3", 3.0));
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  BOOST_TEST(difference(member(r.json, "image"), "realesr-general-x4v3-upscale.raw", 128, 80) <= 1);
}

BOOST_AUTO_TEST_CASE(hires_fix_upscales_with_a_model) {
  const auto r = post("/sdapi/v1/txt2img", R"({"prompt":"a lighthouse","steps":2,"width":64,"height":64,"seed":4,)"
                                           R"("sampler_name":"Euler","enable_hr":true,"hr_scale":2,)"
                                           R"("hr_upscaler":"tiny-new-x2","denoising_strength":0.5})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 400));
  const auto images = sdw::test::images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 1u);
  BOOST_TEST(images[0].width == 128);
  BOOST_TEST(images[0].height == 128);
  BOOST_TEST(images[0].text.at("parameters").find("Hires upscaler: tiny-new-x2") != std::string::npos);
  // Another upscaler makes another picture.
  const auto lanczos = post("/sdapi/v1/txt2img", R"({"prompt":"a lighthouse","steps":2,"width":64,"height":64,"seed":4,)"
                                                 R"("sampler_name":"Euler","enable_hr":true,"hr_scale":2,)"
                                                 R"("hr_upscaler":"Lanczos","denoising_strength":0.5})");
  BOOST_TEST_REQUIRE(lanczos.status == 200, lanczos.body.substr(0, 400));
  BOOST_TEST(sdw::test::images_of(lanczos).at(0).pixels != images[0].pixels);
}

BOOST_AUTO_TEST_CASE(absent_models_are_refused_naming_the_field_and_file) {
  auto r = post("/sdapi/v1/extra-single-image", extras("R-ESRGAN 4x+", 2));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("upscaler_1") != std::string::npos, r.body);
  BOOST_TEST(r.body.find("RealESRGAN/RealESRGAN_x4plus.pth") != std::string::npos, r.body);
  r = post("/sdapi/v1/txt2img", R"({"prompt":"a","steps":2,"width":64,"height":64,"enable_hr":true,)"
                                R"("hr_upscaler":"R-ESRGAN 4x+ Anime6B","denoising_strength":0.5})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("hr_upscaler") != std::string::npos, r.body);
  BOOST_TEST(r.body.find("RealESRGAN_x4plus_anime_6B.pth") != std::string::npos, r.body);
  r = post("/sdapi/v1/extra-single-image", extras("4x-UltraSharp", 2));
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.body.find("could not find upscaler named 4x-UltraSharp") != std::string::npos, r.body);
}

BOOST_AUTO_TEST_CASE(a_damaged_model_file_is_a_clear_error_and_the_worker_goes_on) {
  const auto r = post("/sdapi/v1/extra-single-image", extras("broken", 2));
  BOOST_TEST(r.status == 500);
  BOOST_TEST(r.body.find("broken.safetensors") != std::string::npos, r.body);
  BOOST_TEST(server().call("GET", "/health").status == 200);
  BOOST_TEST(post("/sdapi/v1/extra-single-image", extras("tiny-new-x2", 2)).status == 200);
}
