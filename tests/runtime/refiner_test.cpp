#define BOOST_TEST_MODULE refiner
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/noise_schedule.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/engine/txt2img.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/tiny_engine.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

// A1111's refiner (refiner_checkpoint, refiner_switch_at): a second checkpoint takes a sampling run
// over once it has come refiner_switch_at of the way, measured by the σ of each model call.

namespace {

using ran = sdw::test::job_run;

/// A second tiny checkpoint (other weights) in the shared engine's folder.
std::shared_ptr<const sdw::sd_model> other_model(sdw::model_preset preset = sdw::model_preset::tiny,
                                                 const std::string& name = "refiner.safetensors") {
  return sdw::test::other_tiny_model(preset, name, 23);
}

const sdw::sd_model& own_model() { return *sdw::test::shared_tiny_engine().model; }

sdw::checkpoint_switch to(const std::shared_ptr<const sdw::sd_model>& model, const std::string& title) {
  return {title, model->path(), [model] { return model; }};
}

ran run(const std::string& body, const sdw::options& opts, const sdw::checkpoint_switch* refiner,
        const sdw::sd_model& model = own_model(), const sdw::checkpoint_switch* hires = nullptr) {
  return sdw::test::run_job(body, opts, &model, hires, refiner);
}

sdw::options cpu_noise() {
  sdw::options opts;
  opts.randn_source = "CPU";
  return opts;
}

std::string body_of(const std::string& sampler, int steps, const std::string& extra) {
  return R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 77, "sampler_name": ")" + sampler +
         R"(", "steps": )" + std::to_string(steps) + R"(, "width": 64, "height": 64, "cfg_scale": 6)" + extra + "}";
}

} // namespace

BOOST_AUTO_TEST_CASE(the_completed_ratio_is_a1111s) {
  const sdw::discrete_schedule schedule(sdw::discrete_schedule::sd1_alphas_cumprod());
  const at::Tensor sigmas = schedule.sigmas();
  // The first training σ is the end of sampling (t = 0), the last its start (t = 999).
  BOOST_TEST(sdw::completed_ratio_at_sigma(schedule, sigmas[999].view({1})) == 0.0f);
  BOOST_TEST(sdw::completed_ratio_at_sigma(schedule, sigmas[0].view({1})) == 0.999f);
  // Above σ_max (Karras' first σ may be), and the largest of a batch's σ.
  BOOST_TEST(sdw::completed_ratio_at_sigma(schedule, at::tensor({30.0f})) == 0.0f);
  BOOST_TEST(sdw::completed_ratio_at_sigma(schedule, at::stack({sigmas[100], sigmas[799]})) == 0.2f);
  // Timestep samplers: int(max(t)), truncated.
  BOOST_TEST(sdw::completed_ratio_at_timestep(at::tensor({251.0f, 251.0f})) == 0.748f);
  BOOST_TEST(sdw::completed_ratio_at_timestep(at::tensor({500.9f})) == 0.499f);
}

