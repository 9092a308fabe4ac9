#pragma once
/// The architecture of an SD1.x or SD2.x checkpoint: read from the `<stem>.yaml` beside it (ldm
/// config structure) or detected from its tensor shapes, with SD1 defaults for the rest.

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
  int context_dim = 768;
  bool use_linear_in_transformer = false;
};

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
  /// OpenCLIP only: how many final layers ldm's FrozenOpenCLIPEmbedder leaves out (its `layer`:
  /// "penultimate" = 1, as every SD2 config has it; "last" = 0).
  int open_clip_layer_idx = 1;
};

/// The OpenCLIP ViT-H/14 text model of SD2.x.
text_encoder_config open_clip_vit_h();

/// What the UNet predicts (ldm's `parameterization`): the noise, or v = α·ε − σ·x0 (SD2.x 768-v).
enum class prediction { eps, v };

/// Everything needed to build the modules of an SD1.x checkpoint and its noise schedule.
struct model_config {
  unet_config unet;
  vae_config vae;
  text_encoder_config text;
  double linear_start = 0.00085, linear_end = 0.012;
  int timesteps = 1000;
  prediction parameterization = prediction::eps;
  /// SD2 without a yaml: `parameterization` is to be decided after loading by A1111's test run of
  /// the UNet (see v_prediction_probe.hpp).
  bool test_for_v_prediction = false;
  std::string source;  ///< "defaults", "detected from tensor shapes" or the yaml path
};

/// An SD2.x checkpoint (OpenCLIP text encoder).
inline bool is_sd2(const model_config& c) { return c.text.open_clip; }

/// "eps" or "v", as ldm's yaml writes it.
const char* to_string(prediction p);

/// An inpainting checkpoint: its UNet takes the latents, the mask and the masked image's latents
/// (9 channels; A1111's "hybrid" conditioning).
inline bool is_inpainting(const model_config& c) { return c.unet.in_channels == 9; }

/// Field-by-field equality (attention_resolutions compared as a set; for model_config, `source`
/// is not compared).
bool operator==(const unet_config& a, const unet_config& b);
bool operator==(const vae_config& a, const vae_config& b);
bool operator==(const text_encoder_config& a, const text_encoder_config& b);
bool operator==(const model_config& a, const model_config& b);
inline bool operator!=(const model_config& a, const model_config& b) { return !(a == b); }

/// The config for a checkpoint: `<stem>.yaml` beside `checkpoint_path` when it exists, else SD1 or
/// SD2 defaults with sizes detected from the file's tensor shapes. Throws error(bad_checkpoint) for
/// architectures other than SD1.x/SD2.x (SDXL, SD3, Flux, instruct-pix2pix, ...) and for a malformed
/// yaml (naming the yaml file and key).
model_config load_model_config(const std::string& checkpoint_path, const safetensors_file& file);

/// Checks that every size of `config` is positive and in a range some SD1-like network could have
/// (e.g. 1..8192 base channels, 1..16 levels, 1..256 text layers, heads that divide the width),
/// before anything is built from it: error(bad_checkpoint, `file`, "<field> is <v>, ...; model config: <source>").
void check_model_config(const model_config& config, const std::string& file);

/// Reads an ldm-style yaml config (plus the `cond_stage_config.params.text_model` extension);
/// `parameterization: "v"` and a FrozenOpenCLIPEmbedder cond stage are SD2's.
model_config read_model_config_yaml(const std::string& yaml_path);

/// Writes `config` as an ldm-style yaml that read_model_config_yaml reads back unchanged.
void write_model_config_yaml(const model_config& config, const std::string& yaml_path);

/// The `<stem>.yaml` path beside a checkpoint path.
std::string config_path_for(const std::string& checkpoint_path);

} // namespace sdw
