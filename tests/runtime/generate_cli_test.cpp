#define BOOST_TEST_MODULE generate_cli
#include <boost/test/unit_test.hpp>

#include "runtime/base/png_codec.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_model.hpp"

#include <simdjson.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using sdw::test::slurp;

const std::string bin = std::getenv("SDW_BINARY") ? std::getenv("SDW_BINARY") : "sdworker";

} // namespace

// The program as a user runs it: make a model, then generate from a RunPod job file.
BOOST_AUTO_TEST_CASE(generate_writes_pngs_response_and_latent) {
  sdw::test::temp_dir dir;
  auto [rc_make, out_make] = sdw::test::run_command(bin + " make-model --preset tiny --dtype f16 --seed 3 " + dir.file("m.safetensors"));
  BOOST_TEST_REQUIRE(rc_make == 0, out_make);
  std::ofstream(dir.file("job.json")) << R"({"input": {"prompt": "a cat", "seed": 9, "steps": 3, "width": 64,
      "height": 64, "batch_size": 2, "sampler_name": "DPM++ 2M", "override_settings": {"randn_source": "CPU"}}})";
  const std::string cmd = bin + " generate --model " + dir.file("m.safetensors") + " --input " + dir.file("job.json") +
                          " --clip-vocab " + sdw::test::clip_vocab() + " --out ";
  auto [rc, out] = sdw::test::run_command(cmd + dir.file("a") + " --dump-latent " + dir.file("latent.npy"));
  BOOST_TEST_REQUIRE(rc == 0, out);
  auto png = sdw::decode_png(slurp(dir.file("a/00001-10.png")));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.text["parameters"].find("Sampler: DPM++ 2M, Schedule type: Karras") != std::string::npos);
  BOOST_TEST(png.text["parameters"].find("Model: m,") != std::string::npos);
  // 4×8×8 float32 latent after a 128-byte .npy header
  BOOST_TEST(slurp(dir.file("latent.npy")).size() == 128u + 4 * 8 * 8 * 4);

  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(slurp(dir.file("a/response.json")));
  BOOST_TEST(doc["images"].get_array().size() == 2u);
  BOOST_TEST(std::string(doc["parameters"]["sampler_name"].get_string().value()) == "DPM++ 2M");

  auto [rc2, out2] = sdw::test::run_command(cmd + dir.file("b"));
  BOOST_TEST_REQUIRE(rc2 == 0, out2);
  BOOST_TEST(slurp(dir.file("a/00000-9.png")) == slurp(dir.file("b/00000-9.png")));
}

BOOST_AUTO_TEST_CASE(bad_input_is_a_clear_error_and_exit_code) {
  sdw::test::temp_dir dir;
  std::ofstream(dir.file("bad.json")) << R"({"prompt": "x", "steps": "many"})";
  auto [rc, out] = sdw::test::run_command(bin + " generate --input " + dir.file("bad.json") + " --out " + dir.file("o") +
                       " --model-dir " + dir.path + " --clip-vocab " + sdw::test::clip_vocab());
  BOOST_TEST(rc == 2);
  BOOST_TEST(out.find("steps") != std::string::npos, out);

  std::ofstream(dir.file("ok.json")) << R"({"prompt": "x", "steps": 2})";
  auto [rc2, out2] = sdw::test::run_command(bin + " generate --model " + dir.file("none.safetensors") + " --input " +
                         dir.file("ok.json") + " --out " + dir.file("o") + " --clip-vocab " + sdw::test::clip_vocab());
  BOOST_TEST(rc2 != 0);
  BOOST_TEST(out2.find(dir.file("none.safetensors")) != std::string::npos, out2);
}

// generate finds the checkpoints a request names in --model-dir as the API finds them: here the
// refiner; an unknown name is a clear error naming the field.
BOOST_AUTO_TEST_CASE(generate_runs_the_checkpoints_a_request_names_in_the_models_folder) {
  sdw::test::temp_dir dir;
  const std::string models = dir.file("models");
  auto [rc_a, out_a] = sdw::test::run_command(bin + " make-model --preset tiny --dtype f16 --seed 3 " + dir.file("m.safetensors"));
  BOOST_TEST_REQUIRE(rc_a == 0, out_a);
  std::filesystem::create_directories(models + "/Stable-diffusion");
  auto [rc_b, out_b] = sdw::test::run_command(bin + " make-model --preset tiny --dtype f16 --seed 4 " + models +
                                              "/Stable-diffusion/other.safetensors");
  BOOST_TEST_REQUIRE(rc_b == 0, out_b);
  const auto generate = [&](const std::string& extra, const std::string& out) {
    std::ofstream(dir.file(out + ".json")) << R"({"prompt": "a cat", "seed": 9, "steps": 4, "width": 64, "height": 64,)"
                                           << R"( "sampler_name": "Euler")" << extra << "}";
    return sdw::test::run_command(bin + " generate --model " + dir.file("m.safetensors") + " --model-dir " + models +
                                  " --input " + dir.file(out + ".json") + " --clip-vocab " + sdw::test::clip_vocab() +
                                  " --out " + dir.file(out));
  };
  auto [rc, out] = generate(R"(, "refiner_checkpoint": "other", "refiner_switch_at": 0.5)", "refined");
  BOOST_TEST_REQUIRE(rc == 0, out);
  auto [rc_plain, out_plain] = generate("", "plain");
  BOOST_TEST_REQUIRE(rc_plain == 0, out_plain);
  const auto refined = sdw::decode_png(slurp(dir.file("refined/00000-9.png")));
  const auto plain = sdw::decode_png(slurp(dir.file("plain/00000-9.png")));
  BOOST_TEST(refined.pixels != plain.pixels);
  BOOST_TEST(refined.text.at("parameters").find("Model: m, Refiner: other") != std::string::npos,
             refined.text.at("parameters"));

  auto [rc_bad, out_bad] = generate(R"(, "refiner_checkpoint": "nowhere")", "bad");
  BOOST_TEST(rc_bad == 2);
  BOOST_TEST(out_bad.find("refiner_checkpoint") != std::string::npos, out_bad);
}