// The switch against tests/reference/refiner_reference.py, which rebuilds apply_refiner around
// k-diffusion's samplers with its own networks: where the run switches, the prompts encoded again by
// the refiner, the rest of the run on it, and the decode by its VAE.
BOOST_AUTO_TEST_CASE(the_refiner_takes_over_where_the_reference_switches) {
  auto& e = sdw::test::shared_tiny_engine();
  const auto refiner = other_model();
  const sdw::checkpoint_switch target = to(refiner, "refiner [0123abcdef]");
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/refiner_reference.py";
  struct example {
    std::string sampler;
    int steps;
    double switch_at;
  };
  for (const example& c : {example{"Euler", 4, 0.5}, example{"Euler a", 5, 0.3}, example{"DPM++ 2M", 6, 0.8}}) {
    BOOST_TEST_CONTEXT(c.sampler << " switching at " << c.switch_at) {
      const std::string body =
        body_of(c.sampler, c.steps, R"(, "batch_size": 2, "refiner_checkpoint": "refiner", "refiner_switch_at": )" +
                                      std::to_string(c.switch_at));
      const ran ours = run(body, cpu_noise(), &target);
      const ran without = run(body, cpu_noise(), nullptr);

      const std::string stem = e.dir.file("refiner-" + std::to_string(c.steps));
      std::ofstream(stem + ".json") << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "refiner": ")"
                                    << refiner->path() << R"(", "switch_at": )" << c.switch_at
                                    << R"(, "heads_unet": )" << e.model->config().unet.num_heads
                                    << R"(, "heads_text": )" << e.model->config().text.heads
                                    << R"(, "width": 64, "height": 64, "steps": )" << c.steps << R"(, "sampler": ")"
                                    << c.sampler << R"(", "cfg_scale": 6, "seed": 77, "batch_size": 2, "cond_tokens": )"
                                    << e.tokens_json("a red house") << R"(, "uncond_tokens": )" << e.tokens_json("fog")
                                    << R"(, "out": ")" << stem << R"(.bin", "out_images": ")" << stem << R"(.rgb"})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + stem + ".json");
      BOOST_REQUIRE_MESSAGE(rc == 0, "refiner_reference.py failed:\n" << log);
      BOOST_TEST_MESSAGE("reference: " << log);
      BOOST_TEST(log.find("\"switched_at_call\": null") == std::string::npos, "the reference never switched");
      BOOST_TEST(log.find("\"switched_at_call\": 0") == std::string::npos, "the reference switched at once");

      auto want = sdw::test::read_f32_file(stem + ".bin");
      BOOST_REQUIRE_EQUAL(want.numel(), ours.latents.numel());
      want = want.view(ours.latents.sizes());
      const double scale = want.abs().max().item<double>();
      const double rel = (ours.latents - want).abs().max().item<double>() / scale;
      const double unswitched = (without.latents - want).abs().max().item<double>() / scale;
      BOOST_TEST_MESSAGE("max relative difference " << rel << " (without the refiner " << unswitched << ")");
      BOOST_TEST(rel <= 1e-4);
      BOOST_TEST(unswitched > 1e-3);

      // Decoded by the refiner's VAE: every pixel within one level of the reference's.
      std::ifstream f(stem + ".rgb", std::ios::binary);
      const std::vector<uint8_t> pixels((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      BOOST_REQUIRE_EQUAL(ours.result.images.size(), 2u);
      BOOST_TEST(sdw::test::worst_level_difference(ours.result.images, pixels) <= 1);

      // The infotext keeps the job's model and names the refiner where A1111 adds it, last.
      const std::string& info = ours.result.images[0].infotext;
      BOOST_TEST(info.find("Model: tiny,") != std::string::npos, info);
      std::ostringstream switch_at;
      switch_at << "Refiner: refiner [0123abcdef], Refiner switch at: " << c.switch_at << ", Version: ";
      BOOST_TEST(info.find(switch_at.str()) != std::string::npos, info);
      BOOST_TEST(without.result.images[0].infotext.find("Refiner") == std::string::npos);
    }
  }
}

// refiner_switch_at 0 switches at the first model call: the whole run is the refiner's, as if it
// were the job's own model (the timestep samplers measure t itself). At 1 the run never gets there.
BOOST_AUTO_TEST_CASE(switching_at_0_is_the_refiner_alone_and_at_1_never_happens) {
  const auto refiner = other_model();
  const sdw::checkpoint_switch target = to(refiner, "refiner");
  for (const std::string sampler : {"Euler", "DDIM", "UniPC"}) {
    BOOST_TEST_CONTEXT(sampler) {
      const std::string plain = body_of(sampler, 3, "");
      const ran at_0 = run(body_of(sampler, 3, R"(, "refiner_checkpoint": "refiner", "refiner_switch_at": 0)"), {}, &target);
      const ran alone = run(plain, {}, nullptr, *refiner);
      BOOST_TEST(at::equal(at_0.latents, alone.latents));
      BOOST_TEST(at_0.result.images[0].pixels == alone.result.images[0].pixels);
      BOOST_TEST(at_0.result.images[0].infotext.find("Refiner switch at: 0.0") != std::string::npos,
                 at_0.result.images[0].infotext);

      const ran at_1 = run(body_of(sampler, 3, R"(, "refiner_checkpoint": "refiner", "refiner_switch_at": 1)"), {}, &target);
      const ran own = run(plain, {}, nullptr);
      BOOST_TEST(at::equal(at_1.latents, own.latents));
      BOOST_TEST(at_1.result.images[0].infotext == own.result.images[0].infotext);
    }
  }
}

// Option refiner_switch_by_sample_steps: the ratio is model calls made / calls of the run. With 4
// steps both measures first reach 0.5 at the third call (σ: t 999, 666, 333, 0 for Euler; DDIM's
// t 751, 501, 251, 1), so those runs are equal and only the infotext tells them apart.
BOOST_AUTO_TEST_CASE(switching_by_sampling_steps_counts_model_calls) {
  const auto refiner = other_model();
  const sdw::checkpoint_switch target = to(refiner, "refiner");
  for (const std::string sampler : {"Euler", "DDIM"}) {
    BOOST_TEST_CONTEXT(sampler) {
      const std::string body = body_of(sampler, 4, R"(, "refiner_checkpoint": "refiner", "refiner_switch_at": 0.5)");
      sdw::options by_steps;
      by_steps.refiner_switch_by_sample_steps = true;
      const ran steps = run(body, by_steps, &target);
      const ran sigma = run(body, {}, &target);
      BOOST_TEST(at::equal(steps.latents, sigma.latents));
      BOOST_TEST(!at::allclose(sigma.latents, run(body_of(sampler, 4, ""), {}, nullptr).latents, 1e-3, 1e-3));
      const std::string& info = steps.result.images[0].infotext;
      BOOST_TEST(info.find("Refiner switch by sampling steps: True, Refiner: refiner, Refiner switch at: 0.5") !=
                   std::string::npos,
                 info);
      // At 0.3 they part: σ reaches it at the second call (Euler 0.333, DDIM 0.498), steps at the third.
      const std::string early = body_of(sampler, 4, R"(, "refiner_checkpoint": "refiner", "refiner_switch_at": 0.3)");
      BOOST_TEST(!at::equal(run(early, by_steps, &target).latents, run(early, {}, &target).latents));
    }
  }
  // A1111 notes the option for every job while it is on, refiner or not.
  sdw::options by_steps;
  by_steps.refiner_switch_by_sample_steps = true;
  const ran plain = run(body_of("Euler", 2, ""), by_steps, nullptr);
  BOOST_TEST(plain.result.images[0].infotext.find("Refiner switch by sampling steps: True") != std::string::npos);
}

