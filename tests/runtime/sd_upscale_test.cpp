#define BOOST_TEST_MODULE sd_upscale
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/a1111_scripts.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_engine.hpp"

#include <atomic>
#include <cmath>
#include <fstream>
#include <iterator>

namespace {

sdw::test::tiny_engine& the_engine() { return sdw::test::shared_tiny_engine(); }

/// A PNG of smooth colour with some texture, written to `path`; returns it as base64.
std::string write_init_png(const std::string& path, int w, int h) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(127.5 + 127 * std::sin(0.19 * x + 0.07 * y));
      p[1] = static_cast<std::uint8_t>(127.5 + 127 * std::cos(0.11 * y - 0.05 * x));
      p[2] = static_cast<std::uint8_t>((x * 13 + y * 29) % 97 + 100);
    }
  }
  const std::string png = sdw::encode_png(rgb.data(), w, h, {});
  std::ofstream(path, std::ios::binary) << png;
  return sdw::base64_encode(png);
}

struct upscale_case {
  std::string name, sampler, upscaler;
  int in_w, in_h, width, height, overlap;
  double scale;
  int steps;
  double strength;
  int batch_size, n_iter;
  bool color_correction = false;  ///< option img2img_color_correction: each batch towards its own tiles
};

} // namespace

// sdworker's SD upscale against A1111's script rebuilt in PyTorch and Pillow
// (tests/reference/sd_upscale_reference.py): the upscaler, the tiles, img2img per batch with the
// script's seeds (batches sharing seeds, a last single tile repeated over the batch, the next upscale
// one seed on), the VAE's posterior noise chained from batch to batch, and the overlaps blended back.
// The images are 8-bit: a decoded value within float rounding of a whole number may truncate to the
// neighbour on one side and not the other, so a pixel may differ by 1 (the latent path agrees to
// 1e-4 relative in img2img_test); more than that, or many such pixels, is a real difference.
BOOST_AUTO_TEST_CASE(images_match_the_pytorch_and_pillow_reference) {
  const upscale_case cases[] = {
    {"a1111_api_test", "Euler a", "Lanczos", 64, 64, 64, 64, 8, 2.0, 3, 0.75, 1, 1},
    {"batches_share_seeds", "Euler", "Nearest", 56, 40, 64, 64, 16, 2.0, 2, 0.6, 3, 2},
    {"color_corrected", "Euler", "Lanczos", 64, 48, 64, 64, 8, 2.0, 2, 0.6, 2, 1, true},
  };
  auto& e = the_engine();
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/sd_upscale_reference.py";
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      const std::string path = e.dir.file(c.name + ".png");
      const std::string b64 = write_init_png(path, c.in_w, c.in_h);
      const std::string body =
          R"({"init_images": [")" + b64 + R"("], "prompt": "a red house", "negative_prompt": "fog", "seed": 1234,)" +
          R"( "sampler_name": ")" + c.sampler + R"(", "steps": )" + std::to_string(c.steps) +
          R"(, "denoising_strength": )" + std::to_string(c.strength) + R"(, "width": )" + std::to_string(c.width) +
          R"(, "height": )" + std::to_string(c.height) + R"(, "cfg_scale": 5.5, "batch_size": )" +
          std::to_string(c.batch_size) + R"(, "n_iter": )" + std::to_string(c.n_iter) +
          R"(, "script_name": "SD upscale", "script_args": ["", )" + std::to_string(c.overlap) + R"(, ")" + c.upscaler +
          R"(", )" + std::to_string(c.scale) + "]}";
      const auto req = sdw::txt2img_request_from_json(sdw::parse_json(body), sdw::request_kind::img2img);
      sdw::options opts;
      opts.randn_source = "CPU";
      opts.img2img_color_correction = c.color_correction;
      const sdw::txt2img_result ours = sdw::run_txt2img(*e.model, e.tokenizer, req, opts);
      BOOST_REQUIRE_EQUAL(ours.images.size(), static_cast<std::size_t>(c.n_iter));

      const std::string out = e.dir.file(c.name + ".ref.raw");
      std::ofstream(e.dir.file(c.name + ".json"))
          << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "heads_unet": )"
          << e.model->config().unet.num_heads << R"(, "heads_text": )" << e.model->config().text.heads
          << R"(, "init": ")" << path << R"(", "width": )" << c.width << R"(, "height": )" << c.height
          << R"(, "overlap": )" << c.overlap << R"(, "upscaler": ")" << c.upscaler << R"(", "scale": )" << c.scale
          << R"(, "steps": )" << c.steps << R"(, "denoising_strength": )" << c.strength << R"(, "sampler": ")"
          << c.sampler << R"(", "cfg_scale": 5.5, "seed": 1234, "batch_size": )" << c.batch_size
          << R"(, "n_iter": )" << c.n_iter << R"(, "cond_tokens": )" << e.tokens_json("a red house")
          << R"(, "uncond_tokens": )" << e.tokens_json("fog") << R"(, "color_correction": )"
          << (c.color_correction ? "true" : "false") << R"(, "out": ")" << out << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + e.dir.file(c.name + ".json"));
      BOOST_REQUIRE_MESSAGE(rc == 0, "sd_upscale_reference.py failed:\n" << log);
      std::ifstream f(out, std::ios::binary);
      const std::string want{std::istreambuf_iterator<char>(f), {}};
      std::size_t offset = 0, differing = 0, total = 0;
      int worst = 0;
      for (const auto& img : ours.images) {
        BOOST_REQUIRE_GE(want.size(), offset + img.pixels.size());
        for (std::size_t i = 0; i < img.pixels.size(); ++i) {
          const int d = std::abs(int(img.pixels[i]) - int(static_cast<std::uint8_t>(want[offset + i])));
          worst = std::max(worst, d);
          differing += d != 0;
        }
        offset += img.pixels.size();
        total += img.pixels.size();
      }
      BOOST_TEST(offset == want.size());
      BOOST_TEST_MESSAGE(c.name << ": largest difference " << worst << ", " << differing << " of " << total
                                << " samples differ");
      // Color correction maps each value through the picture's histogram, which can stretch such a
      // one-level difference by a few levels; a wrong correction moves most of the picture.
      BOOST_TEST(worst <= (c.color_correction ? 6 : 1));
      BOOST_TEST(differing * 100 <= total);
    }
  }
}

