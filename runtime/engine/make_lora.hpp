#pragma once
/// Synthetic LoRA and LoCon files with random weights in the kohya-ss key layout, for the tiny
/// and sd15 presets: what tests and smoke tests put in a Lora folder.

#include "runtime/engine/make_model.hpp"

#include <cstdint>
#include <string>

namespace sdw {

/// Which layers a file covers: `lora` the UNet's attention projections (to_q, to_k, to_v,
/// to_out_0), proj_in/proj_out and feed-forward layers plus the text encoder's
/// q/k/v/out_proj and mlp_fc1/fc2; `locon` those and the convolutions (resnet conv1/conv2 and
/// shortcuts, down- and upsamplers) with 4-D lora_down [rank, in, kh, kw] and lora_up [out, rank, 1, 1].
enum class lora_kind { lora, locon };

/// "lora" or "locon".
const char* to_string(lora_kind kind);

/// Writes a LoRA for `preset`: per layer `<kohya name>.lora_down.weight`, `.lora_up.weight` and
/// `.alpha` (= rank / 2, so the scale alpha/rank is 0.5), random values that change the weights by
/// about a third of their size, in `dtype` (f16 or f32; alpha always f32); kohya's metadata
/// (ss_network_module, ss_network_dim, ss_network_alpha) and the preset and seed. The same
/// arguments always give the same bytes. Throws error(bad_request) for a rank < 1 or another dtype.
void make_lora(model_preset preset, lora_kind kind, int rank, st_dtype dtype, uint64_t seed,
               const std::string& out_path);

} // namespace sdw
