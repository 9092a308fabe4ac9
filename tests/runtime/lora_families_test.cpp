#define BOOST_TEST_MODULE lora_families
#include <boost/test/unit_test.hpp>

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/lora_keys.hpp"
#include "runtime/engine/lora_library.hpp"
#include "runtime/engine/make_lora.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd_model.hpp"
#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>

#include <cstdlib>
#include <filesystem>
#include <map>

// LoRAs on SD2 and SDXL checkpoints (the sd2-tiny and sdxl-tiny presets, f32 on the CPU): kohya's
// names for their UNets and their text encoders (SD2's OpenCLIP under lora_te_, SDXL's two as
// lora_te1_ / lora_te2_) reach the layers A1111 patches, OpenCLIP's attention takes q/k/v as
// thirds of in_proj_weight, and the images equal those of the checkpoint the independent
// PyTorch merge (tests/reference/lora_reference.py) writes.

namespace {

namespace fs = std::filesystem;

struct family {
  explicit family(sdw::model_preset preset) : preset(preset) {
    path = dir.file(std::string(sdw::to_string(preset)) + ".safetensors");
    sdw::make_model(preset, sdw::st_dtype::f32, 21, path);
    model = sdw::sd_model::load(path, {"cpu", "f32"});
    fs::create_directories(dir.file("Lora"));
    sdw::make_lora(preset, sdw::lora_kind::lora, 4, sdw::st_dtype::f16, 1, lora_file("style"));
    sdw::make_lora(preset, sdw::lora_kind::locon, 2, sdw::st_dtype::f32, 2, lora_file("conv"));
    sdw::make_lora(preset, sdw::lora_kind::loha, 3, sdw::st_dtype::f32, 3, lora_file("hada"));
    library = std::make_unique<sdw::lora_library>(dir.file("Lora"));
  }
  std::string lora_file(const std::string& name) const { return dir.file("Lora/" + name + ".safetensors"); }

  sdw::model_preset preset;
  sdw::test::temp_dir dir;
  std::string path;
  std::shared_ptr<sdw::sd_model> model;
  std::unique_ptr<sdw::lora_library> library;
};

family& sdxl() {
  static family f(sdw::model_preset::sdxl_tiny);
  return f;
}

family& sd2() {
  static family f(sdw::model_preset::sd2_tiny);
  return f;
}

const sdw::clip_tokenizer& tokenizer() {
  static const auto t = sdw::clip_tokenizer::from_file(sdw::test::clip_vocab());
  return t;
}

at::Tensor latent(family& f, const std::string& prompt, const sdw::sd_model* model = nullptr) {
  const auto req = sdw::parse_txt2img_request(
      R"({"prompt": ")" + prompt + R"(", "negative_prompt": "blurry", "seed": 9, "steps": 3, "width": 64,
          "height": 64, "sampler_name": "Euler", "cfg_scale": 6})");
  sdw::options opts;
  opts.randn_source = "CPU";
  at::Tensor out;
  sdw::txt2img_hooks hooks;
  hooks.on_latent = [&](const std::vector<float>& v, const std::vector<int64_t>& shape) { out = at::tensor(v).reshape(shape); };
  sdw::run_txt2img(model ? *model : *f.model, tokenizer(), req, opts, hooks, f.library.get());
  return out;
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

/// The engine's result for `<lora:file:te:unet>` against the reference's merge of the file.
void check_against_reference(family& f, const std::string& file, double te, double unet) {
  const std::string merged = f.dir.file("merged_" + file + ".safetensors");
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/lora_reference.py";
  const auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' '" + f.path + "' '" + merged +
                                                "' '" + f.lora_file(file) + "' " + std::to_string(te) + " " +
                                                std::to_string(unet));
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST_REQUIRE(rc == 0);
  const auto reference_model = sdw::sd_model::load(merged, {"cpu", "f32"});
  BOOST_TEST_REQUIRE((reference_model->config() == f.model->config()));
  const std::string tag = "<lora:" + file + ":te=" + std::to_string(te) + ":unet=" + std::to_string(unet) + ">";
  const at::Tensor ours = latent(f, "a lighthouse at dusk " + tag);
  const at::Tensor reference = latent(f, "a lighthouse at dusk ", reference_model.get());
  const at::Tensor plain = latent(f, "a lighthouse at dusk ");
  BOOST_TEST_MESSAGE(sdw::to_string(f.preset) << " " << file << ": relative difference to the reference merge "
                                              << rel_diff(ours, reference) << ", the file's own effect "
                                              << rel_diff(plain, reference));
  BOOST_TEST(rel_diff(ours, reference) <= 1e-4);
  BOOST_TEST(rel_diff(plain, reference) > 1e-2);  // the file does change the image
}

/// How many of a file's modules match a layer whose name starts with `prefix`.
size_t modules_on(family& f, const std::string& file, const std::string& prefix) {
  size_t n = 0;
  for (const auto& m : f.library->network(f.lora_file(file), f.model->config())->modules) {
    n += m.layer.rfind(prefix, 0) == 0 ? 1 : 0;
  }
  return n;
}

} // namespace