// A refiner that is the model already running changes nothing; each n_iter batch starts on the
// job's own model again (A1111 reloads it before each batch).
BOOST_AUTO_TEST_CASE(the_same_checkpoint_never_switches_and_each_batch_starts_on_the_own_model) {
  const auto own = sdw::test::shared_tiny_engine().model;
  const sdw::checkpoint_switch same{"tiny", own->path(), [own] { return std::shared_ptr<const sdw::sd_model>(own); }};
  const ran r = run(body_of("Euler", 3, R"(, "refiner_checkpoint": "tiny", "refiner_switch_at": 0.2)"), {}, &same);
  const ran plain = run(body_of("Euler", 3, ""), {}, nullptr);
  BOOST_TEST(at::equal(r.latents, plain.latents));
  BOOST_TEST(r.result.images[0].infotext == plain.result.images[0].infotext);

  const sdw::checkpoint_switch target = to(other_model(), "refiner");
  const std::string refined = R"(, "refiner_checkpoint": "refiner", "refiner_switch_at": 0.4)";
  const ran two = run(R"({"prompt": "a boat", "seed": 40, "n_iter": 2, "steps": 3, "width": 64, "height": 64)" + refined + "}", {},
                      &target);
  const ran next = run(R"({"prompt": "a boat", "seed": 41, "steps": 3, "width": 64, "height": 64)" + refined + "}", {}, &target);
  BOOST_REQUIRE_EQUAL(two.latents.size(0), 2);
  BOOST_TEST(at::equal(two.latents[1], next.latents[0]));
}

// With hires fix the refiner switches in the second pass only (option hires_fix_refiner_pass,
// "second pass"): at 0 it is the hires checkpoint's equal. "first pass" switches in the first and
// the second pass starts on the job's own model again: what a job on the refiner with the own model
// as hires checkpoint does. Latent upscaling keeps the VAE out of it.
BOOST_AUTO_TEST_CASE(with_hires_fix_the_option_chooses_the_pass) {
  const auto refiner = other_model();
  const sdw::checkpoint_switch target = to(refiner, "refiner");
  const std::string hires = R"(, "enable_hr": true, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_second_pass_steps": 2)";
  const std::string with_refiner = hires + R"(, "refiner_checkpoint": "refiner", "refiner_switch_at": 0)";

  const ran second = run(body_of("Euler", 3, with_refiner), {}, &target);
  const ran as_hires = run(body_of("Euler", 3, hires + R"(, "hr_checkpoint_name": "refiner")"), {}, nullptr, own_model(), &target);
  BOOST_TEST(at::equal(second.latents, as_hires.latents));
  BOOST_TEST(second.result.images[0].pixels == as_hires.result.images[0].pixels);
  BOOST_TEST(second.result.images[0].infotext.find("Hires refiner") == std::string::npos);

  sdw::options first_pass;
  first_pass.hires_fix_refiner_pass = "first pass";
  const ran first = run(body_of("Euler", 3, with_refiner), first_pass, &target);
  const auto own = sdw::test::shared_tiny_engine().model;
  const sdw::checkpoint_switch back{"tiny", own->path(), [own] { return std::shared_ptr<const sdw::sd_model>(own); }};
  const ran on_refiner = run(body_of("Euler", 3, hires), {}, nullptr, *refiner, &back);
  BOOST_TEST(at::equal(first.latents, on_refiner.latents));
  const std::string& info = first.result.images[0].infotext;
  BOOST_TEST(info.find("Hires refiner: first pass, Refiner: refiner, Refiner switch at: 0.0") != std::string::npos, info);
}

BOOST_AUTO_TEST_CASE(a_refiner_of_another_kind_is_refused_naming_the_field) {
  const sdw::checkpoint_switch sd2 = to(other_model(sdw::model_preset::sd2_tiny, "sd2-refiner.safetensors"), "sd2");
  try {
    run(body_of("Euler", 2, R"(, "refiner_checkpoint": "sd2", "refiner_switch_at": 0.5)"), {}, &sd2);
    BOOST_ERROR("a SD2 refiner for a SD1 job was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "refiner_checkpoint");
    BOOST_TEST(std::string(e.what()).find("is sd2") != std::string::npos, e.what());
  }
}
