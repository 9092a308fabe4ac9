#pragma once
/// Recognising what a checkpoint holds from its tensor names and shapes alone.

#include "runtime/engine/model_config.hpp"

namespace sdw {

class safetensors_file;

/// Throws error(bad_checkpoint, path, "... not supported yet") when the file's keys show an
/// architecture other than SD1.x (SDXL, SDXL refiner, SD2/OpenCLIP, unCLIP, depth, AltDiffusion,
/// class-conditioned UNets) or when it holds no SD1 UNet at all.
void refuse_unsupported_architecture(const safetensors_file& file);

/// SD1 defaults with every size the tensor shapes reveal (UNet channels, levels, res blocks,
/// attention levels, context width, linear projections, transformer depth; VAE channels and
/// levels; text encoder width, depth, MLP width, vocabulary and positions). `source` is
/// "detected from tensor shapes", or "defaults" when none of the probed tensors exist.
model_config detect_model_config(const safetensors_file& file);

} // namespace sdw
