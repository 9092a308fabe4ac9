#define BOOST_TEST_MODULE sd2
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/base/npy.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/job_runs.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace {

// The SD2 tiny preset, eps (no yaml: detected, A1111's v test says eps) and v (yaml beside it).
struct sd2_models {
  sd2_models() {
    sdw::make_model(sdw::model_preset::sd2_tiny, sdw::st_dtype::f32, 7, eps_path);
    sdw::make_model(sdw::model_preset::sd2_tiny, sdw::st_dtype::f32, 7, v_path, false, true);
    eps = sdw::sd_model::load(eps_path, {"cpu", "f32"});
    v = sdw::sd_model::load(v_path, {"cpu", "f32"});
  }
  sdw::test::temp_dir dir;
  std::string eps_path = dir.file("sd2-eps.safetensors"), v_path = dir.file("sd2-v.safetensors");
  std::shared_ptr<sdw::sd_model> eps, v;
  sdw::clip_tokenizer tokenizer = sdw::clip_tokenizer::from_file(sdw::test::clip_vocab());
};

sd2_models& models() {
  static sd2_models m;
  return m;
}

void save(const std::string& path, const at::Tensor& t) {
  auto c = t.to(at::kFloat).contiguous();
  sdw::write_npy_f32(path, std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), c.sizes().vec());
}

std::string reference_script() {
  return std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/sd2_reference.py";
}

// 77 ids as A1111's chunker makes them before SD2's process_tokens: start, words, end padding.
std::vector<int64_t> chunk_ids(const sdw::clip_tokenizer& tok, const std::string& prompt) {
  std::vector<int64_t> ids{sdw::clip_tokenizer::start_id()};
  for (int id : tok.encode(prompt)) ids.push_back(id);
  ids.resize(77, sdw::clip_tokenizer::end_id());
  return ids;
}

std::string json_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// A copy of `from` with every element of `key` set to `value` (float32 tensors).
void copy_with(const std::string& from, const std::string& to, const std::string& key, float value) {
  auto f = sdw::safetensors_file::open(from);
  std::vector<sdw::st_write_entry> entries;
  for (const auto& t : f->tensors()) {
    std::string bytes(reinterpret_cast<const char*>(t.data), t.nbytes);
    if (t.name == key) {
      for (size_t i = 0; i < bytes.size(); i += 4) std::memcpy(&bytes[i], &value, 4);
    }
    entries.push_back({t.name, t.dtype, t.shape, std::move(bytes)});
  }
  sdw::write_safetensors(to, entries, {});
}

