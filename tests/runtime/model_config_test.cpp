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

  write_text(yaml, "model:\n  params:\n    parameterization: \"v\"\n");
  expect_refused(ckpt, yaml, "not supported yet");

  write_text(yaml, "model:\n  params:\n    cond_stage_config:\n      target: "
                   "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder\n");
  expect_refused(ckpt, yaml, "SD2 models");
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
  expect_refused(one("sd2.safetensors", with("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight")),
                 tmp.file("sd2.safetensors"), "SD2 checkpoint");
  st_write_entry inpaint{conv, st_dtype::f16, {32, 9, 3, 3}, std::string(2 * 32 * 9 * 9, '\0')};
  expect_refused(one("inpaint.safetensors", {inpaint}), tmp.file("inpaint.safetensors"),
                 "inpainting model (9-channel UNet input) (tensor '" + conv + "') is not supported yet");
  small.name = "first_stage_model.encoder.norm_out.weight";
  expect_refused(one("vae.safetensors", {small}), tmp.file("vae.safetensors"), "tensor '" + conv + "' is missing");
}
