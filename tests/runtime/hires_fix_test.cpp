#define BOOST_TEST_MODULE hires_fix
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/checkpoint_switch.hpp"
#include "runtime/engine/hires_fix.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/engine/txt2img.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/tiny_engine.hpp"

#include <filesystem>
#include <fstream>

namespace {

using ran = sdw::test::job_run;

ran run(const std::string& body, const sdw::options& opts = {}, const sdw::checkpoint_switch* hires = nullptr,
        const sdw::sd_model* model = nullptr) {
  return sdw::test::run_job(body, opts, model, hires);
}

struct hires_case {
  std::string name, sampler, upscaler;
  int width, height, steps, hr_steps;
  double strength, hr_scale;
  int hr_resize_x, hr_resize_y, batch_size;
};

} // namespace

// Hires fix against A1111's semantics rebuilt in PyTorch (tests/reference/hires_reference.py): the
// first pass, the latent upscale modes and the pixel upscalers (decode, PIL-exact upscale, encode with
// the posterior noise A1111's global generator gives), hr_resize_x/y with the latent crop, the new
// noise at the target size and the fixed-steps schedule of the second pass.
BOOST_AUTO_TEST_CASE(latents_match_the_pytorch_reference) {
  const hires_case cases[] = {
    {"latent", "Euler", "Latent", 64, 64, 3, 0, 0.6, 1.5, 0, 0, 1},
    {"latent_bicubic_aa_batch", "Euler a", "Latent (bicubic antialiased)", 64, 64, 3, 2, 0.5, 1.25, 0, 0, 2},
    {"nearest_exact_resize", "Euler", "Latent (nearest-exact)", 64, 80, 2, 3, 0.7, 2.0, 96, 96, 1},
    {"lanczos_pixels", "DPM++ 2M", "Lanczos", 64, 64, 3, 2, 0.55, 1.5, 0, 0, 2},
    {"none_pixels_resize_x", "Euler", "None", 64, 80, 2, 2, 0.4, 2.0, 128, 0, 1},
  };
  auto& e = sdw::test::shared_tiny_engine();
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/hires_reference.py";
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      const std::string body =
          R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 77, "sampler_name": ")" + c.sampler +
          R"(", "steps": )" + std::to_string(c.steps) + R"(, "width": )" + std::to_string(c.width) +
          R"(, "height": )" + std::to_string(c.height) + R"(, "cfg_scale": 6, "batch_size": )" +
          std::to_string(c.batch_size) + R"(, "enable_hr": true, "hr_upscaler": ")" + c.upscaler +
          R"(", "denoising_strength": )" + std::to_string(c.strength) + R"(, "hr_scale": )" +
          std::to_string(c.hr_scale) + R"(, "hr_resize_x": )" + std::to_string(c.hr_resize_x) +
          R"(, "hr_resize_y": )" + std::to_string(c.hr_resize_y) + R"(, "hr_second_pass_steps": )" +
          std::to_string(c.hr_steps) + "}";
      sdw::options opts;
      opts.randn_source = "CPU";
      const ran ours = run(body, opts);

      const std::string out = e.dir.file(c.name + ".hr.bin"), json = e.dir.file(c.name + ".hr.json");
      std::ofstream(json) << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "heads_unet": )"
                          << e.model->config().unet.num_heads << R"(, "heads_text": )" << e.model->config().text.heads
                          << R"(, "width": )" << c.width << R"(, "height": )" << c.height << R"(, "steps": )" << c.steps
                          << R"(, "sampler": ")" << c.sampler << R"(", "cfg_scale": 6, "seed": 77, "batch_size": )"
                          << c.batch_size << R"(, "cond_tokens": )" << e.tokens_json("a red house")
                          << R"(, "uncond_tokens": )" << e.tokens_json("fog") << R"(, "denoising_strength": )"
                          << c.strength << R"(, "hr_scale": )" << c.hr_scale << R"(, "hr_resize_x": )" << c.hr_resize_x
                          << R"(, "hr_resize_y": )" << c.hr_resize_y << R"(, "hr_upscaler": ")" << c.upscaler
                          << R"(", "hr_second_pass_steps": )" << c.hr_steps << R"(, "out": ")" << out << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + json);
      BOOST_REQUIRE_MESSAGE(rc == 0, "hires_reference.py failed:\n" << log);
      const double rel = sdw::test::relative_difference_to_file(ours.latents, out);
      BOOST_TEST_MESSAGE(c.name << ": latents " << ours.latents.sizes() << ", max relative difference " << rel);
      // The pixel upscalers truncate decoded floats to 8 bits: a value within float rounding of an
      // integer may land one level apart in either implementation (a few of 10^4 samples), which
      // moves the re-encoded latents by ~1e-4. A wrong upscaler, crop or noise moves them by ~1e-1.
      const bool pixels = c.upscaler.rfind("Latent", 0) != 0;
      BOOST_TEST(rel <= (pixels ? 1e-3 : 1e-4));
    }
  }
}

