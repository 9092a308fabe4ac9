#define BOOST_TEST_MODULE sdxl_generation
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/npy.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/engine/make_embedding.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/model_detect.hpp"
#include "runtime/engine/prompt_chunks.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/sdxl_conditioning.hpp"
#include "runtime/engine/text_encoder.hpp"
#include "runtime/engine/hires_fix.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/engine/txt2img_plan.hpp"
#include "runtime/engine/unet.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/sdxl_tiny.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>


// SDXL base as a job runs it: the tiny preset loaded for generation, whole txt2img jobs against
// tests/reference/sdxl_reference.py, the hires pass's size conditioning and the crop options.

namespace {

using sdw::test::json_list;

sdw::test::sdxl_tiny_model& model() { return sdw::test::sdxl_tiny(); }

} // namespace

namespace {

// One text's chunks and multipliers as the reference reads them ({"texts": [[...]], "multipliers": [[...]]}).
std::string chunks_json(const sdw::clip_tokenizer& tokenizer, const std::string& text) {
  std::string tokens = "[[", mults = "[[";
  const auto chunks = sdw::tokenize_prompt(text, tokenizer);
  for (size_t i = 0; i < chunks.size(); ++i) {
    tokens += (i ? "," : "") + json_list(chunks[i].tokens);
    mults += (i ? "," : "") + json_list(chunks[i].multipliers);
  }
  return R"({"texts": )" + tokens + R"(]], "multipliers": )" + mults + "]]}";
}

std::shared_ptr<sdw::sd_model> loaded_model() {
  static auto m = sdw::sd_model::load(model().path, {"cpu", "f32"});
  return m;
}

at::Tensor run_latents(const std::string& body) {
  sdw::options opts;
  opts.randn_source = "CPU";
  return sdw::test::run_job_on(*loaded_model(), model().tokenizer, body, opts).latents;
}

struct latent_case {
  std::string name, sampler, negative;
};

} // namespace

BOOST_AUTO_TEST_CASE(an_sdxl_checkpoint_loads_for_generation_with_both_text_encoders) {
  auto m = loaded_model();
  BOOST_REQUIRE(m->text2() != nullptr);
  BOOST_TEST(!m->text().config().open_clip);
  BOOST_TEST(m->text2()->config().open_clip);
  BOOST_TEST(m->config().vae.scale_factor == 0.13025);
}

// Whole txt2img jobs (3 steps, 64x96) against the reference: both encoders, the y vector of the
// job's size, CFG over [cond, uncond] with crossattn and y stacked alike, Euler and DPM++ 2M; an
// empty negative prompt conditions on zero crossattn and zero pooled text.
BOOST_AUTO_TEST_CASE(txt2img_latents_match_the_reference) {
  const latent_case cases[] = {
      {"euler", "Euler", "fog"}, {"dpmpp_2m", "DPM++ 2M", "fog"}, {"euler_empty_negative", "Euler", ""}};
  auto& m = model();
  sdw::test::temp_dir work;
  const std::string yaml = work.file("sdxl-tiny.yaml");
  sdw::write_model_config_yaml(m.config, yaml);
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/sdxl_reference.py";
  const std::string prompt = "a (red:1.2) lighthouse, stormy sea";
  std::map<std::string, at::Tensor> ours_of;
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      const auto ours = run_latents(R"({"prompt": ")" + prompt + R"(", "negative_prompt": ")" + c.negative +
                                    R"(", "seed": 77, "sampler_name": ")" + c.sampler +
                                    R"(", "steps": 3, "width": 64, "height": 96, "cfg_scale": 6})");
      BOOST_TEST(ours.sizes() == (std::vector<int64_t>{1, 4, 12, 8}));
      ours_of[c.name] = ours;
      const std::string out = work.file(c.name + ".bin"), json = work.file(c.name + ".json");
      std::ofstream(json) << R"({"cond": )" << chunks_json(m.tokenizer, prompt) << R"(, "uncond": )"
                          << chunks_json(m.tokenizer, c.negative).insert(1, std::string(R"("negative_empty": )") +
                                                                                (c.negative.empty() ? "true" : "false") + ", ")
                          << R"(, "width": 64, "height": 96, "crop_top": 0, "crop_left": 0, "steps": 3, "sampler": ")"
                          << c.sampler << R"(", "cfg_scale": 6, "seed": 77, "out": ")" << out << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' txt2img '" + m.path + "' '" +
                                              yaml + "' '" + json + "'");
      BOOST_REQUIRE_MESSAGE(rc == 0, "sdxl_reference.py failed:\n" << log);
      const double rel = sdw::test::relative_difference_to_file(ours, out);
      BOOST_TEST_MESSAGE(c.name << ": max relative difference " << rel);
      BOOST_TEST(rel <= 1e-4);
    }
  }
  // The zeroed negative conditioning changes the image.
  BOOST_TEST(!at::allclose(ours_of["euler"], ours_of["euler_empty_negative"]));
}

