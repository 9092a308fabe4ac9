#pragma once
/// A LoRA / LoCon file read for one model: its modules matched to the model's layers (A1111's
/// load_network for the kohya-ss `lora_up` / `lora_down` / `alpha` layout, with `lora_mid` for
/// CP-decomposed convolutions), and the short hash the infotext shows.

#include "runtime/engine/lora_keys.hpp"

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// One module of a LoRA: the low-rank factors of a delta for one model layer.
struct lora_module {
  std::string layer;       ///< A1111's network layer name (decides te or unet multiplier)
  lora_layer target;       ///< the model weight it changes
  at::Tensor up, down;     ///< as stored, widened to float32 on the CPU
  at::Tensor mid;          ///< the CP core of a LoCon conv, or undefined
  std::optional<double> alpha;  ///< the `alpha` scalar; scale = alpha / rank
  std::optional<double> scale;  ///< a `scale` scalar, which wins over alpha
};

/// A LoRA file's modules for one model configuration.
struct lora_network {
  std::string path;
  std::vector<lora_module> modules;  ///< in the file's tensor order
  size_t unmatched = 0;              ///< keys no layer of the model has (ignored, as A1111 does)
};

/// Reads a .safetensors LoRA for the layers of a model. Keys are grouped by their prefix (before
/// the first '.'); a group matched to a layer must hold lora_up.weight and lora_down.weight
/// (LoHa, LoKr, full and norm diffs, and deltas for norm or embedding layers are
/// error(unsupported, path, ...)); groups that match no layer are counted and skipped.
std::shared_ptr<const lora_network> load_lora_network(const std::string& path,
                                                      const std::map<std::string, lora_layer>& layers);

/// The hash A1111 shows for a LoRA ("Lora hashes"): the metadata's `sshs_model_hash` when set,
/// else sha256 of the file after its 8-byte length and JSON header (kohya's "addnet" hash);
/// the first 12 hex digits.
std::string lora_short_hash(const std::string& path);

} // namespace sdw
