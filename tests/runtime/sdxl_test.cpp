#define BOOST_TEST_MODULE sdxl
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
#include "tests/support/sdxl_tiny.hpp"
#include "tests/support/tiny_engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>


namespace {

using sdw::test::json_list;

sdw::test::sdxl_tiny_model& model() { return sdw::test::sdxl_tiny(); }

void save(const std::string& path, const at::Tensor& t) { sdw::test::save_npy(path, t); }

int64_t count(const std::vector<sdw::tensor_spec>& layout, std::string_view prefix) {
  int64_t total = 0;
  for (const auto& spec : layout) {
    if (spec.name.rfind(std::string(prefix), 0) != 0) continue;
    int64_t n = 1;
    for (auto d : spec.shape) n *= d;
    total += n;
  }
  return total;
}

void expect_refused(const std::string& path, const std::string& text) {
  try {
    auto f = sdw::safetensors_file::open(path);
    sdw::load_model_config(path, *f);
    BOOST_ERROR("accepted " << path << ", expected an error containing: " << text);
  } catch (const sdw::error& e) {
    BOOST_TEST(std::string(e.what()).find(text) != std::string::npos, e.what() << " should contain: " << text);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(sdxl_tiny_is_detected_from_its_keys_and_shapes) {
  auto& m = model();
  BOOST_CHECK_NO_THROW(sdw::refuse_unsupported_architecture(*m.file));
  const auto& c = m.config;
  BOOST_TEST(sdw::is_sdxl(c));
  BOOST_TEST(!sdw::is_sd2(c));
  BOOST_TEST(std::string(sdw::model_family(c)) == "sdxl");
  BOOST_TEST(c.source == "detected from tensor shapes");
  BOOST_TEST(c.unet.adm_in_channels == 64 + 6 * 256);
  BOOST_TEST(c.unet.context_dim == 64 + 128);
  BOOST_TEST(c.unet.num_head_channels == 64);
  BOOST_TEST(c.unet.use_linear_in_transformer);
  BOOST_TEST(c.unet.num_res_blocks == 2);
  BOOST_TEST(c.unet.channel_mult == (std::vector<int>{1, 2, 2}));
  BOOST_TEST(c.unet.attention_resolutions == (std::vector<int>{4, 2}));
  BOOST_TEST(c.unet.transformer_depth_levels == (std::vector<int>{0, 1, 2}));
  BOOST_TEST(sdw::middle_transformer_depth(c.unet) == 2);
  BOOST_TEST(c.vae.scale_factor == 0.13025);
  BOOST_TEST(c.text.width == 64);
  BOOST_TEST(c.text.layers == 3);
  BOOST_TEST(!c.text.final_norm);
  BOOST_TEST(c.text.open_clip_layer_idx == 1);
  BOOST_TEST(c.text2->width == 128);
  BOOST_TEST(c.text2->heads == 2);
  BOOST_TEST(c.text2->projection_dim == 64);
  BOOST_TEST(c.text2->open_clip);
  BOOST_TEST(!c.test_for_v_prediction);
  BOOST_TEST((c == m.preset));
  BOOST_CHECK_NO_THROW(sdw::check_model_config(c, m.path));
  // Loading for generation takes it as it is detected.
  BOOST_TEST((sdw::load_model_config(m.path, *m.file) == m.preset));
}

// The file holds every key of SDXL base's layout with its shape, plus bigG's logit_scale and
// CLIP ViT-L's position ids; `sdworker make-model --preset sdxl-tiny` writes one too.
BOOST_AUTO_TEST_CASE(sdxl_tiny_has_sdxl_bases_key_layout) {
  auto& m = model();
  for (const auto& spec : sdw::sd1_checkpoint_layout(m.preset)) {
    const sdw::st_tensor* t = m.file->find(spec.name);
    BOOST_TEST_REQUIRE(t != nullptr, spec.name);
    BOOST_TEST(t->shape == spec.shape, spec.name);
  }
  BOOST_TEST(m.file->find("model.diffusion_model.label_emb.0.2.weight") != nullptr);
  BOOST_TEST(m.file->find("conditioner.embedders.1.model.text_projection")->shape == (std::vector<int64_t>{128, 64}));
  BOOST_TEST(m.file->find("conditioner.embedders.1.model.logit_scale") != nullptr);
  BOOST_TEST(m.file->find("conditioner.embedders.0.transformer.text_model.embeddings.position_ids") != nullptr);
  BOOST_TEST(m.file->metadata().at("sdworker_preset") == "sdxl-tiny");
  BOOST_TEST(!std::filesystem::exists(sdw::config_path_for(m.path)));

  sdw::test::temp_dir tmp;
  const std::string out = tmp.file("cli.safetensors");
  auto [rc, log] = sdw::test::run_command(std::string(std::getenv("SDW_BINARY")) +
                                          " make-model --preset sdxl-tiny --dtype f16 --seed 3 '" + out + "'");
  BOOST_TEST_REQUIRE(rc == 0, log);
  auto f = sdw::safetensors_file::open(out);
  BOOST_TEST((sdw::detect_model_config(*f) == m.preset));
}

// A config as sgm's sd_xl_base.yaml writes it (no sdworker extension) is the full-size preset, and
// what write_model_config_yaml writes reads back unchanged.
BOOST_AUTO_TEST_CASE(sgm_yaml_configs_read_and_round_trip) {
  sdw::test::temp_dir tmp;
  const std::string base = tmp.file("sd_xl_base.yaml");
  std::ofstream(base) << R"(model:
  target: sgm.models.diffusion.DiffusionEngine
  params:
    scale_factor: 0.13025
    disable_first_stage_autocast: True
    denoiser_config:
      target: sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser
      params:
        num_idx: 1000
        weighting_config:
          target: sgm.modules.diffusionmodules.denoiser_weighting.EpsWeighting
        scaling_config:
          target: sgm.modules.diffusionmodules.denoiser_scaling.EpsScaling
        discretization_config:
          target: sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization
    network_config:
      target: sgm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        adm_in_channels: 2816
        num_classes: sequential
        use_checkpoint: True
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [4, 2]
        num_res_blocks: 2
        channel_mult: [1, 2, 4]
        num_head_channels: 64
        use_spatial_transformer: True
        use_linear_in_transformer: True
        transformer_depth: [1, 2, 10]
        context_dim: 2048
        spatial_transformer_attn_type: softmax-xformers
        legacy: False
    conditioner_config:
      target: sgm.modules.GeneralConditioner
      params:
        emb_models:
          - is_trainable: False
            input_key: txt
            target: sgm.modules.encoders.modules.FrozenCLIPEmbedder
            params:
              layer: hidden
              layer_idx: 11
          - is_trainable: False
            input_key: txt
            target: sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2
            params:
              arch: ViT-bigG-14
              version: laion2b_s39b_b160k
              freeze: True
              layer: penultimate
              always_return_pooled: True
              legacy: False
          - is_trainable: False
            input_key: original_size_as_tuple
            target: sgm.modules.encoders.modules.ConcatTimestepEmbedderND
            params:
              outdim: 256
          - is_trainable: False
            input_key: crop_coords_top_left
            target: sgm.modules.encoders.modules.ConcatTimestepEmbedderND
            params:
              outdim: 256
          - is_trainable: False
            input_key: target_size_as_tuple
            target: sgm.modules.encoders.modules.ConcatTimestepEmbedderND
            params:
              outdim: 256
    first_stage_config:
      target: sgm.models.autoencoder.AutoencoderKLInferenceWrapper
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          attn_type: vanilla-xformers
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 128
          ch_mult: [1, 2, 4, 4]
          num_res_blocks: 2
          attn_resolutions: []
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity
)";
  const auto full = sdw::preset_config(sdw::model_preset::sdxl);
  const auto read = sdw::read_model_config_yaml(base);
  BOOST_TEST((read == full));
  BOOST_TEST(read.text.open_clip_layer_idx == 1);  // hidden_states[11] of 12 layers
  BOOST_TEST(read.source == base);
  for (auto preset : {sdw::model_preset::sdxl, sdw::model_preset::sdxl_tiny}) {
    const std::string out = tmp.file(std::string(sdw::to_string(preset)) + ".yaml");
    sdw::write_model_config_yaml(sdw::preset_config(preset), out);
    BOOST_TEST((sdw::read_model_config_yaml(out) == sdw::preset_config(preset)), sdw::to_string(preset));
  }

  // A refiner's conditioner (OpenCLIP first, an aesthetic score) is refused, naming the key.
  std::ifstream in(base);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string refiner = tmp.file("refiner.yaml");
  std::string r = text;
  r.replace(r.find("FrozenCLIPEmbedder\n"), 19, "FrozenOpenCLIPEmbedder2\n");
  std::ofstream(refiner) << r;
  try {
    sdw::read_model_config_yaml(refiner);
    BOOST_ERROR("a refiner yaml was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(std::string(e.what()).find("emb_models[0].target': an OpenCLIP embedder without CLIP ViT-L") !=
                   std::string::npos,
               e.what());
  }
}

// The full-size preset has SDXL base's parameter counts: the UNet's 2,567,463,684, CLIP ViT-L's
// 123,060,480 and OpenCLIP bigG's text tower with its projection, 694,659,840.
BOOST_AUTO_TEST_CASE(the_sdxl_preset_has_sdxl_parameter_counts) {
  const auto config = sdw::preset_config(sdw::model_preset::sdxl);
  BOOST_CHECK_NO_THROW(sdw::check_model_config(config, "preset"));
  const auto layout = sdw::sd1_checkpoint_layout(config);
  BOOST_TEST(count(layout, sdw::sd1_unet_prefix) == 2567463684);
  BOOST_TEST(count(layout, sdw::sdxl_text_prefix) == 123060480);
  BOOST_TEST(count(layout, sdw::sdxl_text2_prefix) == 694659840);
}

// Text embedders (with an SDXL textual-inversion embedding, its clip_l and clip_g vectors each in
// their own encoder), the y vector and the UNet against sgm/A1111 semantics in PyTorch.
BOOST_AUTO_TEST_CASE(networks_and_conditioning_match_an_independent_pytorch_implementation) {
  auto& m = model();
  sdw::test::temp_dir work;
  std::filesystem::create_directories(work.file("embeddings"));
  const std::string pair_file = work.file("embeddings/xlpair.safetensors");
  sdw::make_sdxl_embedding(m.config.text.width, m.config.text2->width, 3, 4, pair_file);
  sdw::make_embedding(m.config.text.width, 1, 5, work.file("embeddings/sdone.safetensors"));
  const auto embeddings = std::make_shared<const sdw::embedding_set>(
      work.file("embeddings"), sdw::embedding_kind_of(m.config), std::make_shared<const sdw::clip_tokenizer>(m.tokenizer));
  BOOST_TEST_REQUIRE(embeddings->loaded().size() == 1u);
  BOOST_TEST(embeddings->loaded()[0]->name == "xlpair");
  BOOST_TEST_REQUIRE(embeddings->skipped().size() == 1u);  // one tensor of CLIP-L's width: not SDXL's
  c10::InferenceMode guard;
  const std::vector<std::string> texts = {
      "a (red:1.3) lighthouse on a [cliff], xlpair, stormy sea",
      "fog BREAK a very long prompt about a harbour at dawn with boats, gulls, nets, ropes, crates, barrels, "
      "a crane, a lighthouse, a pier, fishermen, a market, stalls, fish, waves, clouds, (sun:0.8), mist, hills, "
      "houses, a church, a tower, a flag, birds, a cat on a wall, a dog, children, bicycles, lamps, puddles"};
  sdw::prompt_settings settings;
  settings.embeddings = embeddings;
  auto cond = sdw::encode_sdxl_texts(m.clip_l, m.bigg, m.tokenizer, settings, texts, false);
  BOOST_TEST(cond.crossattn.size(0) == 2);
  BOOST_TEST(cond.crossattn.size(1) % 77 == 0);
  BOOST_TEST(cond.crossattn.size(1) > 77);  // the second text needs more than one chunk
  BOOST_TEST(cond.crossattn.size(2) == 192);
  BOOST_TEST(cond.pooled.sizes() == (std::vector<int64_t>{2, 64}));
  const sdw::sdxl_sizes sizes{1024, 768, 16, 8};
  auto vec = sdw::sdxl_vector(cond.pooled, sizes, at::kFloat);
  BOOST_TEST(vec.sizes() == (std::vector<int64_t>{2, 1600}));

  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto x = at::randn({2, 4, 8, 8}, gen);
  auto t = at::tensor({3.5f, 871.0f});
  auto out = m.unet.forward(x, t, cond.crossattn, vec);
  BOOST_TEST(out.sizes() == x.sizes());
  BOOST_CHECK_THROW(m.unet.forward(x, t, cond.crossattn), sdw::error);  // an SDXL UNet needs y

  // The chunks as the tokenizer cuts them (A1111's tokenize_line, checked elsewhere), for the reference.
  std::string tokens = "[", mults = "[", fixes = "[";
  size_t chunks = 0;
  std::vector<std::vector<sdw::token_chunk>> all;
  for (const auto& text : texts) {
    all.push_back(sdw::tokenize_prompt(text, m.tokenizer, sdw::emphasis_mode::original, 20, embeddings.get()));
    chunks = std::max(chunks, all.back().size());
  }
  for (size_t row = 0; row < all.size(); ++row) {
    tokens += row ? ",[" : "[";
    mults += row ? ",[" : "[";
    for (size_t i = 0; i < chunks; ++i) {
      const auto c = i < all[row].size() ? all[row][i] : sdw::empty_chunk();
      tokens += (i ? "," : "") + json_list(c.tokens);
      mults += (i ? "," : "") + json_list(c.multipliers);
      for (const auto& f : c.fixes) {
        fixes += std::string(fixes.size() > 1 ? "," : "") + "[" + std::to_string(row) + "," + std::to_string(i) + "," +
                 std::to_string(f.offset) + ",\"" + pair_file + "\"]";
      }
    }
    tokens += "]";
    mults += "]";
  }
  tokens += "]";
  mults += "]";
  fixes += "]";
  BOOST_TEST(fixes.find("xlpair") != std::string::npos);  // the embedding is in the first text

  std::ofstream(work.file("case.json")) << R"({"texts": )" << tokens << R"(, "multipliers": )" << mults
                                        << R"(, "fixes": )" << fixes << R"(, "negative_empty": false, "height": 1024, "width": 768, "crop_top": 16, "crop_left": 8})";
  save(work.file("crossattn.npy"), cond.crossattn);
  save(work.file("pooled.npy"), cond.pooled);
  save(work.file("vector.npy"), vec);
  save(work.file("x.npy"), x);
  save(work.file("t.npy"), t);
  save(work.file("ctx.npy"), cond.crossattn);
  save(work.file("y.npy"), vec);
  save(work.file("out.npy"), out);
  const std::string yaml = work.file("sdxl-tiny.yaml");
  sdw::write_model_config_yaml(m.config, yaml);
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/reference/sdxl_reference.py";
  auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' networks '" + m.path + "' '" + yaml +
                                          "' '" + work.path + "'");
  BOOST_TEST_MESSAGE(log);
  BOOST_TEST(rc == 0, "reference comparison failed:\n" << log);
}

// A1111 1.9.4 applies no CLIP skip to SDXL's embedders (CLIP-L's layer_idx and bigG's
// penultimate layer are fixed): CLIP_stop_at_last_layers leaves the conditioning as it is.
BOOST_AUTO_TEST_CASE(clip_skip_leaves_sdxl_conditioning_alone) {
  auto& m = model();
  sdw::prompt_settings one, two;
  two.clip_skip = 2;
  const auto a = sdw::encode_sdxl_texts(m.clip_l, m.bigg, m.tokenizer, one, {"a lighthouse"}, false);
  const auto b = sdw::encode_sdxl_texts(m.clip_l, m.bigg, m.tokenizer, two, {"a lighthouse"}, false);
  BOOST_TEST(at::equal(a.crossattn, b.crossattn));
  BOOST_TEST(at::equal(a.pooled, b.pooled));
}

// A1111's force_zero_negative_prompt: an all-empty negative batch conditions on zeros (crossattn
// and pooled); an empty positive prompt, or a negative batch with any text, does not.
BOOST_AUTO_TEST_CASE(an_empty_negative_prompt_gives_zero_conditioning) {
  auto& m = model();
  sdw::prompt_settings settings;
  auto zero = sdw::encode_sdxl_texts(m.clip_l, m.bigg, m.tokenizer, settings, {"", ""}, true);
  BOOST_TEST(zero.crossattn.sizes() == (std::vector<int64_t>{2, 77, 192}));
  BOOST_TEST(zero.crossattn.abs().max().item<float>() == 0.0f);
  BOOST_TEST(zero.pooled.abs().max().item<float>() == 0.0f);
  auto positive = sdw::encode_sdxl_texts(m.clip_l, m.bigg, m.tokenizer, settings, {""}, false);
  BOOST_TEST(positive.crossattn.abs().max().item<float>() > 0.0f);
  BOOST_TEST(positive.pooled.abs().max().item<float>() > 0.0f);
  auto mixed = sdw::encode_sdxl_texts(m.clip_l, m.bigg, m.tokenizer, settings, {"", "fog"}, true);
  BOOST_TEST(mixed.crossattn[0].abs().max().item<float>() > 0.0f);
  // The y vector of zero pooled text still carries the sizes.
  auto vec = sdw::sdxl_vector(zero.pooled, {}, at::kFloat);
  BOOST_TEST(vec.narrow(1, 0, 64).abs().max().item<float>() == 0.0f);
  BOOST_TEST(vec.narrow(1, 64, 1536).abs().max().item<float>() > 0.0f);
}

BOOST_AUTO_TEST_CASE(refiners_and_incomplete_sdxl_files_are_refused_naming_what_was_found) {
  sdw::test::temp_dir tmp;
  const std::string conv = "model.diffusion_model.input_blocks.0.0.weight";
  auto tensor = [](const std::string& key, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return sdw::st_write_entry{key, sdw::st_dtype::f16, shape, std::string(2 * n, '\0')};
  };
  auto file = [&](const std::string& name, std::vector<sdw::st_write_entry> entries) {
    entries.push_back(tensor(conv, {64, 4, 3, 3}));
    sdw::write_safetensors(tmp.file(name), entries, {});
    return tmp.file(name);
  };
  const std::string refiner_key = "conditioner.embedders.0.model.ln_final.weight";
  expect_refused(file("refiner.safetensors", {tensor(refiner_key, {1280}),
                                              tensor("model.diffusion_model.label_emb.0.0.weight", {1536, 2560})}),
                 "SDXL refiner checkpoint (tensor '" + refiner_key +
                     "') is not supported yet; only SD1.x, SD2.x and SDXL base checkpoints are");
  expect_refused(file("no-clip-l.safetensors", {tensor("conditioner.embedders.1.model.token_embedding.weight", {8, 4})}),
                 "without tensor 'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight'");
  expect_refused(file("unclip.safetensors", {tensor("model.diffusion_model.label_emb.0.0.weight", {1280, 1024})}),
                 "class-conditioned UNet (unCLIP) (tensor 'model.diffusion_model.label_emb.0.0.weight')");
  // A y width that does not fit the pooled text and six size embeddings.
  auto c = sdw::preset_config(sdw::model_preset::sdxl_tiny);
  c.unet.adm_in_channels = 2560;
  try {
    sdw::check_model_config(c, "x.safetensors");
    BOOST_ERROR("a 2560-wide y was accepted");
  } catch (const sdw::error& e) {
    BOOST_TEST(std::string(e.what()).find("unet.adm_in_channels is 2560, expected text2.projection_dim + 6·256 = 1600") !=
                   std::string::npos,
               e.what());
  }
}

