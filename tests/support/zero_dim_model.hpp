#pragma once
// A tiny-preset checkpoint (no yaml beside it) in which one tensor has a zero-sized dimension:
// the kind of file that once divided by zero in model detection.

#include "runtime/engine/make_model.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <string>
#include <vector>

namespace sdw::test {

/// The UNet's first convolution, whose output channels are the model's base width.
inline const std::string zero_dim_tensor = "model.diffusion_model.input_blocks.0.0.weight";

/// Writes the checkpoint to `path`, with `zero_dim_tensor` of shape [0, 4, 3, 3].
inline void write_zero_dim_checkpoint(const std::string& path) {
  std::vector<st_write_entry> entries;
  for (const auto& t : sd1_checkpoint_layout(preset_config(model_preset::tiny))) {
    std::vector<int64_t> shape = t.shape;
    if (t.name == zero_dim_tensor) {
      shape[0] = 0;
    }
    int64_t n = 1;
    for (auto d : shape) n *= d;
    entries.push_back({t.name, st_dtype::f32, shape, std::string(static_cast<size_t>(4 * n), '\0')});
  }
  write_safetensors(path, entries, {});
}

} // namespace sdw::test