BOOST_AUTO_TEST_CASE(images_have_the_target_size_and_a1111s_infotext) {
  const ran r = run(R"j({"prompt": "a cat", "seed": 5, "steps": 3, "width": 64, "height": 96, "enable_hr": true,)j"
                    R"j( "hr_scale": 1.5, "hr_upscaler": "Latent (bicubic)", "denoising_strength": 0.45,)j"
                    R"j( "hr_second_pass_steps": 2, "hr_prompt": "a big cat"})j");
  BOOST_REQUIRE_EQUAL(r.result.images.size(), 1u);
  const auto& img = r.result.images[0];
  BOOST_TEST(img.width == 96);
  BOOST_TEST(img.height == 144);
  // Size is the first pass's, as A1111 writes it; the Hires entries in A1111's order.
  const std::string& info = img.infotext;
  BOOST_TEST(info.find("Size: 64x96") != std::string::npos, info);
  for (const char* key : {"Denoising strength: 0.45", "Hires prompt: a big cat", "Hires upscale: 1.5",
                          "Hires steps: 2", "Hires upscaler: Latent (bicubic)"}) {
    BOOST_TEST(info.find(key) != std::string::npos, key << " in " << info);
  }
  BOOST_TEST(info.find("Hires upscale") < info.find("Hires steps"));
  BOOST_TEST(info.find("Hires negative prompt") == std::string::npos);
  // Progress covers both passes.
  BOOST_TEST(r.steps == 5);
  BOOST_TEST(r.last_step == 5);
}

BOOST_AUTO_TEST_CASE(bad_hires_requests_name_the_field) {
  const auto refused = [](const std::string& body, const std::string& field) {
    try {
      sdw::txt2img_request_from_json(sdw::parse_json(body));
      BOOST_ERROR("accepted " << body);
    } catch (const sdw::error& e) {
      BOOST_TEST(e.where() == field, e.what());
    }
  };
  refused(R"({"enable_hr": true})", "denoising_strength");
  refused(R"({"enable_hr": true, "denoising_strength": 0.5, "hr_upscaler": "4x-UltraSharp"})", "hr_upscaler");
  refused(R"({"enable_hr": true, "denoising_strength": 0.5, "firstphase_width": 64})", "firstphase_height");
}

namespace {

/// A second tiny checkpoint (other weights) in the shared engine's folder.
std::shared_ptr<const sdw::sd_model> other_tiny_model(sdw::model_preset preset = sdw::model_preset::tiny,
                                                      const std::string& name = "tiny-other.safetensors") {
  return sdw::test::other_tiny_model(preset, name, 11);
}

} // namespace

