#define BOOST_TEST_MODULE img2img
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_pictures.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>
#include <simdjson.h>

#include <cmath>
#include <fstream>

namespace {

sdw::test::tiny_engine& the_engine() { return sdw::test::shared_tiny_engine(); }

using sdw::test::write_init_png;

std::string tokens_json(const std::string& prompt) { return the_engine().tokens_json(prompt); }

struct ran {
  sdw::txt2img_result result;
  at::Tensor latents;  ///< every image's final latent, in order
};

ran run(const sdw::txt2img_request& req, const sdw::options& opts) {
  auto& e = the_engine();
  std::vector<at::Tensor> latents;
  sdw::txt2img_hooks hooks;
  hooks.on_latent = [&](const std::vector<float>& v, const std::vector<int64_t>& shape) {
    latents.push_back(at::tensor(v).view(shape));
  };
  ran r{sdw::run_txt2img(*e.model, e.tokenizer, req, opts, hooks), {}};
  r.latents = at::cat(latents);
  return r;
}

struct img2img_case {
  std::string name, sampler;
  int width, height, resize_mode, steps;
  double strength;
  bool fix_steps;
  int batch_size;
  double noise_multiplier;
  std::vector<std::pair<int, int>> init_sizes;
  bool tiling = false;
};

} // namespace

// sdworker's img2img against A1111's semantics rebuilt in PyTorch (tests/reference/img2img_reference.py):
// PIL's decoding and resizing, the VAE encoder and posterior sample, the step skipping of
// denoising_strength (with and without img2img_fix_steps), the noise multiplier, several init images,
// and k-diffusion's samplers under CFG. Latents must agree to 1e-4 relative.
BOOST_AUTO_TEST_CASE(latents_match_the_pytorch_reference) {
  const img2img_case cases[] = {
    {"euler_resize", "Euler", 64, 64, 0, 6, 0.6, false, 1, 1.0, {{40, 56}}},
    {"ancestral_crop_batch", "Euler a", 80, 64, 1, 5, 0.75, false, 2, 1.0, {{56, 40}}},
    {"dpmpp_fill_fixed_steps", "DPM++ 2M", 64, 80, 2, 4, 0.5, true, 1, 0.9, {{64, 40}}},
    {"latent_resize_two_images", "Euler", 64, 64, 3, 4, 0.8, false, 2, 1.0, {{48, 48}, {40, 56}}},
    {"strength_zero_fixed_steps", "Euler", 64, 64, 0, 5, 0.0, true, 1, 1.0, {{64, 64}}},
    {"tiling", "Euler a", 64, 64, 0, 4, 0.7, false, 1, 1.0, {{64, 64}}, true},
  };
  auto& e = the_engine();
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/img2img_reference.py";
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      std::string images_json, paths_json;
      for (std::size_t i = 0; i < c.init_sizes.size(); ++i) {
        const std::string path = e.dir.file(c.name + std::to_string(i) + ".png");
        const std::string b64 = write_init_png(path, c.init_sizes[i].first, c.init_sizes[i].second, 11 + i);
        images_json += (i ? ",\"" : "\"") + b64 + "\"";
        paths_json += (i ? ",\"" : "\"") + path + "\"";
      }
      const std::string body =
          R"({"init_images": [)" + images_json + R"(], "prompt": "a red house", "negative_prompt": "fog", "seed": 1234,)" +
          R"( "sampler_name": ")" + c.sampler + R"(", "steps": )" + std::to_string(c.steps) +
          R"(, "denoising_strength": )" + std::to_string(c.strength) + R"(, "resize_mode": )" +
          std::to_string(c.resize_mode) + R"(, "width": )" + std::to_string(c.width) + R"(, "height": )" +
          std::to_string(c.height) + R"(, "cfg_scale": 5.5, "batch_size": )" + std::to_string(c.batch_size) +
          R"(, "initial_noise_multiplier": )" + std::to_string(c.noise_multiplier) +
          R"(, "tiling": )" + (c.tiling ? "true" : "false") + "}";
      const auto req = sdw::txt2img_request_from_json(sdw::parse_json(body), sdw::request_kind::img2img);
      sdw::options opts;
      opts.randn_source = "CPU";
      opts.img2img_fix_steps = c.fix_steps;
      const ran ours = run(req, opts);
      BOOST_TEST(ours.latents.size(0) == c.batch_size);

      const std::string out = e.dir.file(c.name + ".ref.bin");
      std::ofstream(e.dir.file(c.name + ".json"))
          << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "heads_unet": )"
          << e.model->config().unet.num_heads << R"(, "heads_text": )" << e.model->config().text.heads
          << R"(, "init": [)" << paths_json << R"(], "width": )" << c.width << R"(, "height": )" << c.height
          << R"(, "resize_mode": )" << c.resize_mode << R"(, "steps": )" << c.steps << R"(, "denoising_strength": )"
          << c.strength << R"(, "fix_steps": )" << (c.fix_steps ? "true" : "false") << R"(, "sampler": ")" << c.sampler
          << R"(", "cfg_scale": 5.5, "seed": 1234, "batch_size": )" << c.batch_size << R"(, "noise_multiplier": )"
          << c.noise_multiplier << R"(, "cond_tokens": )" << tokens_json("a red house") << R"(, "uncond_tokens": )"
          << tokens_json("fog") << R"(, "tiling": )" << (c.tiling ? "true" : "false") << R"(, "out": ")" << out
          << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + e.dir.file(c.name + ".json"));
      BOOST_REQUIRE_MESSAGE(rc == 0, "img2img_reference.py failed:\n" << log);
      const double rel = sdw::test::relative_difference_to_file(ours.latents, out);
      BOOST_TEST_MESSAGE(c.name << ": max relative difference " << rel);
      BOOST_TEST(rel <= 1e-4);
    }
  }
}

