#pragma once
/// Synthetic SD1.x, SD2.x and SDXL base checkpoints with random weights, for tests and benchmarks without real models.

#include "runtime/engine/model_config.hpp"
#include "runtime/engine/safetensors.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace sdw {

/// Which architecture to generate: a tiny SD1-shaped model, the full SD1.5 size, a tiny SD2-shaped
/// model (OpenCLIP text encoder, 64-channel heads, linear projections), the full SD2.x size, a tiny
/// SDXL-base-shaped model (both text encoders, label embedding, per-level transformer depths) or
/// the full SDXL base size.
enum class model_preset { tiny, sd15, sd2_tiny, sd2, sdxl_tiny, sdxl };

/// "tiny", "sd15", "sd2-tiny", "sd2", "sdxl-tiny" or "sdxl".
const char* to_string(model_preset preset);

/// The preset of a name to_string gives; nothing for another name.
std::optional<model_preset> parse_model_preset(const std::string& name);

/// The architecture of a preset (sd15: the SD1 defaults; tiny: a few-MB model with the same structure).
model_config preset_config(model_preset preset);

/// Writes a safetensors checkpoint with every sd1_checkpoint_layout key filled with random weights
/// (scaled so activations stay in range through a forward pass) in `dtype` (f16 or f32), the float32
/// schedule buffers, int64 position_ids and `__metadata__` {"format": "pt", "sdworker_preset",
/// "sdworker_seed"}. The same preset, dtype and seed always give the same bytes. The tiny preset also
/// writes `<stem>.yaml` beside it. `inpainting`: an inpainting checkpoint (a 9-channel UNet input, as
/// sd-v1-5-inpainting). SD2 presets write the OpenCLIP keys (with its unused text_projection and
/// logit_scale) and no position ids; with `v_prediction` they write `<stem>.yaml` with
/// `parameterization: "v"` beside the file, as A1111 users do for 768-v models (a random UNet cannot
/// pass A1111's v test), and without it no yaml, so that loading detects an eps SD2 model. SDXL
/// presets write `conditioner.embedders.{0,1}.*` with bigG's text_projection and logit_scale and
/// CLIP-L's position ids, and no yaml (detection reads them). Weights are generated while they are
/// written, one chunk at a time: the full sizes never need the model in memory.
/// Throws error(bad_request) for another dtype.
void make_model(model_preset preset, st_dtype dtype, uint64_t seed, const std::string& out_path,
                bool inpainting = false, bool v_prediction = false);

/// The same for an architecture of one's own (e.g. a preset's with attention at other
/// resolutions), always with `<stem>.yaml` beside it.
void make_model(const model_config& config, st_dtype dtype, uint64_t seed, const std::string& out_path);

/// The embedded default model: the tiny random-weight checkpoint in `model_dir`, made on first use.
std::string ensure_demo_model(const std::string& model_dir);

/// Where ensure_demo_model keeps the demo model in `model_dir`.
std::string demo_model_path(const std::string& model_dir);

} // namespace sdw
