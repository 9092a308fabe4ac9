#pragma once
/// LoRA key names: kohya-ss / diffusers layer names turned into the CompVis module names A1111's
/// Lora extension matches them against (networks.py convert_diffusers_name_to_compvis), and the
/// modules of our networks under those names, for SD1, SD2 and SDXL.

#include "runtime/engine/model_config.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace sdw {

/// What kind of layer a module is: A1111 patches linear, convolution and norm (GroupNorm,
/// LayerNorm) layers; the others (embeddings) never take a network's delta.
enum class lora_layer_kind { linear, conv, norm, other };

/// One module a LoRA may change.
struct lora_layer {
  std::string weight_key;  ///< the checkpoint key of its weight ("model.diffusion_model.….weight")
  std::string bias_key;    ///< the key of its bias, empty when it has none
  lora_layer_kind kind = lora_layer_kind::other;
  bool text = false;       ///< a text-encoder module (else the UNet)
  /// OpenCLIP's attention (SD2, SDXL's second encoder) is one MultiheadAttention module whose
  /// in_proj_weight stacks q, k and v. A1111 changes it only when a network has all of its q_proj,
  /// k_proj, v_proj and out_proj modules: `attention` names that module for the four, and q, k
  /// and v are `rows` rows of in_proj_weight from `row_begin` (their bias deltas are dropped).
  std::string attention;
  int64_t row_begin = 0;
  int64_t rows = 0;  ///< 0: the whole weight
};

/// The modules of a model by A1111's network layer name: the module path under `model` or the
/// text encoder's `wrapped` module with '.' replaced by '_' ("diffusion_model_input_blocks_1_1_proj_in",
/// SD1's "transformer_text_model_encoder_layers_0_self_attn_q_proj", SD2's
/// "model_transformer_resblocks_0_mlp_c_fc"), SDXL's text encoders numbered by their embedder
/// ("0_transformer_text_model_…", "1_model_transformer_resblocks_…"); OpenCLIP's attention also
/// as "…_attn_q_proj", "…_attn_k_proj", "…_attn_v_proj" (rows of in_proj_weight). The VAE has none.
std::map<std::string, lora_layer> lora_layers(const model_config& config);

/// convert_diffusers_name_to_compvis: a kohya name ("lora_unet_down_blocks_0_attentions_0_proj_in",
/// "lora_te_text_model_encoder_layers_3_mlp_fc1", "lora_te2_text_model_encoder_layers_3_self_attn_q_proj")
/// as a layer name; `sd2` turns `lora_te_` names into OpenCLIP's; names it does not know come back unchanged.
std::string kohya_to_compvis(const std::string& kohya, bool sd2 = false);

/// The layer a LoRA key prefix (the key before its first '.') names, A1111's way: the converted
/// name, else the name with `lora_unet` replaced by `diffusion_model`, else `lora_te1_text_model`
/// by `0_transformer_text_model` (SDXL) or `transformer_text_model` (files already in CompVis
/// names); nothing when no module matches.
std::optional<std::string> find_lora_layer(const std::string& prefix, const std::map<std::string, lora_layer>& layers);

/// The kohya name a LoRA trainer gives a layer (the inverse of kohya_to_compvis), or, where the
/// model's structure has no such name (the tiny preset's blocks), `lora_unet_` + the CompVis name.
/// `compvis_unet`: UNet layers always by their CompVis name, as kohya names SDXL's.
std::string kohya_name_for(const std::string& layer, bool compvis_unet = false);

} // namespace sdw