// hr_checkpoint_name: A1111 switches to the named checkpoint after the first pass (after decoding
// it, for a pixel upscaler) and runs the second pass's conditioning, encode, sampling and decode on
// it; hires_reference.py does the same with its own networks.
BOOST_AUTO_TEST_CASE(a_hires_checkpoint_runs_the_second_pass_as_the_reference_does) {
  auto& e = sdw::test::shared_tiny_engine();
  const auto other = other_tiny_model();
  int loads = 0;
  const sdw::checkpoint_switch hires{"tiny-other [0123abcdef]", other->path(), [&] {
                                      ++loads;
                                      return other;
                                    }};
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/hires_reference.py";
  for (const std::string upscaler : {"Latent", "Lanczos"}) {
    BOOST_TEST_CONTEXT("hr_upscaler " << upscaler) {
      const std::string body = R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 77, "sampler_name": "Euler",)"
                               R"( "steps": 3, "width": 64, "height": 64, "cfg_scale": 6, "batch_size": 2,)"
                               R"( "enable_hr": true, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_second_pass_steps": 2,)"
                               R"( "hr_upscaler": ")" + upscaler + R"("})";
      sdw::options opts;
      opts.randn_source = "CPU";
      loads = 0;
      const ran ours = run(body, opts, &hires);
      BOOST_TEST(loads == 1);
      const ran same = run(body, opts);

      const std::string out = e.dir.file("switch-" + upscaler + ".bin"), json = e.dir.file("switch-" + upscaler + ".json");
      std::ofstream(json) << R"({"checkpoint": ")" << sdw::test::tiny_model(e.dir) << R"(", "hr_checkpoint": ")"
                          << other->path() << R"(", "heads_unet": )" << e.model->config().unet.num_heads
                          << R"(, "heads_text": )" << e.model->config().text.heads
                          << R"(, "width": 64, "height": 64, "steps": 3, "sampler": "Euler", "cfg_scale": 6, "seed": 77,)"
                          << R"( "batch_size": 2, "cond_tokens": )" << e.tokens_json("a red house")
                          << R"(, "uncond_tokens": )" << e.tokens_json("fog")
                          << R"(, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_resize_x": 0, "hr_resize_y": 0,)"
                          << R"( "hr_upscaler": ")" << upscaler << R"(", "hr_second_pass_steps": 2, "out": ")" << out << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + json);
      BOOST_REQUIRE_MESSAGE(rc == 0, "hires_reference.py failed:\n" << log);
      auto want = sdw::test::read_f32_file(out);
      BOOST_REQUIRE_EQUAL(want.numel(), ours.latents.numel());
      want = want.view(ours.latents.sizes());
      const double scale = want.abs().max().item<double>();
      const double rel = (ours.latents - want).abs().max().item<double>() / scale;
      const double without = (same.latents - want).abs().max().item<double>() / scale;
      BOOST_TEST_MESSAGE(upscaler << ": max relative difference " << rel << " (without the switch " << without << ")");
      BOOST_TEST(rel <= (upscaler == "Latent" ? 1e-4 : 1e-3));
      BOOST_TEST(without > 1e-3);  // the other checkpoint's weights make a difference the test sees

      // The infotext keeps the first pass's model and names the hires checkpoint after the strength.
      const std::string& info = ours.result.images.at(0).infotext;
      BOOST_TEST(info.find("Model: tiny,") != std::string::npos, info);
      const auto at = info.find("Hires checkpoint: tiny-other [0123abcdef],");
      BOOST_TEST(at != std::string::npos, info);
      BOOST_TEST(info.find("Denoising strength: 0.6") < at);
      BOOST_TEST(same.result.images.at(0).infotext.find("Hires checkpoint") == std::string::npos);
    }
  }
}

