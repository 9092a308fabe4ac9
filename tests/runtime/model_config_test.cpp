#define BOOST_TEST_MODULE model_config
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/model_detect.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

using sdw::test::temp_dir;

// A checkpoint of zeros with the layout of `config` (keys renamed by `rename` when given).
void write_checkpoint(const std::string& path, const model_config& config,
                      std::function<std::string(const std::string&)> rename = nullptr) {
  std::vector<st_write_entry> entries;
  for (const auto& s : sd1_checkpoint_layout(config)) {
    int64_t n = 1;
    for (auto d : s.shape) n *= d;
    entries.push_back({rename ? rename(s.name) : s.name, st_dtype::f16, s.shape, std::string(2 * n, '\0')});
  }
  write_safetensors(path, entries, {});
}

// The layout of `config` in zeros, with tensor `key` written in `shape` instead (no yaml beside it).
void write_with_shape(const std::string& path, const model_config& config, const std::string& key,
                      std::vector<int64_t> shape) {
  std::vector<st_write_entry> entries;
  for (const auto& s : sd1_checkpoint_layout(config)) {
    const std::vector<int64_t> dims = s.name == key ? shape : s.shape;
    int64_t n = 1;
    for (auto d : dims) n *= d;
    entries.push_back({s.name, st_dtype::f16, dims, std::string(2 * n, '\0')});
  }
  write_safetensors(path, entries, {});
}

