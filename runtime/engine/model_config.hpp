#pragma once
/// The architecture of an SD1.x, SD2.x or SDXL base checkpoint: read from the `<stem>.yaml` beside
/// it (ldm or sgm config structure) or detected from its tensor shapes, with SD1 defaults for the rest.

#include <optional>
#include <string>
#include <vector>

namespace sdw {

class safetensors_file;

/// LDM openaimodel UNetModel parameters (defaults: SD1.x).
struct unet_config {
  int in_channels = 4, out_channels = 4, model_channels = 320;
  std::vector<int> channel_mult{1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<int> attention_resolutions{4, 2, 1};
  int num_heads = 8;
  int num_head_channels = -1;
  int transformer_depth = 1;
  /// sgm's per-level transformer depth (SDXL: [1, 2, 10]; levels without attention ignore theirs);
  /// empty: every level has `transformer_depth`.
  std::vector<int> transformer_depth_levels;
  /// sgm's transformer_depth_middle; -1: the last level's depth.
  int transformer_depth_middle = -1;
  int context_dim = 768;
  bool use_linear_in_transformer = false;
  /// Width of the `y` vector sgm's label_emb (num_classes "sequential") adds to the time embedding
  /// (SDXL base: 2816); 0: no label embedding.
  int adm_in_channels = 0;
};

/// The transformer depth of UNet level `level` (0 = full resolution).
inline int level_transformer_depth(const unet_config& u, size_t level) {
  return u.transformer_depth_levels.empty() ? u.transformer_depth : u.transformer_depth_levels.at(level);
}

/// The transformer depth of the middle block.
inline int middle_transformer_depth(const unet_config& u) {
  if (u.transformer_depth_middle >= 0) return u.transformer_depth_middle;
  return u.transformer_depth_levels.empty() ? u.transformer_depth : u.transformer_depth_levels.back();
}

/// LDM AutoencoderKL parameters (defaults: SD1.x).
struct vae_config {
  int ch = 128;
  std::vector<int> ch_mult{1, 2, 4, 4};
  int num_res_blocks = 2;
  int z_channels = 4;
  int embed_dim = 4;
  int in_channels = 3;
  int out_ch = 3;
  double scale_factor = 0.18215;
};

/// CLIP text transformer parameters (defaults: CLIP ViT-L/14 as in SD1.x).
struct text_encoder_config {
  int vocab_size = 49408;
  int max_positions = 77;
  int width = 768;
  int layers = 12;
  int heads = 12;
  int intermediate = 3072;
  /// SD2's OpenCLIP text model (`cond_stage_model.model.*`, GELU, padding with token 0) instead of
  /// SD1's Hugging Face CLIPTextModel (`cond_stage_model.transformer.text_model.*`, quick GELU).
  bool open_clip = false;
  /// OpenCLIP, and SDXL's embedders: how many final layers are left out (ldm's
  /// FrozenOpenCLIPEmbedder `layer`: "penultimate" = 1, as every SD2 config has it; "last" = 0;
  /// SDXL's CLIP ViT-L hidden_states[11] of 12 layers = 1).
  int open_clip_layer_idx = 1;
  /// SDXL's embedders take that hidden state as it is (sgm's FrozenCLIPEmbedder layer "hidden",
  /// FrozenOpenCLIPEmbedder2 legacy False); SD1 and SD2 apply the final layer norm to it.
  bool final_norm = true;
  /// Width of OpenCLIP's text_projection ([width, projection_dim]), which SDXL's pooled vector
  /// goes through; 0 where the projection is not used.
  int projection_dim = 0;
};

/// The OpenCLIP ViT-H/14 text model of SD2.x.
text_encoder_config open_clip_vit_h();

/// SDXL's first text encoder: CLIP ViT-L/14, hidden_states[11] without the final layer norm.
text_encoder_config sdxl_clip_l();

/// SDXL's second text encoder: OpenCLIP ViT-bigG/14, its penultimate layer and the pooled vector
/// through text_projection.
text_encoder_config sdxl_open_clip_bigg();

/// What SDXL base appends to the pooled text vector in its `y`: six sinusoidal embeddings (original
/// height and width, crop top and left, target height and width) of this width each.
inline constexpr int sdxl_size_embedding_dim = 256;
inline constexpr int sdxl_size_embeddings = 6;

/// What the UNet predicts (ldm's `parameterization`): the noise, or v = α·ε − σ·x0 (SD2.x 768-v).
enum class prediction { eps, v };

/// Everything needed to build the modules of an SD1.x checkpoint and its noise schedule.
struct model_config {
  unet_config unet;
  vae_config vae;
  text_encoder_config text;
  /// SDXL base: the OpenCLIP bigG embedder beside `text` (CLIP ViT-L); their outputs are
  /// concatenated on the feature axis. Absent for SD1/SD2.
  std::optional<text_encoder_config> text2;
  double linear_start = 0.00085, linear_end = 0.012;
  int timesteps = 1000;
  prediction parameterization = prediction::eps;
  /// SD2 without a yaml: `parameterization` is to be decided after loading by A1111's test run of
  /// the UNet (see v_prediction_probe.hpp).
  bool test_for_v_prediction = false;
  std::string source;  ///< "defaults", "detected from tensor shapes" or the yaml path
};

/// An SDXL base checkpoint (two text encoders, a `y`-conditioned UNet).
inline bool is_sdxl(const model_config& c) { return c.text2.has_value(); }

/// An SD2.x checkpoint (OpenCLIP text encoder).
inline bool is_sd2(const model_config& c) { return c.text.open_clip && !is_sdxl(c); }

/// "sd1", "sd2" or "sdxl".
const char* model_family(const model_config& c);

/// "eps" or "v", as ldm's yaml writes it.
const char* to_string(prediction p);

/// An inpainting checkpoint: its UNet takes the latents, the mask and the masked image's latents
/// (9 channels; A1111's "hybrid" conditioning).
inline bool is_inpainting(const model_config& c) { return c.unet.in_channels == 9; }

/// Field-by-field equality (attention_resolutions compared as a set, transformer depths only where
/// they are used; for model_config, `source` is not compared).
bool operator==(const unet_config& a, const unet_config& b);
bool operator==(const vae_config& a, const vae_config& b);
bool operator==(const text_encoder_config& a, const text_encoder_config& b);
bool operator==(const model_config& a, const model_config& b);
inline bool operator!=(const model_config& a, const model_config& b) { return !(a == b); }

/// The config for a checkpoint: `<stem>.yaml` beside `checkpoint_path` when it exists, else SD1,
/// SD2 or SDXL defaults with sizes detected from the file's tensor shapes. Throws
/// error(bad_checkpoint) for architectures other than SD1.x/SD2.x/SDXL base (SDXL refiner, SD3,
/// Flux, instruct-pix2pix, ...) and for a malformed yaml (naming the yaml file and key).
model_config load_model_config(const std::string& checkpoint_path, const safetensors_file& file);

/// Checks that every size of `config` is positive and in a range some SD1-like network could have
/// (e.g. 1..8192 base channels, 1..16 levels, 1..256 text layers, heads that divide the width),
/// before anything is built from it: error(bad_checkpoint, `file`, "<field> is <v>, ...; model config: <source>").
void check_model_config(const model_config& config, const std::string& file);

/// Reads an ldm-style yaml config (plus the `cond_stage_config.params.text_model` extension);
/// `parameterization: "v"` and a FrozenOpenCLIPEmbedder cond stage are SD2's. An sgm-style config
/// (`model.params.network_config`, `conditioner_config` with FrozenCLIPEmbedder and
/// FrozenOpenCLIPEmbedder2, each with the same `text_model` extension) is SDXL base's.
model_config read_model_config_yaml(const std::string& yaml_path);

/// Writes `config` as an ldm-style (SDXL: sgm-style) yaml that read_model_config_yaml reads back unchanged.
void write_model_config_yaml(const model_config& config, const std::string& yaml_path);

/// The `<stem>.yaml` path beside a checkpoint path.
std::string config_path_for(const std::string& checkpoint_path);

} // namespace sdw
