#pragma once
/// Synthetic SD1.x checkpoints with random weights, for tests and benchmarks without real models.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/safetensors.hpp"

#include <cstdint>
#include <string>

namespace sdw {

/// Which architecture to generate: a tiny SD1-shaped model or the full SD1.5 size.
enum class model_preset { tiny, sd15 };

/// "tiny" or "sd15".
const char* to_string(model_preset preset);

/// The architecture of a preset (sd15: the SD1 defaults; tiny: a few-MB model with the same structure).
model_config preset_config(model_preset preset);

/// Writes a safetensors checkpoint with every sd1_checkpoint_layout key filled with random weights
/// (scaled so activations stay in range through a forward pass) in `dtype` (f16 or f32), the float32
/// schedule buffers, int64 position_ids and `__metadata__` {"format": "pt", "sdworker_preset",
/// "sdworker_seed"}. The same preset, dtype and seed always give the same bytes. The tiny preset also
/// writes `<stem>.yaml` beside it. `inpainting`: an inpainting checkpoint (a 9-channel UNet input, as
/// sd-v1-5-inpainting). Throws error(bad_request) for another dtype.
void make_model(model_preset preset, st_dtype dtype, uint64_t seed, const std::string& out_path,
                bool inpainting = false);

/// The embedded default model: the tiny random-weight checkpoint in `model_dir`, made on first use.
std::string ensure_demo_model(const std::string& model_dir);

/// Where ensure_demo_model keeps the demo model in `model_dir`.
std::string demo_model_path(const std::string& model_dir);

} // namespace sdw