// Hires fix with an inpainting checkpoint (a 9-channel UNet): both passes take A1111's hybrid
// conditioning. The first pass's is a gray picture, all masked; the second pass's is made in
// sample_hr_pass from the upscaled pixels (in [0, 1]) for a pixel upscaler, from the decoded
// upscaled latents for a Latent one when inpainting_mask_weight < 1, else from a gray picture at the
// target size. Its posterior noise goes on from the first pass's draws on torch's global generator.
BOOST_AUTO_TEST_CASE(an_inpainting_checkpoint_takes_its_conditioning_in_both_passes) {
  auto& e = sdw::test::shared_tiny_engine();
  const std::string checkpoint = e.dir.file("tiny-inpainting.safetensors");
  if (!std::filesystem::exists(checkpoint)) sdw::make_model(sdw::model_preset::tiny, sdw::st_dtype::f32, 7, checkpoint, true);
  const auto model = sdw::sd_model::load(checkpoint, {"cpu", "f32"});
  BOOST_REQUIRE(sdw::is_inpainting(model->config()));
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/hires_reference.py";
  const struct {
    std::string upscaler;
    double weight;
    std::string shown;  // as the infotext writes it
    int batch_size;
  } cases[] = {{"Lanczos", 0.7, "0.7", 2}, {"Latent", 1.0, "1.0", 1}, {"Latent (bicubic)", 0.5, "0.5", 1}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("hr_upscaler " << c.upscaler << ", mask weight " << c.weight) {
      const std::string body = R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 23, "sampler_name": "Euler a",)"
                               R"( "steps": 3, "width": 64, "height": 64, "cfg_scale": 6, "batch_size": )" +
                               std::to_string(c.batch_size) +
                               R"(, "enable_hr": true, "denoising_strength": 0.6, "hr_scale": 1.5,)"
                               R"( "hr_second_pass_steps": 2, "hr_upscaler": ")" + c.upscaler + R"("})";
      sdw::options opts;
      opts.randn_source = "CPU";
      opts.inpainting_mask_weight = c.weight;
      const ran ours = run(body, opts, nullptr, model.get());
      BOOST_TEST(ours.result.images.at(0).width == 96);
      BOOST_TEST(ours.result.images.at(0).infotext.find("Conditional mask weight: " + c.shown) !=
                   std::string::npos,
                 ours.result.images.at(0).infotext);

      const std::string name = "inpainting-" + c.upscaler.substr(0, 6) + std::to_string(c.batch_size);
      const std::string out = e.dir.file(name + ".bin"), json = e.dir.file(name + ".json");
      std::ofstream(json) << R"({"checkpoint": ")" << checkpoint << R"(", "inpainting_model": true, "mask_weight": )"
                          << c.weight << R"(, "heads_unet": )" << model->config().unet.num_heads
                          << R"(, "heads_text": )" << model->config().text.heads
                          << R"(, "width": 64, "height": 64, "steps": 3, "sampler": "Euler a", "cfg_scale": 6, "seed": 23,)"
                          << R"( "batch_size": )" << c.batch_size << R"(, "cond_tokens": )" << e.tokens_json("a red house")
                          << R"(, "uncond_tokens": )" << e.tokens_json("fog")
                          << R"(, "denoising_strength": 0.6, "hr_scale": 1.5, "hr_resize_x": 0, "hr_resize_y": 0,)"
                          << R"( "hr_upscaler": ")" << c.upscaler << R"(", "hr_second_pass_steps": 2, "out": ")" << out << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + json);
      BOOST_REQUIRE_MESSAGE(rc == 0, "hires_reference.py failed:\n" << log);
      const double rel = sdw::test::relative_difference_to_file(ours.latents, out);
      BOOST_TEST_MESSAGE(c.upscaler << ": max relative difference " << rel);
      // A gray picture's encode differs by ~1e-4 between implementations (inpaint_test says why), which
      // the first pass carries to ~6e-4, and 8-bit truncation may put a pixel one level apart. With the
      // pixel upscaler a source in [-1, 1] or posterior noise not drawn on from the first pass moves the
      // latents by 0.2. (The random tiny VAE decodes to nearly 0, so in the Latent cases the decoded
      // picture and the gray one differ little: those check the conditioning's size and place.)
      BOOST_TEST(rel <= 2e-3);
    }
  }
}