model_config small_config() {
  model_config c;
  c.unet.model_channels = 32;
  c.unet.channel_mult = {1, 2, 2};
  c.unet.num_res_blocks = 2;
  c.unet.attention_resolutions = {1, 4};
  c.unet.num_heads = 2;
  c.unet.context_dim = 96;
  c.unet.transformer_depth = 2;
  c.unet.use_linear_in_transformer = true;
  c.vae.ch = 32;
  c.vae.ch_mult = {1, 2, 2};
  c.vae.num_res_blocks = 1;
  c.text.width = 128;
  c.text.layers = 3;
  c.text.heads = 2;
  c.text.intermediate = 256;
  c.text.vocab_size = 1000;
  c.text.max_positions = 77;
  return c;
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// load_model_config must fail with bad_checkpoint, naming `where` and containing `fault`.
void expect_refused(const std::string& ckpt, const std::string& where, const std::string& fault) {
  auto f = safetensors_file::open(ckpt);
  try {
    load_model_config(ckpt, *f);
    BOOST_ERROR("loading the config of " << ckpt << " should fail (" << fault << ")");
  } catch (const error& e) {
    BOOST_TEST_INFO("message: " << e.what());
    BOOST_TEST((e.code() == errc::bad_checkpoint));
    BOOST_TEST(e.where() == where);
    BOOST_TEST(std::string(e.what()).find(fault) != std::string::npos);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(sizes_are_detected_from_tensor_shapes_without_a_yaml) {
  temp_dir tmp;
  const model_config c = small_config();
  write_checkpoint(tmp.file("m.safetensors"), c);
  auto f = safetensors_file::open(tmp.file("m.safetensors"));
  model_config d = load_model_config(tmp.file("m.safetensors"), *f);
  BOOST_TEST(d.source == "detected from tensor shapes");
  BOOST_TEST(d.unet.attention_resolutions == std::vector<int>({4, 1}));  // largest first, as ldm lists them
  BOOST_TEST(d.unet.channel_mult == std::vector<int>({1, 2, 2}));
  BOOST_TEST(d.unet.context_dim == 96);
  BOOST_TEST(d.unet.use_linear_in_transformer);
  BOOST_TEST((d.unet == c.unet) == false);  // head counts are not stored in the weights
  d.unet.num_heads = c.unet.num_heads;
  BOOST_TEST((d.unet == c.unet));
  BOOST_TEST((d.vae == c.vae));
  BOOST_TEST((d.text == c.text));  // 128 wide: two 64-wide heads
}

BOOST_AUTO_TEST_CASE(old_text_encoder_key_names_are_understood) {
  temp_dir tmp;
  const model_config c = small_config();
  const std::string newp(sd1_text_prefix), oldp = "cond_stage_model.transformer.";
  write_checkpoint(tmp.file("m.safetensors"), c, [&](const std::string& k) {
    return k.rfind(newp, 0) == 0 ? oldp + k.substr(newp.size()) : k;
  });
  auto f = safetensors_file::open(tmp.file("m.safetensors"));
  BOOST_TEST(f->find(newp + "final_layer_norm.weight") == nullptr);
  BOOST_TEST((detect_model_config(*f).text == c.text));
}

BOOST_AUTO_TEST_CASE(yaml_beside_the_checkpoint_wins_and_round_trips) {
  temp_dir tmp;
  model_config c = small_config();
  c.linear_start = 0.001;
  c.linear_end = 0.02;
  c.timesteps = 500;
  c.vae.scale_factor = 0.13025;
  c.unet.num_heads = 4;
  write_checkpoint(tmp.file("m.safetensors"), c);
  write_model_config_yaml(c, tmp.file("m.yaml"));
  auto f = safetensors_file::open(tmp.file("m.safetensors"));
  model_config r = load_model_config(tmp.file("m.safetensors"), *f);
  BOOST_TEST((r == c));
  BOOST_TEST(r.source == tmp.file("m.yaml"));
  BOOST_TEST(r.unet.num_heads == 4);
  BOOST_TEST(r.vae.scale_factor == 0.13025);
}

// The parts of A1111's v2-inference-v.yaml (SD 2.x 768-v) that describe the networks.
BOOST_AUTO_TEST_CASE(an_sd2_v_yaml_gives_the_sd2_architecture_and_v_prediction) {
  temp_dir tmp;
  write_text(tmp.file("v2.yaml"), R"(model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    scale_factor: 0.18215
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        use_checkpoint: True
        use_fp16: True
        image_size: 32
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [ 4, 2, 1 ]
        num_res_blocks: 2
        channel_mult: [ 1, 2, 4, 4 ]
        num_head_channels: 64
        use_spatial_transformer: True
        use_linear_in_transformer: True
        transformer_depth: 1
        context_dim: 1024
        legacy: False
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
      params:
        freeze: True
        layer: "penultimate"
)");
  const model_config c = read_model_config_yaml(tmp.file("v2.yaml"));
  BOOST_TEST((c.parameterization == prediction::v));
  BOOST_TEST(!c.test_for_v_prediction);
  BOOST_TEST((c.text == open_clip_vit_h()));
  BOOST_TEST(c.text.open_clip_layer_idx == 1);
  BOOST_TEST(c.unet.num_head_channels == 64);
  BOOST_TEST(c.unet.context_dim == 1024);
  BOOST_TEST(c.unet.use_linear_in_transformer);
  BOOST_TEST((c.unet.channel_mult == std::vector<int>{1, 2, 4, 4}));
  // What sdworker writes reads back the same.
  write_model_config_yaml(c, tmp.file("again.yaml"));
  model_config again = read_model_config_yaml(tmp.file("again.yaml"));
  BOOST_TEST((again == c));
}

BOOST_AUTO_TEST_CASE(a_plain_ldm_yaml_gives_sd1_defaults_for_what_it_omits) {
  temp_dir tmp;
  write_text(tmp.file("v1.yaml"), R"(model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    scale_factor: 0.18215
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 32
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [ 4, 2, 1 ]
        num_res_blocks: 2
        channel_mult: [ 1, 2, 4, 4 ]
        num_heads: 8
        use_spatial_transformer: True
        transformer_depth: 1
        context_dim: 768
        use_checkpoint: True
        legacy: False
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
)");
  BOOST_TEST((read_model_config_yaml(tmp.file("v1.yaml")) == model_config{}));
}

BOOST_AUTO_TEST_CASE(malformed_yaml_names_the_file_and_key) {
  temp_dir tmp;
  write_checkpoint(tmp.file("m.safetensors"), small_config());
  const std::string ckpt = tmp.file("m.safetensors"), yaml = tmp.file("m.yaml");

  write_text(yaml, "model:\n  params: [unclosed\n");
  expect_refused(ckpt, yaml, "invalid YAML at line");

  write_text(yaml, "model:\n  target: x\n");
  expect_refused(ckpt, yaml, "key 'model.params': missing");

  write_text(yaml, "model:\n  params:\n    unet_config:\n      params:\n        channel_mult: abc\n");
  expect_refused(ckpt, yaml, "key 'model.params.unet_config.params.channel_mult': expected a list of integers");

  write_text(yaml, "model:\n  params:\n    first_stage_config:\n      params:\n        ddconfig:\n          ch: -3\n");
  expect_refused(ckpt, yaml, "key 'model.params.first_stage_config.params.ddconfig.ch': must be positive");

  write_text(yaml, "model:\n  params:\n    cond_stage_config:\n      params:\n        text_model:\n          width: wide\n");
  expect_refused(ckpt, yaml, "key 'model.params.cond_stage_config.params.text_model.width': expected an integer");

  write_text(yaml, "model:\n  params:\n    parameterization: \"x0\"\n");
  expect_refused(ckpt, yaml, "key 'model.params.parameterization': 'x0' prediction models are not supported (eps and v are)");

  write_text(yaml, "model:\n  params:\n    cond_stage_config:\n      target: "
                   "ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder\n");
  expect_refused(ckpt, yaml, "'ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder' is not supported");

  write_text(yaml, "model:\n  params:\n    cond_stage_config:\n      target: "
                   "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n      params:\n        layer: middle\n");
  expect_refused(ckpt, yaml, "key 'model.params.cond_stage_config.params.layer': expected \"last\" or \"penultimate\"");
}

// A zero-sized dimension used to divide by zero in detection; now each is refused naming the tensor.
BOOST_AUTO_TEST_CASE(zero_sized_dimensions_are_refused_naming_the_file_and_tensor) {
  temp_dir tmp;
  const model_config c = small_config();
  const std::string unet = "model.diffusion_model.", vae = "first_stage_model.", text(sd1_text_prefix);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> cases = {
    {unet + "input_blocks.0.0.weight", {0, 4, 3, 3}},
    {unet + "input_blocks.0.0.weight", {32, 0, 3, 3}},
    {unet + "input_blocks.1.0.out_layers.3.weight", {0, 32, 3, 3}},
    {unet + "out.2.weight", {0, 32, 3, 3}},
    {unet + "middle_block.1.transformer_blocks.0.attn2.to_k.weight", {64, 0}},
    {vae + "encoder.conv_in.weight", {0, 3, 3, 3}},
    {vae + "encoder.down.1.block.0.conv1.weight", {0, 32, 3, 3}},
    {vae + "post_quant_conv.weight", {4, 0, 1, 1}},
    {text + "embeddings.token_embedding.weight", {1000, 0}},
    {text + "embeddings.token_embedding.weight", {0, 128}},
    {text + "embeddings.position_embedding.weight", {0, 128}},
    {text + "encoder.layers.0.mlp.fc1.weight", {0, 128}},
  };
  int i = 0;
  for (const auto& [key, shape] : cases) {
    BOOST_TEST_CONTEXT(key) {
      const std::string ckpt = tmp.file("zero" + std::to_string(i++) + ".safetensors");
      write_with_shape(ckpt, c, key, shape);
      expect_refused(ckpt, ckpt, "tensor '" + key + "' has shape [");
      expect_refused(ckpt, ckpt, "is 0, so the model's sizes cannot be read from it");
    }
  }
}

BOOST_AUTO_TEST_CASE(detected_sizes_must_fit_together) {
  temp_dir tmp;
  const model_config c = small_config();
  // The last res block of the first level gives its channels.
  const std::string level = "model.diffusion_model.input_blocks.2.0.out_layers.3.weight";
  // 48 channels on a 32-channel base is no whole multiple.
  write_with_shape(tmp.file("a.safetensors"), c, level, {48, 32, 3, 3});
  expect_refused(tmp.file("a.safetensors"), tmp.file("a.safetensors"),
                 "tensor '" + level + "' has shape [48, 32, 3, 3]: 48 channels are not a multiple of 32");
  // 40 channels as the base: GroupNorm's 32 groups cannot split them.
  const std::string conv_in = "first_stage_model.encoder.conv_in.weight";
  write_with_shape(tmp.file("b.safetensors"), c, conv_in, {40, 3, 3, 3});
  expect_refused(tmp.file("b.safetensors"), tmp.file("b.safetensors"), "GroupNorm's 32 groups");
  // A text width no head count divides.
  const std::string tokens = std::string(sd1_text_prefix) + "embeddings.token_embedding.weight";
  write_with_shape(tmp.file("c.safetensors"), c, tokens, {1000, 100});
  expect_refused(tmp.file("c.safetensors"), tmp.file("c.safetensors"), "cannot be split into attention heads");
}

BOOST_AUTO_TEST_CASE(configs_out_of_range_are_refused_before_anything_is_built) {
  temp_dir tmp;
  const std::string ckpt = tmp.file("m.safetensors"), yaml = tmp.file("m.yaml");
  write_checkpoint(ckpt, small_config());
  model_config big = small_config();
  big.unet.channel_mult = {1, 100};
  write_model_config_yaml(big, yaml);
  expect_refused(ckpt, ckpt, "unet.channel_mult is 100, expected 1..64; model config: " + yaml);
  big = small_config();
  big.text.layers = 100000;
  write_model_config_yaml(big, yaml);
  expect_refused(ckpt, ckpt, "text.layers is 100000, expected 1..256");
  big = small_config();
  big.unet.model_channels = 1 << 20;
  write_model_config_yaml(big, yaml);
  expect_refused(ckpt, ckpt, "unet.model_channels is 1048576, expected 1..8192");

  model_config ok = small_config();
  BOOST_CHECK_NO_THROW(check_model_config(ok, ckpt));
  ok.text.heads = 3;
  BOOST_CHECK_THROW(check_model_config(ok, ckpt), error);
}

BOOST_AUTO_TEST_CASE(other_architectures_are_refused_by_their_keys) {
  temp_dir tmp;
  const std::string conv = "model.diffusion_model.input_blocks.0.0.weight";
  auto one = [&](const std::string& file, std::vector<st_write_entry> entries) {
    write_safetensors(tmp.file(file), entries, {});
    return tmp.file(file);
  };
  st_write_entry unet_in{conv, st_dtype::f16, {32, 4, 3, 3}, std::string(2 * 32 * 4 * 9, '\0')};
  st_write_entry small{"", st_dtype::f16, {2}, std::string(4, '\0')};

  auto with = [&](const std::string& key) {
    st_write_entry e = small;
    e.name = key;
    return std::vector<st_write_entry>{unet_in, e};
  };
  expect_refused(one("xl.safetensors", with("conditioner.embedders.1.model.ln_final.weight")),
                 tmp.file("xl.safetensors"), "SDXL checkpoint (tensor 'conditioner.embedders.1.model.ln_final.weight')");
  expect_refused(one("sd3.safetensors", with("model.diffusion_model.joint_blocks.0.context_block.attn.qkv.weight")),
                 tmp.file("sd3.safetensors"), "SD3 checkpoint (MMDiT) (tensor 'model.diffusion_model.joint_blocks.0.");
  expect_refused(one("flux.safetensors", with("double_blocks.0.img_mod.lin.weight")), tmp.file("flux.safetensors"),
                 "Flux checkpoint (tensor 'double_blocks.0.img_mod.lin.weight')");
  st_write_entry pix2pix{conv, st_dtype::f16, {32, 8, 3, 3}, std::string(2 * 32 * 8 * 9, '\0')};
  expect_refused(one("pix2pix.safetensors", {pix2pix}), tmp.file("pix2pix.safetensors"),
                 "instruct-pix2pix model (8-channel UNet input) (tensor '" + conv + "') is not supported yet");
  small.name = "first_stage_model.encoder.norm_out.weight";
  expect_refused(one("vae.safetensors", {small}), tmp.file("vae.safetensors"), "tensor '" + conv + "' is missing");
}
