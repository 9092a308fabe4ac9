#pragma once
/// The tensor names and shapes of an A1111/CompVis SD1.x checkpoint, derived from a model_config.
/// This list is the contract between checkpoint files and the module code that loads them.

#include "runtime/engine/model_config.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdw {

/// One tensor a checkpoint holds: its full key and shape.
struct tensor_spec {
  std::string name;
  std::vector<int64_t> shape;
};

/// Key prefix of the UNet weights.
inline constexpr std::string_view sd1_unet_prefix = "model.diffusion_model.";
/// Key prefix of the VAE weights.
inline constexpr std::string_view sd1_vae_prefix = "first_stage_model.";
/// Key prefix of the CLIP text encoder weights.
inline constexpr std::string_view sd1_text_prefix = "cond_stage_model.transformer.text_model.";
/// Key prefix of SD2's OpenCLIP text encoder weights.
inline constexpr std::string_view sd2_text_prefix = "cond_stage_model.model.";
/// Key prefixes of SDXL's CLIP ViT-L and OpenCLIP bigG text encoders.
inline constexpr std::string_view sdxl_text_prefix = "conditioner.embedders.0.transformer.text_model.";
inline constexpr std::string_view sdxl_text2_prefix = "conditioner.embedders.1.model.";
/// The optional int64 [1, max_positions] position id buffer of the text encoder.
inline constexpr std::string_view sd1_position_ids_key =
    "cond_stage_model.transformer.text_model.embeddings.position_ids";

/// Every weight of the UNet, VAE and text encoder, in module order (no schedule buffers, no
/// position_ids, no unused OpenCLIP text_projection/logit_scale): what a loader must find in an
/// SD1.x checkpoint, an SD2.x one when `config.text.open_clip`, or an SDXL base one (label_emb,
/// both text encoders under `conditioner.embedders.*`, bigG's text_projection) when `config.text2`.
std::vector<tensor_spec> sd1_checkpoint_layout(const model_config& config);

/// The 12 float32 noise-schedule buffers (`betas`, `alphas_cumprod`, ...) real checkpoints carry,
/// each of shape [timesteps]; optional for loaders.
std::vector<tensor_spec> sd1_schedule_layout(const model_config& config);

/// Values of the schedule buffers as ldm's register_schedule computes them ("linear" schedule:
/// betas = linspace(sqrt(linear_start), sqrt(linear_end), timesteps)^2), in sd1_schedule_layout order.
std::vector<std::pair<std::string, std::vector<double>>> sd1_schedule_buffers(const model_config& config);

/// Maps an older text-encoder key (`cond_stage_model.transformer.embeddings.…`, `.encoder.…`,
/// `.final_layer_norm.…`, without `text_model.`) to the current one; other keys are returned unchanged.
std::string sd1_canonical_key(std::string_view key);

} // namespace sdw
