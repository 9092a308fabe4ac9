#pragma once
/// A LoRA / LyCORIS file read for one model: its modules matched to the model's layers and told
/// apart by kind (A1111's load_network and the ModuleType classes of its Lora extension), and the
/// short hash the infotext shows.

#include "runtime/engine/lora_keys.hpp"

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdw {

/// The network kinds of A1111's Lora extension that sdworker merges, told apart by their keys in
/// the extension's order (networks.py module_types): LoRA/LoCon (`lora_up.weight`,
/// `lora_down.weight`, optional `lora_mid.weight`), LoHa (`hada_w1_a`, `hada_w1_b`, `hada_w2_a`,
/// `hada_w2_b`, optional Tucker cores `hada_t1`, `hada_t2`), IA3 (`weight`, `on_input`), LoKr
/// (`lokr_w1` or `lokr_w1_a`/`lokr_w1_b`, `lokr_w2` or `lokr_w2_a`/`lokr_w2_b`, optional
/// `lokr_t2`), full (`diff`, optional `diff_b`), norm (`w_norm`, `b_norm`) and GLoRA
/// (`a1.weight`, `a2.weight`, `b1.weight`, `b2.weight`, `alpha`).
enum class lora_module_kind { lora, loha, ia3, lokr, full, norm, glora };

/// "LoRA", "LoHa", ...
const char* to_string(lora_module_kind kind);

/// One module of a network file: what it holds for one model layer.
struct lora_module {
  std::string layer;       ///< A1111's network layer name (decides te or unet multiplier)
  lora_layer target;       ///< the model weight (and bias) it changes
  lora_module_kind kind = lora_module_kind::lora;
  std::map<std::string, at::Tensor> w;  ///< its tensors by key suffix, as stored, widened to float32 on the CPU
  std::optional<double> alpha;  ///< the `alpha` scalar; scale = alpha / dim
  std::optional<double> scale;  ///< a `scale` scalar, which wins over alpha
  std::optional<int64_t> dim;   ///< the rank alpha is divided by (A1111's self.dim; none for full, norm, IA3, GLoRA)
  bool on_input = false;        ///< IA3: scales the weight's inputs instead of its outputs

  /// The tensor stored under `part`, or an undefined tensor.
  at::Tensor get(const std::string& part) const;
};

/// A network file's modules for one model configuration.
struct lora_network {
  std::string path;
  std::vector<lora_module> modules;  ///< in the file's tensor order
  size_t unmatched = 0;              ///< keys no layer of the model has (ignored, as A1111 does)
  size_t unapplied = 0;              ///< modules of layers A1111 never patches (embeddings), ignored as there
  size_t refused = 0;                ///< OFT modules, which sdworker does not merge (logged, skipped)
};

/// Reads a .safetensors network file for the layers of a model. Keys are grouped by their prefix
/// (before the first '.'); each group that matches a layer must be one of the kinds above or an
/// OFT module (`oft_blocks` / `oft_diag`: skipped with a warning); a group no kind accepts makes
/// the file unusable, error(unsupported, path, ...), as A1111 fails to load such a file. Groups
/// that match no layer are counted and skipped.
std::shared_ptr<const lora_network> load_lora_network(const std::string& path,
                                                      const std::map<std::string, lora_layer>& layers);

/// The hash A1111 shows for a LoRA ("Lora hashes"): the metadata's `sshs_model_hash` when set,
/// else sha256 of the file after its 8-byte length and JSON header (kohya's "addnet" hash);
/// the first 12 hex digits.
std::string lora_short_hash(const std::string& path);

} // namespace sdw