// Option use_old_hires_fix_width_height (A1111's hires fix before 1.0): width × height is the final
// size and the first pass has about 512² pixels of its aspect, each side rounded up to 64 (the
// sizes checked against Python's arithmetic). The job is then the one that names both sizes itself.
BOOST_AUTO_TEST_CASE(old_hires_width_height_asks_for_the_final_size) {
  const std::pair<int, int> sizes[] = {{96, 64}, {1024, 1024}, {1920, 1080}, {64, 2048}, {520, 776}, {2048, 2048}};
  std::string code = "import math\nfor w, h in [";
  for (const auto& [w, h] : sizes) code += "(" + std::to_string(w) + ", " + std::to_string(h) + "),";
  code += "]:\n s = math.sqrt(512 * 512 / (w * h))\n print(math.ceil(s * w / 64) * 64, math.ceil(s * h / 64) * 64)\n";
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " -c '" + code + "'");
  BOOST_REQUIRE_MESSAGE(rc == 0, log);
  std::string ours;
  for (const auto& [w, h] : sizes) {
    const auto [fw, fh] = sdw::old_hires_fix_first_pass_size(w, h);
    ours += std::to_string(fw) + " " + std::to_string(fh) + "\n";
  }
  BOOST_TEST(ours == log);

  sdw::options old;
  sdw::apply_override(old, "use_old_hires_fix_width_height", sdw::json_value(true));
  const std::string tail = R"(, "seed": 3, "sampler_name": "Euler", "steps": 2, "enable_hr": true,)"
                           R"( "denoising_strength": 0.5, "hr_upscaler": "Latent"})";
  const ran with_old = run(R"({"prompt": "a boat", "width": 96, "height": 64, "hr_scale": 3)" + tail, old);
  // What the option makes of it, asked for without the option: a 640x448 first pass resized to 96x64.
  const ran named = run(R"({"prompt": "a boat", "width": 640, "height": 448, "hr_resize_x": 96, "hr_resize_y": 64)" + tail);
  BOOST_TEST(at::equal(with_old.latents, named.latents));
  const auto& img = with_old.result.images.at(0);
  BOOST_TEST(img.width == 96);
  BOOST_TEST(img.height == 64);
  BOOST_TEST(img.infotext == named.result.images.at(0).infotext);
  BOOST_TEST(img.infotext.find("Size: 640x448") != std::string::npos, img.infotext);
  BOOST_TEST(img.infotext.find("Hires resize: 96x64") != std::string::npos, img.infotext);
  // A final size whose first pass would pass 2048 on a side is refused naming the side.
  try {
    run(R"({"prompt": "a boat", "width": 64, "height": 2048, "hr_scale": 2)" + tail, old);
    BOOST_ERROR("a 128x2944 first pass was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "height", e.what());
  }
}

// As in A1111, each n_iter batch starts on the job's own checkpoint again (process_images reloads
// it): the second image is the one a single-batch job with the next seed makes.
BOOST_AUTO_TEST_CASE(each_n_iter_batch_runs_its_first_pass_on_the_jobs_own_checkpoint) {
  const auto other = other_tiny_model();
  const sdw::checkpoint_switch hires{"tiny-other", other->path(), [&] { return other; }};
  const std::string tail = R"(, "steps": 2, "width": 64, "height": 64, "enable_hr": true, "denoising_strength": 0.5,)"
                           R"( "hr_scale": 1.25, "hr_second_pass_steps": 2})";
  const ran switched = run(R"({"prompt": "a boat", "seed": 40, "n_iter": 2)" + tail, {}, &hires);
  const ran next = run(R"({"prompt": "a boat", "seed": 41)" + tail, {}, &hires);
  const ran on_other = run(R"({"prompt": "a boat", "seed": 41)" + tail, {}, nullptr, other.get());
  BOOST_REQUIRE_EQUAL(switched.latents.size(0), 2);
  BOOST_TEST(at::equal(switched.latents[1], next.latents[0]));
  // Not both passes on the hires checkpoint.
  BOOST_TEST(!at::allclose(switched.latents[1], on_other.latents[0], 1e-3, 1e-3));
}

