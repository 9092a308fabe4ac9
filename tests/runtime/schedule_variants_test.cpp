#define BOOST_TEST_MODULE schedule_variants
#include <boost/test/unit_test.hpp>

#include "runtime/formats/options.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>

#include <fstream>
#include <iterator>

// The ᾱ tables A1111 samples with besides the model's own: the LCM sampler's (its own denoiser on 50
// of the model's timesteps, and a loop that jumps to each denoised prediction and noises it afresh),
// and option sd_noise_schedule "Zero Terminal SNR" (ᾱ rescaled so the first step is pure noise).

namespace {

struct example {
  std::string sampler, scheduler, noise_schedule;
  int steps;
};

std::string body_of(const example& c) {
  return R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 31, "sampler_name": ")" + c.sampler +
         R"(", "scheduler": ")" + c.scheduler + R"(", "steps": )" + std::to_string(c.steps) +
         R"(, "width": 64, "height": 64, "cfg_scale": 2, "batch_size": 2})";
}

/// The options the example runs with, set as a request's override_settings sets them.
sdw::options options_of(const example& c) {
  sdw::options opts;
  sdw::apply_override(opts, "randn_source", sdw::json_value("CPU"));
  sdw::apply_override(opts, "sd_noise_schedule", sdw::json_value(c.noise_schedule));
  return opts;
}

sdw::test::job_run run(const example& c) { return sdw::test::run_job(body_of(c), options_of(c)); }

/// The reference's latents and RGB bytes for the example.
std::pair<at::Tensor, std::vector<uint8_t>> reference_run(const example& c, const std::string& tag) {
  auto& e = sdw::test::shared_tiny_engine();
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/schedule_variants_reference.py";
  const std::string stem = e.dir.file("variants-" + tag);
  std::ofstream(stem + ".json") << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "heads_unet": )"
                                << e.model->config().unet.num_heads << R"(, "heads_text": )"
                                << e.model->config().text.heads << R"(, "width": 64, "height": 64, "steps": )"
                                << c.steps << R"(, "sampler": ")" << c.sampler << R"(", "scheduler": ")" << c.scheduler
                                << R"(", "noise_schedule": ")" << c.noise_schedule
                                << R"(", "cfg_scale": 2, "seed": 31, "batch_size": 2, "cond_tokens": )"
                                << e.tokens_json("a red house") << R"(, "uncond_tokens": )" << e.tokens_json("fog")
                                << R"(, "out": ")" << stem << R"(.bin", "out_images": ")" << stem << R"(.rgb"})";
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + stem + ".json");
  BOOST_REQUIRE_MESSAGE(rc == 0, "schedule_variants_reference.py failed:\n" << log);
  std::ifstream f(stem + ".rgb", std::ios::binary);
  return {sdw::test::read_f32_file(stem + ".bin"),
          std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>())};
}

double relative_difference(const at::Tensor& ours, const at::Tensor& want) {
  return (ours - want).abs().max().item<double>() / want.abs().max().item<double>();
}

/// Checks a run against the reference: latents within 1e-4 relative, pixels within one level; the
/// run `other` (another setting) must be told apart.
void check_against_reference(const example& c, const std::string& tag, const example& other) {
  const auto ours = run(c);
  auto [want, pixels] = reference_run(c, tag);
  BOOST_REQUIRE_EQUAL(want.numel(), ours.latents.numel());
  want = want.view(ours.latents.sizes());
  const double rel = relative_difference(ours.latents, want);
  const double apart = relative_difference(run(other).latents, want);
  BOOST_TEST_MESSAGE(tag << ": max relative difference " << rel << " (the other setting's " << apart << ")");
  BOOST_TEST(rel <= 1e-4);
  BOOST_TEST(apart > 1e-2);

  BOOST_REQUIRE_EQUAL(ours.result.images.size(), 2u);
  BOOST_TEST(sdw::test::worst_level_difference(ours.result.images, pixels) <= 1);
  BOOST_TEST(ours.steps == c.steps);  // one model call per step
}

} // namespace

// LCM against the reference, with the scheduler the sampler defaults to and Karras; Euler's run of
// the same request is told apart.
BOOST_AUTO_TEST_CASE(lcm_matches_the_reference) {
  for (const example& c : {example{"LCM", "automatic", "Default", 4}, example{"LCM", "karras", "Default", 3}}) {
    BOOST_TEST_CONTEXT(c.scheduler) {
      example euler = c;
      euler.sampler = "Euler";
      check_against_reference(c, "lcm-" + c.scheduler, euler);
      const std::string info = run(c).result.images[0].infotext;
      BOOST_TEST(info.find("Sampler: LCM, ") != std::string::npos, info);
      BOOST_TEST((info.find("Schedule type: Karras") != std::string::npos) == (c.scheduler == "karras"), info);
      BOOST_TEST(info.find("Noise Schedule") == std::string::npos, info);
    }
  }
}

// Zero Terminal SNR against the reference (k-diffusion's samplers and LCM on the rescaled table),
// told apart from the model's own schedule, and noted in the infotext as A1111 notes it.
BOOST_AUTO_TEST_CASE(zero_terminal_snr_matches_the_reference) {
  for (const example& c : {example{"Euler a", "automatic", "Zero Terminal SNR", 4},
                           example{"DPM++ 2M", "automatic", "Zero Terminal SNR", 5},
                           example{"LCM", "automatic", "Zero Terminal SNR", 3}}) {
    BOOST_TEST_CONTEXT(c.sampler) {
      example plain = c;
      plain.noise_schedule = "Default";
      check_against_reference(c, "ztsnr-" + std::to_string(c.steps), plain);
      const std::string info = run(c).result.images[0].infotext;
      BOOST_TEST(info.find(", Noise Schedule: Zero Terminal SNR, ") != std::string::npos, info);
    }
  }
}
