#pragma once
/// Checkpoints and VAEs saved with torch.save (.ckpt, .pt, .pth), read through the restricted reader
/// (torch_file.hpp) and shown to the loaders as a safetensors_file, so that model detection, the layout
/// checks and weight loading treat them exactly as a .safetensors file.

#include "runtime/engine/safetensors.hpp"

#include <memory>
#include <string>

namespace sdw {

/// A checkpoint's weights as A1111's read_state_dict gives them: a `.ckpt`, `.pt`, `.pth` or `.bin` file
/// is read as torch.save output, a top-level `state_dict` is unwrapped (a nested one
/// dropped) and only tensors are kept; any other file is mapped as .safetensors. In both, the older text-encoder keys
/// ("cond_stage_model.transformer.embeddings." ...) are renamed with sd1_canonical_key, as A1111's
/// transform_checkpoint_dict_key does; a key already under the current name wins.
/// Throws what safetensors_file::open or read_torch_file throw, naming the file.
std::shared_ptr<const safetensors_file> open_checkpoint_weights(const std::string& path);

/// A VAE file as A1111's load_vae reads it: like open_checkpoint_weights, without the keys that start
/// with "loss" and without model_ema.decay / model_ema.num_updates.
std::shared_ptr<const safetensors_file> open_vae_weights(const std::string& path);

} // namespace sdw