BOOST_AUTO_TEST_CASE(a_hires_checkpoint_of_another_kind_is_refused_naming_the_field) {
  const auto sd2 = other_tiny_model(sdw::model_preset::sd2_tiny, "sd2-tiny.safetensors");
  const sdw::checkpoint_switch hires{"sd2-tiny", sd2->path(), [&] { return sd2; }};
  try {
    run(R"({"prompt": "a boat", "steps": 2, "width": 64, "height": 64, "enable_hr": true, "denoising_strength": 0.5})", {},
        &hires);
    BOOST_ERROR("a SD2 hires checkpoint for a SD1 first pass was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "hr_checkpoint_name");
    BOOST_TEST(std::string(e.what()).find("sd2") != std::string::npos, e.what());
  }
}

// Prompt editing in the second pass runs on A1111's hires timeline (get_learned_conditioning with
// hires_steps): a fraction `when` counts from 1.0 and a step number from the first pass's end, so
// `[a:b:0.5]` is already `b` when the second pass starts, and `[a:b:1.5]` of a 3-step pass switches
// where `[a:b:5]` does after a 4-step first pass.
BOOST_AUTO_TEST_CASE(prompt_editing_in_the_second_pass_runs_on_the_hires_timeline) {
  const auto body = [](const std::string& prompt, const std::string& hr_prompt) {
    return R"({"prompt": ")" + prompt + R"(", "hr_prompt": ")" + hr_prompt +
           R"(", "seed": 9, "sampler_name": "Euler", "steps": 4, "width": 64, "height": 64, "enable_hr": true,
               "hr_scale": 1.5, "hr_upscaler": "Latent", "hr_second_pass_steps": 3, "denoising_strength": 0.6})";
  };
  const std::string half = "[a red house:a blue door:0.5]";
  const ran edited = run(body(half, ""));
  BOOST_TEST(at::equal(edited.latents, run(body(half, "a blue door")).latents));
  BOOST_TEST(!at::equal(edited.latents, run(body(half, "a red house")).latents));

  const ran by_fraction = run(body(half, "[a red house:a blue door:1.5]"));
  const ran by_step = run(body(half, "[a red house:a blue door:5]"));
  BOOST_TEST(at::equal(by_fraction.latents, by_step.latents));
  BOOST_TEST(!at::equal(by_fraction.latents, edited.latents));
}

// Option use_old_scheduling: `when` ≥ 1 is a step number even with a decimal point (2.0 is step 2,
// where the new scheduling reads a fraction of 200 % and never switches), noted in the infotext.
BOOST_AUTO_TEST_CASE(old_scheduling_reads_when_as_before_and_is_noted) {
  const auto body = [](const std::string& prompt) {
    return R"({"prompt": ")" + prompt + R"(", "seed": 9, "sampler_name": "Euler", "steps": 4, "width": 64, "height": 64})";
  };
  sdw::options old;
  sdw::apply_override(old, "use_old_scheduling", sdw::json_value(true));
  const ran with_old = run(body("[a red house:a blue door:2.0]"), old);
  BOOST_TEST(at::equal(with_old.latents, run(body("[a red house:a blue door:2]")).latents));
  BOOST_TEST(at::equal(run(body("[a red house:a blue door:2.0]")).latents, run(body("a red house")).latents));
  BOOST_TEST(with_old.result.images[0].infotext.find(", Old prompt editing timelines: True, ") != std::string::npos,
             with_old.result.images[0].infotext);
  // Where both timelines agree nothing is noted.
  const ran same = run(body("[a red house:a blue door:2]"), old);
  BOOST_TEST(same.result.images[0].infotext.find("Old prompt editing") == std::string::npos);
}
