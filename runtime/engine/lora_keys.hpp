#pragma once
/// LoRA key names: kohya-ss / diffusers layer names turned into the CompVis module names A1111's
/// Lora extension matches them against (networks.py convert_diffusers_name_to_compvis, SD1), and
/// the modules of our networks under those names.

#include "runtime/engine/model_config.hpp"

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
};

/// The modules of an SD1 model by A1111's network layer name: the module path under
/// `cond_stage_model.wrapped` or `model` with '.' replaced by '_' ("diffusion_model_input_blocks_1_1_proj_in",
/// "transformer_text_model_encoder_layers_0_self_attn_q_proj"). The VAE has none.
std::map<std::string, lora_layer> lora_layers(const model_config& config);

/// convert_diffusers_name_to_compvis for an SD1 model: a kohya name ("lora_unet_down_blocks_0_attentions_0_proj_in",
/// "lora_te_text_model_encoder_layers_3_mlp_fc1") as a layer name; names it does not know come back unchanged.
std::string kohya_to_compvis(const std::string& kohya);

/// The layer a LoRA key prefix (the key before its first '.') names, A1111's way: the converted
/// name, else the name with `lora_unet` replaced by `diffusion_model`, else `lora_te1_text_model`
/// by `transformer_text_model` (files already in CompVis names); nothing when no module matches.
std::optional<std::string> find_lora_layer(const std::string& prefix, const std::map<std::string, lora_layer>& layers);

/// The kohya name a LoRA trainer gives a layer (the inverse of kohya_to_compvis), or, where the
/// model's structure has no such name (the tiny preset's blocks), `lora_unet_` + the CompVis name.
std::string kohya_name_for(const std::string& layer);

} // namespace sdw
