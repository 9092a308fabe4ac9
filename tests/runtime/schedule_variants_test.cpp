#define BOOST_TEST_MODULE schedule_variants
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
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
  bool downcast = false;  // option use_downcasted_alpha_bar
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
  sdw::apply_override(opts, "use_downcasted_alpha_bar", sdw::json_value(c.downcast));
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
                                << R"(", "downcast": )" << (c.downcast ? "true" : "false")
                                << R"(, "cfg_scale": 2, "seed": 31, "batch_size": 2, "cond_tokens": )"
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

/// Checks a run against the reference: latents within `within` relative, pixels within one level;
/// the run `other` (another setting) must be further than `apart_at_least` from it.
void check_against_reference(const example& c, const std::string& tag, const example& other,
                             double apart_at_least = 1e-2, double within = 1e-4) {
  const auto ours = run(c);
  auto [want, pixels] = reference_run(c, tag);
  BOOST_REQUIRE_EQUAL(want.numel(), ours.latents.numel());
  want = want.view(ours.latents.sizes());
  const double rel = relative_difference(ours.latents, want);
  const double apart = relative_difference(run(other).latents, want);
  BOOST_TEST_MESSAGE(tag << ": max relative difference " << rel << " (the other setting's " << apart << ")");
  BOOST_TEST(rel <= within);
  BOOST_TEST(apart > apart_at_least);

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

// Option use_downcasted_alpha_bar (A1111 before 1.8 kept an fp16 model's ᾱ in fp16): ᾱ rounded to
// fp16, k-diffusion's σ and log σ tables computed from it in fp16, and the wrapper's σ → t in the
// mixed precision PyTorch gives it; LCM's table filled from the rounded ᾱ. Against the reference,
// told apart from the float32 schedule, and noted as A1111 notes it. With Zero Terminal SNR the fp16
// rescale gives an infinite σ, where A1111's job fails: refused naming the option.
BOOST_AUTO_TEST_CASE(downcast_alphas_match_the_reference) {
  for (const example& c : {example{"Euler a", "automatic", "Default", 4, true},
                           example{"DPM++ 2M", "karras", "Default", 5, true},
                           example{"LCM", "automatic", "Default", 3, true}}) {
    BOOST_TEST_CONTEXT(c.sampler) {
      example plain = c;
      plain.downcast = false;
      // fp16 rounding moves σ by up to 1e-3 of itself and the latents by 1.5e-4 to 7e-4, so the match
      // must be closer than that: 1e-5 (it is ~4e-7).
      check_against_reference(c, "downcast-" + std::to_string(c.steps), plain, 1e-4, 1e-5);
      const std::string info = run(c).result.images[0].infotext;
      BOOST_TEST(info.find(", Downcast alphas_cumprod: True, ") != std::string::npos, info);
      BOOST_TEST(run(plain).result.images[0].infotext.find("Downcast") == std::string::npos);
    }
  }
  try {
    run(example{"Euler a", "automatic", "Zero Terminal SNR", 2, true});
    BOOST_ERROR("use_downcasted_alpha_bar with Zero Terminal SNR was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "override_settings.use_downcasted_alpha_bar", e.what());
  }
}
