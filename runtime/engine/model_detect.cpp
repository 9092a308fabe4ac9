#include "runtime/engine/model_detect.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <string>

namespace sdw {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// No SD1-like network has a dimension near this; a larger one is a broken header, not a model.
constexpr int64_t max_dimension = int64_t{1} << 20;

// GroupNorm32 splits every normalised channel count into 32 groups.
constexpr int norm_groups = 32;

// Shape lookups that tolerate the older text-encoder naming (without `text_model.`).
class shapes {
public:
  explicit shapes(const safetensors_file& f) : f_(f) {
    for (const auto& t : f.tensors()) {
      std::string canon = sd1_canonical_key(t.name);
      if (canon != t.name) renamed_.emplace(std::move(canon), &t);
    }
  }
  const st_tensor* find(const std::string& key) const {
    if (const st_tensor* t = f_.find(key)) return t;
    auto it = renamed_.find(key);
    return it == renamed_.end() ? nullptr : it->second;
  }
  // Dimension `dim` of `key`, or nothing when the tensor is absent or has too few dimensions.
  // Sizes read here are divided by later: a zero (or absurd) one is refused, naming the tensor.
  std::optional<int> dim(const std::string& key, size_t d) {
    const st_tensor* t = find(key);
    if (!t || t->shape.size() <= d) return std::nullopt;
    const int64_t n = t->shape[d];
    if (n <= 0 || n > max_dimension)
      fail(key, "dimension " + std::to_string(d) + " is " + std::to_string(n) +
                  ", so the model's sizes cannot be read from it");
    found_ = true;
    return static_cast<int>(n);
  }
  // An error naming the file and the tensor (with its shape when the file has it).
  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    const st_tensor* t = find(key);
    throw error(errc::bad_checkpoint, f_.path(),
                "tensor '" + (t ? t->name + "' has shape " + shape_text(t->shape) : key + "'") + ": " + why);
  }
  // A level's channels: a whole multiple of the base channels `unit` (read from `unit_key`), and
  // both split into GroupNorm's groups.
  int multiple(const std::string& key, int channels, int unit, const std::string& unit_key) const {
    const std::string groups = " channels cannot be split into GroupNorm's " + std::to_string(norm_groups) + " groups";
    if (unit % norm_groups != 0) fail(unit_key, std::to_string(unit) + groups);
    if (channels % unit != 0)
      fail(key, std::to_string(channels) + " channels are not a multiple of " + std::to_string(unit) +
                  " (the base channels, from tensor '" + unit_key + "')");
    if (channels % norm_groups != 0) fail(key, std::to_string(channels) + groups);
    return channels / unit;
  }
  bool has(const std::string& key) const { return find(key) != nullptr; }
  bool found_any() const { return found_; }

private:
  const safetensors_file& f_;
  std::map<std::string, const st_tensor*> renamed_;
  bool found_ = false;
};

[[noreturn]] void unsupported(const safetensors_file& f, const std::string& what, const std::string& key) {
  throw error(errc::bad_checkpoint, f.path(),
              what + " (tensor '" + key + "') is not supported yet; only SD1.x, SD2.x and SDXL base checkpoints are");
}