// A1111's calculate_hr_conds builds the hires pass's conditioning with hr_upscale_to_x/y.
BOOST_AUTO_TEST_CASE(the_hires_pass_conditions_on_the_target_size) {
  const auto req = sdw::txt2img_request_from_json(sdw::parse_json(
      R"({"prompt": "a lighthouse", "seed": 3, "steps": 2, "width": 64, "height": 96, "enable_hr": true,
          "hr_scale": 1.5, "denoising_strength": 0.5})"));
  sdw::options opts;
  const auto plan = sdw::make_txt2img_plan(*loaded_model(), req, opts);
  BOOST_TEST(plan.sdxl_size.width == 64);
  BOOST_TEST(plan.sdxl_size.height == 96);
  BOOST_REQUIRE(plan.hires);
  BOOST_TEST(plan.hires->pass.sdxl_size.width == 96);
  BOOST_TEST(plan.hires->pass.sdxl_size.height == 144);
  const auto first = sdw::encode_plan_batch(*loaded_model(), model().tokenizer, plan, 0);
  const auto second = sdw::encode_plan_batch(*loaded_model(), model().tokenizer, plan.hires->pass, 0);
  const auto y1 = sdw::vector_batch_at(first.unconds, 0), y2 = sdw::vector_batch_at(second.unconds, 0);
  BOOST_REQUIRE(y1.defined());
  BOOST_TEST(y1.sizes() == (std::vector<int64_t>{1, 1600}));
  const auto sizes = sdw::sdxl_vector(at::zeros({1, 64}), {144, 96, 0, 0}, at::kFloat);
  BOOST_TEST(at::allclose(y2.narrow(1, 64, 1536), sizes.narrow(1, 64, 1536)));
  BOOST_TEST(!at::allclose(y1.narrow(1, 64, 1536), sizes.narrow(1, 64, 1536)));
}

// The crop coordinates SDXL is conditioned on are A1111's sdxl_crop_top / sdxl_crop_left
// options, from the stored options or a request's override_settings.
BOOST_AUTO_TEST_CASE(the_crop_options_set_the_crop_conditioning) {
  const auto req = sdw::txt2img_request_from_json(sdw::parse_json(
      R"({"prompt": "a lighthouse", "seed": 3, "steps": 2, "width": 64, "height": 96,
          "override_settings": {"sdxl_crop_top": 16, "sdxl_crop_left": 8}})"));
  sdw::options opts;
  sdw::apply_overrides(opts, *req.override_settings);
  const auto plan = sdw::make_txt2img_plan(*loaded_model(), req, opts);
  BOOST_TEST(plan.sdxl_size.crop_top == 16);
  BOOST_TEST(plan.sdxl_size.crop_left == 8);
  const auto y = sdw::vector_batch_at(sdw::encode_plan_batch(*loaded_model(), model().tokenizer, plan, 0).unconds, 0);
  BOOST_REQUIRE(y.defined());
  const auto cropped = sdw::sdxl_vector(at::zeros({1, 64}), {96, 64, 16, 8}, at::kFloat);
  const auto uncropped = sdw::sdxl_vector(at::zeros({1, 64}), {96, 64, 0, 0}, at::kFloat);
  BOOST_TEST(at::allclose(y.narrow(1, 64, 1536), cropped.narrow(1, 64, 1536)));
  BOOST_TEST(!at::allclose(y.narrow(1, 64, 1536), uncropped.narrow(1, 64, 1536)));
  try {
    sdw::apply_override(opts, "sdxl_crop_top", sdw::parse_json("-1"));
    BOOST_ERROR("a negative crop was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(std::string(e.what()).find("sdxl_crop_top") != std::string::npos, e.what());
  }
}
