#pragma once
/// What one network module changes in its layer, by A1111's formulas (network_lora.py,
/// network_hada.py, network_lokr.py, network_full.py, network_norm.py, network_ia3.py,
/// network_glora.py, lyco_helpers.py) and network.py's finalize_updown: the module's own `bias`
/// added, the result reshaped to the layer's weight, times calc_scale (a `scale` key, else
/// alpha / dim where the kind has a dim, else 1), DoRA's weight decomposition when the module has
/// a `dora_scale`, then times the te or unet multiplier; a bias delta (full `diff_b`, norm
/// `b_norm`) times the multiplier only.

#include "runtime/engine/lora_file.hpp"

#include <ATen/core/Tensor.h>

#include <optional>

namespace sdw {

struct lora_use;

/// A module's delta for one job.
struct lora_delta {
  at::Tensor updown;   ///< added to the weight (broadcast as PyTorch adds)
  at::Tensor ex_bias;  ///< added to the bias, or undefined
};

/// The delta of `module` used as `use` says, for a layer whose weight is now `weight` (the
/// original, or what earlier networks of the job made of it), computed in `dtype` on the
/// weight's device. Throws std::runtime_error where A1111's computation fails for the layer.
lora_delta lora_module_delta(const lora_module& module, const lora_use& use, const at::Tensor& weight,
                             c10::ScalarType dtype);

/// A1111's NetworkModule.multiplier: the te multiplier for text-encoder layers (those with
/// "transformer" in the first 20 characters of their name), the unet one for the rest.
double lora_multiplier(const lora_module& module, const lora_use& use);

} // namespace sdw
