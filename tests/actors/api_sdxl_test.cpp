#define BOOST_TEST_MODULE api_sdxl
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/catalog/file_hash.hpp"
#include "runtime/engine/make_model.hpp"
#include "tests/support/api_server.hpp"

#include <filesystem>
#include <future>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sdw::json_value;
using sdw::test::images_of;
using sdw::test::member;

namespace {

struct generated {
  std::vector<uint8_t> pixels;
  int width = 0, height = 0;
  std::string infotext;
};

generated generate(sdw::test::api_server& server, const std::string& body) {
  const auto r = server.call("POST", "/sdapi/v1/txt2img", body);
  BOOST_TEST_REQUIRE(r.status == 200, r.body.substr(0, 500));
  const auto images = images_of(r);
  BOOST_TEST_REQUIRE(images.size() == 1u);
  return {images[0].pixels, images[0].width, images[0].height, images[0].text.at("parameters")};
}

/// The same image within rounding: jobs of one checkpoint batched together may round a last bit
/// differently from one job alone on some CPUs, which moves a pixel by one step, not more.
bool same_image(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return false;
  int worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst <= 2;
}

} // namespace

// `sdworker api` serving an SDXL base model (the sdxl-tiny preset, detected from its keys): txt2img
// answers with a decoded PNG of the asked size and A1111's infotext; an SD1 checkpoint from the
// models folder, asked for in the same moment, gets its own images: jobs of the two models never
// share a batch, and each equals its run alone.
BOOST_AUTO_TEST_CASE(txt2img_works_with_an_sdxl_model_beside_an_sd1_one) {
  sdw::test::temp_dir dir;
  const std::string model = dir.file("sdxl-tiny.safetensors");
  sdw::make_model(sdw::model_preset::sdxl_tiny, sdw::st_dtype::f16, 3, model);
  sdw::test::api_server server(model);
  BOOST_TEST_REQUIRE(server.wait_until_up());
  BOOST_TEST_REQUIRE(server.wait_for_state("ready"));
  const fs::path sd1 = fs::path(server.dir().dir) / "Stable-diffusion" / "sd1-tiny.safetensors";
  fs::create_directories(sd1.parent_path());
  sdw::make_model(sdw::model_preset::tiny, sdw::st_dtype::f32, 7, sd1.string());

  const std::string xl_body = R"({"prompt":"a lighthouse","negative_prompt":"fog","steps":3,"width":64,"height":96,)"
                              R"("seed":5,"sampler_name":"Euler"})";
  const std::string sd1_body = R"({"prompt":"a lighthouse","negative_prompt":"fog","steps":3,"width":64,"height":96,)"
                               R"("seed":5,"sampler_name":"Euler","override_settings":{"sd_model_checkpoint":"sd1-tiny"}})";
  const generated xl = generate(server, xl_body);
  BOOST_TEST(xl.width == 64);
  BOOST_TEST(xl.height == 96);
  const std::string hash = sdw::short_hash(sdw::file_sha256(model));
  BOOST_TEST(xl.infotext.rfind("a lighthouse\nNegative prompt: fog\nSteps: 3, Sampler: Euler, CFG scale: 7.0, Seed: 5, "
                               "Size: 64x96, Model hash: " + hash + ", Model: sdxl-tiny, Version: ", 0) == 0,
             xl.infotext);
  const generated one = generate(server, sd1_body);
  BOOST_TEST(one.infotext.find("Model: sd1-tiny, ") != std::string::npos, one.infotext);
  BOOST_TEST(!same_image(xl.pixels, one.pixels));

  // An empty negative prompt (zero conditioning for SDXL) gives another image.
  const generated empty_negative =
    generate(server, R"({"prompt":"a lighthouse","steps":3,"width":64,"height":96,"seed":5,"sampler_name":"Euler"})");
  BOOST_TEST(!same_image(xl.pixels, empty_negative.pixels));

  // Submitted together, alternating: each equals its solo run and names its own model.
  std::vector<std::future<generated>> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] { return generate(server, i % 2 == 0 ? xl_body : sd1_body); }));
  }
  for (int i = 0; i < 4; ++i) {
    const generated g = answers[static_cast<size_t>(i)].get();
    BOOST_TEST(same_image(g.pixels, i % 2 == 0 ? xl.pixels : one.pixels), "job " << i);
    BOOST_TEST(g.infotext.find(i % 2 == 0 ? "Model: sdxl-tiny, " : "Model: sd1-tiny, ") != std::string::npos, g.infotext);
  }
}
