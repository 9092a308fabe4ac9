#include "runtime/engine/model_config.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/model_detect.hpp"
#include "runtime/engine/safetensors.hpp"

#include <algorithm>
#include <filesystem>

namespace sdw {

namespace {

// attention_resolutions is a set of downscale factors; ldm lists it in either order.
bool same_set(std::vector<int> a, std::vector<int> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

// The depths the network is built with: those of the levels with attention, and the middle block's.
std::vector<int> used_depths(const unet_config& u) {
  std::vector<int> d;
  int ds = 1;
  for (size_t level = 0; level < u.channel_mult.size(); ++level, ds *= 2)
    if (std::find(u.attention_resolutions.begin(), u.attention_resolutions.end(), ds) != u.attention_resolutions.end())
      d.push_back(level < u.transformer_depth_levels.size() || u.transformer_depth_levels.empty()
                      ? level_transformer_depth(u, level)
                      : -1);
  d.push_back(middle_transformer_depth(u));
  return d;
}

} // namespace

bool operator==(const unet_config& a, const unet_config& b) {
  return a.in_channels == b.in_channels && a.out_channels == b.out_channels && a.model_channels == b.model_channels &&
         a.channel_mult == b.channel_mult && a.num_res_blocks == b.num_res_blocks &&
         same_set(a.attention_resolutions, b.attention_resolutions) && a.num_heads == b.num_heads &&
         a.num_head_channels == b.num_head_channels && used_depths(a) == used_depths(b) &&
         a.context_dim == b.context_dim && a.use_linear_in_transformer == b.use_linear_in_transformer &&
         a.adm_in_channels == b.adm_in_channels;
}

bool operator==(const vae_config& a, const vae_config& b) {
  return a.ch == b.ch && a.ch_mult == b.ch_mult && a.num_res_blocks == b.num_res_blocks &&
         a.z_channels == b.z_channels && a.embed_dim == b.embed_dim && a.in_channels == b.in_channels &&
         a.out_ch == b.out_ch && a.scale_factor == b.scale_factor;
}

bool operator==(const text_encoder_config& a, const text_encoder_config& b) {
  return a.vocab_size == b.vocab_size && a.max_positions == b.max_positions && a.width == b.width &&
         a.layers == b.layers && a.heads == b.heads && a.intermediate == b.intermediate &&
         a.open_clip == b.open_clip && a.final_norm == b.final_norm && a.projection_dim == b.projection_dim &&
         ((!a.open_clip && a.final_norm) || a.open_clip_layer_idx == b.open_clip_layer_idx);
}

bool operator==(const model_config& a, const model_config& b) {
  return a.unet == b.unet && a.vae == b.vae && a.text == b.text && a.text2 == b.text2 && a.linear_start == b.linear_start &&
         a.linear_end == b.linear_end && a.timesteps == b.timesteps && a.parameterization == b.parameterization &&
         a.test_for_v_prediction == b.test_for_v_prediction;
}

text_encoder_config open_clip_vit_h() {
  text_encoder_config t;
  t.width = 1024;
  t.layers = 24;
  t.heads = 16;
  t.intermediate = 4096;
  t.open_clip = true;
  return t;
}

text_encoder_config sdxl_clip_l() {
  text_encoder_config t;
  t.open_clip_layer_idx = 1;  // hidden_states[11] of 12 layers
  t.final_norm = false;
  return t;
}

text_encoder_config sdxl_open_clip_bigg() {
  text_encoder_config t = open_clip_vit_h();
  t.width = 1280;
  t.layers = 32;
  t.heads = 20;
  t.intermediate = 5120;
  t.open_clip_layer_idx = 1;  // "penultimate"
  t.final_norm = false;
  t.projection_dim = 1280;
  return t;
}

const char* model_family(const model_config& c) { return is_sdxl(c) ? "sdxl" : is_sd2(c) ? "sd2" : "sd1"; }

const char* to_string(prediction p) { return p == prediction::v ? "v" : "eps"; }

std::string config_path_for(const std::string& checkpoint_path) {
  return std::filesystem::path(checkpoint_path).replace_extension(".yaml").string();
}

void check_model_config(const model_config& c, const std::string& file) {
  auto fail = [&](const std::string& field, const std::string& why) {
    throw error(errc::bad_checkpoint, file,
                field + " " + why + "; model config: " + (c.source.empty() ? std::string("defaults") : c.source));
  };
  auto in = [&](const char* field, long long v, long long lo, long long hi) {
    if (v < lo || v > hi)
      fail(field, "is " + std::to_string(v) + ", expected " + std::to_string(lo) + ".." + std::to_string(hi));
  };
  auto levels = [&](const char* field, const std::vector<int>& mult) {
    in(field, static_cast<long long>(mult.size()), 1, 16);
    for (int m : mult) in(field, m, 1, 64);
  };
  const auto& u = c.unet;
  in("unet.in_channels", u.in_channels, 1, 64);
  in("unet.out_channels", u.out_channels, 1, 64);
  in("unet.model_channels", u.model_channels, 1, 8192);
  levels("unet.channel_mult", u.channel_mult);
  in("unet.num_res_blocks", u.num_res_blocks, 1, 64);
  for (int r : u.attention_resolutions) in("unet.attention_resolutions", r, 1, 1 << 16);
  if (u.num_head_channels == -1) {
    in("unet.num_heads", u.num_heads, 1, 1024);
  } else {
    in("unet.num_head_channels", u.num_head_channels, 1, 8192);
    for (int m : u.channel_mult)
      if ((static_cast<long long>(u.model_channels) * m) % u.num_head_channels != 0)
        fail("unet.num_head_channels", "(" + std::to_string(u.num_head_channels) + ") must divide every level's channels (" +
                                         std::to_string(static_cast<long long>(u.model_channels) * m) + ")");
  }
  in("unet.transformer_depth", u.transformer_depth, 1, 64);
  if (!u.transformer_depth_levels.empty()) {
    if (u.transformer_depth_levels.size() != u.channel_mult.size())
      fail("unet.transformer_depth_levels", "has " + std::to_string(u.transformer_depth_levels.size()) +
                                                " depths for " + std::to_string(u.channel_mult.size()) + " levels");
    for (int d : u.transformer_depth_levels) in("unet.transformer_depth_levels", d, 0, 64);
  }
  if (u.transformer_depth_middle != -1) in("unet.transformer_depth_middle", u.transformer_depth_middle, 0, 64);
  in("unet.context_dim", u.context_dim, 1, 16384);
  in("unet.adm_in_channels", u.adm_in_channels, 0, 65536);
  const auto& v = c.vae;
  in("vae.ch", v.ch, 1, 8192);
  levels("vae.ch_mult", v.ch_mult);
  in("vae.num_res_blocks", v.num_res_blocks, 1, 64);
  in("vae.z_channels", v.z_channels, 1, 64);
  in("vae.embed_dim", v.embed_dim, 1, 64);
  in("vae.in_channels", v.in_channels, 1, 64);
  in("vae.out_ch", v.out_ch, 1, 64);
  if (!(v.scale_factor > 0 && v.scale_factor < 1e6)) fail("vae.scale_factor", "must be a positive number");
  auto text = [&](const std::string& k, const text_encoder_config& t) {
    auto field = [&](const char* name) { return k + "." + name; };
    in(field("vocab_size").c_str(), t.vocab_size, 1, 1 << 20);
    in(field("max_positions").c_str(), t.max_positions, 1, 16384);
    in(field("width").c_str(), t.width, 1, 16384);
    in(field("layers").c_str(), t.layers, 1, 256);
    in(field("heads").c_str(), t.heads, 1, 1024);
    in(field("intermediate").c_str(), t.intermediate, 1, 65536);
    if (t.width % t.heads != 0)
      fail(field("heads"), "(" + std::to_string(t.heads) + ") must divide " + field("width") + " " + std::to_string(t.width));
    if (t.open_clip || !t.final_norm) in(field("open_clip_layer_idx").c_str(), t.open_clip_layer_idx, 0, t.layers - 1);
    in(field("projection_dim").c_str(), t.projection_dim, 0, 16384);
  };
  text("text", c.text);
  if (c.text2) {
    text("text2", *c.text2);
    const auto& g = *c.text2;
    if (c.text.open_clip || !g.open_clip) fail("text2", "must be OpenCLIP beside a CLIP ViT-L text (SDXL base)");
    if (g.projection_dim < 1) fail("text2.projection_dim", "must be positive: SDXL's pooled vector goes through it");
    const long long adm = g.projection_dim + static_cast<long long>(sdxl_size_embeddings) * sdxl_size_embedding_dim;
    if (u.adm_in_channels != adm)
      fail("unet.adm_in_channels", "is " + std::to_string(u.adm_in_channels) + ", expected text2.projection_dim + 6·256 = " +
                                       std::to_string(adm));
    if (u.context_dim != c.text.width + g.width)
      fail("unet.context_dim", "is " + std::to_string(u.context_dim) + ", expected the two text widths' sum " +
                                   std::to_string(c.text.width + g.width));
  } else if (u.adm_in_channels != 0) {
    fail("unet.adm_in_channels", "is " + std::to_string(u.adm_in_channels) + ": only SDXL base UNets take a y vector");
  }
  in("timesteps", c.timesteps, 1, 100000);
}

model_config load_model_config(const std::string& checkpoint_path, const safetensors_file& file) {
  refuse_unsupported_architecture(file);
  const std::string yaml = config_path_for(checkpoint_path);
  std::error_code ec;
  model_config c = std::filesystem::is_regular_file(yaml, ec) ? read_model_config_yaml(yaml) : detect_model_config(file);
  if (c.unet.in_channels == 8)
    throw error(errc::bad_checkpoint, file.path(), "instruct-pix2pix models (8-channel UNet input) are not supported yet");
  check_model_config(c, file.path());
  return c;
}

} // namespace sdw