BOOST_AUTO_TEST_CASE(infotext_info_and_parameters_say_img2img) {
  auto& e = the_engine();
  const std::string b64 = write_init_png(e.dir.file("info.png"), 64, 64, 5);
  const auto req = sdw::txt2img_request_from_json(
      sdw::parse_json(R"({"init_images": [")" + b64 + R"("], "prompt": "a boat", "seed": 9, "steps": 4,)"
                      R"( "width": 64, "height": 64, "denoising_strength": 0.4, "initial_noise_multiplier": 0.95})"),
      sdw::request_kind::img2img);
  sdw::options opts;
  opts.img2img_extra_noise = 0.1;
  const ran r = run(req, opts);
  BOOST_REQUIRE_EQUAL(r.result.images.size(), 1u);
  const std::string& info = r.result.images[0].infotext;
  BOOST_TEST(info.find("Denoising strength: 0.4") != std::string::npos, info);
  BOOST_TEST(info.find("Noise multiplier: 0.95") != std::string::npos, info);
  BOOST_TEST(info.find("Extra noise: 0.1") != std::string::npos, info);
  BOOST_TEST(info.find("Denoising strength") < info.find("Noise multiplier"));

  const std::string response = sdw::encode_txt2img_response(r.result, req);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(response);
  BOOST_TEST(doc["parameters"]["denoising_strength"].get_double().value() == 0.4);
  BOOST_TEST(doc["parameters"]["init_images"].is_null());
  simdjson::dom::parser info_parser;
  simdjson::dom::element js = info_parser.parse(std::string(doc["info"].get_string().value()));
  BOOST_TEST(js["denoising_strength"].get_double().value() == 0.4);
  BOOST_TEST(js["extra_generation_params"]["Denoising strength"].get_double().value() == 0.4);
  const auto png = sdw::decode_png(sdw::base64_decode(std::string(doc["images"].at(0).get_string().value())));
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.text.at("parameters") == info);
}

// More init images than batch_size would silently drop images: refused as A1111 refuses it; one
// image with batch_size 3 makes three different images (each its own seed and posterior noise).
BOOST_AUTO_TEST_CASE(one_image_fills_the_batch_each_with_its_own_seed) {
  auto& e = the_engine();
  const std::string b64 = write_init_png(e.dir.file("batch.png"), 64, 64, 8);
  const auto req = sdw::txt2img_request_from_json(
      sdw::parse_json(R"({"init_images": [")" + b64 + R"("], "seed": 3, "steps": 3, "width": 64, "height": 64,)"
                      R"( "batch_size": 3, "denoising_strength": 0.5})"),
      sdw::request_kind::img2img);
  const ran r = run(req, sdw::options{});
  BOOST_REQUIRE_EQUAL(r.result.images.size(), 3u);
  BOOST_TEST(r.result.all_seeds == (std::vector<int64_t>{3, 4, 5}));
  BOOST_TEST(!at::equal(r.latents[0], r.latents[1]));
  BOOST_TEST(r.result.images[1].infotext.find("Seed: 4,") != std::string::npos);
}

// TAESD encode or decode needs a TAESD model, which no worker has: a clear refusal naming the
// option, not an image made another way.
BOOST_AUTO_TEST_CASE(taesd_vae_methods_are_refused_naming_the_option) {
  auto& e = the_engine();
  const std::string b64 = write_init_png(e.dir.file("taesd.png"), 64, 64, 2);
  const auto img = sdw::txt2img_request_from_json(
    sdw::parse_json(R"({"init_images": [")" + b64 + R"("], "prompt": "a boat", "steps": 2, "width": 64, "height": 64})"),
    sdw::request_kind::img2img);
  const auto txt = sdw::txt2img_request_from_json(sdw::parse_json(R"({"prompt": "a boat", "steps": 2, "width": 64, "height": 64})"));
  struct example {
    const sdw::txt2img_request* req;
    const char* option;
  };
  for (const example& c : {example{&img, "sd_vae_encode_method"}, example{&txt, "sd_vae_decode_method"},
                           example{&img, "sd_vae_decode_method"}}) {
    BOOST_TEST_CONTEXT(c.option) {
      sdw::options opts;
      sdw::apply_override(opts, c.option, sdw::json_value("TAESD"));
      try {
        run(*c.req, opts);
        BOOST_ERROR("a job with " << c.option << " TAESD ran");
      } catch (const sdw::error& err) {
        BOOST_TEST(err.code() == sdw::errc::unsupported);
        BOOST_TEST(err.where() == c.option, err.what());
      }
    }
  }
}