// What the script's tiles and work come to before any image is made: A1111's API test gives nine
// 64×64 tiles of a 128×128 upscale.
BOOST_AUTO_TEST_CASE(tile_count_and_size_before_running) {
  auto& e = the_engine();
  const std::string b64 = write_init_png(e.dir.file("count.png"), 64, 64);
  const auto req = sdw::txt2img_request_from_json(
      sdw::parse_json(R"({"init_images": [")" + b64 + R"("], "width": 64, "height": 64, "steps": 3,)"
                      R"( "script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2.0]})"),
      sdw::request_kind::img2img);
  BOOST_TEST(sdw::is_sd_upscale(req));
  const sdw::sd_upscale_args args = sdw::sd_upscale_args_of(req);
  BOOST_TEST(args.overlap == 8);
  BOOST_TEST(args.upscaler == "Lanczos");
  const sdw::upscaled_size size = sdw::sd_upscale_size(req, args);
  BOOST_TEST(size.width == 128);
  BOOST_TEST(size.height == 128);
  BOOST_TEST(sdw::sd_upscale_tile_count(req, args) == 9);
  // Nine img2img images of 64×64 × 3 steps.
  BOOST_TEST(sdw::request_megapixel_steps(req) == 9 * 64 * 64 * 3 / 1e6);
}

// Progress counts every batch's steps; an interrupt ends the batch it falls in (its tile decoded
// from the latent reached) and the tiles after it stay black, as the script fills missing results.
BOOST_AUTO_TEST_CASE(progress_counts_every_batch_and_an_interrupt_leaves_later_tiles_black) {
  auto& e = the_engine();
  const std::string b64 = write_init_png(e.dir.file("interrupt.png"), 64, 64);
  const auto req = sdw::txt2img_request_from_json(
      sdw::parse_json(R"({"init_images": [")" + b64 + R"("], "width": 64, "height": 64, "steps": 3, "seed": 2,)"
                      R"( "sampler_name": "Euler", "script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2]})"),
      sdw::request_kind::img2img);
  std::vector<std::pair<int, int>> steps;
  std::atomic<bool> interrupt{false};
  sdw::txt2img_hooks hooks;
  hooks.interrupt = &interrupt;
  hooks.on_step = [&](int step, int total) {
    steps.emplace_back(step, total);
    // Three steps per tile (strength 0.75 of 3 steps, plus one): stop in the second tile.
    if (step == 4) interrupt = true;
  };
  const sdw::txt2img_result r = sdw::run_txt2img(*e.model, e.tokenizer, req, sdw::options{}, hooks);
  BOOST_REQUIRE(!steps.empty());
  BOOST_TEST(steps.front().second == 9 * 3);
  BOOST_TEST(steps.back().first == 4);
  BOOST_REQUIRE_EQUAL(r.images.size(), 1u);
  const auto& px = r.images[0].pixels;
  const auto at = [&](int x, int y) { return &px[(static_cast<std::size_t>(y) * 128 + x) * 3]; };
  // The first tile (top left) was made; the last (bottom right) never was.
  BOOST_TEST(at(4, 4)[0] + at(4, 4)[1] + at(4, 4)[2] > 0);
  BOOST_TEST(at(120, 120)[0] + at(120, 120)[1] + at(120, 120)[2] == 0);

  // Without the interrupt every batch reports its steps, up to the job's total.
  steps.clear();
  interrupt = false;
  hooks.on_step = [&](int step, int total) { steps.emplace_back(step, total); };
  sdw::run_txt2img(*e.model, e.tokenizer, req, sdw::options{}, hooks);
  BOOST_TEST(steps.size() == 27u);
  BOOST_TEST(steps.back().first == 27);
}
