#pragma once
/// Recognising what a checkpoint holds from its tensor names and shapes alone.

#include "runtime/engine/model_config.hpp"

namespace sdw {

class safetensors_file;

/// Throws error(bad_checkpoint, path, "... not supported yet") when the file's keys show an
/// architecture other than SD1.x, SD2.x and SDXL base (SDXL refiner, SD3, Flux, unCLIP, depth,
/// AltDiffusion, class-conditioned UNets), naming the tensor found; when an SDXL file lacks CLIP
/// ViT-L, OpenCLIP bigG or the UNet's label embedding; or when it holds no UNet at all.
void refuse_unsupported_architecture(const safetensors_file& file);

/// SD1 defaults with every size the tensor shapes reveal (UNet channels, levels, res blocks,
/// attention levels, context width, linear projections, transformer depth; VAE channels and
/// levels; text encoder width, depth, MLP width, vocabulary and positions). `source` is
/// "detected from tensor shapes", or "defaults" when none of the probed tensors exist.
/// `conditioner.embedders.1.model.*` makes it SDXL base (sgm's sd_xl_base.yaml sizes, each level's
/// transformer depth, the label embedding's width, both text encoders, VAE scale 0.13025).
/// OpenCLIP text weights (`cond_stage_model.model.*`) make it SD2, as A1111's
/// guess_model_config_from_state_dict decides: 64-channel attention heads, the "penultimate"
/// text layer, and (except for 9-channel inpainting UNets, always eps) test_for_v_prediction set.
model_config detect_model_config(const safetensors_file& file);

} // namespace sdw