void expect_refused(const std::string& path, const std::string& text) {
  try {
    sdw::sd_model::load(path, {"cpu", "f32"});
    BOOST_ERROR("loaded " << path << ", expected an error containing: " << text);
  } catch (const sdw::error& e) {
    BOOST_TEST(std::string(e.what()).find(text) != std::string::npos, e.what() << " should contain: " << text);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(sd2_is_detected_from_its_keys_and_v_from_the_yaml) {
  const auto& c = models().eps->config();
  BOOST_TEST(sdw::is_sd2(c));
  BOOST_TEST(c.source == "detected from tensor shapes");
  BOOST_TEST(c.text.layers == 3);
  BOOST_TEST(c.text.width == 128);
  BOOST_TEST(c.text.heads == 2);
  BOOST_TEST(c.text.open_clip_layer_idx == 1);
  BOOST_TEST(c.unet.num_head_channels == 64);
  BOOST_TEST(c.unet.use_linear_in_transformer);
  BOOST_TEST(c.unet.context_dim == 128);
  BOOST_TEST(c.test_for_v_prediction);
  BOOST_TEST((models().eps->parameterization() == sdw::prediction::eps));
  sdw::model_config preset = sdw::preset_config(sdw::model_preset::sd2_tiny);
  preset.test_for_v_prediction = true;  // no yaml: A1111's test decided
  BOOST_TEST((preset == c));

  const auto& v = models().v->config();
  BOOST_TEST(v.source == sdw::config_path_for(models().v_path));
  BOOST_TEST(!v.test_for_v_prediction);
  BOOST_TEST((models().v->parameterization() == sdw::prediction::v));
  BOOST_TEST(sdw::is_sd2(v));
}

// The full-size preset has SD2.x's parameter counts: the UNet's 865,910,724, and OpenCLIP ViT-H's
// 24-layer text tower (Hugging Face's 23-layer conversion has 340,387,840; one more layer is
// 12,596,224).
BOOST_AUTO_TEST_CASE(the_sd2_preset_has_sd2s_parameter_counts) {
  int64_t unet = 0, text = 0;
  for (const auto& spec : sdw::sd1_checkpoint_layout(sdw::preset_config(sdw::model_preset::sd2))) {
    int64_t n = 1;
    for (auto d : spec.shape) n *= d;
    if (spec.name.rfind(std::string(sdw::sd1_unet_prefix), 0) == 0) unet += n;
    if (spec.name.rfind(std::string(sdw::sd2_text_prefix), 0) == 0) text += n;
  }
  BOOST_TEST(unet == 865910724);
  BOOST_TEST(text == 340387840 + 12596224);
}

// A1111's is_using_v_parameterization_for_sd2: a UNet whose output at t = 999 on inputs of 0.5 is
// below the input by more than 1 on average is a v model. A final conv bias of −3 makes it so.
BOOST_AUTO_TEST_CASE(without_a_yaml_a1111s_test_run_decides_v) {
  const std::string path = models().dir.file("sd2-probe.safetensors");
  copy_with(models().eps_path, path, "model.diffusion_model.out.2.bias", -3.0f);
  auto m = sdw::sd_model::load(path, {"cpu", "f32"});
  BOOST_TEST((m->parameterization() == sdw::prediction::v));
  copy_with(models().eps_path, path, "model.diffusion_model.out.2.bias", 0.0f);
  m = sdw::sd_model::load(path, {"cpu", "f32"});
  BOOST_TEST((m->parameterization() == sdw::prediction::eps));
}

BOOST_AUTO_TEST_CASE(networks_match_an_independent_pytorch_implementation) {
  auto& m = models();
  c10::InferenceMode guard;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  auto a = chunk_ids(m.tokenizer, "a lighthouse on a cliff, stormy sea");
  auto b = chunk_ids(m.tokenizer, "fog");
  a.insert(a.end(), b.begin(), b.end());
  auto tokens = at::tensor(a, at::kLong).view({2, 77});
  auto text = m.eps->text().encode(tokens, 1);
  BOOST_TEST(text.sizes() == (std::vector<int64_t>{2, 77, 128}));
  auto x = at::randn({2, 4, 8, 8}, gen);
  auto t = at::tensor({3.5f, 871.0f});
  auto ctx = at::randn({2, 77, 128}, gen);
  auto out = m.eps->unet().forward(x, t, ctx);

  sdw::test::temp_dir work;
  save(work.file("tokens.npy"), tokens);
  save(work.file("text.npy"), text);
  save(work.file("x.npy"), x);
  save(work.file("t.npy"), t);
  save(work.file("ctx.npy"), ctx);
  save(work.file("out.npy"), out);
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + reference_script() + "' networks '" +
                                          m.eps_path + "' '" + work.path + "' 1");
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST(rc == 0, "reference comparison failed:\n" << log);
}

// A1111 1.9.4 pads SD2 prompts with token 0 after the first end token and does not apply
// CLIP_stop_at_last_layers to the OpenCLIP embedder.
BOOST_AUTO_TEST_CASE(padding_becomes_token_0_and_clip_skip_is_ignored) {
  auto& m = models();
  c10::InferenceMode guard;
  auto ids = chunk_ids(m.tokenizer, "a cat");
  auto end_padded = at::tensor(ids, at::kLong).view({1, 77});
  for (size_t i = 4; i < ids.size(); ++i) ids[i] = 0;  // start, "a", "cat", end, then 0s
  auto zero_padded = at::tensor(ids, at::kLong).view({1, 77});
  auto a = m.eps->text().encode(end_padded, 1);
  BOOST_TEST(at::equal(a, m.eps->text().encode(zero_padded, 1)));
  BOOST_TEST(at::equal(a, m.eps->text().encode(end_padded, 2)));
}

namespace {

struct latent_case {
  std::string name, sampler;
  bool v;
};

at::Tensor run_latents(const sdw::sd_model& model, const std::string& sampler) {
  const std::string body = R"({"prompt": "a red house", "negative_prompt": "fog", "seed": 77, "sampler_name": ")" +
                           sampler + R"(", "steps": 3, "width": 64, "height": 64, "cfg_scale": 6})";
  sdw::options opts;
  opts.randn_source = "CPU";
  return sdw::test::run_job_on(model, models().tokenizer, body, opts).latents;
}

} // namespace

