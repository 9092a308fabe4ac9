#define BOOST_TEST_MODULE lcm
#include <boost/test/unit_test.hpp>

#include "runtime/formats/options.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>

#include <fstream>
#include <iterator>

// A1111's LCM sampler: its own denoiser (the model's eps at the nearest of LCM's 50 original
// timesteps, LCM's boundary scalings) on its own σ table, and a loop that jumps to each denoised
// prediction and noises it afresh.

namespace {

sdw::options cpu_noise() {
  sdw::options opts;
  opts.randn_source = "CPU";
  return opts;
}

std::string body_of(const std::string& sampler, const std::string& scheduler, int steps) {
  return R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 31, "sampler_name": ")" + sampler +
         R"(", "scheduler": ")" + scheduler + R"(", "steps": )" + std::to_string(steps) +
         R"(, "width": 64, "height": 64, "cfg_scale": 2, "batch_size": 2})";
}

} // namespace

// Against tests/reference/lcm_reference.py (A1111's LCMCompVisDenoiser and sample_lcm around the
// independent networks of sd1_reference.py), with the scheduler the sampler defaults to and Karras.
BOOST_AUTO_TEST_CASE(lcm_matches_the_reference) {
  auto& e = sdw::test::shared_tiny_engine();
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/lcm_reference.py";
  for (const auto& [scheduler, steps] : {std::pair<std::string, int>{"automatic", 4}, {"karras", 3}}) {
    BOOST_TEST_CONTEXT(scheduler << ", " << steps << " steps") {
      const auto ours = sdw::test::run_job(body_of("LCM", scheduler, steps), cpu_noise());
      const std::string stem = e.dir.file("lcm-" + scheduler);
      std::ofstream(stem + ".json") << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir)
                                    << R"(", "heads_unet": )" << e.model->config().unet.num_heads
                                    << R"(, "heads_text": )" << e.model->config().text.heads
                                    << R"(, "width": 64, "height": 64, "steps": )" << steps << R"(, "scheduler": ")"
                                    << scheduler << R"(", "cfg_scale": 2, "seed": 31, "batch_size": 2, "cond_tokens": )"
                                    << e.tokens_json("a red house") << R"(, "uncond_tokens": )" << e.tokens_json("fog")
                                    << R"(, "out": ")" << stem << R"(.bin", "out_images": ")" << stem << R"(.rgb"})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + stem + ".json");
      BOOST_REQUIRE_MESSAGE(rc == 0, "lcm_reference.py failed:\n" << log);

      auto want = sdw::test::read_f32_file(stem + ".bin");
      BOOST_REQUIRE_EQUAL(want.numel(), ours.latents.numel());
      want = want.view(ours.latents.sizes());
      const double scale = want.abs().max().item<double>();
      const double rel = (ours.latents - want).abs().max().item<double>() / scale;
      // The same request with Euler, to show the comparison can tell samplers apart.
      const auto euler = sdw::test::run_job(body_of("Euler", scheduler, steps), cpu_noise());
      const double other = (euler.latents - want).abs().max().item<double>() / scale;
      BOOST_TEST_MESSAGE("max relative difference " << rel << " (Euler's " << other << ")");
      BOOST_TEST(rel <= 1e-4);
      BOOST_TEST(other > 1e-2);

      std::ifstream f(stem + ".rgb", std::ios::binary);
      const std::vector<uint8_t> pixels((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      BOOST_REQUIRE_EQUAL(ours.result.images.size(), 2u);
      BOOST_REQUIRE_EQUAL(pixels.size(), 2 * ours.result.images[0].pixels.size());
      int worst = 0;
      for (size_t k = 0; k < 2; ++k) {
        const auto& img = ours.result.images[k].pixels;
        for (size_t i = 0; i < img.size(); ++i) worst = std::max(worst, std::abs(int(img[i]) - int(pixels[k * img.size() + i])));
      }
      BOOST_TEST(worst <= 1);

      const std::string& info = ours.result.images[0].infotext;
      BOOST_TEST(info.find("Sampler: LCM, ") != std::string::npos, info);
      BOOST_TEST((info.find("Schedule type: Karras") != std::string::npos) == (scheduler == "karras"), info);
      // One model call per step, as the progress shows it.
      BOOST_TEST(ours.steps == steps);
    }
  }
}