void detect_unet(shapes& s, unet_config& u) {
  const std::string p(sd1_unet_prefix);
  if (auto mc = s.dim(p + "input_blocks.0.0.weight", 0)) u.model_channels = *mc;
  if (auto in = s.dim(p + "input_blocks.0.0.weight", 1)) u.in_channels = *in;
  if (auto out = s.dim(p + "out.2.weight", 0)) u.out_channels = *out;
  if (auto adm = s.dim(p + "label_emb.0.0.weight", 1)) u.adm_in_channels = *adm;
  if (auto ctx = s.dim(p + "middle_block.1.transformer_blocks.0.attn2.to_k.weight", 1)) u.context_dim = *ctx;
  if (const st_tensor* t = s.find(p + "middle_block.1.proj_in.weight")) u.use_linear_in_transformer = t->shape.size() == 2;
  if (s.has(p + "middle_block.1.transformer_blocks.0.norm1.weight")) {
    int depth = 0;
    while (s.has(p + "middle_block.1.transformer_blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
    u.transformer_depth = depth;
  }

  // Walk the input blocks: res blocks, each level closed by a downsampling conv.
  std::vector<int> mult, attention, depths;
  std::vector<int> blocks_per_level;
  int n = 1, in_level = 0, ds = 1;
  bool level_has_attention = false;
  int level_channels = 0, level_depth = 0;
  std::string level_key;
  auto close_level = [&] {
    mult.push_back(s.multiple(level_key, level_channels, u.model_channels, p + "input_blocks.0.0.weight"));
    blocks_per_level.push_back(in_level);
    if (level_has_attention) attention.push_back(ds);
    depths.push_back(level_depth);
    in_level = 0;
    level_has_attention = false;
    level_depth = 0;
  };
  auto depth_of = [&](const std::string& transformer) {
    int d = 0;
    while (s.has(transformer + ".transformer_blocks." + std::to_string(d) + ".norm1.weight")) ++d;
    return d;
  };
  for (;; ++n) {
    std::string b = p + "input_blocks." + std::to_string(n);
    if (s.has(b + ".0.op.weight")) {
      if (in_level == 0) return;  // an unexpected shape: keep the defaults
      close_level();
      ds *= 2;
      continue;
    }
    auto ch = s.dim(b + ".0.out_layers.3.weight", 0);
    if (!ch) break;
    level_channels = *ch;
    level_key = b + ".0.out_layers.3.weight";
    ++in_level;
    if (s.has(b + ".1.norm.weight")) {
      level_has_attention = true;
      level_depth = depth_of(b + ".1");
    }
  }
  if (in_level == 0) return;
  close_level();
  for (int c : blocks_per_level)
    if (c != blocks_per_level.front()) return;
  u.channel_mult = mult;
  u.num_res_blocks = blocks_per_level.front();
  u.attention_resolutions.assign(attention.rbegin(), attention.rend());  // ldm lists them largest first
  if (u.adm_in_channels > 0) {
    // sgm's per-level depths (0 where a level has no attention); the middle block's when it differs.
    u.transformer_depth_levels = depths;
    const int middle = depth_of(p + "middle_block.1");
    u.transformer_depth_middle = middle == depths.back() ? -1 : middle;
  }
}

void detect_vae(shapes& s, vae_config& v) {
  const std::string p(sd1_vae_prefix);
  if (auto ch = s.dim(p + "encoder.conv_in.weight", 0)) v.ch = *ch;
  if (auto in = s.dim(p + "encoder.conv_in.weight", 1)) v.in_channels = *in;
  if (auto out = s.dim(p + "decoder.conv_out.weight", 0)) v.out_ch = *out;
  if (auto z = s.dim(p + "decoder.conv_in.weight", 1)) v.z_channels = *z;
  if (auto e = s.dim(p + "post_quant_conv.weight", 1)) v.embed_dim = *e;
  std::vector<int> mult;
  for (int i = 0;; ++i) {
    const std::string key = p + "encoder.down." + std::to_string(i) + ".block.0.conv1.weight";
    auto ch = s.dim(key, 0);
    if (!ch) break;
    mult.push_back(s.multiple(key, *ch, v.ch, p + "encoder.conv_in.weight"));
  }
  if (!mult.empty()) v.ch_mult = mult;
  if (s.has(p + "encoder.down.0.block.0.conv1.weight")) {
    int blocks = 0;
    while (s.has(p + "encoder.down.0.block." + std::to_string(blocks) + ".conv1.weight")) ++blocks;
    v.num_res_blocks = blocks;
  }
}

// OpenCLIP's text tower: sizes from the embeddings and the first residual block.
void detect_open_clip_text(shapes& s, text_encoder_config& t, std::string_view prefix) {
  const std::string p(prefix);
  if (auto vocab = s.dim(p + "token_embedding.weight", 0)) t.vocab_size = *vocab;
  if (auto w = s.dim(p + "token_embedding.weight", 1)) t.width = *w;
  if (auto pos = s.dim(p + "positional_embedding", 0)) t.max_positions = *pos;
  if (auto inter = s.dim(p + "transformer.resblocks.0.mlp.c_fc.weight", 0)) t.intermediate = *inter;
  int layers = 0;
  while (s.has(p + "transformer.resblocks." + std::to_string(layers) + ".mlp.c_fc.weight")) ++layers;
  if (layers > 0) t.layers = layers;
  if (t.layers < 2)
    s.fail(p + "transformer.resblocks.0.mlp.c_fc.weight", "one layer leaves nothing for the penultimate-layer output SD2 and SDXL use");
  // OpenCLIP text towers use 64-wide heads (ViT-H: 1024 wide, 16 heads); the count is not stored.
  t.heads = t.width % 64 == 0 ? t.width / 64 : 1;
}

void detect_text(shapes& s, text_encoder_config& t, std::string_view prefix) {
  const std::string p(prefix);
  if (auto vocab = s.dim(p + "embeddings.token_embedding.weight", 0)) t.vocab_size = *vocab;
  if (auto w = s.dim(p + "embeddings.token_embedding.weight", 1)) t.width = *w;
  if (auto pos = s.dim(p + "embeddings.position_embedding.weight", 0)) t.max_positions = *pos;
  if (auto inter = s.dim(p + "encoder.layers.0.mlp.fc1.weight", 0)) t.intermediate = *inter;
  if (s.has(p + "encoder.layers.0.mlp.fc1.weight")) {
    int layers = 0;
    while (s.has(p + "encoder.layers." + std::to_string(layers) + ".mlp.fc1.weight")) ++layers;
    t.layers = layers;
  }
  // CLIP text transformers use 64-wide heads; the count is not stored in the weights.
  if (t.width % 64 == 0) t.heads = t.width / 64;
  if (t.width % t.heads != 0)
    s.fail(p + "embeddings.token_embedding.weight",
           "a text width of " + std::to_string(t.width) + " cannot be split into attention heads");
}

} // namespace

void refuse_unsupported_architecture(const safetensors_file& f) {
  static const std::pair<const char*, const char*> foreign[] = {
      {"model.diffusion_model.joint_blocks.", "SD3 checkpoint (MMDiT)"},
      {"joint_blocks.", "SD3 checkpoint (MMDiT)"},
      {"model.diffusion_model.double_blocks.", "Flux checkpoint"},
      {"double_blocks.", "Flux checkpoint"},
      {"text_encoders.", "SD3/Flux checkpoint (bundled text encoders)"},
      {"embedder.model.", "unCLIP checkpoint"},
      {"depth_model.", "SD2 depth checkpoint"},
      {"cond_stage_model.roberta", "AltDiffusion checkpoint"},
  };
  const st_tensor* conditioner = nullptr;
  const st_tensor* label_emb = nullptr;
  for (const auto& t : f.tensors()) {
    for (const auto& [prefix, what] : foreign)
      if (starts_with(t.name, prefix)) unsupported(f, what, t.name);
    if (!conditioner && starts_with(t.name, "conditioner.embedders.")) conditioner = &t;
    if (!label_emb && starts_with(t.name, std::string(sd1_unet_prefix) + "label_emb.")) label_emb = &t;
  }
  if (conditioner) {
    // A1111's sd_models_config: OpenCLIP as embedder 1 is SDXL base, as embedder 0 the refiner.
    for (const auto& t : f.tensors())
      if (starts_with(t.name, "conditioner.embedders.0.model.")) unsupported(f, "SDXL refiner checkpoint", t.name);
    const std::string clip_l = std::string(sdxl_text_prefix) + "embeddings.token_embedding.weight";
    const std::string bigg = std::string(sdxl_text2_prefix) + "token_embedding.weight";
    const std::string label = std::string(sd1_unet_prefix) + "label_emb.0.0.weight";
    for (const std::string& key : {clip_l, bigg, label})
      if (!f.find(key))
        throw error(errc::bad_checkpoint, f.path(),
                    "SDXL checkpoint (tensor '" + conditioner->name + "') without tensor '" + key +
                        "': not an SDXL base checkpoint (CLIP ViT-L, OpenCLIP bigG and a label-embedding UNet)");
  } else if (label_emb) {
    unsupported(f, "class-conditioned UNet (unCLIP)", label_emb->name);
  }
  if (const st_tensor* t = f.find(std::string(sd2_text_prefix) + "transformer.resblocks.0.attn.in_proj_weight");
      t && !(t->shape.size() == 2 && t->shape[0] == 3 * t->shape[1]))
    throw error(errc::bad_checkpoint, f.path(),
                "tensor '" + t->name + "' has shape " + shape_text(t->shape) +
                  ": not an OpenCLIP text encoder's fused attention projection [3·width, width]");
  const std::string first_conv = std::string(sd1_unet_prefix) + "input_blocks.0.0.weight";
  const st_tensor* conv = f.find(first_conv);
  if (!conv)
    throw error(errc::bad_checkpoint, f.path(),
                "tensor '" + first_conv + "' is missing: not a Stable Diffusion checkpoint (a VAE or LoRA file?)");
  if (conv->shape.size() == 4 && conv->shape[1] == 8) unsupported(f, "instruct-pix2pix model (8-channel UNet input)", first_conv);
}

model_config detect_model_config(const safetensors_file& f) {
  model_config c;
  shapes s(f);
  if (f.find(std::string(sdxl_text2_prefix) + "token_embedding.weight")) {
    // sgm's sd_xl_base.yaml: heads of 64 channels, linear projections, CLIP ViT-L's hidden state
    // one layer before the end (its layer_idx 11 of 12) beside bigG's penultimate one.
    c.unet.num_heads = -1;
    c.unet.num_head_channels = 64;
    c.unet.use_linear_in_transformer = true;
    c.vae.scale_factor = 0.13025;
    detect_unet(s, c.unet);
    detect_vae(s, c.vae);
    c.text = sdxl_clip_l();
    detect_text(s, c.text, sdxl_text_prefix);
    text_encoder_config g = sdxl_open_clip_bigg();
    detect_open_clip_text(s, g, sdxl_text2_prefix);
    g.projection_dim = 0;
    if (auto proj = s.dim(std::string(sdxl_text2_prefix) + "text_projection", 1)) g.projection_dim = *proj;
    c.text2 = g;
    c.source = "detected from tensor shapes";
    return c;
  }
  const bool sd2 = f.find(std::string(sd2_text_prefix) + "token_embedding.weight") != nullptr ||
                   f.find(std::string(sd2_text_prefix) + "transformer.resblocks.0.attn.in_proj_weight") != nullptr;
  if (sd2) {
    // A1111's v2-inference(-v).yaml: heads of 64 channels, 1024-wide context, linear projections.
    c.unet.num_heads = -1;
    c.unet.num_head_channels = 64;
    c.unet.context_dim = 1024;
    c.unet.use_linear_in_transformer = true;
  }
  detect_unet(s, c.unet);
  detect_vae(s, c.vae);
  if (sd2) {
    c.text = open_clip_vit_h();
    detect_open_clip_text(s, c.text, sd2_text_prefix);
  } else {
    detect_text(s, c.text, sd1_text_prefix);
  }
  // SD2 inpainting uses v2-inpainting-inference.yaml (eps); other SD2 models go through A1111's
  // is_using_v_parameterization_for_sd2 test, run once the UNet is loaded.
  c.test_for_v_prediction = sd2 && c.unet.in_channels != 9;
  c.source = s.found_any() ? "detected from tensor shapes" : "defaults";
  return c;
}

} // namespace sdw