// Whole txt2img jobs against the reference: prompt and negative through the OpenCLIP encoder, CFG
// over k-diffusion's CompVisDenoiser / CompVisVDenoiser (Euler, Euler a) and A1111's timestep
// denoisers (DDIM), three steps each.
BOOST_AUTO_TEST_CASE(txt2img_latents_match_the_reference_for_eps_and_v) {
  const latent_case cases[] = {
    {"eps_euler", "Euler", false}, {"eps_ddim", "DDIM", false}, {"v_euler", "Euler", true},
    {"v_euler_a", "Euler a", true}, {"v_ddim", "DDIM", true},
  };
  auto& m = models();
  at::Tensor eps_euler, v_euler;
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      const auto ours = run_latents(c.v ? *m.v : *m.eps, c.sampler);
      if (c.name == "eps_euler") eps_euler = ours;
      if (c.name == "v_euler") v_euler = ours;
      const std::string out = m.dir.file(c.name + ".bin"), json = m.dir.file(c.name + ".json");
      std::ofstream(json) << R"({"checkpoint": ")" << (c.v ? m.v_path : m.eps_path) << R"(", "layer_idx": 1, "v": )"
                          << (c.v ? "true" : "false") << R"(, "width": 64, "height": 64, "steps": 3, "sampler": ")"
                          << c.sampler << R"(", "cfg_scale": 6, "seed": 77, "cond_tokens": )"
                          << json_list(chunk_ids(m.tokenizer, "a red house")) << R"(, "uncond_tokens": )"
                          << json_list(chunk_ids(m.tokenizer, "fog")) << R"(, "out": ")" << out << R"("})";
      auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + reference_script() + "' txt2img '" + json + "'");
      BOOST_REQUIRE_MESSAGE(rc == 0, "sd2_reference.py failed:\n" << log);
      const double rel = sdw::test::relative_difference_to_file(ours, out);
      BOOST_TEST_MESSAGE(c.name << ": max relative difference " << rel);
      BOOST_TEST(rel <= 1e-4);
    }
  }
  // The same weights read as eps and as v give different images: the denoiser follows the model.
  BOOST_TEST(!at::allclose(eps_euler, v_euler));
}

BOOST_AUTO_TEST_CASE(other_architectures_are_refused_naming_what_was_found) {
  sdw::test::temp_dir tmp;
  const std::string conv = "model.diffusion_model.input_blocks.0.0.weight";
  const sdw::st_write_entry unet_in{conv, sdw::st_dtype::f16, {64, 4, 3, 3}, std::string(2 * 64 * 4 * 9, '\0')};
  auto file = [&](const std::string& name, const std::string& key, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    sdw::write_safetensors(tmp.file(name), {unet_in, {key, sdw::st_dtype::f16, shape, std::string(2 * n, '\0')}}, {});
    return tmp.file(name);
  };
  expect_refused(file("sd3.safetensors", "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", {2}),
                 "SD3 checkpoint (MMDiT) (tensor 'model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight') is not "
                 "supported yet; only SD1.x, SD2.x and SDXL base checkpoints are");
  expect_refused(file("flux.safetensors", "double_blocks.0.img_attn.qkv.weight", {2}),
                 "Flux checkpoint (tensor 'double_blocks.0.img_attn.qkv.weight')");
  expect_refused(file("xl.safetensors", "conditioner.embedders.1.model.ln_final.weight", {2}),
                 "SDXL checkpoint (tensor 'conditioner.embedders.1.model.ln_final.weight')");
  const std::string in_proj = "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight";
  expect_refused(file("odd.safetensors", in_proj, {5, 4}),
                 "tensor '" + in_proj + "' has shape [5, 4]: not an OpenCLIP text encoder's fused attention projection");
  // An SD2 text encoder beside an SD1 yaml: the missing tensor is named.
  std::filesystem::copy_file(models().eps_path, tmp.file("mixed.safetensors"));
  sdw::write_model_config_yaml(sdw::preset_config(sdw::model_preset::tiny), tmp.file("mixed.yaml"));
  expect_refused(tmp.file("mixed.safetensors"), "cond_stage_model.transformer.text_model.");
}
