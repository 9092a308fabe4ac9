#define BOOST_TEST_MODULE token_merging
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img_batch.hpp"
#include "runtime/formats/options.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_pictures.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <fstream>

// A1111's token merging (options token_merging_ratio, _img2img, _hr: tomesd at full resolution)
// against tests/reference/token_merge_reference.py, which runs tomesd's own merge in the independent
// networks of sd1_reference.py.

namespace {

/// The tiny architecture with attention at full latent resolution too, where tomesd merges (the
/// tiny preset has none there, as SDXL has none).
const sdw::sd_model& full_resolution_attention() {
  static const std::shared_ptr<const sdw::sd_model> model = [] {
    auto config = sdw::preset_config(sdw::model_preset::tiny);
    config.unet.attention_resolutions = {1, 2};
    const std::string path = sdw::test::shared_tiny_engine().dir.file("tome.safetensors");
    sdw::make_model(config, sdw::st_dtype::f32, 31, path);
    return sdw::sd_model::load(path, {"cpu", "f32"});
  }();
  return *model;
}

void write_f32(const std::string& path, const at::Tensor& t) {
  const auto c = t.to(at::kFloat).contiguous();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(c.data_ptr<float>()),
                                               static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

std::string tensor_json(const std::string& path, const at::Tensor& t) {
  write_f32(path, t);
  std::string shape;
  for (auto d : t.sizes()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  return R"({"path": ")" + path + R"(", "shape": [)" + shape + "]}";
}

/// Runs the reference on a case; fails the test with its log when it fails.
void run_reference(const std::string& case_path) {
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/token_merge_reference.py";
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' " + case_path);
  BOOST_REQUIRE_MESSAGE(rc == 0, "token_merge_reference.py failed:\n" << log);
}

/// A job as the worker runs it: the options resolved with the body's override_settings.
sdw::test::job_run run(const std::string& body, const sdw::sd_model& model) {
  const auto req = sdw::txt2img_request_from_json(sdw::parse_json(body));
  return sdw::test::run_job(body, sdw::resolve_options({}, req.override_settings), &model);
}

std::string infotext_of(const std::string& body, const sdw::sd_model* model = nullptr) {
  return run(body, model ? *model : *sdw::test::shared_tiny_engine().model).result.images.at(0).infotext;
}

} // namespace

// The UNet alone, for even and odd latent sizes (tomesd's destinations then leave the last row or
// column out) and two ratios: within 1e-4 of the reference, and far from the unmerged output.
BOOST_AUTO_TEST_CASE(the_merged_unet_matches_tomesd) {
  auto& e = sdw::test::shared_tiny_engine();
  const sdw::sd_model& model = full_resolution_attention();
  c10::InferenceMode guard;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  struct call {
    std::vector<int64_t> shape;
    double ratio;
  };
  for (const call& c : {call{{2, 4, 8, 8}, 0.5}, call{{1, 4, 9, 7}, 0.3}, call{{2, 4, 6, 10}, 0.9}}) {
    BOOST_TEST_CONTEXT("latents " << c.shape[2] << "x" << c.shape[3] << " at ratio " << c.ratio) {
      const auto x = at::randn(c.shape, gen);
      const auto t = at::full({c.shape[0]}, 420.5f);
      const auto ctx = at::randn({c.shape[0], 77, model.config().unet.context_dim}, gen);
      const auto merged = model.unet().forward(x, t, ctx, at::Tensor(), c.ratio);
      const auto plain = model.unet().forward(x, t, ctx);
      const std::string stem = e.dir.file("tome-unet-" + std::to_string(c.shape[2]));
      std::ofstream(stem + ".json") << R"({"checkpoint": ")" << model.path() << R"(", "heads_unet": )"
                                    << model.config().unet.num_heads << R"(, "heads_text": 1, "ratio": )" << c.ratio
                                    << R"(, "unet": [{"x": )" << tensor_json(stem + "-x.bin", x) << R"(, "t": )"
                                    << tensor_json(stem + "-t.bin", t) << R"(, "ctx": )"
                                    << tensor_json(stem + "-ctx.bin", ctx) << R"(, "out": ")" << stem << R"(.bin"}]})";
      run_reference(stem + ".json");
      const double rel = sdw::test::relative_difference_to_file(merged, stem + ".bin");
      const double unmerged = sdw::test::relative_difference_to_file(plain, stem + ".bin");
      BOOST_TEST_MESSAGE("max relative difference " << rel << " (unmerged " << unmerged << ")");
      BOOST_TEST(rel <= 1e-4);
      BOOST_TEST(unmerged > 1e-3);
    }
  }
}

// A whole txt2img job with the option set, batch 2 with CFG (four rows, each merging on its own):
// the latents of the reference's k-diffusion run, and the ratio in the infotext.
BOOST_AUTO_TEST_CASE(a_txt2img_job_merges_as_a1111) {
  auto& e = sdw::test::shared_tiny_engine();
  const sdw::sd_model& model = full_resolution_attention();
  for (const std::string sampler : {"Euler a", "DPM++ 2M"}) {
    BOOST_TEST_CONTEXT(sampler) {
      const std::string common = R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 41, "steps": 4,
        "width": 64, "height": 64, "cfg_scale": 6, "batch_size": 2, "sampler_name": ")" + sampler + R"(",
        "override_settings": {"randn_source": "CPU")";
      const auto ours = run(common + R"(, "token_merging_ratio": 0.5}})", model);
      const auto plain = run(common + "}}", model);

      const std::string stem = e.dir.file("tome-job");
      std::ofstream(stem + ".json") << R"({"checkpoint": ")" << model.path() << R"(", "heads_unet": )"
                                    << model.config().unet.num_heads << R"(, "heads_text": )"
                                    << model.config().text.heads << R"(, "ratio": 0.5, "width": 64, "height": 64,
        "steps": 4, "sampler": ")" << sampler << R"(", "cfg_scale": 6, "seed": 41, "batch_size": 2, "cond_tokens": )"
                                    << e.tokens_json("a red house") << R"(, "uncond_tokens": )"
                                    << e.tokens_json("fog") << R"(, "out": ")" << stem << R"(.bin"})";
      run_reference(stem + ".json");
      const double rel = sdw::test::relative_difference_to_file(ours.latents, stem + ".bin");
      const double unmerged = sdw::test::relative_difference_to_file(plain.latents, stem + ".bin");
      BOOST_TEST_MESSAGE("max relative difference " << rel << " (unmerged " << unmerged << ")");
      BOOST_TEST(rel <= 1e-4);
      BOOST_TEST(unmerged > 1e-3);

      const std::string& info = ours.result.images.at(0).infotext;
      BOOST_TEST(info.find("Token merging ratio: 0.5, ") != std::string::npos, info);
      BOOST_TEST(info.find("Token merging ratio hr") == std::string::npos, info);
      BOOST_TEST(plain.result.images.at(0).infotext.find("Token merging") == std::string::npos);
    }
  }
}

// Which ratio each pass takes, as A1111's get_token_merging_ratio picks it, read from the infotext;
// on the tiny preset (no attention at full resolution) merging changes nothing else.
BOOST_AUTO_TEST_CASE(each_pass_takes_the_ratio_a1111_picks) {
  const std::string txt = R"({"prompt": "a red house", "seed": 3, "steps": 2, "width": 64, "height": 64)";
  const std::string hires = txt + R"(, "enable_hr": true, "hr_scale": 1.5, "denoising_strength": 0.5)";
  // txt2img: the general ratio; the hires ratio, when not 0, for the second pass only.
  BOOST_TEST(infotext_of(txt + R"(, "override_settings": {"token_merging_ratio_hr": 0.4}})").find("Token merging") ==
             std::string::npos);
  const std::string both =
    infotext_of(hires + R"(, "override_settings": {"token_merging_ratio": 0.2, "token_merging_ratio_hr": 0.4}})");
  BOOST_TEST(both.find("Token merging ratio: 0.2, Token merging ratio hr: 0.4") != std::string::npos, both);
  const std::string inherited = infotext_of(hires + R"(, "override_settings": {"token_merging_ratio": 0.3}})");
  BOOST_TEST(inherited.find("Token merging ratio: 0.3, Token merging ratio hr: 0.3") != std::string::npos, inherited);

  // img2img: its own ratio wins over a stored general one, not over one the request overrides.
  auto& e = sdw::test::shared_tiny_engine();
  const std::string init = sdw::test::write_init_png(e.dir.file("tome-init.png"), 64, 64, 5);
  const std::string img =
    R"({"prompt": "a red house", "seed": 3, "steps": 2, "width": 64, "height": 64, "init_images": [")" + init + R"("])";
  const auto img2img = [&](const sdw::json_object& stored, const std::string& overrides) {
    const std::string body = img + R"(, "override_settings": {)" + overrides + "}}";
    const auto req = sdw::txt2img_request_from_json(sdw::parse_json(body), sdw::request_kind::img2img);
    const auto opts = sdw::resolve_options(stored, req.override_settings);
    return sdw::run_txt2img(*e.model, e.tokenizer, req, opts, {}).images.at(0).infotext;
  };
  const sdw::json_object stored{{"token_merging_ratio", sdw::json_value(0.2)}};
  BOOST_TEST(img2img(stored, R"("token_merging_ratio_img2img": 0.6)").find("Token merging ratio: 0.6,") !=
             std::string::npos);
  BOOST_TEST(img2img({}, R"("token_merging_ratio": 0.2, "token_merging_ratio_img2img": 0.6)")
               .find("Token merging ratio: 0.2,") != std::string::npos);
  BOOST_TEST(img2img(stored, "").find("Token merging ratio: 0.2,") != std::string::npos);
}

// Ratios past A1111's sliders (0 to 0.9) are refused naming the option; different ratios never
// share a batch.
BOOST_AUTO_TEST_CASE(ratios_are_checked_and_split_batches) {
  for (const char* key : {"token_merging_ratio", "token_merging_ratio_img2img", "token_merging_ratio_hr"}) {
    for (double bad : {-0.1, 0.95}) {
      sdw::options opts;
      try {
        sdw::apply_override(opts, key, sdw::json_value(bad));
        BOOST_ERROR(key << " = " << bad << " was accepted");
      } catch (const sdw::error& err) {
        BOOST_TEST(err.where() == std::string("override_settings.") + key, err.what());
        BOOST_TEST(std::string(err.what()).find("from 0 to 0.9") != std::string::npos, err.what());
      }
    }
  }
  const auto req = sdw::txt2img_request_from_json(sdw::parse_json(R"({"prompt": "x", "steps": 2})"));
  sdw::options merged;
  merged.token_merging_ratio = 0.5;
  BOOST_TEST(*sdw::batch_key(req, merged) != *sdw::batch_key(req, sdw::options{}));
  sdw::options merged_hr;
  merged_hr.token_merging_ratio_hr = 0.5;
  auto hires = req;
  hires.enable_hr = true;
  hires.denoising_strength = 0.5;
  BOOST_TEST(*sdw::batch_key(hires, merged_hr) != *sdw::batch_key(hires, sdw::options{}));
}