BOOST_AUTO_TEST_CASE(kohya_sdxl_and_sd2_names_reach_the_layers_a1111_names) {
  const auto xl = sdw::lora_layers(sdxl().model->config());
  const auto find = [&](const std::string& prefix) { return sdw::find_lora_layer(prefix, xl).value_or("(none)"); };
  // SDXL's UNet names are CompVis names already; its encoders are lora_te1 and lora_te2.
  BOOST_TEST(find("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q") ==
             "diffusion_model_input_blocks_4_1_transformer_blocks_0_attn1_to_q");
  BOOST_TEST(find("lora_te1_text_model_encoder_layers_0_self_attn_q_proj") ==
             "0_transformer_text_model_encoder_layers_0_self_attn_q_proj");
  BOOST_TEST(find("lora_te2_text_model_encoder_layers_1_self_attn_v_proj") == "1_model_transformer_resblocks_1_attn_v_proj");
  BOOST_TEST(find("lora_te2_text_model_encoder_layers_1_mlp_fc1") == "1_model_transformer_resblocks_1_mlp_c_fc");
  BOOST_TEST(find("lora_te2_text_model_encoder_layers_1_mlp_fc2") == "1_model_transformer_resblocks_1_mlp_c_proj");
  BOOST_TEST(find("lora_te2_text_model_encoder_layers_1_self_attn_out_proj") == "1_model_transformer_resblocks_1_attn_out_proj");
  // SD1's text-encoder names have no SDXL layer.
  BOOST_TEST(find("lora_te_text_model_encoder_layers_0_self_attn_q_proj") == "(none)");
  const auto& v = xl.at("1_model_transformer_resblocks_1_attn_v_proj");
  const auto& q = xl.at("1_model_transformer_resblocks_1_attn_q_proj");
  BOOST_TEST(v.weight_key == "conditioner.embedders.1.model.transformer.resblocks.1.attn.in_proj_weight");
  BOOST_TEST(v.row_begin == 2 * v.rows);
  BOOST_TEST(q.row_begin == 0);
  BOOST_TEST(v.attention == "1_model_transformer_resblocks_1_attn");
  BOOST_TEST(xl.at("1_model_transformer_resblocks_1_attn_out_proj").attention == v.attention);
  // SD2: lora_te_ names are OpenCLIP's (A1111 tells SD2 by its resblocks).
  const auto two = sdw::lora_layers(sd2().model->config());
  BOOST_TEST(sdw::find_lora_layer("lora_te_text_model_encoder_layers_0_self_attn_k_proj", two).value_or("(none)") ==
             "model_transformer_resblocks_0_attn_k_proj");
  BOOST_TEST(sdw::find_lora_layer("lora_te_text_model_encoder_layers_0_mlp_fc2", two).value_or("(none)") ==
             "model_transformer_resblocks_0_mlp_c_proj");
}

BOOST_AUTO_TEST_CASE(made_files_cover_the_unet_and_both_sdxl_encoders) {
  BOOST_TEST(modules_on(sdxl(), "style", "diffusion_model_") > 0u);
  BOOST_TEST(modules_on(sdxl(), "style", "0_transformer_text_model_") > 0u);
  BOOST_TEST(modules_on(sdxl(), "style", "1_model_transformer_resblocks_") > 0u);
  BOOST_TEST(sdxl().library->network(sdxl().lora_file("style"), sdxl().model->config())->unmatched == 0u);
  BOOST_TEST(modules_on(sd2(), "style", "model_transformer_resblocks_") > 0u);
  BOOST_TEST(sd2().library->network(sd2().lora_file("style"), sd2().model->config())->unmatched == 0u);
}

BOOST_AUTO_TEST_CASE(sdxl_lora_merge_equals_an_independent_pytorch_merge) { check_against_reference(sdxl(), "style", 0.8, 0.7); }

BOOST_AUTO_TEST_CASE(sdxl_locon_merge_equals_an_independent_pytorch_merge) { check_against_reference(sdxl(), "conv", 1.0, 0.6); }

BOOST_AUTO_TEST_CASE(sdxl_loha_merge_equals_an_independent_pytorch_merge) { check_against_reference(sdxl(), "hada", 0.9, 0.9); }

BOOST_AUTO_TEST_CASE(sd2_lora_merge_equals_an_independent_pytorch_merge) { check_against_reference(sd2(), "style", 0.8, 0.7); }

BOOST_AUTO_TEST_CASE(a_text_only_sdxl_lora_changes_the_image_through_both_encoders) {
  auto& f = sdxl();
  const at::Tensor plain = latent(f, "a lighthouse at dusk");
  BOOST_TEST(rel_diff(latent(f, "a lighthouse at dusk <lora:style:0>"), plain) == 0.0);
  BOOST_TEST(rel_diff(latent(f, "a lighthouse at dusk <lora:style:te=1:unet=0>"), plain) > 1e-3);
}

// A1111 changes OpenCLIP's attention only when a file has its q, k, v and out_proj modules: a
// file without the out_proj ones leaves SDXL's second encoder's attention alone.
BOOST_AUTO_TEST_CASE(openclip_attention_without_all_four_parts_is_left_alone) {
  auto& f = sdxl();
  const auto file = sdw::safetensors_file::open(f.lora_file("style"));
  std::vector<sdw::st_write_entry> attention_only, without_out;
  for (const auto& t : file->tensors()) {
    if (t.name.rfind("lora_te2_", 0) != 0 || t.name.find("_self_attn_") == std::string::npos) continue;
    sdw::st_write_entry e{t.name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.data), t.nbytes)};
    attention_only.push_back(e);
    if (t.name.find("_out_proj") == std::string::npos) without_out.push_back(e);
  }
  BOOST_TEST_REQUIRE(without_out.size() < attention_only.size());
  sdw::write_safetensors(f.lora_file("te2_attention"), attention_only, {});
  sdw::write_safetensors(f.lora_file("te2_no_out"), without_out, {});
  const at::Tensor plain = latent(f, "a lighthouse at dusk");
  BOOST_TEST(rel_diff(latent(f, "a lighthouse at dusk <lora:te2_attention:1>"), plain) > 1e-3);
  BOOST_TEST(rel_diff(latent(f, "a lighthouse at dusk <lora:te2_no_out:1>"), plain) == 0.0);
}
